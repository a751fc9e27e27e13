"""The playground's configuration: parsed from the page (URL query or JSON), checked, normalized.

One :class:`Config` is one run's setup; the URL query (:meth:`Config.query`) and the exported
code are both written from it. Every bad value raises :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlencode

DATASETS = ("xor", "circles", "moons", "spirals", "blobs", "sine")
REGRESSION_DATASETS = ("sine",)
ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")
CLASSIFICATION_LOSSES = ("binary_cross_entropy", "cross_entropy", "squared_error")
REGRESSION_LOSSES = ("squared_error", "mse")
OPTIMIZERS = ("sgd", "adam")
MAX_HIDDEN_LAYERS = 6
MAX_WIDTH = 16
MAX_SAMPLES = 2000
MAX_TEXT = 40  # characters of a number written as text
_WHOLE_NUMBER = re.compile(r"\s*\+?[0-9]{1,9}\s*")


class ConfigError(ValueError):
    """A configuration value the playground cannot use; ``field`` names it."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Config:
    """One playground run's setup (see docs/playground-protocol.md for the keys)."""

    dataset: str = "xor"
    noise: float = 0.1
    samples: int = 200
    test: float = 0.3
    layers: tuple[int, ...] = (4, 4)
    activation: str = "tanh"
    loss: str = "binary_cross_entropy"
    optimizer: str = "sgd"
    lr: float = 0.1
    batch: int = 10
    l2: float = 0.0
    bn: bool = False
    seed: int = 0

    @property
    def task(self) -> str:
        return "regress" if self.dataset in REGRESSION_DATASETS else "classify"

    @property
    def n_inputs(self) -> int:
        return 1 if self.task == "regress" else 2

    @property
    def n_outputs(self) -> int:
        return 2 if self.loss == "cross_entropy" else 1

    @property
    def layer_sizes(self) -> list[int]:
        return [self.n_inputs, *self.layers, self.n_outputs]

    @property
    def n_test(self) -> int:
        return int(round(self.test * self.samples))

    @property
    def n_train(self) -> int:
        return self.samples - self.n_test

    def as_dict(self) -> dict[str, Any]:
        """The normalized values, as the page shows them (layers as "4,4", bn as 0/1)."""
        values = asdict(self)
        values["layers"] = ",".join(str(width) for width in self.layers)
        values["bn"] = int(self.bn)
        return values

    def query(self) -> str:
        """The URL query that reproduces this configuration (numbers written exactly: repr)."""
        return urlencode({key: _shortest(value) for key, value in self.as_dict().items()})


FIELDS = tuple(f.name for f in fields(Config))


def parse_config(values: Any) -> Config:
    """Check the page's values (strings from a URL or JSON values) and return the Config.

    Omitted keys take their defaults (the loss's default follows the dataset's task, the batch
    size's is cut to the training rows).

    Parameters
    ----------
    values : dict
        Setting name to value, as in the URL query or the reset request's ``config``.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Naming the first bad field and what it accepts.
    """
    if not isinstance(values, dict):
        raise ConfigError(None, f"the configuration must be a JSON object, got {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting {_short(unknown[0])}; known: {', '.join(FIELDS)}")
    default = Config()
    dataset = _choice(values, "dataset", DATASETS, default.dataset)
    regress = dataset in REGRESSION_DATASETS
    losses = REGRESSION_LOSSES if regress else CLASSIFICATION_LOSSES
    loss_default = "squared_error" if regress else default.loss
    loss = _choice(values, "loss", REGRESSION_LOSSES + CLASSIFICATION_LOSSES, loss_default)
    if loss not in losses:
        kind = "a regression" if regress else "a classification"
        raise ConfigError("loss", f"loss {loss!r} does not fit {dataset!r}, {kind} dataset: "
                          f"choose one of {', '.join(losses)}")
    samples = _integer(values, "samples", default.samples, 8, MAX_SAMPLES)
    test = _number(values, "test", default.test, 0.0, 0.9)
    n_train = samples - int(round(test * samples))
    if n_train < 4:
        raise ConfigError("test", f"test fraction {test:g} of {samples} samples leaves {n_train} "
                          "for training; at least 4 are needed")
    bn = _flag(values, "bn", default.bn)
    # An omitted batch size fits the data: a small data set is not refused for a default.
    batch = _integer({"batch": min(default.batch, n_train), **values}, "batch", default.batch,
                     2 if bn else 1, n_train)
    return Config(
        dataset=dataset,
        noise=_number(values, "noise", default.noise, 0.0, 1.0),
        samples=samples,
        test=test,
        layers=_layers(values.get("layers", ",".join(map(str, default.layers)))),
        activation=_choice(values, "activation", ACTIVATIONS, default.activation),
        loss=loss,
        optimizer=_choice(values, "optimizer", OPTIMIZERS, default.optimizer),
        lr=_number(values, "lr", default.lr, 0.0, 10.0, open_low=True),
        batch=batch,
        l2=_number(values, "l2", default.l2, 0.0, 1.0),
        bn=bn,
        seed=_integer(values, "seed", default.seed, 0, 2**31 - 1),
    )


