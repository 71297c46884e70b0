"""The ensemble-gain curve: OOF error of 1..n members of one model, each member a run of its own seed (its own split).

Each run folder is one member: `kaggle-digits make --seed S` of the same model and epochs, S = 1..n, which are the
members `--seed 1 --seeds n` trains (member k's seed and split are seed + k: competition/folds.py). Every member
predicts every training row out of fold, so the average of any n members is scored on rows none of its models saw.

    python benchmarks/planner/members.py --data ../shared/data/digit-recognizer.zip RUN_DIR1 RUN_DIR2 ...

Prints, for n = 1..len(runs), the mean OOF error over every n-member subset (and its spread), the gain
e(n) / e(1), and the floor f of the planner's model e(n) = e(1) * (f + (1 - f) / n) fitted by least squares
(planning/curves.py; the value the registry's ``member_floor`` holds).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from kaggle_digits.competition.data import load_competition
from kaggle_digits.runs import rundir


def member_oof(run_dir: Path, model: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's training rows and the model's OOF probabilities over them, fold by fold through the run's split."""
    rows, fold_of = rundir.read_folds(run_dir)
    oof = np.zeros((len(rows), 10), dtype=np.float32)
    for k in range(int(fold_of.max()) + 1):
        oof[fold_of == k] = np.load(rundir.fold_dir(run_dir, model, k) / rundir.FOLD_OOF)
    return rows, oof


def gain_curve(oofs: list[np.ndarray], y: np.ndarray) -> list[dict]:
    """Per n: the mean and spread of the OOF error (percent) of every n-member average."""
    table = []
    for n in range(1, len(oofs) + 1):
        errors = [100 * float(np.mean(np.mean([oofs[i] for i in subset], axis=0).argmax(1) != y))
                  for subset in itertools.combinations(range(len(oofs)), n)]
        table.append({"members": n, "subsets": len(errors), "oof_error": float(np.mean(errors)),
                      "min": min(errors), "max": max(errors)})
    return table


def fit_floor(table: list[dict]) -> float:
    """f of e(n) / e(1) = f + (1 - f) / n, least squares: (g - 1/n) = f (1 - 1/n)."""
    e1 = table[0]["oof_error"]
    a = np.array([1 - 1 / r["members"] for r in table[1:]])
    b = np.array([r["oof_error"] / e1 - 1 / r["members"] for r in table[1:]])
    return float(a @ b / (a @ a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", default="../shared/data/digit-recognizer.zip")
    parser.add_argument("--model", default="cnn_fast")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    y_all = load_competition(args.data).y_train
    members = [member_oof(run, args.model) for run in args.runs]
    rows = members[0][0]
    if any(not np.array_equal(r, rows) for r, _ in members):
        raise SystemExit("the runs trained on different rows: members must share the training rows")
    y = y_all[rows]
    table = gain_curve([oof for _, oof in members], y)
    floor = fit_floor(table) if len(table) > 1 else None
    e1 = table[0]["oof_error"]
    print("| members | OOF error (mean over subsets) | min - max | OOF accuracy | e(n)/e(1) | model f + (1-f)/n |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in table:
        model = f"{floor + (1 - floor) / r['members']:.3f}" if floor is not None else ""
        print(f"| {r['members']} | {r['oof_error']:.3f}% ({r['subsets']}) | {r['min']:.3f} - {r['max']:.3f} | "
              f"{100 - r['oof_error']:.3f}% | {r['oof_error'] / e1:.3f} | {model} |")
    print(f"floor f = {floor:.3f}" if floor is not None else "one member: no curve")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "runs": [p.name for p in args.runs], "table": table,
                                         "floor": floor}, indent=1))


if __name__ == "__main__":
    main()
