"""A sweep's spec: checked whole before any trial runs, and turned into the trials (every
combination of a grid, or distinct ones drawn from it at random without building it).

A spec is a dict (what ``deltaprop sweep`` reads from its JSON file)::

    {"search": "grid",                 # or "random", with "trials": N
     "params": {"hidden": ["16", "32,16"], "activation": ["relu", "tanh"],
                "lr": [0.01, 0.001], "l2": [0, 0.0001], "batch_size": ["32"],
                "batch_norm": [False, True], "dropout": [0, 0.1]},
     "epochs": 30, "val_fraction": 0.2}

Keys outside :data:`TOP_LEVEL` and :data:`SEARCHED` are refused, naming the closest known
one; each value is checked by its option's own rule (:mod:`deltaprop.tuning.options`). A grid
runs at most ``MAX_TRIALS`` combinations. A random search draws ``trials`` distinct indices into
the grid and decodes each (:func:`combination`), so a grid of 10^10 or 10^100 combinations costs
no more than the trials drawn from it.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
from typing import Any

import numpy as np

from deltaprop.tuning.options import CHOICES, KINDS, check_option, is_kind, kind_words

SEARCHED = ("hidden", "activation", "lr", "l2", "batch_size", "batch_norm", "dropout",
            "optimizer", "momentum", "init", "loss")
SETTINGS = ("epochs", "val_fraction", "early_stopping", "seed", "test_fraction")
TOP_LEVEL = ("search", "trials", "params", *SETTINGS)  # every key a spec may hold
AS_TEXT = ("hidden", "batch_size")  # options given as text, a number taken as its text too
MAX_TRIALS = 100_000  # a sweep runs at most this many trials (each one a training run)
VAL_FRACTION = 0.2  # a sweep's validation split unless the spec sets another


def check_spec(spec: Any) -> dict[str, Any]:
    """``spec``, checked: a search kind, lists of values of the right kinds for known options,
    each value by its option's rule, and a grid a sweep can run.

    Raises
    ------
    ValueError
        Naming the key or value (``params.lr must be positive, got -1.0``) and, for an unknown
        key, the closest known one.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict) or not spec["params"]:
        raise ValueError("a sweep spec needs \"params\": {option: [values, ...]}")
    _check_names("a sweep spec has no key", spec, TOP_LEVEL)
    _check_names("cannot search", spec["params"], SEARCHED)
    for name, values in spec["params"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"params.{name} must be a non-empty list of values")
    if spec.get("search", "grid") not in ("grid", "random"):
        raise ValueError(f"search must be 'grid' or 'random', got {spec.get('search')!r}")
    _check_kinds(spec)
    grid_size(spec)  # the shape of the search first, then its values
    _check_values(spec)
    if not spec.get("val_fraction", VAL_FRACTION):
        raise ValueError("a sweep ranks trials by a validation split: val_fraction must be > 0")
    return spec


def _check_names(refusal: str, given: dict[str, Any], known: tuple[str, ...]) -> None:
    """Refuse a key outside ``known`` (a typo would otherwise be ignored), naming the closest."""
    for name in sorted(given, key=str):
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{refusal} {repr(name)[:40]}{hint}; known: {', '.join(known)}")


def _check_kinds(spec: dict[str, Any]) -> None:
    """Each value of the kind its option takes (a bad one refused now, not as a failed trial)."""
    checked = [(f"params.{name}", value, name) for name, values in spec["params"].items()
               for value in values]
    checked += [(name, spec[name], name) for name in SETTINGS if name in spec]
    for where, value, name in checked:
        kind = "whole" if name in AS_TEXT and is_kind(value, "whole") else KINDS[name]
        if not is_kind(value, kind):
            raise ValueError(f"{where} must be {kind_words(kind)}, got {repr(value)[:40]}")
        if value not in CHOICES.get(name, (value,)):
            raise ValueError(f"{where} must be one of {CHOICES[name]}, got {value!r}")
    count = spec.get("trials", 10)
    if not is_kind(count, "whole") or not 1 <= count <= MAX_TRIALS:
        raise ValueError(f"trials must be a whole number from 1 to {MAX_TRIALS:,}, "
                         f"got {repr(count)[:40]}")


def _check_values(spec: dict[str, Any]) -> None:
    """Each setting and each distinct value of each option by its own rule, so that a bad one
    is refused now, never run as a trial."""
    checked = [(name, spec[name], name) for name in SETTINGS if name in spec]
    checked += [(name, as_option(name, value), f"params.{name}")
                for name, values in spec["params"].items() for value in distinct(values)]
    for name, value, where in checked:
        check_option(name, value, where)


def distinct(values: list[Any]) -> list[Any]:
    """The values once each (JSON values: told apart by their JSON text)."""
    return list({json.dumps(value, sort_keys=True): value for value in values}.values())


def as_option(name: str, value: Any) -> Any:
    """A spec's value as the option takes it (widths and batch sizes as text)."""
    return str(value) if name in AS_TEXT else value


def trials(spec: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """The option sets to try: every combination (grid, in ``itertools.product``'s order over
    the sorted option names), or ``trials`` distinct ones drawn at random with ``seed``,
    decoded from their indices into the grid without building the grid."""
    names = sorted(spec["params"])
    values = [spec["params"][name] for name in names]
    size = grid_size(spec)
    if spec.get("search", "grid") == "grid":
        return [dict(zip(names, chosen)) for chosen in itertools.product(*values)]
    rng = np.random.default_rng(seed)
    indices = distinct_indices(size, min(spec.get("trials", 10), size), rng)
    return [combination(names, values, index) for index in indices]


def grid_size(spec: dict[str, Any]) -> int:
    """The combinations of the grid; a grid search over more than a sweep runs is refused."""
    size = math.prod(len(options) for options in spec["params"].values())
    if spec.get("search", "grid") == "grid" and size > MAX_TRIALS:
        raise ValueError(f"the grid holds {size:,} combinations, more than a sweep runs "
                         f"({MAX_TRIALS:,}); \"search\": \"random\" with \"trials\": N "
                         "draws N of them")
    return size


def combination(names: list[str], values: list[list[Any]], index: int) -> dict[str, Any]:
    """Combination ``index`` of the grid (in itertools.product's order: the last option varies
    fastest), decoded as a mixed-radix number whose digits pick each option's value."""
    chosen: dict[str, Any] = {}
    for name, options in zip(reversed(names), reversed(values)):
        index, digit = divmod(index, len(options))
        chosen[name] = options[digit]
    return {name: chosen[name] for name in names}


def distinct_indices(size: int, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` distinct integers drawn uniformly from ``range(size)``, ``size`` any Python
    integer; memory in ``count``, never in ``size``."""
    if 2 * count >= size:  # most of a small grid (size <= 2 MAX_TRIALS): a permutation
        return [int(i) for i in rng.permutation(size)[:count]]
    drawn: dict[int, None] = {}  # a set that keeps the order of the draws
    while len(drawn) < count:  # each draw is new with probability > 1/2
        drawn.setdefault(_below(size, rng), None)
    return list(drawn)


def _below(size: int, rng: np.random.Generator) -> int:
    """A uniform integer in ``[0, size)``, past 64 bits too (random bits, the ones outside
    the range drawn again: fewer than two draws on average)."""
    if size <= 2**63:
        return int(rng.integers(size))
    bits = size.bit_length()
    while True:
        value = int.from_bytes(rng.bytes((bits + 7) // 8), "little") >> (-bits % 8)
        if value < size:
            return value
