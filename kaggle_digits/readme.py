"""The README's generated blocks, so its tables say what the code does: ``python -m kaggle_digits.readme``.

- ``kit-models``: the kit's own models (source "kaggle-digits"), from the registry: summary, parameter
  count, input, recipe, and what the time-budget planner knows of each (its registry entry's ``error_curve``,
  ``member_floor``, ``stand_in`` and ``fallback``).
- ``reference``: the reference submission's figures, from submissions/reference/manifest.json.
- ``budgets``: the time-to-accuracy table the benchmark wrote (benchmarks/budgets/budgets.md).

tests/test_models.py fails when README.md disagrees with either.

(The seed-model tables come from measured runs: ``kaggle-digits bench models`` writes them.)
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

from kaggle_digits import portable
from kaggle_digits.bench.tables import markdown_table
from kaggle_digits.models import describe_models, get_spec, list_models
from kaggle_digits.runs.rundir import REFERENCE_DIR, REFERENCE_MANIFEST

README = Path(__file__).resolve().parents[1] / "README.md"
KIT_SOURCE = "kaggle-digits"


def kit_models_table() -> str:
    # sorted: the registry's order depends on which family module was imported first
    names = sorted(n for n in list_models() if get_spec(n).source.startswith(KIT_SOURCE))
    rows = [(f"`{r['name']}`", r["summary"], f"{r['params']:,}", r["view"], get_spec(r["name"]).recipe.describe(),
             planner_facts(get_spec(r["name"]))) for r in describe_models(names)]
    return markdown_table(("name", "what", "params", "input", "recipe", "planner (registry entry)"), rows, "llrlll")


def planner_facts(spec) -> str:
    """What a model's registry entry tells the time-budget planner (planner.py), in words."""
    facts = []
    if spec.error_curve is not None:
        facts.append(f"OOF error {spec.error_curve[0]:g} + {spec.error_curve[1]:g}/E % after E epochs")
    if spec.member_floor is not None:
        facts.append(f"n members leave {spec.member_floor:g} + {1 - spec.member_floor:.3g}/n of one's error")
    if spec.stand_in:
        facts.append(f"`{spec.stand_in}` plans in its place when short of time")
    if spec.fallback:
        facts.append("the model for budgets too short for an ensemble")
    return "; ".join(facts) or "no curve: pairs by epoch count"


def reference_table(manifest_path: Path = README.parent / REFERENCE_DIR / REFERENCE_MANIFEST) -> str:
    from kaggle_digits.runs.reference import read_manifest

    if not manifest_path.is_file():
        return "(no reference submission yet: `kaggle-digits reference RUN_DIR` makes one)"
    m = read_manifest(manifest_path)
    rows = [(f"`{name}`", f"{v['oof_accuracy']:.3%}",
             f"{100 * sum(v['fold_accuracy']) / len(v['fold_accuracy']):.3f} ± {100 * v['fold_accuracy_std']:.3f}%",
             v["epochs"], f"{v['seconds_per_epoch']:.1f}", f"{v['params']:,}") for name, v in m["members"].items()]
    rows.append((f"ensemble ({m['blend']} blend)", f"**{m['oof_accuracy']:.3%}**", "", "", "", ""))
    table = markdown_table(("model", "OOF accuracy", "folds (mean ± std)", "epochs", "s/epoch", "params"), rows,
                           "lrrrrr")
    return (f"{table}\n\n{m['folds']} folds on {m['n_train']:,} rows, {m['wall_seconds'] / 60:.1f} min wall, "
            f"precision {m['precision']}, commit `{m['commit']}`, on: {m['machine']}.\n"
            f"Command: `{portable.command_text(m['command'], README.parent)}`")


def budgets_table(folder: str) -> str:
    path = README.parent / "benchmarks" / folder / "budgets.md"
    return path.read_text().strip() if path.is_file() else f"(not measured yet: benchmarks/{folder}/budgets.md)"


BLOCKS = {"kit-models": kit_models_table, "reference": reference_table,
          "budgets": functools.partial(budgets_table, "budgets")}


def block(text: str, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` (stripped)."""
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    if match is None:
        raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> block")
    return match.group(1).strip()


def update(path: Path = README) -> list[str]:
    """Rewrite every generated block of ``path``; returns the names of the blocks that changed."""
    text, changed = path.read_text(), []
    for name, make in BLOCKS.items():
        fresh = make().strip()
        if block(text, name) != fresh:
            changed.append(name)
            text = re.sub(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)",
                          lambda m: m.group(1) + fresh + "\n" + m.group(2), text, flags=re.S)
    path.write_text(text)
    return changed


if __name__ == "__main__":
    changed = update(Path(sys.argv[1]) if len(sys.argv) > 1 else README)
    print(f"updated: {', '.join(changed)}" if changed else "README blocks already match the code")
