"""Command-line entry points: flags map onto RunConfig; errors print one line unless --debug."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from kaggle_digits.config import DEFAULT_MODELS, PRESETS, RunConfig, load_toml, parse_model_list
from kaggle_digits.errors import KaggleDigitsError


def run_cli(main: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
            argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and call ``main``; KaggleDigitsError becomes one line and exit code 2."""
    args = parser.parse_args(argv)
    try:
        return main(args) or 0
    except KaggleDigitsError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished folds are kept; rerun the same command to resume", file=sys.stderr)
        return 130


def make_submission_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make_submission.py",
        description="Train a k-fold ensemble on the digit-recognizer data and write a validated submission.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", metavar="TOML", help="read settings from a TOML file; flags given here win")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration: quick = 3 folds x 15 "
                   "epochs of cnn + cnn_gru with OOF-fitted weights, for 2 CPU cores; flags given here win")
    p.add_argument("--data", metavar="PATH", help="folder or digit-recognizer.zip (default: ./data, "
                   "./digit-recognizer.zip, else the bundled sample)")
    p.add_argument("--models", type=parse_model_list, metavar="A,B", help=f"models to train and average "
                   f"(default: {','.join(DEFAULT_MODELS)}; see --list-models)")
    p.add_argument("--folds", type=int, help="number of stratified folds (default: 5)")
    p.add_argument("--epochs", type=int, help="epochs for every model (default: each model's recipe)")
    p.add_argument("--batch-size", type=int, help="batch size for every model (default: each model's recipe)")
    p.add_argument("--learning-rate", type=float, help="peak learning rate for every model (default: recipe)")
    p.add_argument("--seed", type=int, help="seed for the subset, folds, weights and augmentation (default: 42)")
    p.add_argument("--max-train-rows", type=int, metavar="N", help="train on a stratified subset of N rows")
    p.add_argument("--no-augment", action="store_true", help="train without rotation/zoom/shift augmentation")
    p.add_argument("--rotation", type=float, metavar="DEG", help="max random rotation in degrees (default: 10)")
    p.add_argument("--zoom", type=float, metavar="F", help="max random zoom as a fraction (default: 0.1)")
    p.add_argument("--shift", type=float, metavar="F", help="max random shift as a fraction (default: 0.1)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation: average OOF and test predictions "
                   "over the image and its four 1-pixel shifts (5x prediction time)")
    p.add_argument("--weights", choices=("equal", "oof"), help="model weights: equal, or fitted on OOF "
                   "probabilities (default: equal)")
    p.add_argument("--out", metavar="FILE", help="also write the submission to FILE (refused if it exists)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing FILE")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: submissions/<time>-<models>; an "
                   "unfinished run of the same configuration is resumed)")
    p.add_argument("--submissions-dir", metavar="DIR", help="where run folders go (default: submissions)")
    p.add_argument("--fresh", action="store_true", help="start a new run instead of resuming an unfinished one")
    p.add_argument("--no-val-curves", action="store_true", help="skip scoring the held-out fold after each epoch")
    p.add_argument("--no-report", action="store_true", help="skip writing report.html and its figures into the run "
                   "folder (make it later with scripts/report.py RUN_DIR)")
    p.add_argument("--only-folds", type=parse_fold_list, metavar="0,2", help="train only these folds (0-based, as "
                   "the fold0.. folders); the ensemble and submission follow once every fold is in the run folder")
    p.add_argument("--ensemble-only", action="store_true", help="train nothing: ensemble the fold results already "
                   "in --run-dir (e.g. gathered from Kaggle kernels; their code version and backend may differ)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), help="Keras progress: 0 none, 1 bars (default), "
                   "2 a line per epoch")
    p.add_argument("--list-models", action="store_true", help="list the registered models and exit")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def parse_fold_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fold ids like 0,2 -- got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    settings = {**PRESETS[args.preset], "preset": args.preset} if args.preset else {}
    settings.update(load_toml(args.config) if args.config else {})
    direct = ("data", "models", "folds", "epochs", "batch_size", "learning_rate", "seed", "max_train_rows",
              "weights", "out", "run_dir", "submissions_dir", "verbose", "only_folds")
    settings.update({k: getattr(args, k) for k in direct if getattr(args, k) is not None})
    for flag in ("force", "fresh", "debug", "tta", "ensemble_only"):
        if getattr(args, flag):
            settings[flag] = True
    if args.no_val_curves:
        settings["validate_each_epoch"] = False
    if args.no_report:
        settings["report"] = False
    augment = dict(settings.get("augment", {}))
    if args.no_augment:
        augment["enabled"] = False
    for flag, key in (("rotation", "rotation_deg"), ("zoom", "zoom"), ("shift", "shift")):
        if getattr(args, flag) is not None:
            augment[key] = getattr(args, flag)
    settings["augment"] = augment
    return RunConfig(**settings)


def print_models() -> None:
    from kaggle_digits.models import describe_models

    rows = describe_models()
    print(f"{'model':<26}{'params':>11}  {'input':<24}{'epochs':>6}{'batch':>6}  {'optimizer':<9} source")
    for r in rows:
        print(f"{r['name']:<26}{r['params']:>11,}  {r['view']:<24}{r['epochs']:>6}{r['batch_size']:>6}  "
              f"{r['optimizer']:<9} {r['source']}")


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter and retracing warnings out of the progress output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def make_submission_main(argv: Sequence[str] | None = None) -> int:
    quiet_tensorflow()

    def main(args: argparse.Namespace) -> int:
        if args.list_models:
            print_models()
            return 0
        from kaggle_digits.pipeline import make_submission

        make_submission(config_from_args(args))
        return 0

    return run_cli(main, make_submission_parser(), argv)
