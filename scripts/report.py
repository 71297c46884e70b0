#!/usr/bin/env python
"""Write report.html (learning curves, confusion matrix, misclassified digits...) into a run folder (see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.report import report_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(report_main())
