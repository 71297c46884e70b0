#!/usr/bin/env python
"""OOF accuracy of a finished run's fold models with and without test-time augmentation (writes RUN_DIR/tta.json)."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.cli import quiet_tensorflow, run_cli  # noqa: E402


def main(args) -> int:
    from kaggle_digits.benchmark import tta_gain

    tta_gain(Path(args.run_dir))
    return 0


if __name__ == "__main__":
    quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="measure_tta.py", description=__doc__)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (with <model>/fold<k>/model.keras)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sys.exit(run_cli(main, parser))
