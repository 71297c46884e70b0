#!/usr/bin/env python
"""Download the digit-recognizer files with the official kaggle CLI and check them.

Runs `kaggle competitions download -c digit-recognizer -p data/` (credentials come from where the
kaggle CLI keeps them), then checks that train.csv, test.csv and sample_submission.csv are there and
parse. The kit reads data/digit-recognizer.zip as it is: no unzipping needed.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits import kaggle_cli  # noqa: E402
from kaggle_digits.cli import run_cli  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="download_data.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-p", "--path", default="data", help="folder to download into (default: data)")
    p.add_argument("--force", action="store_true", help="download again even if the zip is up to date")
    p.add_argument("--check-only", action="store_true", help="only check the files already in --path")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def main(args: argparse.Namespace) -> int:
    if not args.check_only:
        zip_path = kaggle_cli.download(args.path, force=args.force)
        print(f"downloaded {zip_path}" if zip_path.is_file() else f"kaggle wrote its files to {args.path}")
    print(kaggle_cli.check_data(args.path))
    print("next: python scripts/make_submission.py   (reads data/ as it is)")
    return 0


def cli(argv=None) -> int:
    return run_cli(main, parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
