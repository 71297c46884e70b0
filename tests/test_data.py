"""The loader: folder / zip / gzip inputs agree, the cache is faithful, and bad input names its cell."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from conftest import sample_lines, zip_folder
from kaggle_digits.competition.data import find_data, load_competition, parse_test_csv, parse_train_csv
from kaggle_digits.errors import DataError


def test_bundled_sample_is_used_when_no_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = load_competition()
    assert data.is_sample
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (1000, 28, 28, 1)
    assert set(np.unique(data.y_train)) == set(range(10))
    assert data.sample_ids.tolist() == list(range(1, 1001))


def test_folder_zip_and_gzip_agree(small_files, tmp_path):
    from_folder = load_competition(small_files, use_cache=False)
    from_zip = load_competition(zip_folder(small_files, tmp_path / "digit-recognizer.zip"), use_cache=False)
    gz_folder = tmp_path / "gz"
    gz_folder.mkdir()
    for name in ("train.csv", "test.csv"):
        (gz_folder / f"{name}.gz").write_bytes(gzip.compress((small_files / name).read_bytes()))
    from_gz = load_competition(gz_folder, use_cache=False)
    for other in (from_zip, from_gz):
        np.testing.assert_array_equal(other.x_train, from_folder.x_train)
        np.testing.assert_array_equal(other.y_train, from_folder.y_train)
        np.testing.assert_array_equal(other.x_test, from_folder.x_test)
        assert other.sha256 == from_folder.sha256
    assert from_folder.x_train.shape == (60, 28, 28, 1) and from_folder.x_test.shape == (20, 28, 28, 1)
    # pixel values are the CSV's, in row-major 28x28 order
    first = [int(v) for v in sample_lines("train", 1)[1].split(",")]
    assert from_folder.y_train[0] == first[0]
    assert from_folder.x_train[0].ravel().tolist() == first[1:]


def test_kaggle_download_layout_is_found(small_files, tmp_path, monkeypatch):
    """`kaggle competitions download -c digit-recognizer -p data/` leaves data/digit-recognizer.zip."""
    (tmp_path / "data").mkdir()
    zip_folder(small_files, tmp_path / "data" / "digit-recognizer.zip")
    monkeypatch.chdir(tmp_path)
    assert find_data() == tmp_path.joinpath("data", "digit-recognizer.zip").relative_to(tmp_path)
    assert not load_competition().is_sample


def test_crlf_and_bom_are_accepted(small_files):
    raw = (small_files / "train.csv").read_bytes()
    x, y = parse_train_csv(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))
    x_ref, y_ref = parse_train_csv(raw)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_cache_returns_identical_arrays(small_files):
    first = load_competition(small_files)
    second = load_competition(small_files)  # served from the cache
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    np.testing.assert_array_equal(first.sample_ids, second.sample_ids)
    assert first.sha256 == second.sha256


def _corrupt(lines: list[str], row: int, column: int, value: str) -> bytes:
    """Set data row ``row`` (1-based), column index ``column`` to ``value``."""
    fields = lines[row].split(",")
    fields[column] = value
    lines = list(lines)
    lines[row] = ",".join(fields)
    return ("\n".join(lines) + "\n").encode()


TRAIN = sample_lines("train", 8)
TEST = sample_lines("test", 5)


@pytest.mark.parametrize("raw, message", [
    (_corrupt(TRAIN, 3, 41, "abc"), "row 3 (line 4), column pixel40: expected an integer 0..255, got 'abc'"),
    (_corrupt(TRAIN, 5, 784, "256"), "row 5 (line 6), column pixel783: expected an integer 0..255, got '256'"),
    (_corrupt(TRAIN, 2, 1, "-1"), "row 2 (line 3), column pixel0: expected an integer 0..255, got '-1'"),
    (_corrupt(TRAIN, 4, 7, "3.5"), "row 4 (line 5), column pixel6: expected an integer 0..255, got '3.5'"),
    (_corrupt(TRAIN, 6, 0, "10"), "row 6 (line 7), column label: expected a digit 0..9, got 10"),
    (_corrupt(TRAIN, 7, 100, ""), "row 7 (line 8), column pixel99: missing value"),
    (_corrupt(TRAIN, 2, 5, "1,2"), "row 2 (line 3): has 786 values, expected 785"),
    (b"", "the file is empty"),
    ((TRAIN[0] + "\n").encode(), "has a header but no data rows"),
    (("\n".join([TRAIN[0].replace("pixel7,", "pixel7x,")] + TRAIN[1:])).encode(),
     "header column 9 is 'pixel7x', expected 'pixel7'"),
    (("\n".join([TRAIN[0] + ",extra"] + [r + ",0" for r in TRAIN[1:]])).encode(), "header has 786 columns"),
    (("\n".join(TEST)).encode(), "has no 'label' column, so it looks like test.csv"),
])
def test_bad_train_csv_is_refused_with_its_cell(raw, message):
    with pytest.raises(DataError) as info:
        parse_train_csv(raw, "train.csv")
    assert str(info.value).startswith("train.csv")
    assert message in str(info.value)


def test_test_csv_with_label_column_is_refused():
    with pytest.raises(DataError, match="has a 'label' column, so it looks like train.csv"):
        parse_test_csv("\n".join(TRAIN).encode(), "test.csv")


def test_truncated_zip_and_missing_member(small_files, tmp_path):
    full = zip_folder(small_files, tmp_path / "full.zip").read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="truncated.zip"):
        load_competition(truncated, use_cache=False)
    partial = zip_folder(small_files, tmp_path / "partial.zip", members=("train.csv",))
    with pytest.raises(DataError, match="has no test.csv"):
        load_competition(partial, use_cache=False)


def test_missing_path_says_how_to_download(tmp_path):
    with pytest.raises(DataError, match="kaggle competitions download -c digit-recognizer"):
        load_competition(tmp_path / "nowhere")


def test_replica_zip_loads_in_full(replica_zip):
    data = load_competition(replica_zip)
    assert data.x_train.shape == (42000, 28, 28, 1) and data.x_test.shape == (28000, 28, 28, 1)
    assert data.y_train.min() == 0 and data.y_train.max() == 9
    assert data.sample_ids.tolist() == list(range(1, 28001))


def test_duplicated_rows_are_kept_with_a_warning(small_files, caplog):
    lines = (small_files / "train.csv").read_text().splitlines()
    (small_files / "train.csv").write_text("\n".join(lines + lines[1:4]) + "\n")
    data = load_competition(small_files, use_cache=False)
    assert len(data.x_train) == 63
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "train.csv has 3 duplicated image rows" in warning.getMessage()


def test_duplicate_count_is_exact_despite_hashing():
    from kaggle_digits.competition.data import count_duplicate_rows

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (300, 784), dtype=np.uint8)
    assert count_duplicate_rows(x) == 0
    x[[10, 20, 30]] = x[5]           # three copies of one row
    x[200] = x[100]                  # one copy of another
    assert count_duplicate_rows(x) == 4
    assert count_duplicate_rows(x.reshape(300, 28, 28, 1)) == 4
    near = x.copy()
    near[10, 0] ^= 1                 # differs in one pixel: no longer a duplicate
    assert count_duplicate_rows(near) == 3


def test_damaged_cache_is_rebuilt_with_a_notice(small_files, tmp_path, caplog):
    root = tmp_path / "cache"
    first = load_competition(small_files, cache_root=root)
    (cached,) = root.glob("*/x_train.npy")
    raw = bytearray(cached.read_bytes())
    raw[-5000:] = bytes(5000)  # the last 5,000 bytes overwritten: still a loadable .npy, wrong pixels
    cached.write_bytes(bytes(raw))
    assert not np.array_equal(np.load(cached), first.x_train)
    with caplog.at_level("WARNING", logger="kaggle_digits"):
        again = load_competition(small_files, cache_root=root)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    assert again.sha256 == first.sha256
    (notice,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "x_train.npy" in notice and "damaged" in notice and "\n" not in notice
    np.testing.assert_array_equal(np.load(cached), first.x_train)  # the cache was rewritten
    caplog.clear()
    load_competition(small_files, cache_root=root)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_cache_root_keyword_puts_the_cache_there(small_files, tmp_path):
    root = tmp_path / "my-cache"
    first = load_competition(small_files, cache_root=root)
    (entry,) = list(root.iterdir())
    assert {p.name for p in entry.iterdir()} >= {"x_train.npy", "y_train.npy", "x_test.npy", "meta.json"}
    np.testing.assert_array_equal(load_competition(small_files, cache_root=root).x_train, first.x_train)
