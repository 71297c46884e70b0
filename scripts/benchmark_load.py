#!/usr/bin/env python
"""Time loading train.csv + test.csv: plain pd.read_csv vs the kit's first (validating) and cached loads."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits.cli import quiet_tensorflow, run_cli  # noqa: E402


def main(args) -> int:
    from kaggle_digits.benchmark import load_times
    from kaggle_digits.data import find_data

    path = find_data(args.data)
    if path is None:
        print("no competition data found: pass --data PATH (folder or digit-recognizer.zip)", file=sys.stderr)
        return 2
    t = load_times(path, repeats=args.repeats)
    print(f"{t['source']} (best of {args.repeats}): pd.read_csv {t['pandas_read_csv']:.2f} s | kit first load "
          f"(validate + cache) {t['kit_cold']:.2f} s | kit cached {t['kit_warm'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="benchmark_load.py", description=__doc__)
    parser.add_argument("--data", metavar="PATH", help="folder or digit-recognizer.zip (default: ./data ...)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many loads")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sys.exit(run_cli(main, parser))
