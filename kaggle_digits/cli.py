"""The command line: one ``kaggle-digits`` program with subcommands (``python -m kaggle_digits`` too).

    kaggle-digits make        train the k-fold ensemble, write submission.csv  (also scripts/make_submission.py)
    kaggle-digits report      (re)write a run folder's report.html
    kaggle-digits reference   make a finished run the reference submission
    kaggle-digits download    kaggle competitions download + check the files    (also scripts/download_data.py)
    kaggle-digits submit      validate, then kaggle competitions submit        (also scripts/submit.py)
    kaggle-digits push        train on Kaggle GPU kernels (fan-out)            (also scripts/push_kernel.py)
    kaggle-digits gather      fetch pushed kernels' folds, ensemble them       (also scripts/gather_kernels.py)
    kaggle-digits runs        the runs so far: OOF accuracy, public score      (also scripts/list_runs.py)
    kaggle-digits bench ...   benchmarks

A run's flags come from RunConfig's field metadata (config.add_arguments). Every error the user can act
on -- a bad flag value included -- prints one line and exits with 2 before any work (``--debug`` shows the
traceback); Ctrl-C keeps finished folds.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from kaggle_digits import __version__, logs
from kaggle_digits.bench import commands as bench
from kaggle_digits.training.clock import Deadline
from kaggle_digits.config import add_arguments, from_args
from kaggle_digits.options import non_negative
from kaggle_digits.runs.rundir import REFERENCE_DIR
from kaggle_digits.errors import KaggleDigitsError
from kaggle_digits.quiet import quiet_tensorflow
from kaggle_digits.kaggle import commands as kaggle


@dataclass(frozen=True)
class Command:
    name: str                                           # "make", or "bench models" (a group and its command)
    arguments: Callable[[argparse.ArgumentParser], object]
    run: Callable[[argparse.Namespace], int]            # its docstring's first line is the command's help
    passes_on: bool = False                             # takes options it does not declare (in args.rest)
    script: str | None = None                           # the scripts/ file users know it by, if any

    @property
    def help(self) -> str:
        return self.description.splitlines()[0]

    @property
    def description(self) -> str:
        return inspect.getdoc(self.run) or self.name


# --------------------------------------------------------------------------- make, report
def make_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p)
    p.add_argument("--list-models", action="store_true", help="list the registered models and exit")


def make(args: argparse.Namespace) -> int:
    """Train a k-fold ensemble on the digit-recognizer data and write a validated submission.csv."""
    if args.list_models:
        print_models()
        return 0
    cfg = run_config(args).validate()  # every value checked before the pipeline (and its imports) starts
    from kaggle_digits.pipeline import make_submission

    make_submission(cfg, args.clock)
    return 0


def run_config(args: argparse.Namespace, interactive: bool | None = None):
    """The RunConfig of ``make``'s flags. Keras progress bars (--verbose 1, the default) only on a terminal:
    redirected to a file they are carriage returns and backspaces, so there it is one line per epoch (2)
    unless --verbose 1 was given explicitly."""
    cfg = from_args(args)
    interactive = sys.stdout.isatty() if interactive is None else interactive
    if cfg.verbose == 1 and getattr(args, "verbose", None) is None and not interactive:
        cfg = dataclasses.replace(cfg, verbose=2)
    return cfg


def print_models() -> None:
    from kaggle_digits.models import describe_models

    print(f"{'model':<26}{'params':>11}  {'input':<24}{'epochs':>6}{'batch':>6}  {'optimizer':<9} source")
    for r in describe_models():
        print(f"{r['name']:<26}{r['params']:>11,}  {r['view']:<24}{r['epochs']:>6}{r['batch_size']:>6}  "
              f"{r['optimizer']:<9} {r['source']}")


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by make_submission.py")
    p.add_argument("--data", metavar="PATH", help="where the run's data is now, if it moved (default: the path "
                   "recorded in RUN_DIR/data.json)")
    p.add_argument("--max-images", type=non_negative, default=50, metavar="N", help="digits per grid (default: 50)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def report(args: argparse.Namespace) -> int:
    """Write report.html (learning curves, confusion matrix, misclassified digits...) into a finished run folder.

    The figures: learning curves, the OOF confusion matrix, misclassified and low-confidence digits, an
    augmentation preview and the results table. It reads the run folder; it never trains.
    """
    from kaggle_digits.report import write_report

    print(f"report: {write_report(args.run_dir, data=args.data, max_images=args.max_images)}")
    return 0


def reference_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run on the whole train.csv")
    p.add_argument("--to", default=str(REFERENCE_DIR), metavar="DIR",
                   help=f"where submission.csv and manifest.json go (default: {REFERENCE_DIR})")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def reference(args: argparse.Namespace) -> int:
    """Make RUN_DIR the reference submission: copy its submission.csv and write manifest.json beside it.

    The manifest holds the command, commit, config, machine and precision that made the run, the
    ensemble's and each member's OOF accuracy (per-fold spread, s/epoch) and the wall time.
    """
    from kaggle_digits.runs.reference import write_reference

    print(f"reference: {write_reference(args.run_dir, args.to)}")
    return 0


GROUPS = {"bench": "benchmarks: the kit against plain Keras, the seed models, data loading, test-time augmentation"}
COMMANDS = {c.name: c for c in (
    Command("make", make_arguments, make, script="make_submission.py"),
    Command("report", report_arguments, report),
    Command("reference", reference_arguments, reference),
    Command("download", kaggle.download_arguments, kaggle.download, script="download_data.py"),
    Command("submit", kaggle.submit_arguments, kaggle.submit, script="submit.py"),
    Command("push", kaggle.push_arguments, kaggle.push, passes_on=True, script="push_kernel.py"),
    Command("gather", kaggle.gather_arguments, kaggle.gather, script="gather_kernels.py"),
    Command("runs", kaggle.runs_arguments, kaggle.runs, script="list_runs.py"),
    Command("bench baseline", bench.baseline_arguments, bench.baseline),
    Command("bench models", bench.models_arguments, bench.models),
    Command("bench load", bench.load_arguments, bench.load),
    Command("bench tta", bench.tta_arguments, bench.tta),
)}


class Parser(argparse.ArgumentParser):
    """argparse with its errors in one line (what was wrong, and where the allowed values are listed)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- dispatch
