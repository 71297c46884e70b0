"""The kit's CNN-GRU: a conv-BN-ReLU feature extractor whose feature map a bidirectional GRU reads.

Two stages of conv-BN-ReLU (3x3, 3x3, then a learnable 5x5 stride-2 down-sampling, as in ``cnn``)
turn the 28x28 digit into a 7x7 map of ``2 * width`` features. Each of its 7 rows becomes one step of
a sequence that a bidirectional GRU reads top-down and bottom-up; the two final states feed the
classifier. Unlike ``cnn`` it pads its convolutions ("same") and summarises the map through a
recurrent reading rather than a 4x4 convolution, so its errors differ from the ``cnn``'s -- which
is what makes averaging the two pay.

The seed write-up's 28,506-parameter Conv1D+GRU stays registered, unchanged, as ``seed001_cnn_gru``.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.blocks import conv_bn_relu
from kaggle_digits.recipe import Recipe


@register_model(
    "cnn_gru", view="image",
    recipe=Recipe(optimizer="adamw", learning_rate=2e-3, schedule="cosine", warmup=0.05,
                  weight_decay=1e-4, label_smoothing=0.1, epochs=30, batch_size=128),
    hp={"width": 32, "gru_units": 128, "dropout": 0.3},
    source="kaggle-digits (conv-BN-ReLU stages + bidirectional GRU over feature-map rows)")
def cnn_gru(x, width: int = 32, gru_units: int = 128, dropout: float = 0.3):
    """Conv-BN-ReLU stages to a 7x7 map, a bidirectional GRU over its 7 rows, Dense 10."""
    for filters in (width, 2 * width):
        x = conv_bn_relu(x, filters, 3, padding="same")
        x = conv_bn_relu(x, filters, 3, padding="same")
        x = conv_bn_relu(x, filters, 5, strides=2, padding="same")
        x = layers.Dropout(dropout)(x)
    rows, cols, channels = x.shape[1:]
    x = layers.Reshape((rows, cols * channels), name="feature_rows")(x)
    x = layers.Bidirectional(layers.GRU(gru_units), name="bigru")(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
