"""Time to accuracy: the kit with ``--minutes B`` against a plain notebook given the same B minutes.

Both run as fresh processes on the same machine in one invocation, one after the other, and are timed
from process start (imports, loading and prediction included):

- the kit: ``python -m kaggle_digits make --minutes B`` for each budget; its figure is the run's OOF
  accuracy (every training row scored by a model that never saw it);
- the notebook: what the public notebooks do -- ``pd.read_csv``, float32 / 255, a 90/10 holdout,
  seed 003's CNN with its own recipe (Adam 1e-3, batch 32), ``model.fit`` one epoch at a time while
  another epoch still fits in the budget. Its learning rate is constant, so one run as long as the
  largest budget gives its holdout accuracy at every smaller budget (the last epoch that ended in time).

Writes ``budgets.csv``, ``budgets.json``, ``budgets.md`` (a README table) and ``budgets.png`` (accuracy
against minutes, both) into the output folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd

from kaggle_digits import atomic, portable
from kaggle_digits.runs import rundir
from kaggle_digits import models as registry
from kaggle_digits.training.precision import use as use_precision
from kaggle_digits.bench.tables import markdown_table
from kaggle_digits.machine import describe_machine
from kaggle_digits.training.devices import all_devices
from kaggle_digits.runs.runload import read_summary
from kaggle_digits.scoring.summary import RunPlan

log = logging.getLogger(__name__)
FULL_TRAIN_ROWS = 42_000  # the competition's train.csv: the benchmark's runs use all of it


def notebook_curve(data: str, max_minutes: float, seed: int = 42) -> list[dict]:
    """Run the notebook in a fresh process for ``max_minutes``; (seconds since start, holdout accuracy) per epoch."""
    out = subprocess.run([sys.executable, "-m", "kaggle_digits.bench.notebook", data, str(max_minutes), str(seed)],
                         capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kit_run(data: str, minutes: float, out_dir: Path, extra: list[str] | None = None) -> dict:
    """``make --minutes`` in a fresh process; its wall time and the run's OOF accuracies."""
    run_dir = out_dir / "runs" / f"kit-{minutes:g}min"
    cmd = [sys.executable, "-m", "kaggle_digits", "make", "--data", data, "--minutes", str(minutes),
           "--run-dir", str(run_dir), "--no-report", "--verbose", "0", *(extra or [])]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.perf_counter() - start
    summary = read_summary(run_dir)
    config = tomllib.loads((run_dir / rundir.CONFIG).read_text())
    return {"minutes": minutes, "wall_seconds": wall, "oof_accuracy": summary.ensemble.oof_accuracy,
            "members": {m: v.oof_accuracy for m, v in summary.models.items()},
            "plan": _plan_json(summary.plan), "trained_epochs": trained_epochs(run_dir, summary),
            "command": portable.command(cmd), "config": portable.values(config)}


def trained_epochs(run_dir: Path, summary) -> dict[str, list[int]]:
    """Each model's epochs as its folds trained them (done.json), beside the plan's: does the plan hold?"""
    return {m: [atomic.read_json(rundir.fold_dir(run_dir, m, k) / rundir.DONE)["metrics"]["epochs"] for k in folds]
            for m, folds in summary.folds.items()}


def warm_probe() -> None:
    """Measure the models' speed once, before the timed runs (as a user's earlier run on the machine would)."""
    from kaggle_digits.planning import budget
    from kaggle_digits.config import RunConfig

    log.info("timing the models' training steps once (cached per machine) ...")
    cfg = RunConfig()
    precision = use_precision(cfg.precision).name
    budget.measure_costs(cfg, precision, budget.planned_workers(cfg, FULL_TRAIN_ROWS))
    budget.measure_costs(cfg, precision, 1, models=(registry.fallback_model(),))  # a holdout's: one process


def reused_run(minutes: float, run_dir: Path) -> dict:
    """A finished ``make --minutes`` run as the kit's row: its own record of wall time (from the command's start)
    and OOF accuracy -- the same figures ``kit_run`` measures, without training again."""
    summary = read_summary(run_dir)
    invocations = rundir.read_invocations(run_dir)
    command = invocations[-1].command if invocations else ""
    return {"minutes": minutes, "wall_seconds": summary.wall_seconds, "oof_accuracy": summary.ensemble.oof_accuracy,
            "members": {m: v.oof_accuracy for m, v in summary.models.items()}, "plan": _plan_json(summary.plan),
            "trained_epochs": trained_epochs(run_dir, summary),
            "command": command, "config_toml": (run_dir / rundir.CONFIG).read_text(), "reused": run_dir.name}


