"""The lesson examples 01-03 run in fast mode and still make their point."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from examples_support import assert_quotes_what_the_page_quotes, load_example  # noqa: E402


def assert_pngs(out: Path, names: list[str], reported: list[str]) -> None:
    assert sorted(Path(path).name for path in reported) == sorted(names)
    for name in names:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_perceptron_learns_and_or_but_not_xor_while_an_mlp_does(tmp_path: Path) -> None:
    result = load_example("01_perceptron_and_xor.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 1)
    accuracy = result["perceptron_accuracy"]
    assert accuracy["and"] == 1.0 and accuracy["or"] == 1.0
    assert accuracy["xor"] <= 0.75  # no line gets more than 3 of XOR's 4 corners right
    assert result["perceptron_last_mistakes"]["xor"] > 0
    assert result["mlp_xor_accuracy"] == 1.0
    assert_pngs(tmp_path, ["01_decision_boundaries.png", "01_mlp_xor_boundary.png"], result["figures"])


def test_wider_hidden_layer_approximates_better(tmp_path: Path) -> None:
    result = load_example("02_universal_approximation.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 2)
    mse = result["mse"]
    assert list(mse) == [1, 2, 4, 8, 32]
    assert mse[32] < mse[1] / 100
    assert mse[4] < mse[2] / 10 < mse[1] / 100  # steeply over the first four units
    # past them the training, not the width, sets the error; the order of 8 and 32 units (and
    # 8 against 2 in this short run) moves with the machine's rounding
    assert min(mse[8], mse[32]) < mse[2] / 10
    assert_pngs(tmp_path, ["02_fits_by_width.png", "02_error_vs_width.png", "02_hidden_units.png"],
                result["figures"])


def test_zero_init_keeps_hidden_units_identical_and_random_init_breaks_symmetry(tmp_path: Path) -> None:
    result = load_example("03_symmetry_breaking.py").main(["--fast", "--out", str(tmp_path)])
    assert_quotes_what_the_page_quotes(tmp_path, 3)
    assert result["zero_spread"] < 1e-6
    assert result["zero_weights_moved"] > 0.1  # the units did train, in lockstep
    assert result["zero_accuracy"] <= 0.75
    assert result["random_spread"] > 1e-2
    assert result["random_accuracy"] == 1.0
    assert_pngs(tmp_path, ["03_hidden_weights.png", "03_weight_trajectories.png"], result["figures"])
