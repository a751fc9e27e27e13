"""Datasets by name: small generated problems (NumPy only) and scikit-learn's bundled copies.

Generated datasets (``xor``, ``and``, ``or``, ``moons``, ``circles``, ``spirals``, ``sine``) are
drawn from a seed, so ``load(name, seed=s)`` always returns the same arrays; their size and
noise can be changed. Their defaults are chosen so that a small MLP learns them in seconds.

The real datasets (``digits``, ``iris``, ``wine``, ``breast_cancer``, ``diabetes``,
``linnerud``) are the copies shipped inside scikit-learn (no download); install them with
``pip install 'deltaprop[datasets]'``. They are returned whole, as scikit-learn has them.

Class labels: the generated datasets and ``digits`` have integer labels (for ``digits`` the
label *is* the digit). ``iris``, ``wine`` and ``breast_cancer`` have string labels, scikit-learn's
class names (``"setosa"``, ``"class_0"``, ``"malignant"``), so that predictions read as names;
turn them into codes 0..k-1 with ``np.unique(y, return_inverse=True)`` (which sorts them, so
``breast_cancer``'s codes are benign=0, malignant=1, the reverse of scikit-learn's).

Examples
--------
>>> from deltaprop import datasets
>>> data = datasets.load("moons", seed=1)
>>> data.X.shape, data.y.shape, data.task
((200, 2), (200,), 'classify')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import check_positive, unknown_name_error

Array = np.ndarray
DATASETS_HINT = "pip install 'deltaprop[datasets]'"


@dataclass
class Dataset:
    """A dataset: inputs, targets and their names.

    Attributes
    ----------
    name : str
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,) or (n_samples, n_targets)
        Classification: labels of shape (n_samples,), ints or strings as the source has them.
        Regression: float64, shape (n_samples,) for one target, (n_samples, n_targets) for several.
    feature_names : list of str, length n_features
    target_names : list of str
        One per column of ``y``; for classification the single name of the label column.
    task : str
        ``"classify"`` or ``"regress"``.
    description : str
        One line, including the shape.
    """

    name: str
    X: Array
    y: Array
    feature_names: list[str]
    target_names: list[str]
    task: str
    description: str


# --- generated datasets ----------------------------------------------------------------------
# Each generator takes (n_samples, noise, rng) and returns X (n, d) float64 and y (n,).

_TRUTH_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
_TRUTH_Y = {"xor": [0, 1, 1, 0], "and": [0, 0, 0, 1], "or": [0, 1, 1, 1]}


def _truth_table(gate: str) -> Callable[[int, float, np.random.Generator], tuple[Array, Array]]:
    def generate(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
        if n_samples < 4:
            raise ValueError(f"{gate} needs n_samples >= 4 (one per truth-table row), got {n_samples}")
        rows = np.arange(n_samples) % 4  # cycle through the table, so every row appears
        X = _TRUTH_X[rows] + _gaussian(rng, (n_samples, 2), noise)
        return X, np.asarray(_TRUTH_Y[gate], dtype=np.int64)[rows]
    return generate


def _moons(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    n_upper = n_samples - n_samples // 2
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_samples // 2)
    upper = np.column_stack([np.cos(t_upper), np.sin(t_upper)])
    # The lower moon is the upper one turned over and shifted so that each tip sits in the
    # other's hollow: the classes interleave and no straight line separates them.
    lower = np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)])
    return _shuffled(rng, np.vstack([upper, lower]), _two_classes(n_upper, n_samples), noise)


def _circles(n_samples: int, noise: float, rng: np.random.Generator, factor: float = 0.5
             ) -> tuple[Array, Array]:
    n_outer = n_samples - n_samples // 2
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)  # 0 and 2 pi are one point
    t_inner = np.linspace(0.0, 2 * np.pi, n_samples // 2, endpoint=False)
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])
    inner = factor * np.column_stack([np.cos(t_inner), np.sin(t_inner)])
    return _shuffled(rng, np.vstack([outer, inner]), _two_classes(n_outer, n_samples), noise)


def _spirals(n_samples: int, noise: float, rng: np.random.Generator, turns: float = 1.25
             ) -> tuple[Array, Array]:
    n_first = n_samples - n_samples // 2
    arms = []
    for n_arm, phase in ((n_first, 0.0), (n_samples // 2, np.pi)):
        # The radius grows from 0.3, not 0: near the centre the arms would be closer than the
        # noise. Out to 2, not 1, so that the arms lie about 0.7 apart (7 noise widths) and a tanh
        # net with default initialization finds them in a few hundred epochs.
        t = np.linspace(0.0, 1.0, n_arm)
        radius = 0.3 + 1.7 * t
        angle = 2 * np.pi * turns * t + phase
        arms.append(radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)]))
    return _shuffled(rng, np.vstack(arms), _two_classes(n_first, n_samples), noise)


def _sine(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    x = np.sort(rng.uniform(0.0, 1.0, n_samples))
    y = np.sin(2 * np.pi * x) + _gaussian(rng, (n_samples,), noise)
    return x[:, None], y


def _blobs(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    # Two round Gaussian clouds centred at (-1, -1) and (1, 1); noise is their standard deviation.
    n_first = n_samples - n_samples // 2
    centres = np.where(_two_classes(n_first, n_samples)[:, None] == 0, -1.0, 1.0)
    return _shuffled(rng, centres * np.ones((n_samples, 2)), _two_classes(n_first, n_samples), noise)


def _two_classes(n_first: int, n_samples: int) -> Array:
    return (np.arange(n_samples) >= n_first).astype(np.int64)


def _gaussian(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> Array:
    return rng.normal(0.0, std, shape) if std > 0 else np.zeros(shape)


def _shuffled(rng: np.random.Generator, X: Array, y: Array, noise: float) -> tuple[Array, Array]:
    """Add noise and shuffle the rows, so that any first k rows hold both classes."""
    X = X + _gaussian(rng, X.shape, noise)
    order = rng.permutation(X.shape[0])
    return X[order], y[order]


@dataclass(frozen=True)
class _Generated:
    task: str
    summary: str  # what it is; the shape and noise are added by _describe_generated
    generate: Callable[..., tuple[Array, Array]]
    n_samples: int
    noise: float
    feature_names: tuple[str, ...] = ("x1", "x2")
    target_name: str = "class"


_GENERATED = {
    "xor": _Generated("classify", "XOR truth table (0/1 inputs and labels)", _truth_table("xor"), 4, 0.0),
    "and": _Generated("classify", "AND truth table (0/1 inputs and labels)", _truth_table("and"), 4, 0.0),
    "or": _Generated("classify", "OR truth table (0/1 inputs and labels)", _truth_table("or"), 4, 0.0),
    "moons": _Generated("classify", "two interleaving half circles", _moons, 200, 0.1),
    "circles": _Generated("classify", "two concentric circles, inner radius 0.5", _circles, 200, 0.05),
    "spirals": _Generated("classify", "two interleaved spirals, 1.25 turns, radius 0.3 to 2", _spirals,
                          300, 0.1),
    "blobs": _Generated("classify", "two Gaussian blobs centred at (-1, -1) and (1, 1), std = noise",
                        _blobs, 200, 0.5),
    "sine": _Generated("regress", "y = sin(2 pi x) + noise, x uniform in [0, 1]", _sine, 200, 0.1,
                       ("x",), "y"),
}


def _describe_generated(entry: _Generated, n_samples: int, noise: float) -> str:
    d = len(entry.feature_names)
    kind = "2 classes" if entry.task == "classify" else "1 target"
    return f"{entry.summary}; {n_samples} x {d}, {kind}, noise {noise:g}"


def _load_generated(name: str, n_samples: int | None, noise: float | None, seed: int) -> Dataset:
    entry = _GENERATED[name]
    n = entry.n_samples if n_samples is None else check_positive("n_samples", n_samples, integer=True)
    std = entry.noise if noise is None else check_positive("noise", noise, allow_zero=True)
    if entry.task == "classify" and n < 2:
        raise ValueError(f"{name} needs n_samples >= 2 (one per class), got {n}")
    X, y = entry.generate(n, std, np.random.default_rng(seed))
    return Dataset(name, np.ascontiguousarray(X, dtype=np.float64), y, list(entry.feature_names),
                   [entry.target_name], entry.task, _describe_generated(entry, n, std))


# --- scikit-learn's bundled datasets ---------------------------------------------------------

@dataclass(frozen=True)
class _Bundled:
    task: str
    description: str
    loader: str  # the sklearn.datasets function
    string_labels: bool = False
    target_names: tuple[str, ...] | None = None  # None: scikit-learn's target_names


_BUNDLED = {
    "digits": _Bundled("classify", "8x8 images of handwritten digits; 1797 x 64, labels 0-9 (ints)",
                       "load_digits"),
    "iris": _Bundled("classify", "Fisher's iris flowers; 150 x 4, 3 classes (species names)",
                     "load_iris", string_labels=True),
    "wine": _Bundled("classify", "wine cultivars by chemical analysis; 178 x 13, 3 classes "
                     "('class_0'..'class_2')", "load_wine", string_labels=True),
    "breast_cancer": _Bundled("classify", "Wisconsin breast tumours; 569 x 30, 2 classes "
                              "('malignant', 'benign')", "load_breast_cancer", string_labels=True),
    "diabetes": _Bundled("regress", "diabetes progression after one year (standardized inputs); "
                         "442 x 10, 1 target", "load_diabetes", target_names=("progression",)),
    "linnerud": _Bundled("regress", "exercise vs body measurements of 20 men; 20 x 3, 3 targets",
                         "load_linnerud"),
}


def _sklearn_datasets() -> Any:
    try:
        import sklearn.datasets  # imported here: scikit-learn is an optional dependency
    except ImportError:
        raise ImportError(f"the bundled datasets come with scikit-learn; install it with {DATASETS_HINT}"
                          ) from None
    return sklearn.datasets


def _load_bundled(name: str) -> Dataset:
    entry = _BUNDLED[name]
    bunch = getattr(_sklearn_datasets(), entry.loader)()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    if entry.task == "classify":
        labels = np.asarray(bunch.target, dtype=np.int64)
        y = np.asarray(bunch.target_names)[labels].astype(str) if entry.string_labels else labels
        target_names = list(entry.target_names or ("class",))
    else:
        y = np.asarray(bunch.target, dtype=np.float64)
        target_names = list(entry.target_names or (str(t) for t in bunch.target_names))
    return Dataset(name, X, y, [str(f) for f in bunch.feature_names], target_names, entry.task,
                   entry.description)


# --- public API ------------------------------------------------------------------------------

def names() -> list[str]:
    """The names :func:`load` accepts: the generated datasets, then the bundled ones."""
    return [*_GENERATED, *_BUNDLED]


def describe() -> list[tuple[str, str, str]]:
    """``(name, task, description)`` for every dataset, in the order of :func:`names`.

    The description is one line with the default shape (``n_samples x n_features``); it does not
    load anything, so it works without scikit-learn.
    """
    rows = [(name, e.task, _describe_generated(e, e.n_samples, e.noise)) for name, e in _GENERATED.items()]
    return rows + [(name, e.task, e.description) for name, e in _BUNDLED.items()]


def load(name: str, *, n_samples: int | None = None, noise: float | None = None, seed: int = 0) -> Dataset:
    """Load the dataset called ``name`` (see :func:`names`).

    Parameters
    ----------
    name : str
    n_samples : int, optional
        Generated datasets only: the number of rows (default: xor/and/or 4, moons and circles
        200, spirals 300, sine 200). For xor/and/or the four truth-table rows are repeated.
    noise : float >= 0, optional
        Generated datasets only: the standard deviation of the Gaussian noise added to X (to y
        for ``sine``). Defaults: xor/and/or 0, moons 0.1, circles 0.05, spirals 0.1, sine 0.1.
    seed : int
        Generated datasets only: the same seed gives the same arrays. The bundled datasets
        are fixed and ignore it.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), or ``n_samples``/``noise``
        given for a bundled dataset.
    ImportError
        For a bundled dataset when scikit-learn is not installed.
    """
    if name in _GENERATED:
        return _load_generated(name, n_samples, noise, seed)
    if name in _BUNDLED:
        if n_samples is not None or noise is not None:
            raise ValueError(
                f"n_samples and noise apply only to the generated datasets ({', '.join(_GENERATED)}); "
                f"{name!r} is a fixed dataset: leave them out, and subsample its rows yourself if needed"
            )
        return _load_bundled(name)
    raise unknown_name_error("dataset", name, names())
