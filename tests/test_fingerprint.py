"""The one key recipe (fingerprint.py) gives the keys the separate recipes gave, where a kept key must hold."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kaggle_digits.config import AugmentConfig, RunConfig
from kaggle_digits.fingerprint import digest
from kaggle_digits.models import get_spec
from kaggle_digits.training.train import FoldTask, fingerprint_hash


def test_a_folds_fingerprint_hash_is_the_json_it_always_hashed():
    spec = get_spec("cnn_fast")
    task = FoldTask(model="cnn_fast", hp=dict(spec.hp), recipe=spec.recipe.override(seconds=12.5),
                    augment=AugmentConfig(), fold=1, n_folds=5, seed=42, data_sha256="d" * 64, rows_sha256="r" * 64,
                    settings=RunConfig().fold_settings())
    fingerprint = task.fingerprint()
    before = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=list).encode()).hexdigest()
    assert fingerprint_hash(fingerprint) == before


def test_a_runs_training_fingerprint_is_the_json_it_always_hashed():
    cfg = RunConfig(models=("cnn_fast",), model_epochs={"cnn_fast": 9}, model_seconds={"cnn_fast": 30.5})
    values = cfg.to_dict()
    subset = {k: values[k] for k in ("data", "max_train_rows", "models", "folds", "seed", "seeds", "epochs", "model_epochs",
                                     "model_seconds", "batch_size", "learning_rate", "augment", "tta",
                                     "pseudo_label", "validate_each_epoch")}
    assert cfg.training_fingerprint() == hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()[:16]


def test_keys_are_canonical_and_cut_to_length():
    assert digest({"b": 1, "a": (2, 3)}) == digest({"a": [2, 3], "b": 1})
    assert len(digest(["x"], 16)) == 16 and digest(["x"]).startswith(digest(["x"], 16))
    assert digest([frozenset({3})]) == digest([[3]])  # another iterable: its items
    assert digest([Path("runs/a")]) == digest(["runs/a"])  # anything else: its text
