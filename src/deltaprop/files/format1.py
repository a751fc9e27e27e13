"""Format 1 (deltaprop 0.1): its ``extra`` conventions read as today's typed payloads.

Files of format 1 said what they held inside a free ``extra`` section:
``extra["deltaprop-checkpoint"]`` made a checkpoint (its arrays ``extra.*``),
``extra["kind"] == "deltaprop-cli-model"`` a model of ``deltaprop train`` (its preprocessing in
``extra["cli"]``), ``extra["estimator"]`` a scikit-learn estimator; anything else was a network
with the caller's metadata. Reading such a file, :mod:`deltaprop.files.container` turns that
into a kind and sections here, once; the rest of deltaprop knows only the typed payloads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHECKPOINT_KEY, CLI_MODEL = "deltaprop-checkpoint", "deltaprop-cli-model"


def from_manifest(manifest: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """(kind, sections, arrays) of a format-1 file's manifest and arrays.

    Raises
    ------
    ValueError
        When the manifest has no ``network`` object, or an ``extra`` that is not one, or whose
        fields are of the wrong type.
    """
    network = _object("network", manifest.get("network"))
    extra = _object("extra", manifest.get("extra", {}))
    for key in ("cli", CHECKPOINT_KEY):
        if key in extra and not isinstance(extra[key], dict):
            raise ValueError(f"extra[{key!r}] is {type(extra[key]).__name__}, not a JSON object")
    if "estimator" in extra and not isinstance(extra["estimator"], str):
        raise ValueError(f"extra['estimator'] is {type(extra['estimator']).__name__}, not a class name")
    return from_extra(network, extra, arrays)


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"its {name} section is {type(value).__name__}, not a JSON object")
    return value


def from_extra(network: dict[str, Any], extra: dict[str, Any],
               arrays: dict[str, np.ndarray]) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """(kind, sections, arrays) of a format-1 file's ``network``, ``extra`` and arrays."""
    extra = dict(extra)
    own = {name[len("extra."):]: array for name, array in arrays.items() if name.startswith("extra.")}
    arrays = {name: array for name, array in arrays.items() if not name.startswith("extra.")}
    sections: dict[str, Any] = {"network": network}
    if CHECKPOINT_KEY in extra:
        kind, owner = "checkpoint", "run"
        sections["run"] = extra.pop(CHECKPOINT_KEY)
        sections["metadata"] = _checkpoint_metadata(extra)
    elif extra.get("kind") == CLI_MODEL:
        kind, owner = "model", "metadata"
        cli = dict(extra["cli"]) if isinstance(extra.get("cli"), dict) else {}
        sections["summary"] = cli.pop("summary", {})
        sections["preprocessing"] = cli  # the same fields today's preprocessing config has
    elif "estimator" in extra:
        kind, owner = "estimator", "metadata"
        sections["estimator"] = {"class": extra.pop("estimator"), **extra}
    else:
        kind, owner = "network", "metadata"
        sections["metadata"] = extra
    if not sections.get("metadata"):
        sections.pop("metadata", None)
    arrays.update({f"{owner}.{name}": array for name, array in own.items()})
    return kind, sections, arrays


def _checkpoint_metadata(extra: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metadata; ``deltaprop train``'s (its model and options) in today's names."""
    if extra.get("kind") != CLI_MODEL:
        return extra
    rest = {k: v for k, v in extra.items() if k not in ("kind", "cli", "args")}
    cli = dict(extra["cli"]) if isinstance(extra.get("cli"), dict) else {}
    return {**rest, "summary": cli.pop("summary", {}), "preprocessing": cli,
            "train_options": extra.get("args")}
