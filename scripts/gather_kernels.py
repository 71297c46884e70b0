#!/usr/bin/env python
"""Fetch the outputs of kernels pushed by push_kernel.py and average their folds into one submission.

    python scripts/gather_kernels.py submissions/kernels-<time>

polls `kaggle kernels status` until every kernel of that push has finished, fetches each one's outputs
with `kaggle kernels output`, copies their fold results into submissions/kernels-<time>/run/ and runs the
ordinary ensemble step there (nothing is trained; it needs the competition data, default ./data).
The submission is written to that run folder and copied to submissions/submission.csv.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits import kernel  # noqa: E402
from kaggle_digits.cli import quiet_tensorflow, run_cli  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gather_kernels.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan_dir", help="the submissions/kernels-<time> folder push_kernel.py printed")
    p.add_argument("--data", metavar="PATH", help="local competition data (default: ./data)")
    p.add_argument("--no-fetch", action="store_true", help="use the outputs fetched already; call no kaggle command")
    p.add_argument("--poll", type=float, default=60, metavar="SECONDS", help="status poll interval (default 60)")
    p.add_argument("--weights", choices=("equal", "oof"), help="model weights (default: as pushed)")
    p.add_argument("--submissions-dir", metavar="DIR", help="where submission.csv is copied (default: the plan "
                   "folder's parent)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def main(args: argparse.Namespace) -> int:
    plan_dir = Path(args.plan_dir)
    kernel.load_plan(plan_dir)  # a wrong folder fails before any kaggle call
    if not args.no_fetch:
        kernel.wait_and_fetch(plan_dir, poll_seconds=args.poll)
    quiet_tensorflow()
    result = kernel.gather(plan_dir, data=args.data, submissions_dir=args.submissions_dir, weights=args.weights)
    print(f"submit it with: python scripts/submit.py {result.submission_path}")
    return 0


def cli(argv=None) -> int:
    return run_cli(main, parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
