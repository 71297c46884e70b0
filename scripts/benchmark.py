#!/usr/bin/env python
"""Benchmark a kit configuration against a plain-Keras baseline on the same rows and folds (see --help).

Takes every make_submission.py flag; prints and saves load time, s/epoch, images/s, wall time and OOF
accuracy per model, for the ensemble and for the baseline (OUT_DIR/benchmark.{json,csv,md}).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.cli import config_from_args, make_submission_parser, quiet_tensorflow, run_cli  # noqa: E402


def main(args) -> int:
    from kaggle_digits import benchmark

    cfg = config_from_args(args)
    if args.submissions_dir is None:
        cfg.submissions_dir = str(Path(args.out_dir) / "runs")
    benchmark.run(cfg, Path(args.out_dir), baseline_epochs=args.baseline_epochs)
    return 0


if __name__ == "__main__":
    quiet_tensorflow()
    parser = make_submission_parser()
    parser.prog = "benchmark.py"
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("--out-dir", default="benchmarks/kit", metavar="DIR",
                        help="where benchmark.json/.csv/.md go (run folders: DIR/runs unless --submissions-dir)")
    parser.add_argument("--baseline-epochs", type=int, metavar="N",
                        help="epochs for the plain-Keras baseline (default: the kit models' largest)")
    sys.exit(run_cli(main, parser))
