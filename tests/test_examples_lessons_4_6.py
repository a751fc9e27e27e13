"""The lesson examples 4-6 run in their fast mode and still make their point."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from examples_support import assert_quotes_what_the_page_quotes, load_example  # noqa: E402


def assert_pngs(result: dict, tmp_path: Path, expected: int) -> None:
    pngs = [Path(p) for p in result["pngs"]]
    assert len(pngs) == expected
    for png in pngs:
        assert png.parent == tmp_path and png.suffix == ".png"
        assert png.stat().st_size > 10_000  # a drawn figure, not an empty file


def test_vanishing_gradients(tmp_path: Path) -> None:
    result = load_example("04_vanishing_gradients.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 4)
    assert result["sigmoid"]["ratio"] < 1e-3  # the first layer hardly gets any gradient
    for name in ("relu_he", "sigmoid_bn", "tanh"):
        assert 0.1 < result[name]["ratio"] < 10, name
    assert result["sigmoid_bn"]["final_loss"] < result["sigmoid"]["final_loss"]
    assert_pngs(result, tmp_path, 5)


def test_batch_normalization(tmp_path: Path) -> None:
    result = load_example("05_batch_normalization.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 5)
    assert result["bn"]["final_loss"] < 0.5 * result["no_bn"]["final_loss"]
    assert result["no_bn"]["final_loss"] > 0.65  # stuck near ln 2: the deep sigmoid net guesses
    assert result["bn"]["accuracy"] > 0.9
    assert_pngs(result, tmp_path, 1)


def test_local_minima_and_restarts(tmp_path: Path) -> None:
    result = load_example("06_local_minima_and_restarts.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 6)
    assert result["max"] / result["min"] > 50  # some seeds end far above the others
    assert 0 < result["n_stuck"] < result["n_seeds"]
    restarts = result["restarts"]
    assert restarts["run_losses"][0] > 0.1  # run 0 is the stuck seed's own run
    assert restarts["kept_loss"] == min(restarts["run_losses"])
    assert restarts["kept_accuracy"] == 1.0
    assert_pngs(result, tmp_path, 1)
