"""What ``deltaprop train`` (and ``resume``) says at the end: the data, the network trained, how
the run ended, where the model went and the commands to try next with it."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from deltaprop.activations import get_activation


def epochs_words(n: int) -> str:
    """``1 epoch``, ``30 epochs``."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def architecture(net: Any, args: argparse.Namespace) -> str:
    """The network in one line: its widths, the hidden layers' activation (with batch norm and
    dropout if any) and the output's, e.g. ``64-128-10, relu, softmax``."""
    widths = "-".join(str(n) for n in [net.n_inputs, *(layer.n_out for layer in net.dense_layers)])
    parts = [widths]
    if len(net.dense_layers) > 1:  # hidden layers: what they compute
        parts.append(get_activation(args.activation).name)
        if getattr(args, "batch_norm", False):
            parts.append("batch norm")
        if getattr(args, "dropout", 0.0):
            parts.append(f"dropout {args.dropout:g}")
    parts.append(net.dense_layers[-1].activation.name)
    return ", ".join(parts)


def next_commands(model: str, args: argparse.Namespace) -> list[str]:
    """Commands to try with the model just written, its file and data filled in (quoted for a
    shell, so that they run as printed)."""
    data = ["--data", args.data, *(["--target", args.target] if args.target else [])]
    return [shlex.join(["deltaprop", "evaluate", model, *data]),
            shlex.join(["deltaprop", "predict", model, *data]),
            shlex.join(["deltaprop", "gradcheck", model]),
            "deltaprop playground"]


def train_text(report: dict[str, Any], args: argparse.Namespace) -> str:
    """The lines ``train`` prints on stdout (without ``--json``)."""
    ranks = f", data-parallel over {report['ranks']} MPI ranks" if report.get("ranks", 1) > 1 else ""
    lines = [f"{report['data']}: {report['n_train']} training, {report['n_test']} held-out "
             f"samples; {report['parameters']:,} parameters{ranks}"]
    held_out = report.get("held_out")
    score = (f"held-out {report['metric']} {held_out[report['metric']]:.4f}" if held_out
             else "no held-out data")
    engine = report.get("engine", "numpy")  # (why "auto" chose it: --json, the history)
    widths, _, kinds = report["architecture"].partition(", ")
    lines.append(f"trained {widths} ({kinds}) for {epochs_words(report['epochs'])} in "
                 f"{report['seconds']:.2f}s on the {engine} engine; {score}")
    if report["stop_reason"] != "epochs":  # anything but the plain end, in words
        lines.append(report["stop_message"])
    lines.append(_model_line(report, args))
    doctor = report.get("doctor")
    if doctor and not doctor["ok"]:  # warnings or errors only: infos stay in --json
        lines.append(doctor_line(doctor["summary"], report.get("model"), args))
    if "model" in report and not args.quiet:
        lines.append("next, try:")
        lines.extend(f"  {command}" for command in next_commands(report["model"], args))
    return "\n".join(lines)


def doctor_line(summary: str, model: str | None, args: argparse.Namespace) -> str:
    """The doctor's one line, with the command that explains it when a model was written."""
    if model is None:
        return summary
    data = ["--data", args.data, *(["--target", args.target] if args.target else [])]
    return f"{summary}; see: {shlex.join(['deltaprop', 'doctor', model, *data])}"


def _model_line(report: dict[str, Any], args: argparse.Namespace) -> str:
    if report["stop_reason"] == "diverged":
        return "no model was written"
    if "model" not in report:
        return "no model was written (--no-save)" if getattr(args, "no_save", False) else \
            "no model was written"
    taken = getattr(args, "default_taken", None)
    if taken and taken != report["model"]:
        return f"model written to {report['model']} ({taken} was taken; nothing was overwritten)"
    return f"model written to {report['model']}"
