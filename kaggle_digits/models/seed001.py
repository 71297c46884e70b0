"""Seed 001 -- sjayakum/mnist (Suraj Jayakumar; Keras 1.x, 2016): CNN-GRU, LSTM and a dense net.

Shared recipe: pixels / 255, RMSprop with Keras 1's defaults (lr 1e-3, constant), batch 128;
the source validated on the MNIST 10k test set, the kit on the held-out fold. (Keras 1's RMSprop
used epsilon 1e-8, Keras 3's 1e-7; the kit's Recipe does not expose it.)
"""

from __future__ import annotations

from keras import initializers, layers

from kaggle_digits.models import register_model
from kaggle_digits.models.recipe import Recipe

SOURCE = "sjayakum/mnist"


def _rmsprop(epochs: int) -> Recipe:
    return Recipe(optimizer="rmsprop", learning_rate=1e-3, schedule="constant",
                  epochs=epochs, batch_size=128)


@register_model(
    "seed001_cnn_gru", view="sequence", recipe=_rmsprop(10),
    hp={"filters": 32, "gru_units": (64, 16), "reset_after": False},
    source=f"{SOURCE} main.py (seed 001)", reported_accuracy=98.74, stated_params=28_506)
def seed001_cnn_gru(x, filters: int = 32, gru_units: tuple[int, int] = (64, 16), reset_after: bool = False):
    """Conv1D x2 + max-pool + GRU(64, sequences) + GRU(16) on the 28 image rows (28,506 params).

    The exact 28,506 parameters need the Keras-1 GRU formulation (``reset_after=False``) and Keras 1's
    uniform init and hard-sigmoid gates. Wider variants (``filters``, ``gru_units``) are ours.
    """
    uniform = initializers.RandomUniform(-0.05, 0.05)  # Keras 1's "uniform" init, as in the source
    x = layers.Conv1D(filters, 3, activation="relu", kernel_initializer=uniform)(x)
    x = layers.Conv1D(filters, 3, activation="relu", kernel_initializer=uniform)(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.GRU(gru_units[0], return_sequences=True, reset_after=reset_after,
                   recurrent_activation="hard_sigmoid")(x)
    x = layers.GRU(gru_units[1], reset_after=reset_after, recurrent_activation="hard_sigmoid")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


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
