"""The writer: round trip, validation against the competition format, never overwriting."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from kaggle_digits.competition import submission
from kaggle_digits.errors import DataError, OutputError


def _probs(n: int, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).random((n, 10)).astype(np.float32)
    return p / p.sum(1, keepdims=True)


def test_round_trip(tmp_path):
    probs = _probs(28_000)
    path = submission.write(submission.make_frame(probs), tmp_path / "submission.csv")
    frame = submission.validate_file(path)
    assert list(frame.columns) == ["ImageId", "Label"]
    assert frame["ImageId"].astype(int).tolist() == list(range(1, 28_001))
    np.testing.assert_array_equal(frame["Label"].astype(int).to_numpy(), probs.argmax(1))
    assert path.read_text().startswith("ImageId,Label\n1,")
    assert not [p for p in tmp_path.iterdir() if p.name != "submission.csv"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # what open() would give, not mkstemp's 0600


def test_existing_file_is_never_overwritten(tmp_path):
    path = tmp_path / "submission.csv"
    submission.write(submission.make_frame(_probs(5)), path, n_rows=5)
    before = path.read_bytes()
    with pytest.raises(OutputError, match="exists already"):
        submission.write(submission.make_frame(_probs(5, seed=1)), path, n_rows=5)
    assert path.read_bytes() == before


def test_sample_ids_decide_the_row_count():
    frame = submission.make_frame(_probs(3))
    submission.validate_frame(frame, sample_ids=np.array([1, 2, 3]))
    with pytest.raises(DataError, match="has 3 rows, expected 4"):
        submission.validate_frame(frame, sample_ids=np.array([1, 2, 3, 4]))


@pytest.mark.parametrize("text, message", [
    ("ImageId,Label\n1,3\n2,4\n", "has 2 rows, expected 3"),
    ("ImageId,Label\n1,3\n3,4\n2,1\n", "row 2 (line 3), column ImageId: expected 2, got 3"),
    ("ImageId,Label\n1,3\n2,10\n3,1\n", "row 2 (line 3), column Label: expected a digit 0..9, got '10'"),
    ("ImageId,Label\n1,3\n2,x\n3,1\n", "column Label: expected a digit 0..9, got 'x'"),
    ("ImageId,Label\n1,3\n2,\n3,1\n", "row 2 (line 3), column Label"),
    ("id,label\n1,3\n2,4\n3,1\n", "header must be 'ImageId,Label'"),
    ("", "the file is empty"),
])
def test_bad_submission_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        submission.validate_file(path, n_rows=3)
    assert message in str(info.value)


def test_kaggle_row_count_is_the_default(tmp_path):
    path = tmp_path / "short.csv"
    pd.DataFrame({"ImageId": [1, 2], "Label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="expected 28000"):
        submission.validate_file(path)
