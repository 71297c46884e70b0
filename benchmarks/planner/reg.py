from keras import layers
from kaggle_digits.models import register_model
from kaggle_digits.models.blocks import conv_bn_relu
from kaggle_digits.models.recipe import Recipe
@register_model("fast_a", view="image", recipe=Recipe(), hp={}, summary="exp")
def fast_a(x):
    x = conv_bn_relu(x, 32, 5); x = layers.MaxPooling2D()(x)
    x = conv_bn_relu(x, 64, 3); x = layers.MaxPooling2D()(x)
    x = conv_bn_relu(x, 128, 3)
    x = layers.Flatten()(x); x = layers.Dropout(0.3)(x)
    return layers.Dense(10, activation="softmax", dtype="float32")(x)
