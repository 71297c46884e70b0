"""Read and validate the competition's train.csv / test.csv into uint8 arrays.

Accepts the folder or the ``digit-recognizer.zip`` that ``kaggle competitions download`` writes
(also gzip'd CSVs, CRLF line ends and a UTF-8 BOM). The fast path is a typed pyarrow parse straight
to uint8; only when it fails is the file re-scanned in Python to name the exact row and column.
A validated load is cached as .npy files keyed by the source files' identity.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from kaggle_digits import atomic
from kaggle_digits.competition.digits import IMAGE_SHAPE, N_CLASSES, N_PIXELS
from kaggle_digits.errors import DataError
from kaggle_digits.fingerprint import digest

log = logging.getLogger(__name__)
PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(N_PIXELS))
TRAIN_HEADER = ("label",) + PIXEL_COLUMNS
TEST_HEADER = PIXEL_COLUMNS
COMPETITION_ZIP = "digit-recognizer.zip"
MEMBERS = ("train.csv", "test.csv", "sample_submission.csv")
BUNDLED_SAMPLE = Path(__file__).parents[1] / "sample"
CACHE_FORMAT = 2  # bump when the cached arrays' layout changes (2: meta.json holds each array's hash)
_CSV_INTEGER_BYTES = b"0123456789,\r\n"  # all a valid data row may contain


@dataclass(frozen=True)
class Competition:
    """The competition's data as uint8 arrays, images shaped (n, 28, 28, 1)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    sample_ids: np.ndarray | None  # ImageId column of sample_submission.csv, when present
    source: str
    is_sample: bool = False
    sha256: str = ""  # of the arrays, for run fingerprints

    @property
    def n_test(self) -> int:
        return len(self.x_test)


# --------------------------------------------------------------------------- locating the files
class CompetitionSource:
    """Bytes of train.csv / test.csv / sample_submission.csv from a folder or a zip."""

    def __init__(self, path: Path):
        self.path = path
        self.is_zip = path.is_file()
        if self.is_zip:
            try:
                with zipfile.ZipFile(path) as archive:
                    self._names = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"{path}: not a readable zip file ({exc}); re-download it with "
                                f"`kaggle competitions download -c digit-recognizer`") from None
        else:
            self._names = {p.name: p.name for p in path.iterdir() if p.is_file()}

    def member(self, name: str, required: bool = True) -> str | None:
        for candidate in (name, name + ".gz"):
            if candidate in self._names:
                return self._names[candidate]
        if required:
            where = "zip" if self.is_zip else "folder"
            raise DataError(f"{self.path}: the {where} has no {name} (found: "
                            f"{', '.join(sorted(self._names)) or 'nothing'}); expected the "
                            f"digit-recognizer files {', '.join(MEMBERS)}")
        return None

    def read(self, member: str) -> bytes:
        if not self.is_zip:
            return (self.path / member).read_bytes()
        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(member)
        except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
            raise DataError(f"{self.path}: cannot extract {member} ({exc}); the zip looks truncated, "
                            f"re-download it") from None

    def identity(self) -> list:
        files = [self.path] if self.is_zip else [self.path / n for n in sorted(self._names)
                                                  if n.split(".")[0] in ("train", "test", "sample_submission")]
        return [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]


