"""How well budgeted runs fill their budget: per run folder, the plan, each fold's given and trained time, the wall.

Each RUN_DIR is a finished `kaggle-digits make --minutes M` (or no-flag) run; WALL is what `/usr/bin/time` said of
its whole command (start-up and exit included, which the run's own clock starts after):

    python benchmarks/planner/fill.py --minutes 1 --wall 54.5 RUN_DIR [--minutes 3 --wall 179 RUN_DIR ...]

Prints a Markdown table: budget, plan (folds x epochs, from ensemble.json), the epochs each fold trained (a
fitted fold may end inside an epoch), each fold's fit seconds, the run's wall by its own clock and by the
command's, the share of the budget used, and the OOF accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kaggle_digits import atomic
from kaggle_digits.runs import rundir
from kaggle_digits.training.train import epochs_trained


def row(run_dir: Path, minutes: float, wall: float | None) -> str:
    summary = atomic.read_json(run_dir / rundir.ENSEMBLE)
    plan = summary.get("plan") or {}
    folds = [atomic.read_json(done)["metrics"] for done in sorted(run_dir.glob(f"*/fold*/{rundir.DONE}"))]
    trained = ", ".join(f"{round(epochs_trained(m), 1):g}" for m in folds)
    fits = ", ".join(f"{m['fit_seconds']:.0f}" for m in folds)
    shape = (f"{'1 of ' if plan.get('holdout') else ''}{plan.get('folds')} folds x "
             + ", ".join(f"{m} {e} ep" for m, e in (plan.get("epochs") or {}).items()))
    used = wall if wall is not None else summary["wall_seconds"]
    ensemble = summary["ensemble"]
    accuracy = ensemble.get("oof_accuracy") or ensemble.get("accuracy")
    return (f"| {minutes:g} min | {shape} | {trained} | {fits} | {summary['wall_seconds']:.1f} s | "
            f"{'' if wall is None else f'{wall:.1f} s'} | {100 * used / (60 * minutes):.0f}% | "
            f"{100 * accuracy:.2f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--minutes", type=float, action="append", required=True, help="each run's budget, in order")
    parser.add_argument("--wall", type=float, action="append", help="each command's wall seconds, in order")
    args = parser.parse_intermixed_args()
    walls = args.wall or [None] * len(args.runs)
    if not (len(args.minutes) == len(walls) == len(args.runs)):
        parser.error("give one --minutes (and one --wall, if any) per RUN_DIR")
    print("| budget | plan | epochs each fold trained | fit s per fold | run's wall | command's wall | budget used "
          "| OOF |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for run, minutes, wall in zip(args.runs, args.minutes, walls):
        print(row(Path(run), minutes, wall))


if __name__ == "__main__":
    main()
