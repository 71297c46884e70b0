#!/usr/bin/env python
"""`kaggle-digits runs` under a script name: python scripts/list_runs.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("runs"))
