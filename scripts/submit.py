#!/usr/bin/env python
"""`kaggle-digits submit` under its old name: python scripts/submit.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("submit"))
