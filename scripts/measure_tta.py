#!/usr/bin/env python
"""`kaggle-digits bench tta` under its old name: python scripts/measure_tta.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("bench tta"))
