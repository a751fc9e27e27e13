"""The report of benchmarks/bench.py: the issue's targets, deltaprop's ratios with their
PASS/MISS verdicts, and the text and markdown tables (benchmarks/README.md explains them)."""

from collections.abc import Iterator
from typing import Any

# -- targets -------------------------------------------------------------------------------------
JAX_SCAN_TARGETS = {"xor": 1.5, "tiny": 1.5, "online": 1.5, "small": 1.3, "medium": 1.1, "deep": 1.1,
                    "large": 1.0}  # deltaprop / JAX scan recipe
TORCH_TARGETS = {name: 50.0 if name == "online" else 1.0
                 for name in ("xor", "tiny", "online", "small", "medium", "deep", "large")}  # 1 and 2 threads
SKLEARN_TARGETS = {"xor": 3.0, "tiny": 3.0, "small": 3.0}  # deltaprop / scikit-learn float32
GEMM_FRACTION_TARGETS = {("large", 1): 0.90}  # (config, threads) -> fraction of its own products
PREDICT_RATIO_TARGET = 1.0  # deltaprop predict / PyTorch no_grad forward, every configuration
MEMORY_TARGETS_MIB = {"large": 30.0}  # one epoch of --memory-samples, above the data
GEMM_BOUND = ("medium", "deep", "large")  # configurations whose GEMM fraction is shown
LOAD_SLOWDOWN_TARGET = 2.0
BUSY_MACHINE_CORES = 0.1  # other processes' average CPU above which a table gets a warning
COMPARED = {"jax_scan": JAX_SCAN_TARGETS, "jax_step": {}, "torch": TORCH_TARGETS,
            "sklearn32": SKLEARN_TARGETS}  # deltaprop / each, with its targets


# -- ratios, verdicts and tables --------------------------------------------------------------------
def verdict(value: float, target: float | None, at_most: bool = False) -> str:
    """"PASS"/"MISS" against a target (at least, or at most), "" without one."""
    if target is None:
        return ""
    return "PASS" if (value <= target if at_most else value >= target) else "MISS"


def compare(value: float | None, reference: float | None, target: float | None) -> dict[str, Any] | None:
    """``value / reference`` with its target and verdict; None when either side did not run."""
    if value is None or reference is None:
        return None
    ratio = value / reference
    return {"ratio": ratio, "target": target, "verdict": verdict(ratio, target)}


def summarize(name: str, threads: int, measured: dict[str, Any], gemm: dict[str, Any],
              flops_per_sample: int) -> dict[str, Any]:
    """The derived figures of one configuration: per deltaprop variant (the best engine and each
    engine) its ratios to the others and its GEMM fraction, with verdicts; the predict ratio."""
    median = measured["median"]
    engines = {key.removeprefix("deltaprop_"): value for key, value in median.items()
               if key.startswith("deltaprop_") and key != "deltaprop_predict"}
    variants = dict(engines)
    if len(engines) > 1:
        best = max(engines, key=engines.__getitem__)
        variants = {f"best ({best})": engines[best], **engines}
    rows = {}
    for label, value in variants.items():
        rows[label] = {f"vs_{other}": compare(value, median.get(other), targets.get(name))
                       for other, targets in COMPARED.items()}
        rows[label]["samples_s"] = value
        rows[label]["gemm_fraction"] = compare(value * flops_per_sample / 1e9,
                                               gemm["step_gflops"].get(name),
                                               GEMM_FRACTION_TARGETS.get((name, threads)))
        if name not in GEMM_BOUND:  # per-call overhead, not products, sets the pace: no fraction
            rows[label]["gemm_fraction"] = None
    return {"config": name, "median": median, "first_call_s": measured["first_call_s"],
            "errors": measured["errors"], "engine_ran": measured["engine_ran"],
            "other_load": measured["other_load"], "variants": rows,
            "predict": compare(median["deltaprop_predict"], median["torch_predict"], PREDICT_RATIO_TARGET)}


def rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def ratio_cell(entry: dict[str, Any] | None, percent: bool = False) -> str:
    if entry is None:
        return "-" if percent else "n/a"
    text = f'{entry["ratio"]:.0%}' if percent else f'{entry["ratio"]:.2f}x'
    if entry["target"] is not None:
        text += f' {entry["verdict"]} (>={entry["target"]:{".0%" if percent else "g"}})'
    return text


