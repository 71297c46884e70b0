#!/usr/bin/env python
"""Train the k-fold ensemble and write a validated submission.csv (see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.cli import make_submission_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(make_submission_main())
