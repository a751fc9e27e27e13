"""The lesson example 10 (the training doctor) runs in its fast mode and still makes its point:
each of the four broken runs is named for what was planted, the healthy one is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from examples_support import load_example  # noqa: E402


def test_training_doctor(tmp_path: Path) -> None:
    result = load_example("10_training_doctor.py").main(["--fast", "--out", str(tmp_path)])
    assert result["healthy"]["ok"] and result["healthy"]["codes"] == []
    assert result["zero init"]["layers"]["symmetric_units"] == 0
    assert result["deep sigmoid"]["layers"]["vanishing_gradients"] == 0
    assert "lr_too_high" in result["rate 10x"]["codes"]
    assert "unscaled_inputs" in result["raw pixels"]["codes"]
    assert result["rate 10x"]["final_loss"] > 10 * result["healthy"]["final_loss"]
    pngs = [Path(p) for p in result["pngs"]]
    assert [p.name for p in pngs] == ["10_loss_curves.png", "10_gradient_by_layer.png"]
    for png in pngs:
        assert png.parent == tmp_path and png.stat().st_size > 10_000  # a drawn figure
