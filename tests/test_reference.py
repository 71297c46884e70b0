"""The reference submission's manifest: written from a finished full-data run, read back with its schema checked."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from conftest import eager_training
from kaggle_digits import atomic
from kaggle_digits.runs import reference, rundir
from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import BUNDLED_SAMPLE, load_competition
from kaggle_digits.errors import DataError
from kaggle_digits.pipeline import make_submission


@pytest.fixture(scope="session")
def full_run(tmp_path_factory):
    """A real run on *all* rows of a tiny competition folder (200 train rows, 50 test rows): 2 folds x 1 epoch."""
    work = tmp_path_factory.mktemp("ref")
    sample = load_competition(BUNDLED_SAMPLE)
    data = work / "data"
    data.mkdir()
    pixels = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(sample.x_train[:200].reshape(200, -1), columns=pixels)
    train.insert(0, "label", sample.y_train[:200])
    train.to_csv(data / "train.csv", index=False)
    pd.DataFrame(sample.x_test[:50].reshape(50, -1), columns=pixels).to_csv(data / "test.csv", index=False)
    with pytest.MonkeyPatch.context() as mp, eager_training():
        mp.setenv("KAGGLE_DIGITS_CACHE", str(work / "cache"))
        result = make_submission(RunConfig(data=str(data), models=("cnn_fast",), folds=2, epochs=1, verbose=0,
                                           report=False, submissions_dir=str(work / "subs")))
    return work, result


def test_the_manifest_describes_the_run_and_reads_back(full_run):
    work, result = full_run
    path = reference.write_reference(result.run_dir, work / "reference")
    manifest = reference.read_manifest(path)
    summary = json.loads((result.run_dir / "ensemble.json").read_text())
    assert set(reference.SCHEMA) <= set(manifest)
    assert manifest["oof_accuracy"] == summary["ensemble"]["oof_accuracy"]
    assert manifest["members"]["cnn_fast"]["oof_accuracy"] == summary["models"]["cnn_fast"]["oof_accuracy"]
    assert len(manifest["members"]["cnn_fast"]["fold_accuracy"]) == manifest["folds"] == 2
    assert manifest["n_train"] == 200 and manifest["config"]["models"] == ["cnn_fast"]
    assert manifest["wall_seconds"] > 0 and manifest["machine"] and manifest["command"]
    assert (path.parent / "submission.csv").read_bytes() == (result.run_dir / "submission.csv").read_bytes()


def test_a_manifest_that_lost_a_key_or_its_submission_is_refused(full_run, tmp_path):
    _, result = full_run
    path = reference.write_reference(result.run_dir, tmp_path / "reference")
    manifest = atomic.read_json(path)
    atomic.write_json(path, {k: v for k, v in manifest.items() if k != "oof_accuracy"})
    with pytest.raises(DataError, match="'oof_accuracy' is missing, expected float"):
        reference.read_manifest(path)
    atomic.write_json(path, {**manifest, "members": {"cnn_fast": {**manifest["members"]["cnn_fast"], "epochs": "1"}}})
    with pytest.raises(DataError, match="members.cnn_fast: 'epochs' is str, expected int"):
        reference.read_manifest(path)
    atomic.write_json(path, manifest)
    (path.parent / "submission.csv").write_text("ImageId,Label\n1,0\n")
    with pytest.raises(DataError, match="not the submission"):
        reference.read_manifest(path)


def test_only_a_full_data_run_can_be_the_reference(full_run, tmp_path):
    _, result = full_run
    subset = tmp_path / "subset-run"
    shutil.copytree(result.run_dir, subset)
    info = atomic.read_json(subset / rundir.DATA_RECORD)
    atomic.write_json(subset / rundir.DATA_RECORD, {**info, "n_train_total": 42_000})
    with pytest.raises(DataError, match="200 of 42000 rows"):
        reference.build_manifest(subset)
