#!/usr/bin/env python
"""`kaggle-digits reference` under a script name: python scripts/make_reference.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("reference"))
