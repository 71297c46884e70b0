import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
intra, inter, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
import tensorflow as tf
if intra: tf.config.threading.set_intra_op_parallelism_threads(intra)
if inter: tf.config.threading.set_inter_op_parallelism_threads(inter)
import numpy as np, keras
from kaggle_digits.models import create_model
from kaggle_digits.models.augment import build_augmentation
from kaggle_digits.config import AugmentConfig
from kaggle_digits.training.precision import fresh_session
from kaggle_digits.training.recipe import make_optimizer, make_loss
from kaggle_digits.models import get_spec
fresh_session("bfloat16")
r = get_spec("cnn_gru").recipe
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8); y = np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
m = create_model("cnn_gru", augmentation=build_augmentation(AugmentConfig(), seed=0))
m.compile(optimizer=make_optimizer(r, 100).optimizer, loss=make_loss(r))
m.fit(x[:128], y[:128], batch_size=128, epochs=1, verbose=0)
t = time.perf_counter(); m.fit(x, y, batch_size=128, epochs=1, verbose=0); dt = time.perf_counter() - t
print(f"intra={intra} inter={inter} n={n}: {n/dt:.0f} img/s", flush=True)
