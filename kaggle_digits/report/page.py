"""The report page: ``write_report(run_dir)`` draws a finished run's figures into ``run_dir/report/`` and ties
them, the results table and the run's configuration into one self-contained ``run_dir/report.html``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from pathlib import Path

import pandas as pd

from kaggle_digits import __version__, atomic
from kaggle_digits.runs import rundir
from kaggle_digits.competition.data import Competition
from kaggle_digits.errors import ConfigError
from kaggle_digits.report.figures import FIGURES, figure_png
from kaggle_digits.runs.runload import Run, load_run
from kaggle_digits.scoring.summary import RunSummary


# --------------------------------------------------------------------------- tables
def results_rows(summary: RunSummary) -> list[dict]:
    """One row per model plus the ensemble: OOF accuracy, per-fold accuracy, timings."""
    e = summary.ensemble
    rows = [{"model": name, "params": m.params, "epochs": m.epochs, "weight": e.weights.get(name),
             "oof_accuracy": m.oof_accuracy, "oof_log_loss": m.oof_log_loss, "fold_accuracy": m.fold_accuracy,
             "fold_mean": m.fold_accuracy_mean, "fold_std": m.fold_accuracy_std,
             "seconds_per_epoch": m.seconds_per_epoch, "images_per_second": m.images_per_second,
             "fit_seconds": m.fit_seconds} for name, m in summary.models.items()]
    rows.append({"model": f"ensemble ({e.weights_used} weights)", "oof_accuracy": e.oof_accuracy,
                 "oof_log_loss": e.oof_log_loss, "fit_seconds": sum(r["fit_seconds"] for r in rows) or None})
    return rows


def _fmt(value, kind: str) -> str:
    if value is None or value == []:
        return "–"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{value:.3f}"
    if kind == "s":
        return f"{value:,.1f}"
    if kind == "folds":
        return " / ".join(f"{v:.2%}" for v in value)
    return html.escape(str(value))


def results_table_html(summary: RunSummary) -> str:
    columns = [("model", "model", "str"), ("params", "params", "int"), ("epochs", "epochs", "int"),
               ("weight", "weight", "float"), ("OOF accuracy", "oof_accuracy", "pct"),
               ("OOF log loss", "oof_log_loss", "float"), ("per fold", "fold_accuracy", "folds"),
               ("fold mean", "fold_mean", "pct"), ("fold std", "fold_std", "pct"),
               ("s / epoch", "seconds_per_epoch", "s"), ("images / s", "images_per_second", "int"),
               ("fit s (all folds)", "fit_seconds", "s")]
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _, _ in columns)
    body = []
    for row in results_rows(summary):
        cls = ' class="ensemble"' if row["model"].startswith("ensemble") else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(row.get(key), kind)}</td>" for _, key, kind in columns)
                    + "</tr>")
    blends = [f"{name} weights {b.oof_accuracy:.2%} ({', '.join(f'{k} {v:.2f}' for k, v in b.weights.items())})"
              for name, b in summary.ensemble.blends.items()]
    notes = [", ".join(blends)] if blends else []
    for seconds, label in ((summary.load_seconds, "data load"), (summary.wall_seconds, "whole run")):
        if seconds is not None:  # None: a run written before they were recorded
            notes.append(f"{label} {seconds:,.1f} s")
    note = f"<p class=\"note\">{html.escape('; '.join(notes))}</p>" if notes else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


def ensemble_vs_members_html(summary: RunSummary) -> str:
    """Every blend's OOF accuracy against the best single model, and how the models' errors overlap."""
    models, e = summary.models, summary.ensemble
    if len(models) < 2 or not e.blends:
        return ""
    best = max(models, key=lambda m: models[m].oof_accuracy)
    top = models[best].oof_accuracy
    rows = [f"<tr><td>{html.escape(m)}</td><td>{_fmt(v.oof_accuracy, 'pct')}</td><td>–</td></tr>"
            for m, v in models.items()]
    for name, b in e.blends.items():
        gain = b.oof_accuracy - top
        mark = " (used)" if name == e.weights_used else ""
        warn = ' class="warn"' if gain < 0 else ' class="ensemble"' if mark else ""
        rows.append(f"<tr{warn}><td>ensemble: {html.escape(name)}{mark}</td><td>{_fmt(b.oof_accuracy, 'pct')}</td>"
                    f"<td>{gain * 100:+.2f} pts vs {html.escape(best)}</td></tr>")
    overlap = "".join(f"<li>{html.escape(p.model)} gets {p.errors:,} OOF rows wrong; {html.escape(p.other)} "
                      f"gets {p.other_right:,} of them right</li>" for p in summary.error_overlap)
    below = ""
    if (e.gain_over_best_member or 0) < 0:  # None: a run written before it was recorded
        below = (f"<p class='note'>The ensemble used is below its best member ({html.escape(best)}) on OOF rows: "
                 f"consider training {html.escape(best)} alone.</p>")
    return ("<h2>Ensemble vs members</h2><table><thead><tr><th>what</th><th>OOF accuracy</th><th>gain</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{below}<ul>{overlap}</ul>")


# --------------------------------------------------------------------------- writing
def _write_csv(path: Path, records: list[dict], columns: list[str]) -> None:
    frame = pd.DataFrame(records, columns=columns)
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.4f", lineterminator="\n"))


def write_report(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None,
                 max_images: int = 50) -> Path:
    """Draw the figures of ``run_dir`` into ``run_dir/report/`` and tie them into ``run_dir/report.html``."""
    if max_images < 1:
        raise ConfigError(f"--max-images must be at least 1, got {max_images}")
    run = load_run(run_dir, data)
    out = run.run_dir / rundir.REPORT_DIR
    pngs: dict[str, bytes] = {}
    blurbs: dict[str, str] = {}
    for name, figure in FIGURES.items():
        fig, records = figure.draw(run, max_images)
        if fig is None:
            (out / name).unlink(missing_ok=True)  # a rerun after turning it off (e.g. augmentation)
            continue
        pngs[name], blurbs[name] = figure_png(fig), figure.describe(fig)
        if figure.columns:
            _write_csv(out / Path(name).with_suffix(".csv").name, records, list(figure.columns))
    for name, png in pngs.items():
        atomic.write_bytes(out / name, png)
    return atomic.write_text(run.run_dir / rundir.REPORT_HTML, render_html(run, pngs, blurbs))


def render_html(run: Run, pngs: dict[str, bytes], blurbs: dict[str, str] | None = None) -> str:
    """The page; ``blurbs`` holds the text above each figure written from the figure drawn (else its blurb)."""
    blurbs = blurbs or {}
    info, summary = run.data_info, run.summary
    esc = html.escape
    accuracy = summary.ensemble.oof_accuracy
    facts = [("run folder", str(run.run_dir.resolve())), ("data", str(info.get("source", "?"))),
             ("training rows", f"{info.get('n_train_used', len(run.y)):,} of {info.get('n_train_total', '?'):,}"
              if isinstance(info.get("n_train_total"), int) else f"{len(run.y):,}"),
             ("test rows", f"{len(run.test):,}"), ("folds", str(run.n_folds)), ("models", ", ".join(run.models)),
             ("ensemble OOF accuracy", f"{accuracy:.4%}"),
             ("report written", f"{dt.datetime.now():%Y-%m-%d %H:%M} by kaggle-digits {__version__}")]
    sample_note = ('<p class="warn">Made from the bundled 4,000-row sample: a demo, not a valid Kaggle '
                   'submission.</p>' if info.get("is_sample") else "")
    sections = []
    for name, figure in FIGURES.items():
        if name not in pngs:
            if figure.absent:
                sections.append(f"<h2>{esc(figure.title)}</h2><p>{esc(figure.absent)}</p>")
            continue
        encoded = base64.b64encode(pngs[name]).decode("ascii")
        sections.append(f'<h2 id="{Path(name).stem}">{esc(figure.title)}</h2><p>{blurbs.get(name, figure.blurb)}</p>'
                        f'<img src="data:image/png;base64,{encoded}" alt="{esc(figure.title)}">')
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>kaggle-digits run report: {esc(run.run_dir.name)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1280px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, .facts th, .facts td {{ text-align: left; }}
tr.ensemble td {{ font-weight: bold; background: #eef5ff; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
.warn {{ background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }}
.note {{ color: #555; font-size: 0.9em; }} pre {{ background: #f6f6f6; padding: 0.8em; }}
</style></head><body>
<h1>Run report: {esc(run.run_dir.name)}</h1>
{sample_note}
<table class="facts">{facts_html}</table>
<h2 id="results">Results</h2>
<p>OOF = out-of-fold: each training row scored by the fold model that did not train on it.
Seconds per epoch leave out the first epoch (graph compilation).</p>
{results_table_html(summary)}
{ensemble_vs_members_html(summary)}
{''.join(sections)}
<h2 id="config">Configuration</h2>
<details><summary>{rundir.CONFIG}</summary><pre>{esc(run.config_text)}</pre></details>
</body></html>
"""
