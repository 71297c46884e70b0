#!/usr/bin/env python
"""Train on a Kaggle GPU kernel (or fan folds out over several) with the official kaggle CLI.

Every make_submission.py option is passed on to the kernel, e.g.
    python scripts/push_kernel.py --models cnn,cnn_gru --folds 5
builds submissions/kernels-<time>/<slug>/bundle/ (kernel-metadata.json with enable_gpu, the
digit-recognizer competition as input, no internet; one self-contained script carrying the kit),
pushes it with `kaggle kernels push -p DIR`, polls `kaggle kernels status` and fetches the outputs
(submission.csv, test_probabilities.npy, the run folder) with `kaggle kernels output` into
submissions/kernels-<time>/<slug>/output/.

--kernels N splits the folds (then models x fold groups) over N kernels running in parallel; their
fold results are gathered into one local run folder and averaged by the ordinary ensemble step,
which needs the competition data here too (scripts/download_data.py).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kaggle_digits import kaggle_cli, kernel, submission  # noqa: E402
from kaggle_digits.cli import config_from_args, make_submission_parser, quiet_tensorflow, run_cli  # noqa: E402
from kaggle_digits.errors import ConfigError  # noqa: E402

LOCAL_FLAGS = ("--out", "--run-dir", "--force", "--fresh", "--ensemble-only")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="push_kernel.py", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="All other options are make_submission.py's (see make_submission.py --help) "
                                       "and are applied inside the kernel.")
    p.add_argument("--kernels", type=int, default=1, metavar="N", help="fan the folds out over N kernels (default 1)")
    p.add_argument("--user", metavar="NAME", help="your Kaggle user name (default: $KAGGLE_USERNAME or kaggle.json)")
    p.add_argument("--slug", default="kaggle-digits", help="kernel slug; parts get -part1, -part2... "
                   "(default: kaggle-digits; a new push of the same slug is a new version)")
    p.add_argument("--accelerator", default=kernel.DEFAULT_ACCELERATOR, help="kernel machine_shape (default: "
                   "NvidiaTeslaT4, Kaggle's GPU T4 x2)")
    p.add_argument("--cpu", action="store_true", help="run the kernel without a GPU")
    p.add_argument("--dry-run", action="store_true", help="build the kernel folder(s) and stop: nothing is pushed")
    p.add_argument("--no-wait", action="store_true", help="push and return; gather later with "
                   "scripts/gather_kernels.py")
    p.add_argument("--poll", type=float, default=60, metavar="SECONDS", help="status poll interval (default 60)")
    p.add_argument("--data", metavar="PATH", help="local competition data for gathering fanned-out folds "
                   "(default: ./data)")
    p.add_argument("--submissions-dir", default="submissions", metavar="DIR",
                   help="where kernel folders and outputs go (default: submissions)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def main(args: argparse.Namespace, rest: list[str]) -> int:
    local = [flag for flag in rest if flag.split("=")[0] in LOCAL_FLAGS]
    if local:
        raise ConfigError(f"{', '.join(local)}: local output options do not apply to a kernel "
                          f"(its outputs are fetched into --submissions-dir)")
    if args.kernels < 1:
        raise ConfigError(f"--kernels must be at least 1, got {args.kernels}")
    run_args = make_submission_parser().parse_args(rest)
    if run_args.list_models:
        raise ConfigError("--list-models: run make_submission.py --list-models instead")
    cfg = config_from_args(run_args).validate()  # a typo fails here, not an hour into a Kaggle queue
    owner = args.user or kaggle_cli.username()
    if not args.dry_run:
        kaggle_cli.require_credentials()
        kaggle_cli.kaggle_command()
        if owner is None:
            raise ConfigError("cannot tell your Kaggle user name (only an API token is configured): pass --user NAME")
    plan_dir = kernel.prepare(cfg.to_dict(), owner or "your-kaggle-username", slug=args.slug, n_kernels=args.kernels,
                              root=Path(args.submissions_dir), gpu=not args.cpu, accelerator=args.accelerator,
                              git_commit=kernel.git_commit())
    plan, jobs = kernel.load_plan(plan_dir)
    for job in jobs:
        folds = ",".join(map(str, job.only_folds)) if job.only_folds else "all"
        print(f"kernel {job.id}: models {','.join(job.models)}, folds {folds} -> {plan_dir / job.bundle}")
    if args.dry_run:
        print(f"dry run: nothing pushed. Push with: "
              + "; ".join(f"kaggle kernels push -p {plan_dir / j.bundle}" for j in jobs))
        return 0
    kernel.push_all(plan_dir)
    if args.no_wait:
        print(f"pushed; fetch and combine the results later with: python scripts/gather_kernels.py {plan_dir}")
        return 0
    jobs = kernel.wait_and_fetch(plan_dir, poll_seconds=args.poll)
    if len(jobs) == 1 and not jobs[0].only_folds:
        output = plan_dir / jobs[0].output
        manifest = kernel.load_manifest(output)
        n_rows = manifest.get("n_test") or submission.KAGGLE_TEST_ROWS
        frame = submission.validate_file(output / "submission.csv", n_rows=n_rows)
        latest = submission.write(frame, Path(args.submissions_dir) / "submission.csv", overwrite=True, n_rows=n_rows)
        oof = manifest.get("ensemble", {}).get("oof_accuracy")
        print(f"kernel submission: {output / 'submission.csv'} ({len(frame):,} rows"
              + (f", OOF accuracy {oof:.4%}" if oof is not None else "") + f"), copied to {latest}")
        print(f"submit it with: python scripts/submit.py {output / 'submission.csv'}")
        return 0
    quiet_tensorflow()
    result = kernel.gather(plan_dir, data=args.data, submissions_dir=args.submissions_dir)
    print(f"submit it with: python scripts/submit.py {result.submission_path}")
    return 0


def cli(argv=None) -> int:
    cli_parser = parser()
    known, rest = cli_parser.parse_known_args(argv)
    errors_as = argparse.ArgumentParser(add_help=False)  # run_cli: one-line errors, tracebacks with --debug
    errors_as.set_defaults(debug=known.debug)
    return run_cli(lambda _: main(known, rest), errors_as, [])


if __name__ == "__main__":
    sys.exit(cli())
