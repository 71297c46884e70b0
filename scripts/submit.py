#!/usr/bin/env python
"""Validate a submission file, submit it with the official kaggle CLI, then list recent scores.

The file is checked against the competition format first (header ImageId,Label, 28,000 rows,
ids 1..28000 in order, labels 0..9): a bad file never reaches Kaggle, where it would still use up one
of the day's submissions. Then it runs
    kaggle competitions submit -c digit-recognizer -f FILE -m MESSAGE
with a default MESSAGE that records the run (models, folds, OOF accuracy, git commit), and
    kaggle competitions submissions -c digit-recognizer
"""

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits import kaggle_cli, submission  # noqa: E402
from kaggle_digits.cli import run_cli  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="submit.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", default="submissions/submission.csv",
                   help="submission to upload (default: submissions/submission.csv, the latest run's)")
    p.add_argument("-m", "--message", help="submission description (default: run, models, folds, OOF accuracy, "
                   "git commit)")
    p.add_argument("--submissions-dir", default="submissions", help="where run folders are, to describe the file")
    p.add_argument("--dry-run", action="store_true", help="validate and show the kaggle command; submit nothing")
    p.add_argument("--no-list", action="store_true", help="do not list recent submissions afterwards")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def main(args: argparse.Namespace) -> int:
    frame = submission.validate_file(args.file, n_rows=submission.KAGGLE_TEST_ROWS)
    print(f"{args.file}: valid ({len(frame):,} rows, ImageId 1..{len(frame)}, labels 0..9)")
    message = args.message or kaggle_cli.default_message(args.file, args.submissions_dir)
    command = ["kaggle", "competitions", "submit", "-c", kaggle_cli.COMPETITION, "-f", args.file, "-m", message]
    if args.dry_run:
        print("dry run, not submitted: " + " ".join(shlex.quote(c) for c in command))
        return 0
    output = kaggle_cli.submit(args.file, message)
    print("\n".join(line for line in output.splitlines() if line.strip()))
    if not args.no_list:
        print(kaggle_cli.submissions())
    return 0


def cli(argv=None) -> int:
    return run_cli(main, parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
