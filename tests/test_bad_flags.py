"""Every bad flag value is refused before any work: exit code 2, one line saying what was found and what is
allowed, no traceback, nothing written, no data read."""

from __future__ import annotations

import pytest

from kaggle_digits import cli
from kaggle_digits.config import AugmentConfig, RunConfig, load_toml

TOML = {
    "wrong-type.toml": 'folds = "five"\n',
    "unknown-key.toml": "foldz = 3\n",
    "augment-type.toml": '[augment]\nzoom = "big"\n',
    "augment-not-table.toml": "augment = 5\n",
    "models-type.toml": "models = [1, 2]\n",
    "bool-type.toml": 'tta = "yes"\n',
    "broken.toml": "folds = = 3\n",
    "range.toml": "minutes = -2.0\n",
    "seconds-type.toml": 'models = ["cnn_fast"]\n[model_seconds]\ncnn_fast = "long"\n',
}

BAD = [
    ["make", "--folds", "x"],
    ["make", "--folds", "1"],
    ["make", "--epochs", "0"],
    ["make", "--epochs", "2.5"],
    ["make", "--models", "cnn,nope"],
    ["make", "--models", "cnn,cnn"],
    ["make", "--models", ","],
    ["make", "--blend", "best"],
    ["make", "--weights", "best"],
    ["make", "--augmentation", "afine"],
    ["make", "--precision", "fp8"],
    ["make", "--minutes", "0"],
    ["make", "--minutes", "nan"],
    ["make", "--learning-rate", "-1e-3"],
    ["make", "--rotation", "500"],
    ["make", "--zoom", "1.5"],
    ["make", "--shift", "-0.1"],
    ["make", "--max-train-rows", "0"],
    ["make", "--batch-size", "0"],
    ["make", "--only-folds", "7"],
    ["make", "--seeds", "0"],
    ["make", "--holdout", "--seeds", "3"],
    ["make", "--model-epochs", "cnn=x"],
    ["make", "--models", "cnn", "--model-epochs", "cnn_gru=3"],
    ["make", "--model-seconds", "cnn=soon"],
    ["make", "--models", "cnn_fast", "--model-seconds", "cnn_fast=-5"],
    ["make", "--models", "cnn_fast", "--model-seconds", "cnn=60"],
    ["make", "--verbose", "5"],
    ["make", "--preset", "slow"],
    ["make", "--data", "nowhere/digit-recognizer.zip"],
    ["make", "--config", "missing.toml"],
    *(["make", "--config", name] for name in TOML),
    ["bench", "models", "--folds", "1"],
    ["bench", "models", "--models", "nope"],
    ["bench", "baseline", "--budgets", "0,-1"],
    ["bench", "load", "--repeats", "0"],
    ["report", "run", "--max-images", "-1"],
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh folder holding only the TOML files; loading data or starting a run fails the test."""
    for name, text in TOML.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))

    def work(*args, **kwargs):
        pytest.fail("work started before the bad value was refused")

    import kaggle_digits.competition.data
    import kaggle_digits.pipeline

    monkeypatch.setattr(kaggle_digits.competition.data, "load_competition", work)
    monkeypatch.setattr(kaggle_digits.pipeline, "make_submission", work)
    return tmp_path


@pytest.mark.parametrize("argv", BAD, ids=lambda argv: " ".join(argv))
def test_a_bad_value_is_refused_in_one_line_before_any_work(argv, workdir, capsys):
    before = sorted(p.name for p in workdir.iterdir())
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], err
    assert "Traceback" not in err + out
    assert sorted(p.name for p in workdir.iterdir()) == before  # nothing written


def test_the_message_says_what_was_found_and_what_is_allowed(workdir, capsys):
    assert cli.main(["make", "--augmentation", "afine"]) == 2
    assert capsys.readouterr().err.strip() == "error: --augmentation is 'afine'; choose from affine, keras_layers"
    assert cli.main(["make", "--config", "wrong-type.toml"]) == 2
    assert capsys.readouterr().err.strip() == "error: wrong-type.toml: folds is str 'five'; expected a whole number"
    assert cli.main(["make", "--config", "augment-type.toml"]) == 2
    assert capsys.readouterr().err.strip() == "error: augment-type.toml: augment.zoom is str 'big'; expected a number"


def test_a_runs_config_toml_reads_back_through_the_same_checks_as_the_settings_that_wrote_it(tmp_path):
    """config.toml is written with tomli_w and read back as a user's TOML file is: tables, lists, a table of
    epochs, quotes and a non-ASCII path survive; TOML has no null, so unset settings are comment lines."""
    cfg = RunConfig(models=("cnn_fast", "cnn_gru"), model_epochs={"cnn_fast": 3}, data='d/ü "q".zip',
                    learning_rate=1e-3, augment=AugmentConfig(zoom=0.2))
    text = cfg.to_toml()
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    assert RunConfig(**load_toml(tmp_path / "config.toml")).to_dict() == cfg.to_dict()
    for name, value in cfg.to_dict().items():  # every setting is in the file, set or not
        line = f"[{name}]" if isinstance(value, dict) else f"# {name} = (unset)" if value is None else f"{name} = "
        assert line in text, name


def test_every_numeric_setting_declares_its_interval_once():
    """Ranges live beside their setting (options.Interval) and one helper checks them: no number is unbounded
    by accident, and validate() keeps no hand-written range check."""
    import inspect
    import typing

    from kaggle_digits import config
    from kaggle_digits.config import settings

    for s in settings():
        kinds = [k for k in typing.get_args(s.type) or (s.type,) if k is not type(None)]
        base = typing.get_origin(kinds[0]) or kinds[0]
        numeric = base in (int, float) or (base is dict and s.name in ("model_epochs", "model_seconds"))
        if numeric:
            assert s.spec.metadata.get("interval") is not None, s.name
    source = inspect.getsource(config.RunConfig.validate)
    assert " < 1" not in source and "< float(\"inf\")" not in source


@pytest.mark.parametrize("argv, expected", [
    (["--seed", "-1"], "--seed is -1; expected a whole number from 0 to 2**32 - 1 (numpy's seeds)"),
    (["--folds", "1"], "--folds is 1; expected 2 or more (k-fold needs a held-out fold)"),
    (["--zoom", "1.5"], "--zoom (augment.zoom) is 1.5; expected a fraction in [0, 1)"),
    (["--models", "cnn_fast", "--model-epochs", "cnn_fast=0"], "--model-epochs is {'cnn_fast': 0}; expected a "
                                                               "positive whole number for each model"),
])
def test_interval_messages_say_what_was_found_and_what_is_allowed(argv, expected, capsys):
    assert cli.main(["make", *argv]) == 2
    assert capsys.readouterr().err.strip() == f"error: {expected}"
