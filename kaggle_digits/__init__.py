"""kaggle-digits: a k-fold CNN / CNN-GRU submission kit for Kaggle's digit-recognizer."""

__version__ = "0.3.0"
from kaggle_digits.errors import KaggleDigitsError  # noqa: E402

__all__ = ["KaggleDigitsError", "__version__"]