def find_data(path: str | os.PathLike | None = None) -> Path | None:
    """The folder or zip to read: ``path`` if given, else ./data or ./digit-recognizer.zip; None if absent."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise DataError(f"--data {path}: no such file or folder; download the data with "
                            f"`kaggle competitions download -c digit-recognizer -p data/`")
        if path.is_dir() and not any((path / n).exists() for n in ("train.csv", "train.csv.gz")):
            if (path / COMPETITION_ZIP).is_file():
                return path / COMPETITION_ZIP
            if (path / "digit-recognizer").is_dir():
                return find_data(path / "digit-recognizer")
        return path
    for candidate in (Path("data"), Path(COMPETITION_ZIP), Path("data") / COMPETITION_ZIP):
        if candidate.is_file() or (candidate / "train.csv").is_file() or (candidate / COMPETITION_ZIP).is_file():
            return find_data(candidate)
    return None


# --------------------------------------------------------------------------- public entry point
def load_competition(path: str | os.PathLike | None = None, *, use_cache: bool = True,
                     cache_root: str | os.PathLike | None = None) -> Competition:
    """Load train/test (validated) from ``path``; with no path and no ./data, the bundled sample."""
    located = find_data(path)
    is_sample = located is None
    source = CompetitionSource(located if located is not None else BUNDLED_SAMPLE)
    cache_dir = _cache_dir(source, cache_root) if use_cache and not is_sample else None
    if cache_dir is not None and (cache_dir / "meta.json").is_file():
        try:
            return _load_cached(cache_dir, source)
        except (OSError, ValueError, KeyError) as exc:  # damaged: rebuilt from the source below
            log.warning(f"the cached arrays in {cache_dir} are damaged ({exc}); re-reading {source.path}")

    train_name, test_name = source.member("train.csv"), source.member("test.csv")
    x_train, y_train = parse_train_csv(source.read(train_name), train_name)
    x_test = parse_test_csv(source.read(test_name), test_name)
    sample_name = source.member("sample_submission.csv", required=False)
    sample_ids = parse_sample_submission(source.read(sample_name), sample_name, len(x_test)) if sample_name else None
    competition = Competition(
        x_train=x_train.reshape((-1,) + IMAGE_SHAPE), y_train=y_train,
        x_test=x_test.reshape((-1,) + IMAGE_SHAPE), sample_ids=sample_ids,
        source=str(source.path), is_sample=is_sample, sha256=_arrays_sha256(x_train, y_train, x_test))
    _warn_duplicates(x_train, train_name)
    if cache_dir is not None:
        _save_cache(cache_dir, competition)
    return competition


def check_data(path: str | os.PathLike = "data") -> str:
    """Check that ``path`` (a folder or the zip) holds the three competition files and that they parse.

    Returns a one-line summary; raises DataError naming the missing file or the first bad row.
    """
    from kaggle_digits.competition.submission import KAGGLE_TEST_ROWS

    located = find_data(path)
    source = CompetitionSource(located)
    for name in MEMBERS:
        source.member(name)
    competition = load_competition(located)
    n_ids = len(competition.sample_ids) if competition.sample_ids is not None else 0
    line = (f"{located}: train.csv {len(competition.x_train):,} rows, test.csv {competition.n_test:,} rows, "
            f"sample_submission.csv {n_ids:,} ids")
    if competition.n_test != KAGGLE_TEST_ROWS:
        line += f" (note: Kaggle scores {KAGGLE_TEST_ROWS:,} test rows; a submission from these files is refused)"
    return line


# --------------------------------------------------------------------------- parsing + validation
def parse_train_csv(raw: bytes, name: str = "train.csv") -> tuple[np.ndarray, np.ndarray]:
    table = _parse(raw, name, TRAIN_HEADER)
    labels = table.column(0).to_numpy()
    if labels.size and labels.max() >= N_CLASSES:
        row = int(np.argmax(labels >= N_CLASSES)) + 1
        raise DataError(f"{name}, row {row} (line {row + 1}), column label: expected a digit 0..9, "
                        f"got {int(labels[row - 1])}")
    return _pixels(table, start=1), labels.astype(np.uint8)


def parse_test_csv(raw: bytes, name: str = "test.csv") -> np.ndarray:
    return _pixels(_parse(raw, name, TEST_HEADER), start=0)


def parse_sample_submission(raw: bytes, name: str, n_test: int) -> np.ndarray:
    text = _decode(raw, name)
    lines = text.splitlines()
    if not lines or lines[0].strip() != "ImageId,Label":
        raise DataError(f"{name}: header must be 'ImageId,Label', got {lines[0][:60]!r}" if lines
                        else f"{name}: the file is empty")
    ids = np.array([int(line.split(",")[0]) for line in lines[1:] if line.strip()], dtype=np.int64)
    if len(ids) != n_test:
        raise DataError(f"{name} has {len(ids)} rows but test.csv has {n_test}; the files do not belong together")
    return ids


def _decode(raw: bytes, name: str) -> str:
    return _normalise(raw, name).decode("ascii", errors="replace")


def _normalise(raw: bytes, name: str) -> bytes:
    """Undo gzip and strip a UTF-8 BOM, the two wrappings seen in re-saved competition files."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{name}: gzip data is corrupt or truncated ({exc})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw


