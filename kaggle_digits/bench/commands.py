"""The ``kaggle-digits bench`` subcommands: their options and what they run (heavy imports stay inside)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from kaggle_digits import options
from kaggle_digits.config import add_arguments, from_args
from kaggle_digits.errors import DataError


def _debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def baseline_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p)
    p.add_argument("--out-dir", default="benchmarks/kit", metavar="DIR",
                   help="where benchmark.json/.csv/.md go (run folders: DIR/runs unless --submissions-dir)")
    p.add_argument("--baseline-epochs", type=options.positive, metavar="N",
                   help="epochs for the plain-Keras baseline (default: the kit models' largest)")
    p.add_argument("--budgets", metavar="M,M,..", type=options.positive_numbers,
                   help="time to accuracy instead: the kit with --minutes M for each budget against the plain "
                        "notebook given the same minutes (OUT_DIR/budgets.{csv,json,md,png})")
    p.add_argument("--budget-runs", metavar="M=RUN_DIR,..", type=budget_runs, default={},
                   help="with --budgets: finished `make --minutes M` run folders to take as the kit's row for budget M "
                        "(their recorded wall time and OOF) instead of running them again")


def baseline(args: argparse.Namespace) -> int:
    """Benchmark a kit configuration against a plain-Keras baseline on the same rows and folds.

    Takes every make_submission.py flag; prints and saves load time, s/epoch, images/s, wall time and OOF
    accuracy per model, for the ensemble and for the baseline (OUT_DIR/benchmark.{json,csv,md}).
    """
    cfg = from_args(args).validate()  # every value checked before any work
    from kaggle_digits.bench.baseline import run

    if args.budgets:
        from kaggle_digits.bench import time_to_accuracy
        from kaggle_digits.competition.data import BUNDLED_SAMPLE, find_data

        table = time_to_accuracy.run(str(find_data(args.data) or BUNDLED_SAMPLE), args.budgets, Path(args.out_dir),
                                     reuse=args.budget_runs)
        print(table.to_string(index=False))
        return 0
    if args.submissions_dir is None:
        cfg = dataclasses.replace(cfg, submissions_dir=str(Path(args.out_dir) / "runs"))
    run(cfg, Path(args.out_dir), baseline_epochs=args.baseline_epochs)
    return 0


def budget_runs(text: str) -> dict[float, Path]:
    """argparse type: ``20=submissions/run-a,60=submissions/run-b`` -> {20.0: Path(...), 60.0: Path(...)}."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError(text)
    runs = {options.positive_numbers(m)[0]: Path(d) for m, d in pairs}
    if not all(d.is_dir() for d in runs.values()):
        raise ValueError(text)
    return runs


budget_runs.__name__ = "list of MINUTES=RUN_DIR (existing folders)"


def models_arguments(p: argparse.ArgumentParser) -> None:
    from kaggle_digits.bench.seed_models import SeedBenchConfig

    options.add_arguments(p, SeedBenchConfig)
    _debug(p)


def models(args: argparse.Namespace) -> int:
    """Benchmark the seed models through the kit's k-fold pipeline; write results.csv / results.md.

    Trains every seed model (or --models) with k-fold CV through the kit and writes a results table
    (CSV + Markdown): params, reported vs our OOF accuracy, s/epoch, settings, machine.
    """
    from kaggle_digits.bench.seed_models import SeedBenchConfig, run_benchmark

    run_benchmark(options.from_args(args, SeedBenchConfig).validate())
    return 0


def load_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", help="folder or digit-recognizer.zip (default: ./data ...)")
    p.add_argument("--repeats", type=options.positive, default=3, help="best of this many loads (default: 3)")
    _debug(p)


def load(args: argparse.Namespace) -> int:
    """Time loading train.csv + test.csv: plain pd.read_csv vs the kit's first (validating) and cached loads."""
    from kaggle_digits.bench.baseline import load_times
    from kaggle_digits.competition.data import find_data

    path = find_data(args.data)
    if path is None:
        raise DataError("no competition data found: pass --data PATH (folder or digit-recognizer.zip)")
    t = load_times(path, repeats=args.repeats)
    print(f"{t['source']} (best of {args.repeats}): pd.read_csv {t['pandas_read_csv']:.2f} s | kit first load "
          f"(validate + cache) {t['kit_cold']:.2f} s | kit cached {t['kit_warm'] * 1000:.0f} ms")
    return 0


def tta_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (with <model>/fold<k>/model.keras)")
    _debug(p)


def tta(args: argparse.Namespace) -> int:
    """OOF accuracy of a finished run's fold models with and without test-time augmentation (writes tta.json)."""
    from kaggle_digits.bench.baseline import tta_gain

    tta_gain(Path(args.run_dir))
    return 0
