#!/usr/bin/env python
"""`kaggle-digits gather` under its old name: python scripts/gather_kernels.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("gather"))