def _parse(raw: bytes, name: str, expected: tuple[str, ...]) -> pa.Table:
    # No slicing or stripping of the whole file below: each would copy ~75 MB.
    raw = _normalise(raw, name)
    if not raw or raw.isspace():
        raise DataError(f"{name}: the file is empty; expected a header line and at least one row")
    header_end = raw.find(b"\n")
    header_bytes = raw if header_end < 0 else raw[:header_end]
    _check_header(header_bytes.decode("ascii", errors="replace").rstrip("\r").split(","), expected, name)
    if header_end < 0 or not _has_content(raw, header_end + 1):
        raise DataError(f"{name}: has a header but no data rows")
    if raw.translate(None, _CSV_INTEGER_BYTES) != header_bytes.translate(None, _CSV_INTEGER_BYTES):
        # pyarrow would accept more than plain decimals (hex such as 0x1f, signs): name the cell instead
        _diagnose(raw, name, expected)
    options = pa_csv.ConvertOptions(column_types={c: pa.uint8() for c in expected}, strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(pa.BufferReader(raw), convert_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        _diagnose(raw, name, expected)
        raise DataError(f"{name}: could not be parsed as integers ({exc})") from None
    if any(col.null_count for col in table.columns):
        _diagnose(raw, name, expected)
        raise DataError(f"{name}: has missing values")
    return table


def _has_content(raw: bytes, start: int) -> bool:
    """Anything but white space from ``start`` on; looks at 4 KiB first so a real file is never copied."""
    return bool(raw[start:start + 4096].strip()) or bool(raw[start:].strip())


def _check_header(columns: list[str], expected: tuple[str, ...], name: str) -> None:
    columns = [c.strip().strip('"') for c in columns]
    if tuple(columns) == expected:
        return
    if expected == TEST_HEADER and columns[:1] == ["label"]:
        raise DataError(f"{name}: has a 'label' column, so it looks like train.csv; test.csv must have "
                        f"only pixel0..pixel783")
    if expected == TRAIN_HEADER and columns[:1] == ["pixel0"]:
        raise DataError(f"{name}: has no 'label' column, so it looks like test.csv; train.csv must start "
                        f"with label, then pixel0..pixel783")
    described = "label, pixel0..pixel783" if expected == TRAIN_HEADER else "pixel0..pixel783"
    for i, (got, want) in enumerate(zip(columns, expected)):
        if got != want:
            raise DataError(f"{name}: header column {i + 1} is {got!r}, expected {want!r} "
                            f"(the header must be {described})")
    raise DataError(f"{name}: header has {len(columns)} columns, expected {len(expected)} ({described})")


def _diagnose(raw: bytes, name: str, expected: tuple[str, ...]) -> None:
    """Find and raise the first bad cell; slow, so it runs only after the fast parse failed."""
    lines = raw.decode("ascii", errors="replace").splitlines()
    for line_no, line in enumerate(lines[1:], start=2):
        row = line_no - 1
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(expected):
            raise DataError(f"{name}, row {row} (line {line_no}): has {len(fields)} values, "
                            f"expected {len(expected)} (one per column of the header)")
        for column, value in zip(expected, fields):
            limit = N_CLASSES - 1 if column == "label" else 255
            what = "a digit 0..9" if column == "label" else "an integer 0..255"
            if value == "":
                raise DataError(f"{name}, row {row} (line {line_no}), column {column}: missing value, "
                                f"expected {what}")
            if not value.isdigit() or not value.isascii() or int(value) > limit:
                raise DataError(f"{name}, row {row} (line {line_no}), column {column}: expected {what}, "
                                f"got {value[:20]!r}")


def _pixels(table: pa.Table, start: int) -> np.ndarray:
    # Each column is written contiguously into a (pixels, n) buffer, then transposed once: contiguous
    # writes instead of strided ones into an (n, pixels) array.
    columns = np.empty((N_PIXELS, table.num_rows), dtype=np.uint8)
    for j in range(N_PIXELS):
        columns[j] = table.column(start + j).to_numpy()
    return np.ascontiguousarray(columns.T)


def count_duplicate_rows(x: np.ndarray) -> int:
    """Rows equal to an earlier row. Rows are hashed to 64 bits first; equal hashes are confirmed exactly."""
    rows = np.ascontiguousarray(x.reshape(len(x), -1))
    if rows.shape[1] % 8:
        rows = np.pad(rows, ((0, 0), (0, 8 - rows.shape[1] % 8)))
    weights = np.random.default_rng(0).integers(1, 2**63, rows.shape[1] // 8, dtype=np.uint64) | np.uint64(1)
    hashes = (rows.view(np.uint64) * weights).sum(axis=1, dtype=np.uint64)  # wraps mod 2**64 on purpose
    _, group, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    candidates = np.flatnonzero(counts[group] > 1)
    if not len(candidates):
        return 0
    exact = rows[candidates].view(np.dtype((np.void, rows.shape[1])))
    return len(candidates) - len(np.unique(exact))


def _warn_duplicates(x_train: np.ndarray, name: str) -> None:
    n_duplicates = count_duplicate_rows(x_train)
    if n_duplicates:
        log.warning(f"{name} has {n_duplicates} duplicated image rows; they are kept, "
                    f"but identical images in different folds inflate out-of-fold accuracy")


# --------------------------------------------------------------------------- cache
def cache_root() -> Path:
    return Path(os.environ.get("KAGGLE_DIGITS_CACHE", Path.home() / ".cache" / "kaggle-digits"))


def _cache_dir(source: CompetitionSource, root: str | os.PathLike | None = None) -> Path | None:
    try:
        key = digest([CACHE_FORMAT, source.identity()], 24)
    except OSError:
        return None
    return Path(root or cache_root()) / key


CACHED_ARRAYS = ("x_train", "y_train", "x_test", "sample_ids")


def _save_cache(cache_dir: Path, c: Competition) -> None:
    """One .npy per array; meta.json (written last) holds each array's hash, checked at every load."""
    try:
        hashes = {}
        for name in CACHED_ARRAYS:
            array = getattr(c, name)
            if array is not None:
                atomic.save_npy(cache_dir / f"{name}.npy", array)
                hashes[name] = _arrays_sha256(array)
        atomic.write_json(cache_dir / "meta.json", {"source": c.source, "sha256": c.sha256, "arrays": hashes})
    except OSError:
        pass  # a read-only home is no reason to fail a run


def _load_cached(cache_dir: Path, source: CompetitionSource) -> Competition:
    """The cached arrays; ValueError when one does not hash to what was written (a damaged cache)."""
    meta = atomic.read_json(cache_dir / "meta.json")
    arrays = {}
    for name, expected in meta["arrays"].items():
        arrays[name] = np.load(cache_dir / f"{name}.npy", allow_pickle=False)
        if _arrays_sha256(arrays[name]) != expected:
            raise ValueError(f"{name}.npy does not match the hash recorded when it was written")
    return Competition(x_train=arrays["x_train"], y_train=arrays["y_train"], x_test=arrays["x_test"],
                       sample_ids=arrays.get("sample_ids"), source=str(source.path), is_sample=False,
                       sha256=meta["sha256"])


def _arrays_sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
