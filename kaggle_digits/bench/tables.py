"""The benchmarks' Markdown tables and their CSV files, one renderer and one reader/writer for both.

(pandas' ``to_markdown`` needs the optional ``tabulate`` package, which the kit does not install; this
renderer keeps the right-aligned number columns the published tables use.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from kaggle_digits import atomic


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str]) -> str:
    """A GitHub Markdown table; ``align`` per column: "l" or "r"."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> Path:
    """``rows`` as CSV with exactly ``columns`` (missing or None values are empty cells)."""
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    return atomic.write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV written by ``write_csv`` as dicts of strings; empty cells are None."""
    if not Path(path).is_file():
        return []
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.to_dict("records")]
