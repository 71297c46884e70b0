"""Seed 003 -- dmbentley/mnist "Studying the MNIST dataset" (Keras 2.x, TF 1.x, 2019).

Shared recipe (``mnist.ipynb``): pixels / 255, Adam (lr 1e-3, constant), batch 32 (Keras
default), 20 epochs; the source trained on 51,000 images and validated on a 9,000-image split,
and reports the MNIST 10k test set.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.recipe import Recipe

SOURCE = "dmbentley/mnist mnist.ipynb"
RECIPE = Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant",
                epochs=20, batch_size=32)


@register_model("seed003_mlp", view="flat", recipe=RECIPE, source=f"{SOURCE} (seed 003)",
                reported_accuracy=96.36, stated_params=27_580)
def seed003_mlp(x):
    """MLP 784 -> five Dense 30 relu -> 10 (27,580 params)."""
    for _ in range(5):
        x = layers.Dense(30, activation="relu")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


@register_model("seed003_cnn", view="image", recipe=RECIPE, source=f"{SOURCE} (seed 003)",
                reported_accuracy=99.30, stated_params=42_530)
def seed003_cnn(x):
    """Conv 20@5x5, 40@3x3, 60@2x2 each + pool, dropout .2, Dense 100 (42,530 params).

    The source's commented-out Dropout after the first pool is not part of the model.
    """
    x = layers.Conv2D(20, 5, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(40, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Conv2D(60, 2, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(100, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
