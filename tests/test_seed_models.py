"""The seed models: registered, faithful parameter counts, the kit's input/output contract, one
training step each, their recipes, and a tiny seed-model benchmark run.

The expected counts are typed in from ../shared/docs/seed-models.md (checked there against the sources'
notebooks, json and h5 files), not read from the registry, so a drifted layer fails here.
"""

from __future__ import annotations

import csv
import json
import re

import keras
import numpy as np
import pytest

from kaggle_digits.models.augment import build_augmentation
from kaggle_digits.config import AugmentConfig
from kaggle_digits.models import create_model, get_spec, list_models
from kaggle_digits.models.cnn_gru import build_cnn_gru
from kaggle_digits.training.recipe import make_loss, make_optimizer

# registry key -> (Keras 3 count_params(), input view), from ../shared/docs/seed-models.md
SEED_MODELS = {
    "seed000_mlp": (445_385, "flat"),
    "seed000_cnn1d": (1_014_190, "flat"),
    "seed000_cnn2d": (175_240, "image"),
    "seed000_stacked_cnn1d": (831_634, "flat"),
    "seed000_stacked_cnn2d": (339_714, "image"),
    "seed000_multitower_cnn2d": (1_230_322, "image"),
    "seed001_cnn_gru": (28_506, "sequence"),
    "seed001_lstm": (81_674, "sequence"),
    "seed001_dense": (407_050, "flat"),
    "seed002_mlp": (1_526_410, "flat"),
    "seed002_cnn": (132_322, "image"),
    "seed003_mlp": (27_580, "flat"),
    "seed003_cnn": (42_530, "image"),
    "seed004_mlp3": (1_482_406, "flat"),
    "seed004_convnet": (27_594, "image"),
    "seed004_lenet5": (61_706, "image"),
    "seed004_vgg": (6_558_346, "image"),
}
RAW_PIXELS = {"seed002_cnn", "seed004_mlp3", "seed004_vgg"}  # sources trained on unscaled 0..255
# (optimizer, learning rate, epochs, batch size) of each seed's recipe
RECIPES = {
    **{name: ("adam", 1e-3, 200, 200) for name in SEED_MODELS if name.startswith("seed000")},
    "seed001_cnn_gru": ("rmsprop", 1e-3, 10, 128),
    "seed001_lstm": ("rmsprop", 1e-3, 20, 128),
    "seed001_dense": ("rmsprop", 1e-3, 20, 128),
    "seed002_mlp": ("adam", 1e-3, 30, 32),
    "seed002_cnn": ("rmsprop", 1e-3, 100, 32),
    "seed003_mlp": ("adam", 1e-3, 20, 32),
    "seed003_cnn": ("adam", 1e-3, 20, 32),
    "seed004_mlp3": ("adam", 1e-3, 20, 32),
    "seed004_convnet": ("adam", 1e-3, 10, 32),
    "seed004_lenet5": ("sgd", 1e-2, 77, 128),
    "seed004_vgg": ("adam", 1e-3, 10, 32),
}


@pytest.fixture
def fresh_session():
    keras.backend.clear_session()
    yield


def test_every_seed_model_is_registered():
    from kaggle_digits.bench.seed_models import seed_models

    assert set(SEED_MODELS) <= set(list_models())
    assert sorted(seed_models()) == sorted(SEED_MODELS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_seed_model_builds_counts_predicts_and_trains(name, fresh_session):
    expected_params, view = SEED_MODELS[name]
    spec = get_spec(name)
    assert spec.view == view
    assert spec.input_scale == (1.0 if name in RAW_PIXELS else pytest.approx(1 / 255))
    assert spec.source and spec.reported_accuracy is not None and 90 <= spec.reported_accuracy < 100
    if spec.stated_params is not None:
        assert spec.stated_params == expected_params

    # the model the pipeline trains: uint8 image input, the kit's augmentation block included
    model = create_model(name, augmentation=build_augmentation(AugmentConfig(), seed=1))
    assert model.count_params() == expected_params, f"{name}: {model.count_params():,} != {expected_params:,}"

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 28, 28, 1), dtype=np.uint8)
    y = keras.utils.to_categorical(np.arange(8) % 10, 10)
    probs = keras.ops.convert_to_numpy(model(x, training=False))  # eager: no predict function traced
    assert probs.shape == (8, 10)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)

    recipe = spec.recipe
    # eager: one step, and tracing it would cost seventeen models ~1 s each (conftest.eager_training)
    model.compile(optimizer=make_optimizer(recipe, steps_per_epoch=1).optimizer, loss=make_loss(recipe), run_eagerly=True)
    before = [np.array(w) for w in model.trainable_weights]
    loss = float(np.asarray(model.train_on_batch(x, y)))
    assert np.isfinite(loss)
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights))


@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_seed_recipe_is_the_models_default(name):
    recipe = get_spec(name).recipe
    assert (recipe.optimizer, recipe.learning_rate, recipe.epochs, recipe.batch_size) == RECIPES[name]
    assert recipe.schedule == "constant"  # every seed trained at a constant learning rate
    assert recipe.label_smoothing == 0
    assert recipe.early_stopping_patience == (2 if name.startswith("seed000") else None)
    # overridable like every recipe (the CLI's --epochs/--batch-size/--learning-rate)
    assert recipe.override(epochs=3, batch_size=64).epochs == 3


def test_seed001_cnn_gru_is_the_seeds_own_builder_not_the_kits(fresh_session):
    spec = get_spec("seed001_cnn_gru")
    assert spec.builder is not build_cnn_gru and spec.builder.__module__ == "kaggle_digits.models.seed001"
    assert spec.hp["reset_after"] is False
    # the default GRU formulation gives the count the doc warns about
    assert create_model("seed001_cnn_gru", reset_after=True).count_params() == 28_746


