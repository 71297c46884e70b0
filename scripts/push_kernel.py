#!/usr/bin/env python
"""`kaggle-digits push` under its old name: python scripts/push_kernel.py --help (needs `pip install -e .`)."""
from kaggle_digits.cli import run_script
raise SystemExit(run_script("push"))
