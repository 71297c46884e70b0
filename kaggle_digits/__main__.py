"""``python -m kaggle_digits COMMAND ...``: the ``kaggle-digits`` console script without installing it."""

from kaggle_digits.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m kaggle_digits"))
