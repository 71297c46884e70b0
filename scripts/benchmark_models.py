#!/usr/bin/env python
"""`kaggle-digits bench models` under its old name: see --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("bench models"))
