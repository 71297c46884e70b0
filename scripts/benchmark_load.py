#!/usr/bin/env python
"""`kaggle-digits bench load` under its old name: python scripts/benchmark_load.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("bench load"))
