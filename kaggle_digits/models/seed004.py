"""Seed 004 -- shoryasethia/Digit-Recognition (2024): MLP-3, a small ConvNet, LeNet-5 and a VGG.

All four used integer labels with sparse categorical cross-entropy (the kit's one-hot categorical
cross-entropy is the same loss) and report the MNIST 10k test set. ConvNet and VGG ran on
tf.keras 2.15, MLP and LeNet-5 on Keras 3.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.recipe import Recipe

SOURCE = "shoryasethia/Digit-Recognition"


def _adam(epochs: int) -> Recipe:
    return Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant",
                  epochs=epochs, batch_size=32)


@register_model("seed004_mlp3", view="flat", recipe=_adam(20), input_scale=1.0,
                source=f"{SOURCE} MLP.ipynb (seed 004)", reported_accuracy=97.69, stated_params=1_482_406)
def seed004_mlp3(x):
    """"MLP-3 + Dropouts": Dense 1024/512/256 relu with dropout .25/.2/.15, Dense 84 relu (1,482,406 params).

    Raw 0..255 pixels (input_scale 1.0): the notebook calls the data "already normalized", but it
    is not. Uncertain point: the README's "44,47,220" params is Keras 3's ``summary()`` total
    *after* Adam training -- 1,482,406 weights plus 2 x 1,482,406 + 2 optimizer variables
    (= 4,447,220) -- not the model's size; ``stated_params`` holds the weight count, and a test
    checks that the post-training total reproduces 4,447,220. No layers were added to reach 4.4M.
    """
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.20)(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.15)(x)
    x = layers.Dense(84, activation="relu")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


@register_model("seed004_convnet", view="image", recipe=_adam(10),
                source=f"{SOURCE} tensorflow-mnist-cnn.ipynb (seed 004)", reported_accuracy=98.22,
                stated_params=27_594)
def seed004_convnet(x):
    """Conv 64/32/16 @3x3 with avg, avg, max pooling, Dense 64-32-16 (27,594 params).

    The README calls it "3 Conv + 2 Pooling + 3 FC"; the code has three pooling layers (two
    average, one max), which is what is built. Pixels / 255.
    """
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for units in (64, 32, 16):
        x = layers.Dense(units, activation="relu")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


@register_model(
    "seed004_lenet5", view="image",
    recipe=Recipe(optimizer="sgd", learning_rate=0.01, momentum=0.0, schedule="constant",
                  epochs=77, batch_size=128),
    source=f"{SOURCE} LeNet-5-digit.ipynb (seed 004)", reported_accuracy=98.68, stated_params=61_706)
def seed004_lenet5(x):
    """LeNet-5 on the image zero-padded to 32x32: tanh convs 6@5x5, 16@5x5 with avg pools, Dense 120-84 (61,706).

    Recipe: plain SGD lr 0.01, batch 128. Uncertain point, reading chosen: the source ran up to 100
    epochs with a callback that stops once *training* accuracy exceeds 0.99, which happened after
    epoch 77; the kit has no such callback, so the recipe trains the 77 epochs the source ran.
    """
    x = layers.ZeroPadding2D(2)(x)
    x = layers.Conv2D(6, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


@register_model("seed004_vgg", view="image", recipe=_adam(10), input_scale=1.0,
                source=f"{SOURCE} cnn-mnist.ipynb (seed 004)", reported_accuracy=98.95, stated_params=6_558_346)
def seed004_vgg(x):
    """VGG-style: 8 convs 3x3 same (64, pad 2, 64, 64 / 128, 128 / 256 x3), 3 max pools, Dense 1024-512-128 (6,558,346).

    Raw 0..255 pixels (input_scale 1.0), as the source. The ZeroPadding2D(2) after the first conv
    is in the source and is needed for the count (4,723,338 without it). No dropout, no batch norm.
    """
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.ZeroPadding2D(2)(x)
    for filters, repeats in ((64, 2), (128, 2), (256, 3)):
        for _ in range(repeats):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for units in (1024, 512, 128):
        x = layers.Dense(units, activation="relu")(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
