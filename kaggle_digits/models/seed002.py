"""Seed 002 -- blackeagle01/MNISTDeepLearn (Keras 2.0.4, Theano, 2017): an MLP and a small CNN.

The blog post reports rough figures ("could only go up to 94%", "95%"), not backed by saved
output; the source states no parameter counts.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.recipe import Recipe

SOURCE = "blackeagle01/MNISTDeepLearn"


@register_model(
    "seed002_mlp", view="flat",
    recipe=Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant",
                  epochs=30, batch_size=32),
    source=f"{SOURCE} perceptron.py (seed 002)", reported_accuracy=94.0, stated_params=None)
def seed002_mlp(x):
    """MLP 784-900-900-10, dropout .5 after the second hidden layer only (1,526,410 params).

    Uncertain point, reading chosen: the source standardises each pixel with a ``StandardScaler``
    fitted *separately* on the training and on the test set. A per-split, per-dataset fit cannot
    live inside a model that scores any batch, and a ``Normalization`` layer adapted on the
    training fold would add 1,569 non-trainable weights and still not reproduce the test-set fit.
    The model therefore takes the kit's plain /255 scaling (input_scale 1/255): like the scaler it
    is an affine per-pixel map to a small range, but it is not centred. The seed's text says only
    "dropout rate 0.5"; the code puts the single dropout after the second hidden layer.
    """
    x = layers.Dense(900, activation="relu")(x)
    x = layers.Dense(900, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


@register_model(
    "seed002_cnn", view="image",
    recipe=Recipe(optimizer="rmsprop", learning_rate=1e-3, schedule="constant",
                  epochs=100, batch_size=32),
    input_scale=1.0, source=f"{SOURCE} Convolutionalnetworkmnist.py (seed 002)", reported_accuracy=95.0,
    stated_params=None)
def seed002_cnn(x):
    """Conv 20@3x3 same, pool, conv 32@3x3 same, pool, drop .4, Dense 80, drop .4 (132,322 params).

    Faithful to the source: raw 0..255 pixels (input_scale 1.0), RMSprop lr 1e-3 (rho 0.9, as the
    saved h5 records), batch 32, 100 epochs -- on **only the first 1,000 training images**. The
    training-set size is a run setting, not a model one: ``--folds 5 --max-train-rows 1250`` gives
    1,000 training images per fold, the source's setting.
    """
    x = layers.Conv2D(20, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(80, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