def rates_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Training samples/s of every framework, and the first-call seconds of the compiled ones."""
    header = ["config", "dp numpy/s", "dp compiled/s", "compiled 1st call s", "JAX scan/s", "JAX step/s",
              "JAX scan 1st call s", "torch/s", "sklearn32/s", "sklearn64/s", "others' CPU"]
    cells = []
    for r in rows:
        m, first = r["median"], r["first_call_s"]
        seconds = [f"{first[k]:.2f}" if k in first else "n/a" for k in ("deltaprop_compiled", "jax_scan")]
        cells.append([r["config"], rate(m.get("deltaprop_numpy")), rate(m.get("deltaprop_compiled")),
                      seconds[0],
                      rate(m.get("jax_scan")), rate(m.get("jax_step")), seconds[1], rate(m.get("torch")),
                      rate(m.get("sklearn32")), rate(m.get("sklearn64")), f'{r["other_load"]:.2f}'])
    return header, cells


def ratios_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """deltaprop (best engine and each engine) over every other framework, with verdicts."""
    header = ["config", "deltaprop", "samples/s", "/ JAX scan", "/ JAX step", "/ torch", "/ sklearn32",
              "GEMM frac"]
    cells = [[r["config"], label, rate(v["samples_s"]), *(ratio_cell(v[f"vs_{o}"]) for o in COMPARED),
              ratio_cell(v["gemm_fraction"], percent=True)]
             for r in rows for label, v in r["variants"].items()]
    return header, cells


def predict_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["config", "dp predict/s", "torch no_grad/s", "dp / torch"]
    cells = [[r["config"], rate(r["median"]["deltaprop_predict"]), rate(r["median"]["torch_predict"]),
              ratio_cell(r["predict"])] for r in rows]
    return header, cells


def memory_table(memory: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    frameworks = list(next(iter(memory.values())))
    header = ["config", *(f"{fw.replace('deltaprop_', 'dp ')} MiB" for fw in frameworks), "target",
              "data MiB"]
    cells = []
    for name, result in memory.items():
        target = MEMORY_TARGETS_MIB.get(name)
        measured = {fw: r for fw, r in result.items() if "error" not in r}
        verdicts = " ".join(verdict(r["mib_above_data"], target, at_most=True)
                            for fw, r in measured.items() if fw.startswith("deltaprop"))
        cells.append([name, *(f'{result[fw]["mib_above_data"]:.1f}' if fw in measured else "error"
                              for fw in frameworks),
                      f"dp <= {target:g}: {verdicts}" if target else "",
                      f'{next(iter(measured.values()))["data_mib"]:.1f}' if measured else "n/a"])
    return header, cells


def memory_errors(memory: dict[str, dict[str, Any]]) -> str | None:
    return "\n".join(f'{name} {fw}: {r["error"]}' for name, result in memory.items()
                     for fw, r in result.items() if "error" in r) or None


def load_table(load: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["config", "idle/s", "one core busy/s", "slowdown", "others' CPU"]
    cells = [[name, rate(r["idle_median"]), rate(r["loaded_median"]),
              f'{r["slowdown"]:.2f}x (< {LOAD_SLOWDOWN_TARGET:g}) '
              f'{verdict(r["slowdown"], LOAD_SLOWDOWN_TARGET, at_most=True)}', f'{r["other_load"]:.2f}']
             for name, r in load.items()]
    return header, cells


def format_text(header: list[str], cells: list[list[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def format_markdown(header: list[str], cells: list[list[str]]) -> str:
    rows = [header, ["---"] + ["---:"] * (len(header) - 1), *cells]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


TARGETS_LINE = ("Targets: deltaprop / JAX scan >= 1.5x xor, tiny, online; 1.3x small; 1.1x medium, deep; "
                "1.0x large. / torch >= 1.0x (online 50x). / sklearn32 >= 3x xor, tiny, small. "
                "GEMM frac (of the network's own products timed alone) >= 90% on large at 1 thread. "
                "predict >= torch no_grad.")


def gemm_line(gemm: dict[str, Any]) -> str:
    steps = ", ".join(f"{name} {value:.1f}" for name, value in gemm["step_gflops"].items())
    return (f'GEMM float32 GFLOP/s (best of {"/".join(gemm["backends"])}): {gemm["square_size"]}^3 '
            f'{gemm["square_gflops"]:.1f}' + (f"; each network's own step products: {steps}" if steps else "")
            + f' (others\' CPU {gemm["other_load"]:.2f})')


def engine_notes(rows: list[dict[str, Any]], engine_parameter: bool) -> list[str]:
    """Why a deltaprop or JAX column is missing, and any engine the history says ran instead."""
    notes = [] if engine_parameter else ["compiled engine not available (deltaprop.fit has no `engine` "
                                         "parameter): only the NumPy engine ran"]
    for r in rows:
        notes += [f'{r["config"]}: {name} failed and was skipped: {error}'
                  for name, error in r["errors"].items()]
        notes += [f'{r["config"]}: {name} ran engine {ran!r} per its history'
                  for name, ran in r["engine_ran"].items() if ran != name.removeprefix("deltaprop_")]
    return notes


def busy_warning(loads: dict[str, float]) -> list[str]:
    """A warning line if other processes kept the machine busy during any of the measurements."""
    busiest = max(loads, key=loads.__getitem__)
    if loads[busiest] <= BUSY_MACHINE_CORES:
        return []
    return [f"WARNING: other processes kept {loads[busiest]:.2f} cores busy during {busiest}; "
            "these numbers are not reliable"]


def sections(results: dict[str, Any]) -> Iterator[tuple[str, str | None, tuple[list[str], list[list[str]]]]]:
    """(title, note, table) of every table of the report, in order."""
    for run in results["runs"]:
        at = f"{run['threads']} thread{'s' if run['threads'] > 1 else ''}"
        loads = {"the GEMM rates": run["gemm"]["other_load"],
                 **{r["config"]: r["other_load"] for r in run["rows"]}}
        notes = [gemm_line(run["gemm"]), *engine_notes(run["rows"], results["machine"]["engine_parameter"]),
                 *busy_warning(loads)]
        yield f"{at}: training samples/s (one epoch)", "\n".join(notes), rates_table(run["rows"])
        yield f"{at}: deltaprop's ratios", TARGETS_LINE, ratios_table(run["rows"])
        yield f"{at}: predict rows/s", None, predict_table(run["rows"])
        if run["memory"]:
            yield (f"{at}: peak memory above the data, one epoch of "
                   f"{results['settings']['memory_samples']:,} samples", memory_errors(run["memory"]),
                   memory_table(run["memory"]))
    if results["load"]:
        loads = {name: r["other_load"] for name, r in results["load"].items()}
        yield ("deltaprop default settings, idle vs. another process keeping one core busy",
               "\n".join(busy_warning(loads)) or None, load_table(results["load"]))


def machine_lines(machine: dict[str, Any]) -> list[str]:
    blas = machine["numpy_blas"]
    pinned = f' (pinned by {machine["pinned_by"]})' if machine["pinned_by"] else ""
    return [
        f'Machine: {machine["cpu"]}, {machine["cpus"]} CPUs ({machine["cores_per_socket"]} cores/socket, '
        f'{machine["threads_per_core"]} thread/core); CPU affinity {machine["affinity"]}{pinned}',
        f'Python {machine["python"]}, numpy {machine["numpy"]}, torch {machine["torch"]}, '
        f'scikit-learn {machine["sklearn"]}, jax {machine["jax"] or "not installed (skipped)"}, '
        f'numba {machine["numba"]}, deltaprop {machine["deltaprop"]} (large products by '
        f'{machine["deltaprop_gemm"]}; engine parameter: {"yes" if machine["engine_parameter"] else "no"})',
        f'NumPy BLAS: {blas.get("internal_api")} {blas.get("version")}, kernel {blas.get("architecture")}, '
        f'{blas.get("num_threads")} threads by default; PyTorch: {machine["torch_parallel"]}; '
        f'XLA_FLAGS: {machine["xla_flags"] or "(XLA default threads)"}',
        f'OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for this process: '
        f'{machine["unset_for_this_process"] or "neither was set"}',
        f'Date: {machine["date"]}',
    ]


def report_text(results: dict[str, Any]) -> str:
    parts = ["\n".join(machine_lines(results["machine"]))]
    for title, note, table in sections(results):
        parts.append("\n".join([f"== {title} ==", *([note] if note else []), format_text(*table)]))
    parts.append(f'Total time: {results["seconds"]:.0f} s')
    return "\n\n".join(parts)


def report_markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    parts = ["# deltaprop benchmark results",
             "\n".join(f"- {line}" for line in machine_lines(results["machine"])),
             f'Command: `{settings["command"]}` (medians of {settings["repeats"]} interleaved repeats after '
             f'a warm-up; {results["seconds"]:.0f} s in total). Columns: see benchmarks/README.md.']
    for title, note, table in sections(results):
        notes = note.splitlines() if note else []
        parts.append("\n\n".join([f"## {title}", *notes, format_markdown(*table)]))
    return "\n\n".join(parts) + "\n"
