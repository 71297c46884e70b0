#!/usr/bin/env python
"""`kaggle-digits make` under its old name: python scripts/make_submission.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
if __name__ == "__main__":  # folds trained in worker processes import this file again
    raise SystemExit(run_script("make"))
