"""2-fold OOF on all 42k rows for a candidate model, timed end to end (train+predict oof+test)."""
import os, sys, time, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL","3")
import numpy as np, keras
from keras import layers
from sklearn.model_selection import StratifiedKFold
from kaggle_digits.models import register_model, create_model
from kaggle_digits.models.blocks import conv_bn_relu
from kaggle_digits.models.recipe import Recipe
from kaggle_digits.training.recipe import make_optimizer, make_loss
from kaggle_digits.competition import data as kd
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reg  # noqa: F401,E402  (registers fast_a = the kit's cnn_fast)

@register_model("fast_b", view="image", recipe=Recipe(), hp={}, summary="exp")
def fast_b(x):
    x = conv_bn_relu(x, 24, 5); x = layers.MaxPooling2D()(x)        # 24 -> 12
    x = conv_bn_relu(x, 48, 3); x = layers.MaxPooling2D()(x)        # 10 -> 5
    x = conv_bn_relu(x, 96, 3)                                       # 3
    x = layers.Flatten()(x); x = layers.Dropout(0.25)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)

name, epochs, prec, lr = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
folds = int(os.environ.get("FOLDS", "2")); bs=int(os.environ.get("BS","128"))
keras.mixed_precision.set_global_policy("mixed_bfloat16" if prec=="bf16" else "float32")
c = kd.load_competition(os.environ.get("DATA", "../shared/data/digit-recognizer.zip"))
x, y, xt = c.x_train, c.y_train, c.x_test
t0 = time.perf_counter(); oof = np.zeros((len(x), 10), "float32"); ep_acc=[]
recipe = Recipe(optimizer="adamw", learning_rate=lr, schedule="cosine", warmup=0.05, weight_decay=1e-4,
                label_smoothing=0.1, epochs=epochs, batch_size=bs)
for k, (tr, va) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=42).split(x, y)):
    keras.backend.clear_session(); keras.utils.set_random_seed(k)
    from kaggle_digits.models.augment import build_augmentation
    from kaggle_digits.config import AugmentConfig
    m = create_model(name, augmentation=build_augmentation(AugmentConfig(), seed=k) if os.environ.get('AUG') else None)
    m.compile(optimizer=make_optimizer(recipe, int(np.ceil(len(tr)/bs))).optimizer, loss=make_loss(recipe), metrics=["accuracy"])
    m.fit(x[tr], np.eye(10, dtype="float32")[y[tr]], batch_size=bs, epochs=epochs, verbose=0)
    oof[va] = m.predict(x[va], batch_size=1024, verbose=0)
    m.predict(xt, batch_size=1024, verbose=0)
    ep_acc.append(float((oof[va].argmax(1)==y[va]).mean()))
print(json.dumps({"model": name, "epochs": epochs, "prec": prec, "lr": lr, "folds": folds, "bs": bs, "aug": bool(os.environ.get("AUG")),
  "oof": round(float((oof.argmax(1)==y).mean())*100, 3), "per_fold": ep_acc, "seconds": round(time.perf_counter()-t0,1)}), flush=True)
