#!/usr/bin/env python
"""Benchmark the seed models through the kit's k-fold pipeline; write results.csv / results.md (see --help)."""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.cli import run_cli  # noqa: E402
from kaggle_digits.config import parse_model_list  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark_models.py",
        description="Train every seed model (or --models) with k-fold CV through the kit and write a results "
                    "table (CSV + Markdown): params, reported vs our OOF accuracy, s/epoch, settings, machine.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", type=parse_model_list, metavar="A,B",
                   help="models to benchmark (default: every seedNNN_* model; 'all' = every registered model)")
    p.add_argument("--folds", type=int, default=5, help="number of stratified folds")
    p.add_argument("--epochs", type=int, help="epochs for every model (default: each model's own recipe); "
                   "fewer epochs are marked in the table")
    p.add_argument("--max-train-rows", type=int, metavar="N", help="benchmark on a stratified subset of N rows")
    p.add_argument("--data", metavar="PATH", help="folder or digit-recognizer.zip (default: ./data, "
                   "./digit-recognizer.zip, else the bundled sample)")
    p.add_argument("--out-dir", default="benchmarks", metavar="DIR",
                   help="where results.csv, results.md and the run folders (DIR/runs) go")
    p.add_argument("--augment", action="store_true",
                   help="train with the kit's rotation/zoom/shift augmentation (the seeds trained without)")
    p.add_argument("--seed", type=int, default=42, help="seed for the subset, folds and initialisation")
    p.add_argument("--no-merge", action="store_true",
                   help="write only this run's rows (default: keep earlier rows of models not re-run)")
    p.add_argument("--update-doc", action="append", default=[], metavar="FILE",
                   help="also put the table between the <!-- MARKER:start/end --> markers in FILE (repeatable)")
    p.add_argument("--marker", default="model-zoo", help="marker name for --update-doc")
    p.add_argument("--render-only", action="store_true",
                   help="train nothing: rewrite results.md (and --update-doc files) from DIR/results.csv")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0, help="Keras progress output")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def run(args: argparse.Namespace) -> int:
        from kaggle_digits.zoo import ZooConfig, run_benchmark

        run_benchmark(ZooConfig(models=args.models or None, folds=args.folds, epochs=args.epochs,
                                max_train_rows=args.max_train_rows, data=args.data, out_dir=args.out_dir,
                                augment=args.augment, seed=args.seed, verbose=args.verbose,
                                merge=not args.no_merge, update_docs=tuple(args.update_doc),
                                marker=args.marker, render_only=args.render_only))
        return 0

    return run_cli(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
