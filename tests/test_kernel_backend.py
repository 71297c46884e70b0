"""The Keras backend a kernel chooses before Keras loads (kaggle/backend.py), with a fake jax in sys.modules:
JAX where jax sees a GPU, TensorFlow where jax is missing, raises or hangs, and an explicit choice kept."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import types

import pytest

from kaggle_digits.kaggle import backend

GPU_KERNEL = {"gpu": True, "accelerator": "NvidiaTeslaT4"}


class FakeDevice:
    platform = "gpu"
    device_kind = "Tesla T4"


def fake_jax(devices) -> types.ModuleType:
    module = types.ModuleType("jax")
    module.__version__ = "0.7.2"
    module.devices = devices
    return module


@pytest.fixture
def env(monkeypatch):
    """The environment a kernel starts with: no KERAS_BACKEND, no memory settings (restored afterwards)."""
    for name in ("KERAS_BACKEND", "XLA_PYTHON_CLIENT_PREALLOCATE", "TF_FORCE_GPU_ALLOW_GROWTH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def two_gpus(platform=None):
    assert platform == "gpu"
    return [FakeDevice(), FakeDevice()]


def test_a_gpu_kernel_whose_jax_sees_the_gpus_trains_with_jax(env):
    env.setitem(sys.modules, "jax", fake_jax(two_gpus))
    choice = backend.choose(GPU_KERNEL)
    assert choice.backend == "jax"
    assert "jax 0.7.2 sees 2 GPUs (Tesla T4)" in choice.reason
    # set before jax looked: the parent's probe must not reserve 75% of each GPU the workers train on
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    backend.apply(choice, GPU_KERNEL)
    assert os.environ["KERAS_BACKEND"] == "jax" and os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert choice.line().startswith("kaggle-digits kernel: Keras backend jax (jax 0.7.2 sees 2 GPUs")


def test_without_jax_a_gpu_kernel_trains_with_tensorflow(env):
    env.setitem(sys.modules, "jax", None)  # `import jax` raises ModuleNotFoundError
    choice = backend.choose(GPU_KERNEL)
    assert (choice.backend, choice.reason) == ("tensorflow", "jax is not installed; TensorFlow")


@pytest.mark.parametrize("failure", [
    RuntimeError("Unknown backend: 'gpu' requested, but no platforms that are instances of gpu are present.\n..."),
    ImportError("libcudnn.so.9: cannot open shared object file"),
    SystemExit(1),
])
def test_a_jax_that_raises_leaves_tensorflow(env, failure):
    def broken(platform=None):
        raise failure

    env.setitem(sys.modules, "jax", fake_jax(broken))
    choice = backend.choose(GPU_KERNEL)
    assert choice.backend == "tensorflow" and choice.reason.startswith("jax sees no GPU")
    assert type(failure).__name__ in choice.reason and "\n" not in choice.reason


def test_a_jax_that_sees_no_gpu_or_hangs_leaves_tensorflow(env):
    env.setitem(sys.modules, "jax", fake_jax(lambda platform=None: []))
    assert backend.choose(GPU_KERNEL).backend == "tensorflow"
    release = threading.Event()
    env.setitem(sys.modules, "jax", fake_jax(lambda platform=None: release.wait(30) and two_gpus("gpu")))
    count, said = backend.probe_jax(timeout=0.2)
    release.set()
    assert count == 0 and "did not list its GPUs within 0.2 s" in said


def test_an_explicit_backend_is_kept(env):
    env.setitem(sys.modules, "jax", fake_jax(two_gpus))
    env.setenv("KERAS_BACKEND", "tensorflow")
    assert backend.choose(GPU_KERNEL) == backend.Choice("tensorflow", "KERAS_BACKEND set in the environment")
    env.delenv("KERAS_BACKEND")
    assert backend.choose({**GPU_KERNEL, "keras_backend": "torch"}).backend == "torch"


def test_a_cpu_kernel_never_looks_at_jax(env):
    def never(platform=None):
        raise AssertionError("jax probed on a CPU kernel")

    env.setitem(sys.modules, "jax", fake_jax(never))
    assert backend.choose({"gpu": False}) == backend.Choice("tensorflow", "a CPU kernel")


def test_choose_backend_sets_prints_and_survives_anything(env, capsys):
    env.setattr(backend, "choose", lambda info: 1 / 0)
    choice = backend.choose_backend(GPU_KERNEL)
    assert choice.backend == "tensorflow" and "ZeroDivisionError" in choice.reason
    assert os.environ["KERAS_BACKEND"] == "tensorflow"
    assert capsys.readouterr().out.startswith("kaggle-digits kernel: Keras backend tensorflow (")


def test_the_backend_module_imports_only_the_standard_library():
    """The script imports it before Keras, and before the image check: nothing heavy may load with it."""
    code = ("import sys; import kaggle_digits.kaggle.backend; "
            "heavy = {'keras', 'tensorflow', 'jax', 'numpy'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_kernel_script_chooses_the_backend_before_the_image_check_and_records_it():
    from kaggle_digits.kaggle import bundle

    main = bundle._SCRIPT[bundle._SCRIPT.index('if __name__ == "__main__":'):]
    assert main.index("choose_backend(KERNEL_INFO)") < main.index("check_or_exit()") < main.index("kernel_main(")
    assert '"backend_reason": backend.reason' in main
