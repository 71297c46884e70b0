#!/usr/bin/env python
"""`kaggle-digits make` under its old name: python scripts/make_submission.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("make"))