def test_seed004_mlp3_readme_count_is_the_post_training_summary_total(fresh_session):
    """The README's "44,47,220" = weights + Adam's slots, as Keras 3's summary() prints after training."""
    model = create_model("seed004_mlp3")
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    model.train_on_batch(np.zeros((2, 28, 28, 1), np.uint8), keras.utils.to_categorical([1, 2], 10))
    lines = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    assert re.search(r"Total params: 4,447,220\b", "\n".join(lines))


@pytest.mark.slow
def test_list_models_describes_seed_models():
    from kaggle_digits.models import describe_models

    rows = {r["name"]: r for r in describe_models(["seed001_cnn_gru", "seed003_mlp"])}
    assert rows["seed001_cnn_gru"]["params"] == 28_506
    assert rows["seed001_cnn_gru"]["view"].startswith("28x28 sequence")
    assert rows["seed003_mlp"]["view"].startswith("flat 784")


# --------------------------------------------------------------------------- the seed-model benchmark
@pytest.mark.slow
def test_seed_benchmark_writes_csv_and_markdown(tmp_path, monkeypatch, eager_folds):
    from kaggle_digits.bench.seed_models import COLUMNS, MARK_END, MARK_START, SeedBenchConfig, run_benchmark

    monkeypatch.chdir(tmp_path)  # no ./data here: the bundled sample is used
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Models\n\n{MARK_START}\nold table\n{MARK_END}\n\nafter\n")
    out = tmp_path / "bench"
    rows = run_benchmark(SeedBenchConfig(models=("seed003_mlp", "seed000_mlp"), folds=2, epochs=1,
                                         max_train_rows=200, data=None, out_dir=str(out), update_docs=(str(doc),)))
    assert [r["model"] for r in rows] == ["seed003_mlp", "seed000_mlp"]

    with open(out / "results.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        table = {r["model"]: r for r in reader}
    assert set(table) == {"seed003_mlp", "seed000_mlp"}
    assert table["seed003_mlp"]["params"] == "27580"
    assert table["seed003_mlp"]["reported_accuracy"] == "96.36"
    assert table["seed000_mlp"]["seed"] == "000"
    for name, r in table.items():
        assert r["folds"] == "2" and r["train_rows"] == "200" and r["epochs_cap"] == "1"
        assert r["data"] == "bundled sample" and r["machine"]
        assert r["run_dir"].startswith("bench/runs/")
        own = json.loads((tmp_path / r["run_dir"] / "ensemble.json").read_text())["models"][name]
        assert float(r["oof_accuracy"]) == round(100 * own["oof_accuracy"], 3)  # the run's own figure, in %
        gap = float(r["oof_accuracy"]) - float(r["reported_accuracy"])
        assert float(r["gap_points"]) == pytest.approx(gap, abs=1e-3)
        assert int(r["params"]) == own["params"] and int(r["epochs_run"]) == own["epochs"]

    md = (out / "results.md").read_text()
    header = md.splitlines()[0]
    for column in ("model", "seed", "params", "reported acc.", "our OOF acc.", "mean ± std", "s/epoch", "machine"):
        assert column in header
    row = next(line for line in md.splitlines() if line.startswith("| `seed003_mlp`"))
    assert "1 (20) †" in row  # --epochs 1 below the recipe's 20: marked
    assert "200 sample × 2" in row and "`seed000_mlp`" in md
    assert "Machine `" in md

    updated = doc.read_text()
    assert "old table" not in updated and "`seed003_mlp`" in updated and updated.endswith("after\n")
    # runs stay under the out dir: nothing in a submissions/ folder of the working directory
    assert not (tmp_path / "submissions").exists()
    assert (out / "runs" / ".gitignore").is_file()


def test_seed_benchmark_merge_keeps_rows_of_models_not_rerun():
    from kaggle_digits.bench.seed_models import merge_rows, render_markdown

    old = [{"model": "seed004_vgg", "oof_accuracy": "90.0", "machine": "m1", "machine_details": "old box"},
           {"model": "seed003_mlp", "oof_accuracy": "80.0", "machine": "m1", "machine_details": "old box"}]
    new = [{"model": "seed003_mlp", "oof_accuracy": "95.0", "machine": "m2", "machine_details": "new box"}]
    merged = merge_rows(old, new)
    assert [r["model"] for r in merged] == ["seed003_mlp", "seed004_vgg"]  # registry order
    assert merged[0]["oof_accuracy"] == "95.0"
    md = render_markdown(merged)
    assert "old box" in md and "new box" in md


def test_seed_benchmark_render_only_rewrites_tables_from_the_csv(tmp_path):
    from kaggle_digits.bench.seed_models import SeedBenchConfig, run_benchmark, write_results

    rows = [{"model": "seed003_cnn", "seed": "003", "params": 42530, "reported_accuracy": 99.3,
             "oof_accuracy": 98.9, "fold_accuracy_mean": 98.9, "fold_accuracy_std": 0.1, "gap_points": -0.4,
             "epochs_run": 20, "epochs_cap": 20, "recipe_epochs": 20, "folds": 5, "train_rows": 42000,
             "augment": False, "data": "train.csv", "machine": "box", "machine_details": "a box"}]
    write_results(rows, tmp_path)
    doc = tmp_path / "README.md"
    doc.write_text("<!-- zoo:start -->\n<!-- zoo:end -->\n")
    run_benchmark(SeedBenchConfig(out_dir=str(tmp_path), render_only=True, update_docs=(str(doc),), marker="zoo"))
    text = doc.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `seed003_cnn`"))
    assert "42,530" in row and "-0.40" in row and "20 (20) |" in row  # full recipe: no † mark
