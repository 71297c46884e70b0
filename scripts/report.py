#!/usr/bin/env python
"""`kaggle-digits report` under its old name: python scripts/report.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("report"))
