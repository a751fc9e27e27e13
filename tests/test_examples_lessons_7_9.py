"""The example scripts of lessons 7-9 run in their --fast mode and show what they teach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from examples_support import assert_quotes_what_the_page_quotes, load_example  # noqa: E402


def assert_pngs(result: dict) -> None:
    pngs = [value for key, value in result.items() if key.startswith("png")]
    assert pngs
    for png in pngs:
        assert Path(png).is_file() and Path(png).stat().st_size > 0, png


def test_small_batches_make_more_progress_per_epoch(tmp_path: Path) -> None:
    result = load_example("07_sgd_minibatch_full_batch.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 7)
    methods = result["methods"]
    online, minibatch, full = (methods[label]["loss_after_epochs"] for label in methods)
    assert online < full and minibatch < full
    assert_pngs(result)


def test_l2_shrinks_weights_and_helps_held_out_error(tmp_path: Path) -> None:
    result = load_example("08_l2_regularization.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 8)
    norms = np.array([run["weight_norm"] for run in result["runs"]])
    errors = np.array([run["test_mse"] for run in result["runs"]])
    assert result["l2"][0] == 0.0
    assert np.all(np.diff(norms) <= 1e-12), norms
    assert errors.min() <= errors[0]
    assert 0.0 < result["best_l2"] < result["l2"][-1]  # a middle lambda wins
    assert_pngs(result)


def test_delta_rule_and_backprop_by_hand(tmp_path: Path) -> None:
    result = load_example("09_delta_rule_and_backprop_by_hand.py").main(
        ["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 9)
    assert result["delta_rule_factor"] > 20
    assert result["max_difference"] < 1e-12
    assert_pngs(result)
