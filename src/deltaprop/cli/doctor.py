"""``deltaprop doctor``: what the training doctor (:mod:`deltaprop.doctor`) says of a model on
labelled data; and the doctor's one line at the end of ``train``."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from deltaprop.cli.data import REGRESSION_ONLY, labelled_rows
from deltaprop.cli.report import emit
from deltaprop.doctor import Diagnosis, diagnose
from deltaprop.files.container import read_archive
from deltaprop.files.load import as_model, load_from
from deltaprop.files.model import Model
from deltaprop.losses import get_loss
from deltaprop.targets import one_hot


def network_targets(model: Model, y: Any, loss: str) -> np.ndarray:
    """The targets as the network was trained on them (what ``train`` hands to fit): class
    indices for cross-entropy, 0/1 of the second class for binary cross-entropy on one output,
    one-hot rows for other losses on classes, regression targets in standard units."""
    preprocessing = model.preprocessing
    if model.multilabel:  # 0/1 indicators, one column per label, as given
        return np.asarray(y, dtype=np.float64)
    if preprocessing.labels is not None:
        codes = preprocessing.labels.encode(y)
        if loss == "cross_entropy":
            return codes
        if loss == "binary_cross_entropy" and model.net.n_outputs == 1:
            return codes.astype(np.float64).reshape(-1, 1)
        return one_hot(codes, len(preprocessing.labels), np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return Y if preprocessing.targets is None else preprocessing.targets.transform(Y)


def model_loss(model: Model, name: str | None) -> str:
    """``--loss``, else the loss the model was trained with (canonical names); a loss of the
    other task (cross-entropy for a regressor, Poisson for a classifier) is refused, as train
    refuses it, for a trained model (an untrained network's task is not known)."""
    if name is not None:  # (--loss '' is a name too, and refused as one)
        loss = get_loss(name)
        trained = model.net.loss is not None
        if trained and loss.is_classification != (model.task == "classify") and (
                loss.is_classification or loss.name in REGRESSION_ONLY):
            kind = "classification" if loss.is_classification else "regression on counts"
            does = "classifies" if model.task == "classify" else "regresses"
            raise ValueError(f"--loss {name} is for {kind}; this model {does}")
        return loss.name
    if model.net.loss is None:
        raise ValueError("the model holds no trained loss (an untrained network); name one "
                         "with --loss")
    return model.net.loss.name


def doctor(args: argparse.Namespace) -> int:
    """Diagnose the model file ``args.model`` on ``--data``; exit 0 whatever it finds."""
    model = as_model(load_from(read_archive(args.model)))
    loss = model_loss(model, args.loss)
    rows, y = labelled_rows(args.data, args.target, model)
    X = model.network_inputs(rows)
    diagnosis = diagnose(model.net, X, network_targets(model, y, loss), loss=loss)
    history = model.net.history
    report = {"command": "doctor", "model": args.model, "data": args.data, "n": int(len(X)),
              "loss": loss, "epochs": None if history is None else history.n_epochs,
              **diagnosis.to_dict()}
    emit(args, report, doctor_text(args.model, args.data, len(X), diagnosis, history))
    return 0


def doctor_text(model: str, data: str, n: int, diagnosis: Diagnosis, history: Any) -> str:
    """The findings, worst first, each with its advice and its numbers."""
    run = "no training history (the loss-curve checks were skipped)" if history is None or \
        not history.n_epochs else f"a history of {history.n_epochs} epochs"
    lines = [f"{model} on {data}: {n} samples, {run}"]
    if not diagnosis.findings:
        lines.append("no problems found (checked: " + ", ".join(diagnosis.checked) + ")")
    for finding in diagnosis.findings:
        lines.append(finding.headline())
        lines.append(f"    advice: {finding.advice}")
        numbers = ", ".join(f"{k} {_short(v)}" for k, v in finding.evidence.items())
        lines.append(f"    evidence: {numbers}")
    if diagnosis.findings:
        lines.append(diagnosis.summary())
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 6:
        return "[" + ", ".join(map(str, value[:6])) + ", ...]"
    return str(value)


def train_diagnosis(net: Any, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The doctor on a run ``train`` (or ``resume``) just finished, on its training rows, for
    the report: the findings and their one line."""
    with np.errstate(all="ignore"):  # a diverged run is diagnosed, not warned about
        diagnosis = diagnose(net, X, Y)
    return {"summary": diagnosis.summary(), **diagnosis.to_dict()}
