"""The Kaggle subcommands of ``kaggle-digits`` (download, submit, push, gather, runs): their options and what
they do.

Each ``X_arguments(parser)`` declares a command's options; ``X(args)`` runs it (its docstring is the
command's help). cli.py lists them; the run settings a kernel trains with come from RunConfig's metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
from pathlib import Path

from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir
from kaggle_digits.config import DEFAULT_SUBMISSIONS, RunConfig, add_arguments, from_args, settings
from kaggle_digits.competition.data import check_data
from kaggle_digits.scoring.ensemble import blend_choices
from kaggle_digits.errors import ConfigError, OutputError
from kaggle_digits.kaggle import client, fanout, limits, outputs, provenance, resume, scores
from kaggle_digits.kaggle import gather as gathering
from kaggle_digits.kaggle.limits import DEFAULT_ACCELERATOR
from kaggle_digits.machine import git_commit

log = logging.getLogger(__name__)


def _debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


# --------------------------------------------------------------------------- download, submit
def download_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--path", default="data", help="folder to download into (default: data)")
    p.add_argument("--force", action="store_true", help="download again even if the zip is up to date")
    p.add_argument("--check-only", action="store_true", help="only check the files already in --path")
    _debug(p)


def download(args: argparse.Namespace) -> int:
    """Download the digit-recognizer files with the official kaggle CLI and check them.

    Runs `kaggle competitions download -c digit-recognizer -p data/` (credentials come from where the
    kaggle CLI keeps them), then checks that train.csv, test.csv and sample_submission.csv are there and
    parse. The kit reads data/digit-recognizer.zip as it is: no unzipping needed.
    """
    if not args.check_only:
        zip_path = client.download(args.path, force=args.force)
        print(f"downloaded {zip_path}" if zip_path.is_file() else f"kaggle wrote its files to {args.path}")
    print(check_data(args.path))
    print("next: python scripts/make_submission.py   (reads data/ as it is)")
    return 0


def submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=f"{DEFAULT_SUBMISSIONS}/{rundir.SUBMISSION}",
                   help=f"submission to upload (default: {DEFAULT_SUBMISSIONS}/{rundir.SUBMISSION}, the latest run's)")
    p.add_argument("-m", "--message", help="submission description (default: run, models, folds, OOF accuracy, "
                   "git commit)")
    p.add_argument("--submissions-dir", default=DEFAULT_SUBMISSIONS, help="where run folders are, to describe the file")
    p.add_argument("--dry-run", action="store_true", help="validate and show the kaggle command; submit nothing")
    p.add_argument("--no-list", action="store_true", help="do not list recent submissions afterwards")
    p.add_argument("--no-wait", action="store_true", help="upload and return: do not wait for the public score")
    p.add_argument("--wait", type=float, default=600, metavar="SECONDS", help="wait at most this long for the "
                   "public score (default 600)")
    p.add_argument("--poll", type=float, default=5, metavar="SECONDS", help="first wait before asking for the "
                   "score; it doubles up to 60 s (default 5)")
    p.add_argument("--yes", action="store_true", help="submit even a run on a subset of train.csv, on the bundled "
                   "sample, or with an OOF accuracy below the best submitted before")
    _debug(p)


def submit(args: argparse.Namespace) -> int:
    """Validate a submission file, submit it with the official kaggle CLI, then list recent scores.

    The file is checked against the competition format first (header ImageId,Label, 28,000 rows,
    ids 1..28000 in order, labels 0..9): a bad file never reaches Kaggle, where it would still use up one
    of the day's submissions. Then it runs
        kaggle competitions submit -c digit-recognizer -f FILE -m MESSAGE
    with a default MESSAGE that records the run (models, folds, OOF accuracy, git commit), and
        kaggle competitions submissions -c digit-recognizer
    It shows the run's OOF accuracy first and, unless --yes, refuses a file whose run trained on a subset
    (--max-train-rows) or the bundled sample, or whose OOF accuracy is below the best submitted before
    (submissions/submitted.json and the OOF accuracies in your Kaggle submissions' descriptions).
    """
    frame = submission.validate_file(args.file, n_rows=submission.KAGGLE_TEST_ROWS)
    print(f"{args.file}: valid ({len(frame):,} rows, ImageId 1..{len(frame)}, labels 0..9)")
    facts = provenance.describe(args.file, args.submissions_dir)
    print(f"{args.file}: {facts.line()}")
    message = args.message or provenance.default_message(args.file, args.submissions_dir)
    command = ["kaggle", "competitions", "submit", "-c", client.COMPETITION, "-f", args.file, "-m", message]
    if not args.yes:
        reasons = provenance.refusals(facts, provenance.best_submitted(args.submissions_dir))
        if not reasons and not args.dry_run and facts.oof_accuracy is not None:
            client.require_credentials()  # before the listing, so missing credentials stay one line
            reasons = provenance.refusals(facts, provenance.best_submitted(args.submissions_dir, _listing()))
        if reasons:
            raise OutputError(f"{args.file} not submitted: {'; '.join(reasons)}. Pass --yes to submit it anyway")
    if args.dry_run:
        print("dry run, not submitted: " + " ".join(shlex.quote(c) for c in command))
        return 0
    output = client.submit(args.file, message)
    provenance.record_submitted(args.submissions_dir, args.file, facts, message)
    print("\n".join(line for line in output.splitlines() if line.strip() and "remaining today" not in line))
    if (left := scores.remaining_today(output)) is not None:
        print(f"submissions left today: {left}")
    if args.no_wait:
        print(f"not waiting for the score: see `kaggle competitions submissions -c {client.COMPETITION}`")
        return 0
    score, rows = scores.wait(message, scores.submitted_ref(output), first_poll=args.poll, max_wait=args.wait)
    scores.record(score, facts, args.submissions_dir)
    if rows and not args.no_list:
        import pandas as pd

        print(pd.DataFrame(rows).head(5).to_string(index=False))  # the last listing: no extra call
    if score.status == "error":
        raise OutputError(f"Kaggle could not score submission {score.ref}: " + (score.error or (
            f"no error description (this kaggle CLI does not show it; see "
            f"https://www.kaggle.com/competitions/{client.COMPETITION}/submissions)")))
    if score.status == "pending":
        print(f"still being scored after {args.wait:.0f} s: see `kaggle competitions submissions -c "
              f"{client.COMPETITION}` later")
        return 0
    print(score.line(facts))
    return 0


def _listing() -> str:
    """`kaggle competitions submissions` for the OOF accuracies in earlier descriptions ("" if it fails)."""
    try:
        return client.submissions(page_size=50)
    except client.KaggleError as exc:
        log.warning(f"could not list earlier submissions ({exc}); comparing with {rundir.SUBMITTED} only")
        return ""


# --------------------------------------------------------------------------- push, gather
def push_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("All other options are make_submission.py's (see make_submission.py --help) and are applied "
                "inside the kernel.")
    p.add_argument("--kernels", type=int, default=1, metavar="N", help="fan the folds out over N kernels (default 1)")
    p.add_argument("--user", metavar="NAME", help="your Kaggle user name (default: $KAGGLE_USERNAME or kaggle.json)")
    p.add_argument("--slug", default="kaggle-digits", help="kernel slug; parts get -part1, -part2... "
                   "(default: kaggle-digits; a new push of the same slug is a new version)")
    p.add_argument("--accelerator", default=DEFAULT_ACCELERATOR, help="kernel machine_shape (default: "
                   "NvidiaTeslaT4, Kaggle's GPU T4 x2; the retired NvidiaTeslaP100 and TPU v3 are refused)")
    p.add_argument("--resume", metavar="FANOUT_DIR", help="push the kernels of an earlier push that Kaggle refused "
                   "(the same command finds them too)")
    p.add_argument("--resume-kernels", metavar="FANOUT_DIR", help="for each kernel of that push that stopped with "
                   "folds missing (at its deadline), push a kernel that takes over its finished folds (its output "
                   "attached as input) and trains the rest")
    p.add_argument("--yes", action="store_true", help="push even when the kernels need more GPU hours than your "
                   "weekly quota has left, or a kernel of the same slug is still running")
    p.add_argument("--timeout-minutes", type=float, metavar="M", help="each kernel's session limit (`kaggle kernels "
                   "push -t`; default: Kaggle's 12 hours, or less when the weekly GPU quota left, shared among the "
                   "kernels, is less); the kernel stops training in time and keeps the folds it finished")
    p.add_argument("--cpu", action="store_true", help="run the kernel without a GPU")
    p.add_argument("--dry-run", action="store_true", help="build the kernel folder(s) and stop: nothing is pushed")
    p.add_argument("--no-wait", action="store_true", help="push and return; gather later with "
                   "scripts/gather_kernels.py")
    p.add_argument("--poll", type=float, default=60, metavar="SECONDS", help="status poll interval (default 60)")
    p.add_argument("--data", metavar="PATH", help="local competition data for gathering fanned-out folds "
                   "(default: ./data)")
    p.add_argument("--submissions-dir", default=DEFAULT_SUBMISSIONS, metavar="DIR",
                   help=f"where kernel folders and outputs go (default: {DEFAULT_SUBMISSIONS})")
    _debug(p)


def kernel_run_config(flags: list[str]) -> RunConfig:
    """The run settings a kernel trains with, from make_submission.py flags; local ones are refused."""
    local = [f for f in flags if f.split("=")[0] in {s.flag for s in settings() if s.local}]
    if local:
        raise ConfigError(f"{', '.join(local)}: local output options do not apply to a kernel "
                          f"(its outputs are fetched into --submissions-dir)")
    parser = add_arguments(argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False))
    try:
        run_args, unknown = parser.parse_known_args(flags)
    except argparse.ArgumentError as exc:
        raise ConfigError(str(exc)) from None
    if unknown:
        raise ConfigError(f"{' '.join(unknown)}: not an option of a kernel run (see make_submission.py --help)")
    return from_args(run_args).validate()  # a typo fails here, not an hour into a Kaggle queue


def push(args: argparse.Namespace) -> int:
    """Train on a Kaggle GPU kernel (or fan folds out over several) with the official kaggle CLI.

    Every make_submission.py option is passed on to the kernel, e.g.
        python scripts/push_kernel.py --models cnn,cnn_gru --folds 5
    builds submissions/kernels-<time>/<slug>/bundle/ (kernel-metadata.json with enable_gpu, machine_shape
    NvidiaTeslaT4, the digit-recognizer competition as input, no internet; one self-contained script carrying
    the kit), pushes it with `kaggle kernels push -p DIR -t SECONDS` (the session limit: see --timeout-minutes),
    polls `kaggle kernels status` and fetches the outputs (submission.csv, test_probabilities.npy, the run
    folder) with `kaggle kernels output` into submissions/kernels-<time>/<slug>/output/.

    --kernels N splits the folds (then models x fold groups) over N kernels running in parallel; their
    fold results are gathered into one local run folder and averaged by the ordinary ensemble step,
    which needs the competition data here too (scripts/download_data.py).

    Before the first push: a retired --accelerator is refused; `kaggle quota` is read and a push needing
    more GPU hours than are left is refused unless --yes; so is a slug whose kernel still runs. When Kaggle
    refuses a push part-way (its limit of concurrent GPU sessions), the kernels pushed so far are recorded and
    the same command (or --resume FANOUT_DIR) pushes the rest. A kernel stops itself before its limit with
    the folds it finished written; --resume-kernels FANOUT_DIR pushes kernels that train the folds missing.
    """
    if args.kernels < 1:
        raise ConfigError(f"--kernels must be at least 1, got {args.kernels}")
    accelerator = None if args.cpu else limits.check_accelerator(args.accelerator)  # before anything is pushed
    root = Path(args.submissions_dir)
    if args.resume and args.resume_kernels:
        raise ConfigError("--resume and --resume-kernels: give one (--resume pushes parts Kaggle refused, "
                          "--resume-kernels continues kernels that stopped with folds missing)")
    args.resume = args.resume or args.resume_kernels
    if args.resume:
        if args.rest:
            raise ConfigError(f"--resume {args.resume} pushes that fan-out as it was made: drop {' '.join(args.rest)}")
        fanout_dir = Path(args.resume)
        fanout.load_fanout(fanout_dir)  # a wrong folder fails here
    else:
        cfg = kernel_run_config(args.rest)
        if cfg.minutes and args.kernels > 1:  # each kernel would plan on its own: folds that cannot be averaged
            raise ConfigError(f"--minutes with --kernels {args.kernels}: each kernel would plan its own models, folds "
                              f"and epochs, and their folds could not be combined; push one kernel with --minutes, "
                              f"or {args.kernels} kernels with --models/--epochs")
        if args.kernels > 1 and not (cfg.full or cfg.epochs or cfg.model_epochs):
            # a kernel without them plans its own run on a GPU (budget.GPU_DEFAULT_MINUTES): kernels that each plan
            # could not be averaged, so a fan-out trains every model's full recipe, as it always did
            cfg = dataclasses.replace(cfg, full=True)
        owner = args.user or client.username()
    if not args.dry_run:
        client.require_credentials()
        client.kaggle_command()  # the CLI's version, checked at first use
        if not args.resume and owner is None:
            raise ConfigError("cannot tell your Kaggle user name (only an API token is configured): pass --user NAME")
    if not args.resume:
        owner = owner or "your-kaggle-username"
        request = fanout.request_key(cfg.kernel_settings(), owner, args.slug, args.kernels, not args.cpu, accelerator)
        fanout_dir = None if args.dry_run else fanout.unfinished(root, request)
        if fanout_dir is not None:
            print(f"resuming {fanout_dir}: the same push was refused part-way before; pushing the kernels it lacks")
        else:
            fanout_dir = fanout.prepare(cfg.kernel_settings(), owner, slug=args.slug, n_kernels=args.kernels, root=root,
                                      gpu=not args.cpu, accelerator=accelerator, git_commit=git_commit())
    if args.resume_kernels:
        if not args.dry_run:
            fanout.wait_and_fetch(fanout_dir, poll_seconds=args.poll)  # what each kernel finished decides
        if not resume.resume_kernels(fanout_dir, git_commit()):
            print(f"every kernel of {fanout_dir} finished its folds: nothing to resume; combine them with "
                  f"`python scripts/gather_kernels.py {fanout_dir}`")
            return 0
    record, jobs = fanout.load_fanout(fanout_dir)
    todo = [job for job in jobs if not job.pushed]
    gpu = record.get("gpu", True)
    quota = _read_quota() if gpu and todo and not args.dry_run else None
    timeout, why = limits.push_timeout(args.timeout_minutes, quota, len(todo))
    fanout.set_timeouts(fanout_dir, todo, timeout)  # also into each script: the kernel's own deadline
    fanout.save_fanout(fanout_dir, record, jobs)
    for job in jobs:
        folds = ",".join(map(str, job.only_folds)) if job.only_folds else "all"
        state = (f"pushed before ({job.pushed})" if job.pushed else
                 f"estimate about {job.estimate_seconds / 60:.0f} min; -t {timeout} s ({why}), training stops "
                 f"{limits.kernel_deadline_seconds(timeout) / 60:.1f} min after its start")
        print(f"kernel {job.id}: models {','.join(job.models)}, folds {folds} -> {fanout_dir / job.bundle}; {state}")
    if record.get("estimate_basis"):
        print(f"estimates from {record['estimate_basis']}")
    if args.dry_run:
        print("dry run: nothing pushed. Push with: "
              + "; ".join(f"kaggle kernels push -p {fanout_dir / j.bundle} -t {j.timeout_seconds}" for j in todo))
        return 0
    if quota is not None:
        _check_quota(todo, quota, args.yes)
    fanout.push_all(fanout_dir, yes=args.yes)
    if args.no_wait:
        print(f"pushed; fetch and combine the results later with: python scripts/gather_kernels.py {fanout_dir}")
        return 0
    jobs = fanout.wait_and_fetch(fanout_dir, poll_seconds=args.poll)
    if len(jobs) == 1 and not jobs[0].only_folds:
        return _take_kernel_submission(fanout_dir / jobs[0].output, Path(args.submissions_dir))
    result = gathering.gather(fanout_dir, data=args.data, submissions_dir=args.submissions_dir)
    print(f"submit it with: python scripts/submit.py {result.submission_path}")
    return 0


def _read_quota() -> limits.Quota | None:
    """`kaggle quota`: the weekly GPU hours (None, with a warning, when it cannot be read)."""
    try:
        quota = limits.parse_quota(client.quota())
    except client.KaggleError as exc:
        log.warning(f"could not read your GPU quota ({exc}); pushing without checking it")
        return None
    if quota is None:
        log.warning("`kaggle quota` reported no GPU quota; pushing without checking it")
    return quota


def _check_quota(todo: list, quota: limits.Quota, yes: bool) -> None:
    """Refuse (unless --yes) a push whose estimate needs more GPU hours than are left this week."""
    needed = sum(job.estimate_seconds for job in todo) / 3600
    worst = sum(job.timeout_seconds for job in todo) / 3600
    print(f"GPU quota: {quota.remaining_hours:.1f} of {quota.total_hours:.0f} h left this week; this push needs "
          f"about {needed:.1f} h (at most {worst:.1f} h if every kernel runs until it is stopped)")
    reason = limits.quota_refusal(needed, quota)
    if reason and not yes:
        raise OutputError(f"not pushed: {reason}; push fewer kernels or folds, give the kernels a --minutes budget, "
                          f"wait for the refresh, or pass --yes to push anyway")
    if reason:
        log.warning(f"{reason}; pushing anyway (--yes)")


def _take_kernel_submission(output: Path, submissions_dir: Path) -> int:
    """One kernel trained everything: validate its submission; copy it to submissions/submission.csv (with
    submissions/submission.json naming its run) when the kernel trained on all of train.csv."""
    manifest = outputs.read_manifest(output)
    if manifest.partial and not (output / rundir.SUBMISSION).is_file():
        raise OutputError(f"{manifest.kernel or output} stopped before finishing a fold (log in {output}): "
                          f"push again with a longer --timeout-minutes or fewer folds")
    n_rows = manifest.n_test or submission.KAGGLE_TEST_ROWS
    frame = submission.validate_file(output / rundir.SUBMISSION, n_rows=n_rows)
    facts = provenance.describe(output / rundir.SUBMISSION, submissions_dir)
    oof = manifest.oof_accuracy
    line = (f"kernel submission: {output / rundir.SUBMISSION} ({len(frame):,} rows"
            + (f", OOF accuracy {oof:.4%}" if oof is not None else "") + ")")
    if manifest.partial:  # it stopped at its deadline: a valid submission of the folds it finished
        print(f"{line}; partial: {fanout.describe_folds(manifest.folds)}, missing "
              f"{', '.join(manifest.missing_folds)}; not copied to {submissions_dir / rundir.SUBMISSION}. "
              f"`python scripts/push_kernel.py --resume-kernels {output.parent.parent}` trains the rest")
    elif facts.run_dir is None or facts.is_sample or facts.subset:
        print(f"{line}; not copied to {submissions_dir / rundir.SUBMISSION}: not a run on all of train.csv")
    else:
        latest = submission.write(frame, submissions_dir / rundir.SUBMISSION, overwrite=True, n_rows=n_rows)
        rundir.record_latest(submissions_dir, facts.run_dir)
        print(f"{line}, copied to {latest}")
    print(f"submit it with: python scripts/submit.py {output / rundir.SUBMISSION}")
    return 0


def gather_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("fanout_dir", help="the submissions/kernels-<time> folder push_kernel.py printed")
    p.add_argument("--data", metavar="PATH", help="local competition data (default: ./data)")
    p.add_argument("--no-fetch", action="store_true", help="use the outputs fetched already; call no kaggle command")
    p.add_argument("--poll", type=float, default=60, metavar="SECONDS", help="status poll interval (default 60)")
    p.add_argument("--blend", choices=blend_choices(), help="the blend that makes the submission (default: as pushed)")
    p.add_argument("--submissions-dir", metavar="DIR", help="where submission.csv is copied (default: the fan-out "
                   "folder's parent)")
    _debug(p)


def gather(args: argparse.Namespace) -> int:
    """Fetch the outputs of kernels pushed by push_kernel.py and average their folds into one submission.

        python scripts/gather_kernels.py submissions/kernels-<time>

    polls `kaggle kernels status` until every kernel of that push has finished, fetches each one's outputs
    with `kaggle kernels output`, copies their fold results into submissions/kernels-<time>/run/ and runs the
    ordinary ensemble step there (nothing is trained; it needs the competition data, default ./data).
    The submission is written to that run folder and copied to submissions/submission.csv.
    """
    fanout_dir = Path(args.fanout_dir)
    fanout.load_fanout(fanout_dir)  # a wrong folder fails before any kaggle call
    if not args.no_fetch:
        fanout.wait_and_fetch(fanout_dir, poll_seconds=args.poll)
    result = gathering.gather(fanout_dir, data=args.data, submissions_dir=args.submissions_dir, blend=args.blend)
    print(f"submit it with: python scripts/submit.py {result.submission_path}")
    return 0


# --------------------------------------------------------------------------- runs
def runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--submissions-dir", default=DEFAULT_SUBMISSIONS, metavar="DIR",
                   help=f"where run folders are (default: {DEFAULT_SUBMISSIONS})")
    _debug(p)


def runs(args: argparse.Namespace) -> int:
    """List the runs in the submissions folder, newest first, with their OOF accuracy and public score.

    One table: when, run folder, models, folds x epochs, wall time, OOF accuracy, the public score once
    `kaggle-digits submit` has brought it back, and the git commit. It reads the run folders only.
    """
    from kaggle_digits.kaggle import ledger  # pandas: only for this command

    print(ledger.render(ledger.table(args.submissions_dir)))
    return 0
