"""Temperature calibration: corrects known over/under-confidence; cross-fitting never uses a row's own fold."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from kaggle_digits.scoring import calibration


def synthetic(n=4000, temperature=1.0, seed=0):
    """Labels and probabilities whose calibrated form is softmax(logits); shown at ``temperature``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    logits = rng.normal(0, 1, (n, 10))
    logits[np.arange(n), y] += 2.5
    calibrated = softmax(logits, axis=1)
    # sample labels from the calibrated model so that T = 1 is the truth
    y = np.array([rng.choice(10, p=p) for p in calibrated])
    shown = softmax(logits / temperature, axis=1).astype(np.float32)
    return shown, y


@pytest.mark.parametrize("shown_t", [0.4, 2.5])  # over-confident, under-confident
def test_a_known_miscalibration_is_corrected(shown_t):
    probs, y = synthetic(temperature=shown_t)
    t = calibration.fit_temperature(probs, y)
    assert t == pytest.approx(1 / shown_t, rel=0.15)  # softmax(logits/s / t) = softmax(logits) at t = 1/s
    fixed = calibration.apply_temperature(probs, t)
    assert np.array_equal(fixed.argmax(1), probs.argmax(1))  # calibration never changes a model's answer
    nll = lambda p: -np.mean(np.log(p[np.arange(len(y)), y]))  # noqa: E731
    assert nll(fixed) < nll(probs)


def test_cross_fitting_never_uses_a_rows_own_fold(monkeypatch):
    probs, y = synthetic(n=600)
    fold_of = np.repeat(np.arange(3), 200)
    seen = []
    real_fit = calibration.fit_temperature

    def spy(p, labels):
        seen.append(p)
        return real_fit(p, labels)

    monkeypatch.setattr(calibration, "fit_temperature", spy)
    calibrated, temps = calibration.cross_fitted(probs, y, fold_of)
    assert sorted(temps) == [0, 1, 2] and len(seen) == 3
    for fold, fitted_on in zip(range(3), seen):
        own = probs[fold_of == fold]
        assert len(fitted_on) == 400
        assert not any(np.array_equal(row, r) for row in own[:20] for r in fitted_on)
        assert np.allclose(calibrated[fold_of == fold], calibration.apply_temperature(own, temps[fold]))
