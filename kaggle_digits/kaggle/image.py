"""What a kernel needs from Kaggle's image, checked first thing inside the kernel (standard library only).

Kaggle's image (built on Colab's runtime) brings its own Python, TensorFlow and Keras; the kernel cannot
install anything (no internet). So before anything heavy is imported the kernel checks what the kit needs
and stops with one line naming what is missing or too old -- instead of an ImportError deep in a
traceback an hour into the queue:

- ``REQUIRED``: below these the kit cannot run (Python for ``tomllib``; Keras 3's API; TensorFlow 2.16 is the
  first to ship with Keras 3; filelock for the run folder's lock, runlock.py).
- ``TESTED``: the oldest versions the kit's tests run with -- .ci/kaggle-image.txt's pins of what Kaggle's
  image has, CI's second environment -- which setup.cfg declares as its minimums (a test keeps the two
  equal). An older version in the image is allowed -- the kernel cannot upgrade it -- but named in the log
  and in kernel_manifest.json ("untested").
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys

# distribution name -> lowest version the kit runs with (its installed metadata is read: nothing is imported)
REQUIRED = {"keras": (3, 0), "tensorflow": (2, 16), "numpy": (1, 26), "pandas": (2, 0), "pyarrow": (14, 0),
            "scikit-learn": (1, 3), "scipy": (1, 10), "matplotlib": (3, 7), "filelock": (3, 12)}
REQUIRED_PYTHON = (3, 11)
# the oldest versions the tests run with = .ci/kaggle-image.txt's pins (Kaggle's image, CI's second environment)
# = setup.cfg's install_requires minimums (tests/test_kaggle_today.py keeps them equal)
TESTED = {"tensorflow": "2.20.0", "keras": "3.13.2", "numpy": "2.0.2", "pandas": "2.2.2", "pyarrow": "18.1.0",
          "scikit-learn": "1.6.1", "scipy": "1.16.3", "matplotlib": "3.10.0", "filelock": "3.29.0"}
# the image's JAX (.ci/kaggle-image.txt pins it too): not a kit dependency, the backend a GPU kernel trains with
# when the image's jax sees the GPUs (backend.py); an older one is named like the others, under KERAS_BACKEND=jax
TESTED_JAX = {"jax": "0.7.2", "jaxlib": "0.7.2"}


class ImageError(RuntimeError):
    """Kaggle's image lacks something the kernel needs."""


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check(python: tuple[int, ...] | None = None, installed=_installed, backend: str | None = None) -> list[str]:
    """Raise ImageError (one line) if a requirement is missing or too old; return the packages older than
    TESTED as ``name version (tested TESTED)``. ``python``/``installed``/``backend`` are for tests."""
    python = python or sys.version_info[:3]
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    problems, untested = [], []
    if tuple(python[:2]) < REQUIRED_PYTHON:
        problems.append(f"Python {'.'.join(map(str, python))} (needs >= {'.'.join(map(str, REQUIRED_PYTHON))})")
    for distribution, lowest in REQUIRED.items():
        if distribution == "tensorflow" and backend != "tensorflow":
            continue  # another Keras backend (JAX) does not need TensorFlow
        version = installed(distribution)
        if version is None:
            problems.append(f"{distribution} missing")
        elif version is not None and version_tuple(version) < lowest:
            problems.append(f"{distribution} {version} (needs >= {'.'.join(map(str, lowest))})")
        elif version is not None and version_tuple(version) < version_tuple(TESTED[distribution]):
            untested.append(f"{distribution} {version} (tested {TESTED[distribution]})")
    if backend == "jax":
        for distribution, tested in TESTED_JAX.items():
            version = installed(distribution)
            if version is not None and version_tuple(version) < version_tuple(tested):
                untested.append(f"{distribution} {version} (tested {tested})")
    if problems:
        raise ImageError(f"kaggle-digits kernel: Kaggle's image lacks what the kit needs: {'; '.join(problems)}. "
                         f"Pin an image that has them in kernel-metadata.json (docker_image), or run the kit "
                         f"locally")
    return untested


def check_or_exit() -> list[str]:
    """``check`` for the generated kernel script: a missing requirement ends the kernel with one line."""
    try:
        untested = check()
    except ImageError as exc:
        raise SystemExit(str(exc)) from None
    if untested:
        print(f"kaggle-digits kernel: older than the versions tested: {', '.join(untested)}", flush=True)
    return untested