def _setup(command: Command, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.arguments(parser)
    parser.set_defaults(command=command)
    return parser


def build_parser(prog: str = "kaggle-digits") -> argparse.ArgumentParser:
    parser = Parser(prog=prog, allow_abbrev=False, description=(
        f"The Kaggle digit-recognizer submission kit. `{prog} COMMAND --help` lists a command's options."))
    parser.add_argument("--version", action="version", version=f"kaggle-digits {__version__}")
    groups = {(): parser.add_subparsers(title="commands", metavar="COMMAND")}
    for command in COMMANDS.values():
        *group, name = command.name.split()
        if tuple(group) not in groups:
            sub = groups[()].add_parser(group[0], help=GROUPS[group[0]], description=GROUPS[group[0]])
            groups[tuple(group)] = sub.add_subparsers(title=f"{group[0]} commands", metavar="COMMAND", required=True)
        _setup(command, groups[tuple(group)].add_parser(
            name, help=command.help, description=command.description, allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "kaggle-digits") -> int:
    """``kaggle-digits COMMAND ...`` (the console script)."""
    parser = build_parser(prog)
    args, rest = parser.parse_known_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    return _run(args, rest, parser)


def run_script(name: str, argv: Sequence[str] | None = None) -> int:
    """What scripts/<shim>.py runs: ``kaggle-digits NAME`` under the script's own name and arguments."""
    command = COMMANDS[name]
    parser = _setup(command, Parser(
        prog=Path(sys.argv[0]).name, description=command.description, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return _run(args, rest, parser)


def _run(args: argparse.Namespace, rest: list[str], parser: argparse.ArgumentParser) -> int:
    """Run the parsed command; KaggleDigitsError becomes one line and exit code 2."""
    if rest and not args.command.passes_on:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    args.clock = Deadline.none()  # the run's clock: a --minutes budget counts from here (heavy imports follow)
    quiet_tensorflow(getattr(args, "debug", False))
    # with several GPUs the folds train in one worker process per GPU (workers.py): this process must not take a
    # GPU's memory first (JAX preallocates 75% at its first use, TensorFlow maps all of it); read at first use
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    logs.setup()
    try:
        return args.command.run(args) or 0
    except KaggleDigitsError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished folds are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
