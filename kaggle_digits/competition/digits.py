"""The competition's fixed facts, spelled once: 28x28 single-channel images of the digits 0-9."""

IMAGE_SIDE = 28
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)  # one image as the models take it: height, width, channel
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE         # columns pixel0..pixel783 of train.csv / test.csv
N_CLASSES = 10                             # labels 0..9