def _shortest(value: Any) -> Any:
    """0.0 -> "0", 0.3 -> "0.3": repr keeps every digit, and integral floats lose the ".0"."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return value


def _choice(values: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    """One of the ``allowed`` names."""
    value = values.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(key, f"{key} {_short(value)} is not one of {', '.join(allowed)}")
    return value


def _number(values: dict[str, Any], key: str, default: float, low: float, high: float, *,
            open_low: bool = False) -> float:
    """A float in [low, high] (or (low, high]); -0 is 0."""
    raw = values.get(key, default)
    try:
        if isinstance(raw, bool) or (isinstance(raw, str) and len(raw) > MAX_TEXT):
            raise ValueError
        value = float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer of 400 digits
        raise ConfigError(key, f"{key} must be a number, got {_short(raw)}") from None
    too_low = value <= low if open_low else value < low
    if not math.isfinite(value) or too_low or value > high:
        bracket = "(" if open_low else "["
        raise ConfigError(key, f"{key} must be in {bracket}{low:g}, {high:g}], got {_short(raw)}")
    return value + 0.0


def _integer(values: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    raw = values.get(key, default)
    value = _as_int(raw)
    if value is None:
        raise ConfigError(key, f"{key} must be a whole number, got {_short(raw)}")
    if not low <= value <= high:
        raise ConfigError(key, f"{key} must be between {low} and {high}, got {value}")
    return value


def _as_int(raw: Any) -> int | None:
    """The int that ``raw`` writes (4, 4.0, "4", " +4 "), or None; ASCII digits only (Python's
    int() would also read "٣" and the like), and few enough of them to be a setting."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw):
        return int(raw)
    return None


def _short(raw: Any) -> str:
    """``raw`` for an error message, cut short: the page shows it in one line."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _flag(values: dict[str, Any], key: str, default: bool) -> bool:
    """0/1 as the page and URLs write it (also true/false and on/off)."""
    raw = values.get(key, default)
    if raw in (True, 1, "1", "true", "on"):
        return True
    if raw in (False, 0, "0", "false", "off", ""):
        return False
    raise ConfigError(key, f"{key} must be 0 or 1, got {_short(raw)}")


def _layers(raw: Any) -> tuple[int, ...]:
    """Hidden widths from "4,4" (or a JSON list); "" is no hidden layer."""
    if isinstance(raw, list):
        parts = raw
    elif isinstance(raw, str):
        parts = raw.replace(" ", "").split(",") if raw.strip() else []
    else:
        raise ConfigError("layers", f"layers must be widths separated by commas, got {_short(raw)}")
    if len(parts) > MAX_HIDDEN_LAYERS:
        raise ConfigError("layers", f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(parts)}")
    widths = []
    for number, part in enumerate(parts, start=1):
        width = _as_int(part)
        if width is None or not 1 <= width <= MAX_WIDTH:
            raise ConfigError("layers", f"hidden layer {number} width must be a whole number "
                              f"from 1 to {MAX_WIDTH}, got {_short(part)}")
        widths.append(width)
    return tuple(widths)
