"""Parameters and multiply-adds per image of the kit's models, counted from the built Keras graphs.

python benchmarks/planner/model_costs.py cnn_fast cnn_gru cnn cnn_gru_deep
Counted: Conv2D (out_h * out_w * k_h * k_w * c_in * c_out), Dense (in * out), GRU (per step and direction
3 * (in * units + units * units)); batch norm, pooling, activations and augmentation are left out.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras import layers  # noqa: E402

from kaggle_digits.models import create_model  # noqa: E402


def multiply_adds(model) -> int:
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w = layer.kernel_size
            total += h * w * k_h * k_w * layer.input.shape[-1] * c_out
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
        elif isinstance(layer, layers.Bidirectional):
            steps, features = layer.input.shape[1:]
            units = layer.forward_layer.units
            total += 2 * steps * 3 * (features * units + units * units)
    return int(total)


for name in sys.argv[1:]:
    model = create_model(name)
    print(f"| `{name}` | {model.count_params():,} | {multiply_adds(model) / 1e6:.1f} M |")
