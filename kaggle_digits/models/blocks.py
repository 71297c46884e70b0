"""Layer blocks shared by the kit's own model families (cnn, cnn_gru)."""

from __future__ import annotations

from keras import layers


def conv_bn_relu(x, filters: int, kernel: int, strides: int = 1, padding: str = "valid"):
    """Conv2D (no bias) -> BatchNorm -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    # momentum 0.9 (Keras default 0.99): the inference statistics settle within a one-epoch run too
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)
