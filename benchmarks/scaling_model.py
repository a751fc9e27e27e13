"""A scaling model for data-parallel training over MPI: what K ranks would give, from inputs
measured on this machine (docs/scaling.md explains the model and reads the table).

    python benchmarks/scaling_model.py                       # the tables, from scaling_inputs.json
    python benchmarks/scaling_model.py --inputs FILE.json    # the tables from other saved inputs
    python benchmarks/scaling_model.py --measure --out FILE.json   # measure here (a few minutes)
    python benchmarks/scaling_model.py --network "25 Gbit/s=25,3"  # another network: Gbit/s, alpha in us

The model of one step of :class:`deltaprop.engine.reduction.MpiReduction` on K ranks with a
global minibatch of B rows (every rank computes its ceil(B/K) rows, the flat gradient of P
float32 entries is all-reduced once, every rank takes the whole update, and a one-integer
all-reduce agrees on stopping)::

    step(B, K) = t(ceil(B / K)) + u(P) + T_ring(4 P, K) + ceil(log2 K) alpha
    T_ring(n, K) = 2 (K - 1) alpha + (K - 1) / K * n * (2 beta + gamma)

t(b) is a rank's forward and backward of b rows (with the step's per-minibatch bookkeeping),
u(P) the optimizer's update, alpha the latency of one message, beta seconds per byte on the
wire (1 / bandwidth), gamma seconds per byte of the reduction's additions. The ring all-reduce's
cost is that of Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication
Operations in MPICH" (IJHPCA 19(1), 2005): a reduce-scatter and an allgather, K - 1 rounds each.

Measuring (``--measure``) is benchmarks/scaling_measure.py's: it times every quantity in processes
of its own; this file fits the all-reduce's alpha and beta to the times it measures.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import scaling_measure  # its sibling: the configurations and their measuring
from scaling_measure import BYTES_PER_ENTRY, VALIDATION

HERE = Path(__file__).resolve().parent
DEFAULT_INPUTS = HERE / "scaling_inputs.json"
RANKS = (2, 4, 8, 16, 32, 64)
HALF = 0.5  # the efficiency below which adding ranks stops paying


@dataclass(frozen=True)
class Network:
    """An interconnect: its name, payload bandwidth and per-message latency.

    ``fitted``: alpha and beta were fitted to measured all-reduce times, whose beta already holds
    the additions (this machine's shared memory); otherwise the rank's gamma is added."""

    name: str
    gbit_per_s: float
    alpha: float  # seconds
    fitted: bool = False

    @property
    def beta(self) -> float:
        """Seconds per byte on the wire."""
        return 8.0 / (self.gbit_per_s * 1e9)


# Payload at the line rate (an upper bound: MPI reaches about 90-95% of it on long messages).
# Latencies: MPI over kernel TCP on 10 Gbit/s Ethernet takes about 10 us per small message;
# 100 Gbit/s InfiniBand (or RoCE) with RDMA about 1-2 us; see docs/scaling.md.
NETWORKS = (Network("10 Gbit/s Ethernet (TCP)", 10.0, 10e-6), Network("100 Gbit/s RDMA", 100.0, 2e-6))


# -- the model (pure functions) -----------------------------------------------------------------
def ring_allreduce_seconds(n_bytes: float, ranks: int, alpha: float, beta: float,
                           gamma: float = 0.0) -> float:
    """T_ring(n, K) = 2 (K-1) alpha + (K-1)/K n (2 beta + gamma): a ring reduce-scatter then a
    ring allgather, each K-1 rounds of one message of n/K bytes (Thakur, Rabenseifner & Gropp
    2005); the additions (gamma per byte) happen in the reduce-scatter only. 0 for one rank."""
    check_ranks(ranks)
    if n_bytes < 0 or alpha < 0 or beta < 0 or gamma < 0:
        raise ValueError(f"bytes, alpha, beta and gamma must be >= 0, got {n_bytes}, {alpha}, "
                         f"{beta}, {gamma}")
    k = ranks
    return 2 * (k - 1) * alpha + (k - 1) / k * n_bytes * (2 * beta + gamma)


def agreement_seconds(ranks: int, alpha: float) -> float:
    """The one-integer all-reduce of the agreement to stop after every step: recursive doubling
    (MPICH's choice for short messages), ceil(log2 K) rounds of one message."""
    check_ranks(ranks)
    return math.ceil(math.log2(ranks)) * alpha


def check_ranks(ranks: int) -> None:
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise ValueError(f"ranks must be an integer >= 1, got {ranks!r}")


def compute_seconds(table: dict[int, float], rows: int) -> float:
    """t(rows) from the times measured at some batch sizes: straight lines between them on
    log-log axes, proportional to the rows above the largest (the products are then
    GEMM-bound), the smallest batch's time below it."""
    if not table:
        raise ValueError("no measured batch sizes")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    sizes = sorted(table)
    if rows <= sizes[0]:
        return table[sizes[0]]
    if rows >= sizes[-1]:
        return table[sizes[-1]] * rows / sizes[-1]
    upper = next(i for i, size in enumerate(sizes) if size >= rows)
    b0, b1 = sizes[upper - 1], sizes[upper]
    t0, t1 = table[b0], table[b1]
    weight = math.log(rows / b0) / math.log(b1 / b0)
    return math.exp(math.log(t0) + weight * math.log(t1 / t0))


@dataclass(frozen=True)
class Rank:
    """What one rank costs, measured: t(b) per batch size, u(P), P, and gamma."""

    compute: dict[int, float]  # rows -> seconds of forward + backward (+ step bookkeeping)
    update: float  # seconds of one optimizer step on the flat P-vector
    parameters: int
    gamma: float = 0.0  # seconds per byte of the all-reduce's additions

    def one_process(self, batch: int) -> float:
        """Step seconds of one process with the whole minibatch: no communication."""
        return compute_seconds(self.compute, batch) + self.update

    def step(self, batch: int, ranks: int, net: Network) -> float:
        """step(B, K): the slowest rank's rows, the update, the gradient's ring all-reduce and
        the agreement to stop. K = 1 is one process (no MPI)."""
        if ranks == 1:
            return self.one_process(batch)
        rows = -(-batch // ranks)  # ceil: the rank with the most rows sets the pace
        n_bytes = BYTES_PER_ENTRY * self.parameters
        gamma = 0.0 if net.fitted else self.gamma
        return (compute_seconds(self.compute, rows) + self.update
                + ring_allreduce_seconds(n_bytes, ranks, net.alpha, net.beta, gamma)
                + agreement_seconds(ranks, net.alpha))


def samples_per_second(rank: Rank, batch: int, ranks: int, net: Network) -> float:
    """Global minibatch rows over the step time."""
    return batch / rank.step(batch, ranks, net)


def efficiency(rank: Rank, batch: int, ranks: int, net: Network) -> float:
    """E(B, K) = rate(B, K) / (K rate(B, 1)): K ranks against K times one process that trains
    on the same global minibatch B alone (strong scaling)."""
    return samples_per_second(rank, batch, ranks, net) / (ranks * samples_per_second(rank, batch, 1, net))


def stop_scaling_rows(rank: Rank, ranks: int, net: Network, limit: int = 1 << 20) -> int | None:
    """b_50(K): the smallest per-rank batch b with E(K b, K) >= 50%, so that a global batch of
    K b rows keeps K ranks at least half busy; below it adding ranks stops paying. None when
    even ``limit`` rows per rank do not reach it. E rises with b (the all-reduce's cost is fixed
    while the compute grows), so a doubling search and a bisection find it."""
    def paying(rows: int) -> bool:
        return efficiency(rank, ranks * rows, ranks, net) >= HALF

    high = 1
    while not paying(high):
        if high >= limit:
            return None
        high *= 2
    low = high // 2  # not paying (or 0)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if paying(middle) else (middle, high)
    return high


def peak_ranks(rank: Rank, batch: int, net: Network, candidates: Sequence[int] = (1, *RANKS)) -> int:
    """The K (of the candidates) with the most samples/s at global batch B: beyond it adding
    ranks lowers throughput."""
    return max(candidates, key=lambda k: samples_per_second(rank, batch, k, net))


def fit_alpha_beta(n_bytes: Sequence[float], seconds: Sequence[float], ranks: int = 2) -> tuple[float, float]:
    """alpha and beta of T = 2 (K-1) alpha + 2 (K-1)/K n beta fitted to measured all-reduce
    times, least squares on the relative error (each size counts alike, the short messages
    setting alpha, the long ones beta). beta here holds the additions too (gamma = 0)."""
    if len(n_bytes) != len(seconds) or len(set(n_bytes)) < 2:
        raise ValueError("need the times of at least two different message sizes")
    if min(seconds) <= 0:
        raise ValueError("all-reduce times must be > 0")
    check_ranks(ranks)
    # T / T_i = c0 / T_i + c1 n_i / T_i should be 1: normal equations of the 2x2 system
    x0 = [1 / t for t in seconds]
    x1 = [n / t for n, t in zip(n_bytes, seconds)]
    s00, s01, s11 = sum(a * a for a in x0), sum(a * b for a, b in zip(x0, x1)), sum(b * b for b in x1)
    r0, r1 = sum(x0), sum(x1)
    det = s00 * s11 - s01 * s01
    intercept, slope = (r0 * s11 - r1 * s01) / det, (s00 * r1 - s01 * r0) / det
    k = ranks
    return max(intercept, 0.0) / (2 * (k - 1)), max(slope, 0.0) / (2 * (k - 1) / k)


# -- inputs: the saved measurements as Ranks ---------------------------------------------------------
def read_inputs(path: Path) -> dict:
    """The saved inputs, checked enough that a wrong file is named, not a traceback."""
    inputs = scaling_measure.read_saved(path)
    check_inputs(inputs)
    return inputs


def check_inputs(inputs: dict) -> None:
    """Every number the tables read is there and sensible, else a ValueError naming it."""
    configs = inputs["configs"]
    if not isinstance(configs, dict) or not configs:
        raise ValueError("the inputs' configs must be an object of configurations")
    for name in configs:
        rank_of(inputs, name)
        if "step_seconds_contended" in configs[name]:
            rank_of(inputs, name, contended=True)
    scaling_measure.check_saved_numbers(inputs)


def rank_of(inputs: dict, name: str, contended: bool = False) -> Rank:
    """The Rank of configuration ``name``; ``contended``: its times measured with both cores busy."""
    config = inputs["configs"][name]
    try:
        key = "step_seconds_contended" if contended else "step_seconds"
        update = float(config["update_seconds"])
        compute = {int(rows): float(s) - update for rows, s in config[key].items()}
        rank = Rank(compute, update, int(config["parameters"]), float(inputs["gamma"]))
        batch = int(config["batch"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"configuration {name!r} of the inputs is incomplete or not numbers: "
                         f"{error!r}") from None
    numbers = [update, *compute.values()]
    if not compute or min(compute) < 1 or batch < 1 or rank.parameters < 0 or not all(
            math.isfinite(x) and x > 0 for x in numbers):
        raise ValueError(f"configuration {name!r}: needs a batch >= 1, P >= 0, an update time > 0 "
                         "and step times above it, at batch sizes >= 1")
    return rank


def shm_network(inputs: dict) -> Network:
    """This machine's shared memory as a Network: the alpha and beta fitted to ``mpiexec -n 2``."""
    shm = inputs["allreduce_shm"]
    return Network("shared memory (this machine)", 8.0 / float(shm["beta"]) / 1e9, float(shm["alpha"]),
                   fitted=True)


# -- the tables --------------------------------------------------------------------------------
def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"


def inputs_table(inputs: dict) -> list[str]:
    """The measured inputs, one configuration a row."""
    lines = ["| config | layers | B | P | t(B) one rank, ms | t(B)/B, us per row | t(1), us | "
             "u(P), us | all-reduce of 4P bytes, 2 ranks here, us |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    shm = shm_network(inputs)
    for name, config in inputs["configs"].items():
        rank, batch = rank_of(inputs, name), int(config["batch"])
        t_batch = compute_seconds(rank.compute, batch)
        shm_us = 1e6 * ring_allreduce_seconds(BYTES_PER_ENTRY * rank.parameters, 2, shm.alpha, shm.beta)
        lines.append(f"| {name} | {'-'.join(map(str, config['sizes']))} | {batch} | {rank.parameters:,} | "
                     f"{1e3 * t_batch:.3f} | {1e6 * t_batch / batch:.2f} | "
                     f"{1e6 * compute_seconds(rank.compute, 1):.1f} | {1e6 * rank.update:.1f} | "
                     f"{shm_us:.1f} |")
    return lines


def scaling_table(inputs: dict, net: Network) -> list[str]:
    """Samples/s and efficiency for K = 1 (one process) and RANKS at each configuration's B, the
    K of the highest throughput, and b_50 at K = 8 and 64."""
    head = " | ".join(f"K={k}" for k in RANKS)
    lines = [f"| config | B | 1 process/s | {head} | best K | b_50 (K=8) | b_50 (K=64) |",
             "|---|---:|---:|" + "---:|" * len(RANKS) + "---:|---:|---:|"]
    for name, config in inputs["configs"].items():
        rank, batch = rank_of(inputs, name), int(config["batch"])
        cells = [f"{fmt_rate(samples_per_second(rank, batch, k, net))} "
                 f"({100 * efficiency(rank, batch, k, net):.0f}%)" for k in RANKS]
        b8, b64 = (stop_scaling_rows(rank, k, net) for k in (8, 64))
        lines.append(f"| {name} | {batch} | {fmt_rate(samples_per_second(rank, batch, 1, net))} | "
                     f"{' | '.join(cells)} | {peak_ranks(rank, batch, net)} | {fmt_b(b8)} | {fmt_b(b64)} |")
    return lines


def fmt_b(rows: int | None) -> str:
    return "never" if rows is None else f"{rows:,}"


def stop_table(inputs: dict, networks: Sequence[Network]) -> list[str]:
    """b_50(K) for every K and network: the per-rank batch below which K ranks fall under 50%."""
    head = " | ".join(f"K={k}" for k in RANKS)
    lines = [f"| config | network | {head} |", "|---|---|" + "---:|" * len(RANKS)]
    for name in inputs["configs"]:
        rank = rank_of(inputs, name)
        for net in networks:
            cells = " | ".join(fmt_b(stop_scaling_rows(rank, k, net)) for k in RANKS)
            lines.append(f"| {name} | {net.name} | {cells} |")
    return lines


def validation_lines(inputs: dict) -> list[str]:
    """The 2-rank prediction on this machine's shared memory against mpi_bench.py's measurement."""
    measured = inputs.get("validation")
    config = inputs["configs"].get(VALIDATION, {})
    if not measured or "step_seconds_contended" not in config:
        return ["(no validation measurement in these inputs)"]
    batch, shm = int(config["batch"]), shm_network(inputs)
    alone, both = rank_of(inputs, VALIDATION), rank_of(inputs, VALIDATION, contended=True)
    one = samples_per_second(alone, batch, 1, shm)
    two_alone = samples_per_second(alone, batch, 2, shm)
    two = samples_per_second(both, batch, 2, shm)
    m1, m2 = float(measured["samples_per_s_1"]), float(measured["samples_per_s_2"])
    return ["| | 1 process, samples/s | 2 ranks, samples/s | speedup |", "|---|---:|---:|---:|",
            f"| model, t(b) with the other core idle | {one:,.0f} | {two_alone:,.0f} | "
            f"{two_alone / one:.2f}x |",
            f"| model, t(b) with both cores busy (used) | {one:,.0f} | {two:,.0f} | {two / one:.2f}x |",
            f"| measured (mpi_bench.py, median of {measured['rounds']}) | {m1:,.0f} | {m2:,.0f} | "
            f"{m2 / m1:.2f}x |"]


def report(inputs: dict, networks: Sequence[Network]) -> str:
    """Every table, in markdown."""
    shm = inputs["allreduce_shm"]
    out = [f"Inputs measured {inputs.get('measured', '?')}, load average {inputs.get('load', '?')}; "
           f"shared-memory all-reduce (2 ranks): alpha = {1e6 * float(shm['alpha']):.2f} us, "
           f"1/beta = {1e-9 / float(shm['beta']):.2f} GB/s; gamma = {1e12 * float(inputs['gamma']):.0f} "
           "ps/byte (the additions, one core).", "", *inputs_table(inputs), "",
           "Validation (large, B = 256, 2 ranks on this machine's shared memory):", "",
           *validation_lines(inputs)]
    for net in networks:
        out += ["", f"Predicted samples/s (efficiency) at each configuration's B, {net.name}: "
                f"{net.gbit_per_s:g} Gbit/s, alpha = {1e6 * net.alpha:g} us", "", *scaling_table(inputs, net)]
    out += ["", "b_50(K): rows per rank below which K ranks run under 50% efficiency "
            "(global batch K b_50):", "", *stop_table(inputs, networks)]
    return "\n".join(out)


def parse_network(text: str) -> Network:
    """``"NAME=GBITS,ALPHA_US"`` -> Network."""
    name, _, numbers = text.rpartition("=")
    parts = numbers.split(",")
    try:
        gbits, alpha_us = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"--network must be NAME=GBITS,ALPHA_US (e.g. '25 Gbit/s=25,3'), "
                         f"got {text!r}") from None
    if not name or not (math.isfinite(gbits) and gbits > 0 and math.isfinite(alpha_us) and alpha_us >= 0):
        raise ValueError(f"--network needs a name, a bandwidth > 0 and a latency >= 0, got {text!r}")
    return Network(name, gbits, alpha_us * 1e-6)


def measured_inputs(rounds: int) -> dict:
    """Measure here (scaling_measure.measure), then fit alpha and beta to the all-reduce's times."""
    inputs = scaling_measure.measure(rounds)
    shm = inputs["allreduce_shm"]
    shm["alpha"], shm["beta"] = fit_alpha_beta(shm["bytes"], shm["seconds"])
    return inputs


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=Path, default=DEFAULT_INPUTS,
                        help="measured inputs (JSON) to print the tables from (default %(default)s)")
    parser.add_argument("--measure", action="store_true", help="measure the inputs here first")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of measurements (medians)")
    parser.add_argument("--out", type=Path, help="with --measure: where to save the inputs")
    parser.add_argument("--network", action="append", default=[],
                        help="NAME=GBITS,ALPHA_US instead of the two default networks (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    try:
        networks = [parse_network(text) for text in args.network] or list(NETWORKS)
        if args.rounds < 1:
            raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
        if args.out and not args.measure:
            raise ValueError("--out saves what --measure measures: give --measure too")
        if args.measure:
            inputs = measured_inputs(args.rounds)
            if args.out:
                scaling_measure.save(inputs, args.out)
        else:
            inputs = read_inputs(args.inputs)
        print(report(inputs, networks))
    except ValueError as error:
        print(f"scaling_model.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
