import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
threads = int(sys.argv[1])
import tensorflow as tf
if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
from kaggle_digits.planning import probe
from kaggle_digits.config import AugmentConfig
for name in sys.argv[2].split(","):
    c = probe.measure(name, AugmentConfig(), "bfloat16")
    print(threads, name, f"train {c.train_images_per_second:.0f} img/s", flush=True)
