#!/usr/bin/env python
"""`kaggle-digits bench baseline` under its old name: python scripts/benchmark.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("bench baseline"))