def run(data: str, budgets: list[float], out_dir: Path, kit_extra: list[str] | None = None,
        reuse: dict[float, Path] | None = None) -> pd.DataFrame:
    """``reuse``: budget -> a finished run folder taken as that budget's kit row (not run again); the notebook
    runs as long as the largest budget of either kind and is compared at every one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reuse = reuse or {}
    rows, kit = [], []
    warm_probe()
    for minutes in sorted({*budgets, *reuse}):
        if minutes in reuse:
            k = reused_run(minutes, reuse[minutes])
            log.info(f"kit: --minutes {minutes:g} -> OOF {k['oof_accuracy']:.4%} in {k['wall_seconds']:.0f} s "
                     f"(the finished run {reuse[minutes]})")
        else:
            log.info(f"kit: --minutes {minutes:g} ...")
            k = kit_run(data, minutes, out_dir, kit_extra)
            log.info(f"kit: --minutes {minutes:g} -> OOF {k['oof_accuracy']:.4%} in {k['wall_seconds']:.0f} s")
        kit.append(k)
    log.info(f"notebook: seed 003 CNN, model.fit epoch by epoch for up to {max([*budgets, *reuse]):g} min ...")
    notebook_minutes = max([*budgets, *reuse])
    curve = notebook_curve(data, notebook_minutes)
    for k in kit:
        minutes = k["minutes"]
        in_time = [c for c in curve if c["seconds"] <= minutes * 60]
        nb = in_time[-1] if in_time else None
        rows.append({"budget_min": minutes, "kit_oof_accuracy": k["oof_accuracy"], "kit_wall_s": k["wall_seconds"],
                     "kit_plan": _plan_text(k["plan"]), "kit_trained": _trained_text(k.get("trained_epochs")),
                     "notebook_holdout_accuracy": nb["accuracy"] if nb else None,
                     "notebook_epochs": nb["epoch"] if nb else 0, "notebook_wall_s": nb["seconds"] if nb else None})
    table = pd.DataFrame(rows)
    machine = describe_machine(all_devices())
    atomic.write_text(out_dir / "budgets.csv", table.to_csv(index=False))
    atomic.write_json(out_dir / "budgets.json", {"machine": machine, "kit": kit, "notebook_curve": curve,
                                                 "table": rows})
    atomic.write_text(out_dir / "budgets.md", render_markdown(table, machine, notebook_minutes))
    plot(table, curve, out_dir / "budgets.png", machine)
    return table


def render_markdown(table: pd.DataFrame, machine: dict, notebook_minutes: float = float("inf")) -> str:
    header = ("budget", "kit plan", "epochs the folds trained", "kit OOF accuracy", "kit wall",
              "notebook holdout accuracy", "notebook epochs")
    rows = [(f"{r.budget_min:g} min", r.kit_plan, _text(getattr(r, "kit_trained", "")), f"{r.kit_oof_accuracy:.2%}",
             f"{r.kit_wall_s:.0f} s",
             ("no epoch in time" if r.budget_min <= notebook_minutes else f"not run (ran {notebook_minutes:g} min)")
             if pd.isna(r.notebook_holdout_accuracy) else f"{r.notebook_holdout_accuracy:.2%}",
             r.notebook_epochs) for r in table.itertuples()]
    return f"Machine: {machine['full']}\n\n" + markdown_table(header, rows, "lllrrrr") + "\n"


def plot(table: pd.DataFrame, curve: list[dict], path: Path, machine: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot([c["seconds"] / 60 for c in curve], [100 * c["accuracy"] for c in curve], "o-", ms=3,
            label="notebook (seed 003 CNN, 10% holdout)")
    ax.plot(table.kit_wall_s / 60, 100 * table.kit_oof_accuracy, "s-", label="kit --minutes B (OOF)")
    for _, r in table.iterrows():
        ax.annotate(f"{r.budget_min:g} min", (r.kit_wall_s / 60, 100 * r.kit_oof_accuracy), fontsize=7,
                    xytext=(3, -10), textcoords="offset points")
    ax.set_xlabel("wall minutes from process start")
    ax.set_ylabel("accuracy %")
    ax.set_ylim(97.0, 100.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(machine["short"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _text(value) -> str:
    """A table cell: empty for a missing value (pandas fills a column some rows lack with NaN)."""
    return "" if pd.isna(value) else str(value)


def _trained_text(trained: dict[str, list[int]] | None) -> str:
    """e.g. "cnn_fast 29, 30, 29, 30" (each fold's epochs, in fold order)."""
    return "; ".join(f"{m} {', '.join(map(str, e))}" for m, e in (trained or {}).items())


def _plan_json(plan: RunPlan | None) -> dict | None:
    """A kit row's plan as budgets.json keeps it: ensemble.json's ``plan``."""
    return plan.to_json() if plan is not None else None


def _plan_text(content: dict | None) -> str:
    if not content:
        return ""
    plan = RunPlan.from_json(content)
    epochs = " + ".join(f"{m} {e} ep" for m, e in plan.epochs.items())
    folds = f"1 of {plan.folds} folds" if plan.holdout else f"{plan.folds} folds"
    return f"{folds} x {epochs}{'' if plan.augment else ', no aug.'}"
