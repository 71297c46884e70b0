"""Seed 001 -- sjayakum/mnist (Suraj Jayakumar; Keras 1.x, 2016): CNN-GRU, LSTM and a dense net.

Shared recipe: pixels / 255, RMSprop with Keras 1's defaults (lr 1e-3, constant), batch 128;
the source validated on the MNIST 10k test set, the kit on the held-out fold. (Keras 1's RMSprop
used epsilon 1e-8, Keras 3's 1e-7; the kit's Recipe does not expose it.)
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.cnn_gru import cnn_gru
from kaggle_digits.recipe import Recipe

SOURCE = "sjayakum/mnist"


def _rmsprop(epochs: int) -> Recipe:
    return Recipe(optimizer="rmsprop", learning_rate=1e-3, schedule="constant", warmup_epochs=0,
                  epochs=epochs, batch_size=128)


# The main model is the kit's own cnn_gru family at its default (source) width: same builder,
# registered again under the seed's name with the seed's recipe (10 epochs, constant lr).
register_model(
    "seed001_cnn_gru", view="sequence", recipe=_rmsprop(10),
    hp={"filters": 32, "gru_units": (64, 16), "reset_after": False},
    source=f"{SOURCE} main.py (seed 001)", reported_accuracy=98.74, stated_params=28_506,
    summary="Conv1D x2 + pool + GRU(64) + GRU(16) on the 28 rows, reset_after=False (28,506 params)",
)(cnn_gru)


@register_model("seed001_lstm", view="sequence", recipe=_rmsprop(20),
                source=f"{SOURCE} archive/lstm.py (seed 001)", reported_accuracy=98.39, stated_params=81_674)
def seed001_lstm(x):
    """LSTM(128) over the 28 image rows, Dense 10 + softmax (81,674 params).

    Keras 1's LSTM used hard-sigmoid gates (kept here; Keras 3's hard_sigmoid has slope 1/6 rather
    than 0.2) and a forget-gate bias initialised to 1 (Keras 3's default ``unit_forget_bias=True``).
    """
    x = layers.LSTM(128, recurrent_activation="hard_sigmoid")(x)
    x = layers.Dense(10, dtype="float32")(x)
    return layers.Activation("softmax", dtype="float32")(x)


@register_model("seed001_dense", view="flat", recipe=_rmsprop(20),
                source=f"{SOURCE} archive/Dense/main.py (seed 001)", reported_accuracy=93.68,
                stated_params=407_050)
def seed001_dense(x):
    """Dense 512 with NO activation (linear, as the source's json says), drop .2, Dense 10 (407,050 params).

    The hidden layer is linear, so the net is in effect a linear (softmax-regression) classifier,
    which is why the source reports only 93.68%.
    """
    x = layers.Dense(512)(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(10, dtype="float32")(x)
    return layers.Activation("softmax", dtype="float32")(x)
