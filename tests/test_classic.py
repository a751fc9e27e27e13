"""The classic single-layer rules (DeltaRule, Perceptron): stable for huge inputs, and bad
targets refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def test_delta_rule_is_stable_for_huge_inputs_and_targets_are_checked():
    X = np.array([[1e4], [-1e4]])
    rule = dp.DeltaRule(1, seed=0).fit(X, [1, 0], epochs=2)  # warnings are errors here
    assert np.isfinite(rule.w).all()
    with pytest.raises(ValueError, match="NaN"):
        dp.DeltaRule(1).fit(X, [np.nan, 0])
    with pytest.raises(TypeError, match="numbers"):
        dp.DeltaRule(1).fit(X, ["yes", "no"])
    with pytest.raises(TypeError, match="0/1 or -1/"):
        dp.Perceptron(1).fit(X, ["yes", "no"])
