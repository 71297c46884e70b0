#!/usr/bin/env python
"""`kaggle-digits download` under its old name: python scripts/download_data.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("download"))
