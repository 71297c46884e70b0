"""kaggle-digits: a k-fold CNN / CNN-GRU submission kit for Kaggle's digit-recognizer."""

__version__ = "0.1.0"
# time.perf_counter() when the command line started (set by cli.py): a --minutes budget counts from there, so
# imports, data loading and the speed probe are inside it. None (the Python API): from make_submission's start.
STARTED: float | None = None

from kaggle_digits.errors import KaggleDigitsError  # noqa: E402

__all__ = ["KaggleDigitsError", "__version__"]
