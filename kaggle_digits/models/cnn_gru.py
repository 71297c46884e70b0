"""The kit's CNN-GRU: a cheap conv stem whose feature-map rows a bidirectional GRU reads.

The stem is ``cnn_fast``'s first two stages (conv 5x5/32-BN-ReLU, max-pool, conv 3x3/64-BN-ReLU), which
turn the 28x28 digit into a 10x10 map of 64 features. Each of its 10 rows becomes one step of a sequence
that a bidirectional GRU reads top-down and bottom-up; the two final states feed the classifier. The
recurrent reader replaces ``cnn_fast``'s third conv stage and flattened dense head, so its errors differ
from the CNN's -- which is what makes averaging the two pay -- while a 10-step GRU over a small map costs
little more than a conv stage on a CPU (see docs/models.md for speed and accuracy figures).

Variants are small overrides of one builder (timm's ``model_args`` style):

- ``cnn_gru``: the stem above, GRU(64) each way (~292k parameters), the planner's CNN-GRU;
- ``cnn_gru_deep``: the card's earlier design -- two stages of [3x3, 3x3, 5x5/2] convolutions to a 7x7x64
  map and GRU(128) each way (~640k parameters, ~5x the multiply-adds of ``cnn_gru``).

The seed write-up's 28,506-parameter Conv1D+GRU stays registered, unchanged, as ``seed001_cnn_gru``.
"""

from __future__ import annotations

from keras import layers

from kaggle_digits.models import register_model
from kaggle_digits.models.blocks import conv_bn_relu
from kaggle_digits.models.recipe import KIT_RECIPE


def _stem_fast(x, width: int):
    """cnn_fast's first two stages: 28 -> 24 -> 12 -> 10, so a 10x10 map of ``2 * width`` features."""
    x = conv_bn_relu(x, width, 5)
    x = layers.MaxPooling2D()(x)
    return conv_bn_relu(x, 2 * width, 3)


def _stem_deep(x, width: int, dropout: float):
    """Two stages of [3x3, 3x3, 5x5/2] 'same' convolutions: a 7x7 map of ``2 * width`` features."""
    for filters in (width, 2 * width):
        x = conv_bn_relu(x, filters, 3, padding="same")
        x = conv_bn_relu(x, filters, 3, padding="same")
        x = conv_bn_relu(x, filters, 5, strides=2, padding="same")
        x = layers.Dropout(dropout)(x)
    return x


def build_cnn_gru(x, width: int = 32, gru_units: int = 64, dropout: float = 0.3, stem: str = "fast"):
    """A conv stem to a small feature map, a bidirectional GRU over its rows, dropout, Dense 10."""
    x = _stem_fast(x, width) if stem == "fast" else _stem_deep(x, width, dropout)
    rows, cols, channels = x.shape[1:]
    x = layers.Reshape((rows, cols * channels), name="feature_rows")(x)
    x = layers.Bidirectional(layers.GRU(gru_units), name="bigru")(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)


register_model(
    "cnn_gru", view="image", recipe=KIT_RECIPE, hp={"width": 32, "gru_units": 64, "dropout": 0.3, "stem": "fast"},
    # OOF error 0.335 + 1.81 / E percent: through its 9- and 21-epoch runs (5 folds, augmented),
    # benchmarks/planner/README.md "Accuracy against epochs"
    error_curve=(0.335, 1.81),
    source="kaggle-digits (cnn_fast's conv stem + bidirectional GRU over feature-map rows)",
    summary="cnn_fast's two conv stages to a 10x10x64 map, a bidirectional GRU(64) over its 10 rows")(build_cnn_gru)

register_model(
    "cnn_gru_deep", view="image", recipe=KIT_RECIPE.override(learning_rate=2e-3),
    hp={"width": 32, "gru_units": 128, "dropout": 0.3, "stem": "deep"}, stand_in="cnn_gru",
    source="kaggle-digits (conv-BN-ReLU stages + bidirectional GRU over feature-map rows)",
    summary="two [3x3, 3x3, 5x5/2] conv stages to a 7x7x64 map, a bidirectional GRU(128) over its 7 rows")(build_cnn_gru)
