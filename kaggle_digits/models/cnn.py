"""The kit's image CNN: conv-BN-ReLU blocks with learnable (5x5, stride 2) down-sampling.

Follows the design that tops the digit-recognizer write-ups (Chris Deotte's "25 Million Images"
kernel): two stages of [3x3, 3x3, 5x5/2] convolutions with batch norm, a 4x4 convolution in
place of a dense hidden layer, and heavy dropout.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.blocks import conv_bn_relu
from kaggle_digits.models.recipe import KIT_RECIPE


@register_model(
    "cnn", view="image", recipe=KIT_RECIPE.override(learning_rate=2e-3),
    hp={"width": 32, "dropout": 0.4}, stand_in="cnn_fast",
    # OOF error 0.264 + 3.62 / E percent: through its 10- and 20-epoch runs (5 folds, augmented; the 20-epoch point
    # is the 60-minute pair's member), benchmarks/planner/README.md "Accuracy against epochs"
    error_curve=(0.264, 3.62),
    source="kaggle-digits (after C. Deotte, Kaggle digit-recognizer kernel)")
def cnn(x, width: int = 32, dropout: float = 0.4):
    """Conv-BN-ReLU CNN, 3x3 convs and 5x5 stride-2 learnable pooling (~330k params at width 32)."""
    for filters in (width, 2 * width):
        x = conv_bn_relu(x, filters, 3)
        x = conv_bn_relu(x, filters, 3)
        x = conv_bn_relu(x, filters, 5, strides=2, padding="same")
        x = layers.Dropout(dropout)(x)
    x = conv_bn_relu(x, 4 * width, 4)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


# The same family at half width and lighter dropout: ~4x fewer multiply-adds, but on a CPU the speed-up is
# far smaller (benchmarks/planner/README.md), so the planner's short-budget model is cnn_fast below.
register_model(
    "cnn_small", view="image", recipe=KIT_RECIPE,
    hp={"width": 16, "dropout": 0.25}, stand_in="cnn_fast",
    source="kaggle-digits (cnn at width 16)",
    summary="cnn at half width (16/32/64 filters), dropout 0.25")(cnn)


@register_model(
    "cnn_fast", view="image", recipe=KIT_RECIPE,
    hp={"width": 32, "dropout": 0.3},
    # OOF error 0.341 + 2.11 / E percent: least squares over 11, 21 and 30 epochs (5 folds, augmented; residuals
    # under 0.01 points), benchmarks/planner/README.md "Accuracy against epochs"
    error_curve=(0.341, 2.11), fallback=True,
    # ensemble-gain floor: n members (seeds, each on its own split) leave 0.884 + 0.116 / n of one member's OOF
    # error -- least squares over 1..n members at 10 epochs, 5 folds, benchmarks/planner/README.md "Members"
    member_floor=0.884,
    source="kaggle-digits (the planner's model for short budgets)",
    summary="3 conv-BN-ReLU stages with max pooling (5x5/32, 3x3/64, 3x3/128): ~5x fewer multiply-adds than cnn; "
            "the CNN of the planner's CPU pair (with cnn_gru), and its model for short budgets")
def cnn_fast(x, width: int = 32, dropout: float = 0.3):
    """Three conv-BN-ReLU stages, max pooling between them: 24x24 -> 12 -> 10 -> 5 -> 3x3x128 -> dense."""
    x = conv_bn_relu(x, width, 5)
    x = layers.MaxPooling2D()(x)
    x = conv_bn_relu(x, 2 * width, 3)
    x = layers.MaxPooling2D()(x)
    x = conv_bn_relu(x, 4 * width, 3)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
