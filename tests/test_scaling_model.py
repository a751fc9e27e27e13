"""benchmarks/scaling_model.py: the scaling model's pure functions against hand-computed values,
and its command line on saved inputs (nothing is measured here)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

import deltaprop as dp

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up; scaling_model imports its sibling
    spec.loader.exec_module(module)
    return module


ms = load_script("scaling_measure")
sm = load_script("scaling_model")

# A rank whose compute is exactly 1 ms per row (a power law, so the log-log interpolation and the
# extrapolation above the last size are exact), update 1 ms, no gradient bytes: only latencies.
LINEAR = sm.Rank({1: 1e-3, 1024: 1.024}, update=1e-3, parameters=0)
LATENCY_ONLY = sm.Network("latency only", 1e12, 1e-3)  # beta 8e-21 s/byte: nothing on 0 bytes


# -- the ring all-reduce -----------------------------------------------------------------------
@pytest.mark.parametrize("n_bytes", [0, 4, 7.5e6])
def test_one_rank_communicates_nothing(n_bytes):
    assert sm.ring_allreduce_seconds(n_bytes, 1, alpha=1e-5, beta=1e-9, gamma=1e-10) == 0.0
    assert sm.agreement_seconds(1, alpha=1e-5) == 0.0


def test_ring_formula_hand_computed():
    # K = 4, n = 1 MB, alpha 10 us, beta 1 ns/byte: 2*3*10 us + 3/4 * 1e6 * 2 ns = 60 us + 1.5 ms
    assert sm.ring_allreduce_seconds(1e6, 4, alpha=1e-5, beta=1e-9) == pytest.approx(1.56e-3, rel=1e-12)
    # the additions: + 3/4 * 1e6 * 0.5 ns = 0.375 ms
    assert sm.ring_allreduce_seconds(1e6, 4, 1e-5, 1e-9, gamma=5e-10) == pytest.approx(1.935e-3, rel=1e-12)
    # two ranks: 2 alpha + n beta, the form fitted to the shared-memory measurement
    assert sm.ring_allreduce_seconds(4000, 2, 3e-6, 2e-10) == pytest.approx(6e-6 + 8e-7, rel=1e-12)


def test_ring_time_rises_with_ranks_towards_twice_the_bytes_over_bandwidth():
    times = [sm.ring_allreduce_seconds(7.45e6, k, 2e-6, 8e-11) for k in range(1, 65)]
    assert all(a < b for a, b in zip(times, times[1:]))
    bandwidth_part = [t - 2 * (k - 1) * 2e-6 for k, t in zip(range(1, 65), times)]
    assert all(a < b < 2 * 7.45e6 * 8e-11 for a, b in zip(bandwidth_part, bandwidth_part[1:]))


def test_agreement_is_recursive_doubling():
    assert [sm.agreement_seconds(k, 1.0) for k in (2, 3, 4, 5, 8, 64)] == [1, 2, 2, 3, 3, 6]


@pytest.mark.parametrize("ranks", [0, -2, 2.5, True, "4"])
def test_ranks_must_be_a_positive_integer(ranks):
    with pytest.raises(ValueError, match="ranks must be an integer >= 1"):
        sm.ring_allreduce_seconds(10, ranks, 1e-6, 1e-9)


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        sm.ring_allreduce_seconds(10, 2, -1e-6, 1e-9)


# -- t(b) from measured batch sizes --------------------------------------------------------------
def test_compute_time_interpolates_on_log_log_axes():
    table = {1: 1.0, 4: 4.0, 16: 8.0}
    assert sm.compute_seconds(table, 4) == 4.0
    assert sm.compute_seconds(table, 2) == pytest.approx(2.0)  # geometric midpoint of 1 and 4
    assert sm.compute_seconds(table, 8) == pytest.approx(math.sqrt(32.0))  # of 4 and 8
    assert sm.compute_seconds(table, 64) == pytest.approx(32.0)  # proportional above 16
    assert sm.compute_seconds({8: 2.0}, 3) == 2.0  # the smallest batch's time below it


@pytest.mark.parametrize("table, rows, message", [({}, 4, "no measured"), ({1: 1.0}, 0, "rows must be >= 1")])
def test_compute_time_refuses_what_it_cannot_answer(table, rows, message):
    with pytest.raises(ValueError, match=message):
        sm.compute_seconds(table, rows)


def test_parameter_count_is_the_networks():
    for sizes, _ in ms.CONFIGS.values():
        assert ms.parameter_count(sizes) == dp.MLP(list(sizes), seed=0).theta.size
    assert ms.parameter_count((784, 1024, 1024, 10)) == 1_863_690


# -- a step, throughput, efficiency ------------------------------------------------------------
def test_step_hand_computed():
    net = sm.Network("hand", 8.0, 1e-5)  # beta = 1 ns per byte
    rank = sm.Rank({1: 1e-3, 1024: 1.024}, update=1e-3, parameters=1000)
    # B = 64 on K = 4: 16 rows (16 ms) + update 1 ms + ring 6 * 10 us + 3/4 * 4000 B * 2 ns
    # (66 us) + agreement 2 * 10 us
    assert rank.step(64, 4, net) == pytest.approx(0.016 + 0.001 + 6.6e-5 + 2e-5, rel=1e-12)
    assert rank.step(64, 1, net) == pytest.approx(0.065, rel=1e-12)  # one process: no MPI
    assert sm.efficiency(rank, 64, 4, net) == pytest.approx(0.065 / (4 * 0.017086), rel=1e-12)
    assert sm.samples_per_second(rank, 64, 4, net) == pytest.approx(64 / 0.017086, rel=1e-12)


def test_the_rank_with_the_most_rows_sets_the_pace():
    # B = 10 on K = 4: parts of 2, 3, 2, 3 rows; the step waits for 3
    assert LINEAR.step(10, 4, LATENCY_ONLY) == pytest.approx(3e-3 + 1e-3 + 6e-3 + 2e-3)
    # more ranks than rows: one row each, the rest idle
    assert LINEAR.step(4, 64, LATENCY_ONLY) == pytest.approx(1e-3 + 1e-3 + 126e-3 + 6e-3)


def test_one_rank_is_fully_efficient():
    assert sm.efficiency(LINEAR, 64, 1, LATENCY_ONLY) == 1.0


def test_throughput_peaks_where_communication_overtakes_compute():
    # B = 64: K=1 64/65 ms; K=2 64/36 ms; K=4 64/25 ms; K=8 64/26 ms (8 + 1 + 14 + 3)
    rates = [sm.samples_per_second(LINEAR, 64, k, LATENCY_ONLY) for k in (1, 2, 4, 8)]
    assert rates == pytest.approx([64 / 0.065, 64 / 0.036, 64 / 0.025, 64 / 0.026])
    assert sm.peak_ranks(LINEAR, 64, LATENCY_ONLY) == 4


def test_stop_scaling_batch_is_where_efficiency_crosses_one_half():
    # t(b) = s b, u, communication c = 8 alpha on 4 ranks: E(b) = (s K b + u) / (K (s b + u + c))
    # >= 1/2  <=>  b >= (K (u + c) - 2 u) / (s K) = (4 * 9 ms - 2 ms) / 4 ms = 8.5
    assert sm.efficiency(LINEAR, 4 * 9, 4, LATENCY_ONLY) == pytest.approx(0.037 / 0.072)
    assert sm.efficiency(LINEAR, 4 * 8, 4, LATENCY_ONLY) == pytest.approx(0.033 / 0.068)
    assert sm.stop_scaling_rows(LINEAR, 4, LATENCY_ONLY) == 9
    assert sm.stop_scaling_rows(LINEAR, 4, LATENCY_ONLY, limit=4) is None
    # no communication cost at all: one row per rank already pays
    free = sm.Network("free", 1e12, 0.0)
    assert sm.stop_scaling_rows(LINEAR, 64, free) == 1


def test_stop_scaling_batch_grows_with_ranks_and_latency():
    slow = sm.Network("slow", 1e12, 1e-2)
    per_k = [sm.stop_scaling_rows(LINEAR, k, LATENCY_ONLY) for k in sm.RANKS]
    assert per_k == sorted(per_k)
    assert sm.stop_scaling_rows(LINEAR, 8, slow) > sm.stop_scaling_rows(LINEAR, 8, LATENCY_ONLY)


# -- fitting alpha and beta to the shared-memory times -----------------------------------------
@pytest.mark.parametrize("ranks", [2, 4])
def test_fit_recovers_alpha_and_beta(ranks):
    sizes = [4, 64, 1024, 65536, 4 << 20]
    times = [sm.ring_allreduce_seconds(n, ranks, 3e-6, 2e-10) for n in sizes]
    alpha, beta = sm.fit_alpha_beta(sizes, times, ranks=ranks)
    assert alpha == pytest.approx(3e-6, rel=1e-9) and beta == pytest.approx(2e-10, rel=1e-9)


@pytest.mark.parametrize("sizes, times", [([4], [1e-6]), ([4, 4], [1e-6, 2e-6]), ([4, 8], [1e-6, 0.0]),
                                          ([4, 8], [1e-6])])
def test_fit_refuses_too_few_or_impossible_times(sizes, times):
    with pytest.raises(ValueError):
        sm.fit_alpha_beta(sizes, times)


# -- networks and the command line ---------------------------------------------------------------
def test_network_bandwidth_and_parsing():
    assert sm.Network("10G", 10.0, 1e-5).beta == pytest.approx(8e-10)
    parsed = sm.parse_network("25 Gbit/s=25,3")
    assert (parsed.name, parsed.gbit_per_s, parsed.alpha) == ("25 Gbit/s", 25.0, pytest.approx(3e-6))


@pytest.mark.parametrize("text", ["x", "a=1", "a=0,1", "=1,2", "a=nan,1", "a=1,-1", "a=1,2,3", "a=one,2"])
def test_bad_network_is_a_clear_error(text):
    with pytest.raises(ValueError, match="--network"):
        sm.parse_network(text)


def synthetic_inputs() -> dict:
    configs = {"large": {"sizes": [784, 1024, 1024, 10], "batch": 256, "parameters": 1_863_690,
                         "update_seconds": 1e-3,
                         "step_seconds": {"128": 10.45e-3, "256": 19.9e-3},
                         "step_seconds_contended": {"128": 11.5e-3, "256": 21.9e-3}}}
    return {"configs": configs, "gamma": 1e-10, "measured": "synthetic", "load": "0.00",
            "allreduce_shm": {"alpha": 2e-6, "beta": 1.3e-10},
            "validation": {"rounds": 3, "samples_per_s_1": 12_900, "samples_per_s_2": 18_700}}


def test_report_from_saved_inputs(tmp_path, capsys):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(synthetic_inputs()))
    assert sm.main(["--inputs", str(path)]) == 0
    out = capsys.readouterr().out
    # one process: 256 rows over its measured 19.9 ms step; two ranks: 256 over the contended
    # 128-row step (11.5 ms, update included) + 2 alpha + 4 P beta + alpha (the agreement)
    one = 256 / 19.9e-3
    two = 256 / (11.5e-3 + 2 * 2e-6 + 4 * 1_863_690 * 1.3e-10 + 2e-6)
    assert f"| {one:,.0f} | {two:,.0f} | {two / one:.2f}x |" in out
    assert "| measured (mpi_bench.py, median of 3) | 12,900 | 18,700 | 1.45x |" in out
    assert out.count("| large |") == 5 and "10 Gbit/s Ethernet (TCP)" in out


def test_the_saved_inputs_print_their_tables(capsys):
    assert sm.main([]) == 0
    out = capsys.readouterr().out
    for name in ms.CONFIGS:
        assert f"| {name} |" in out
    assert "measured (mpi_bench.py" in out


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"), ("{not json", "is not JSON"), ("[1, 2]", "a JSON object"),
    ('{"configs": {}}', "missing allreduce_shm, gamma"),
])
def test_bad_inputs_file_exits_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "inputs.json"
    if content is not None:
        path.write_text(content)
    assert sm.main(["--inputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def spoil(inputs: dict, how: str) -> None:
    large = inputs["configs"]["large"]
    spoilers = {
        "no update": lambda: large.pop("update_seconds"),
        "update above the step": lambda: large.update(update_seconds=0.5),
        "steps a list": lambda: large.update(step_seconds=[1, 2]),
        "batch 0": lambda: large.update(batch=0),
        "rows not a number": lambda: large.update(step_seconds={"many": 1.0}),
        "contended NaN": lambda: large["step_seconds_contended"].update({"128": float("nan")}),
        "configuration a number": lambda: inputs["configs"].update(large=5),
        "configs a list": lambda: inputs.update(configs=[]),
        "alpha missing": lambda: inputs["allreduce_shm"].pop("alpha"),
        "beta a string": lambda: inputs["allreduce_shm"].update(beta="fast"),
        "shm a list": lambda: inputs.update(allreduce_shm=[1]),
        "gamma negative": lambda: inputs.update(gamma=-1.0),
        "validation without rate": lambda: inputs["validation"].pop("samples_per_s_2"),
    }
    spoilers[how]()


@pytest.mark.parametrize("how", ["no update", "update above the step", "steps a list", "batch 0",
                                 "rows not a number", "contended NaN", "configuration a number",
                                 "configs a list", "alpha missing", "beta a string", "shm a list",
                                 "gamma negative", "validation without rate"])
def test_damaged_inputs_are_named_not_a_traceback(tmp_path, capsys, how):
    inputs = synthetic_inputs()
    spoil(inputs, how)
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(inputs))
    assert sm.main(["--inputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scaling_model.py: error: the inputs") or "configuration 'large'" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [(["--rounds", "0"], "--rounds"),
                                           (["--network", "fast"], "--network"),
                                           (["--out", "x.json"], "--out")])
def test_bad_options_exit_2(capsys, argv, message):
    assert sm.main(argv) == 2
    assert message in capsys.readouterr().err
