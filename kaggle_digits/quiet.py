"""TensorFlow's start-up chatter kept out of the output: one mechanism for the command line and its workers.

absl, oneDNN, cudart and cuInit print to file descriptor 2 while ``import tensorflow`` runs, before
TF_CPP_MIN_LOG_LEVEL applies. ``quiet_tensorflow`` installs an import hook that runs that import with fd 2
captured (and shown if the import fails). Nothing is imported here: TensorFlow loads only if something needs it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile


def quiet_tensorflow(debug: bool = False) -> None:
    """Keep TensorFlow's C++ start-up chatter (absl, oneDNN, cudart, cuInit) and retracing warnings out of the
    output, unless --debug. Nothing is imported here: TensorFlow loads only if a command needs it (never for
    KERAS_BACKEND=jax), and then with file descriptor 2 sent to a temporary file while ``import tensorflow``
    runs, since absl prints there before TF_CPP_MIN_LOG_LEVEL applies (shown if the import fails)."""
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders, then runs its import with stderr (fd 2) captured. Under
    another Keras backend it is not found at all: Keras treats TensorFlow as optional there, and would
    otherwise load it (with its start-up chatter) to serialise some layers."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        config = sys.modules.get("keras.src.backend.config")
        backend = config.backend() if config is not None else os.environ.get("KERAS_BACKEND", "tensorflow")
        if backend != "tensorflow":
            raise ModuleNotFoundError(f"tensorflow is not loaded under KERAS_BACKEND={backend} (--debug loads it)",
                                      name=name)
        sys.meta_path.remove(self)  # once: the real finders do the work, TF's submodules import normally
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            except BaseException:
                os.dup2(saved, 2)
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
