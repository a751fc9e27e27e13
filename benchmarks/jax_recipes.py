"""JAX's two ways to train the benchmark MLP, for benchmarks/bench.py (issue 16).

JAX is a benchmark-only dependency: deltaprop never imports it, and bench.py runs without it
(``load`` then returns None and the JAX columns are skipped).

Both recipes train the same network as the other frameworks: Dense layers ``a @ W + b``, ReLU
between them, softmax cross-entropy on integer labels (mean over the minibatch), plain SGD with
``lr``, float32, He-normal weights and zero biases drawn with NumPy. Each epoch shuffles the data
once on the device (``jax.random.permutation``) and reshapes it to ``(n_batches, batch, ...)``.

- ``step``: one jitted SGD step (the minibatch picked inside the step from the reshaped epoch,
  parameters donated) called from a Python loop over the minibatches: one dispatch per step.
- ``scan``: the whole epoch (shuffle and ``jax.lax.scan`` over the minibatches) is one jitted
  call: one dispatch per epoch.

The timed call of a runner is one epoch and ends with ``jax.block_until_ready`` on the
parameters; the fresh parameters are copied to the device before the clock starts. The first
call compiles, so bench.py times it separately as a warm-up.
"""

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
RECIPES = ("scan", "step")

jax: Any = None
jnp: Any = None


def load(single_thread: bool) -> str | None:
    """Import JAX (None if it is not installed) and return its version.

    With ``single_thread`` and no XLA_FLAGS of the user's, XLA's CPU client gets one intra-op
    thread; the flags are read when the client starts, so this must run before JAX's first use.
    """
    global jax, jnp
    if single_thread and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = SINGLE_THREAD_XLA_FLAGS
    try:
        import jax as jax_module
        import jax.numpy as jnp_module
    except ImportError:
        return None
    jax, jnp = jax_module, jnp_module
    jax.config.update("jax_platforms", "cpu")
    return str(jax.__version__)


def init_params(sizes: tuple[int, ...], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-normal ``W`` of shape (n_in, n_out) and zero ``b``, float32, on the host."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32),
             np.zeros(n_out, np.float32)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def loss(params: Any, x: Any, y: Any) -> Any:
    """Mean softmax cross-entropy of the ReLU network's logits against integer labels ``y``."""
    a = x
    for W, b in params[:-1]:
        a = jax.nn.relu(a @ W + b)
    W, b = params[-1]
    log_p = jax.nn.log_softmax(a @ W + b)
    return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


def sgd_update(params: Any, x: Any, y: Any, lr: float) -> Any:
    """One plain SGD step: ``theta <- theta - lr * grad``."""
    grads = jax.grad(loss)(params, x, y)
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def shuffled_batches(key: Any, X: Any, y: Any, batch: int) -> tuple[Any, Any]:
    """The epoch's data permuted once and reshaped to (n_batches, batch, ...)."""
    order = jax.random.permutation(key, X.shape[0])
    n_batches = X.shape[0] // batch
    return X[order].reshape(n_batches, batch, X.shape[1]), y[order].reshape(n_batches, batch)


def epoch_function(recipe: str, batch: int, lr: float) -> Callable[[Any, Any, Any, Any], Any]:
    """``epoch(params, key, X, y) -> params`` of the recipe (``"scan"`` or ``"step"``)."""
    if recipe == "scan":
        def scan_epoch(params: Any, key: Any, X: Any, y: Any) -> Any:
            Xb, yb = shuffled_batches(key, X, y, batch)
            body = lambda p, xy: (sgd_update(p, xy[0], xy[1], lr), None)
            return jax.lax.scan(body, params, (Xb, yb))[0]

        return jax.jit(scan_epoch, donate_argnums=0)
    if recipe != "step":
        raise ValueError(f"unknown JAX recipe {recipe!r}; choose from {RECIPES}")
    shuffle = jax.jit(shuffled_batches, static_argnums=3)
    step = jax.jit(lambda params, Xb, yb, i: sgd_update(params, Xb[i], yb[i], lr), donate_argnums=0)

    def step_epoch(params: Any, key: Any, X: Any, y: Any) -> Any:
        Xb, yb = shuffle(key, X, y, batch)
        for i in range(Xb.shape[0]):
            params = step(params, Xb, yb, i)
        return params

    return step_epoch


def runner(recipe: str, sizes: tuple[int, ...], batch: int, lr: float, X: np.ndarray, y: np.ndarray,
           seed: int = 0) -> Callable[[], float]:
    """``run() -> seconds`` of one epoch of ``recipe`` on ``X``, ``y`` from fresh parameters.

    ``len(X)`` must be a multiple of ``batch``. The data are put on the device once, here.
    """
    if len(X) % batch:
        raise ValueError(f"{len(X)} samples are not a whole number of batches of {batch}")
    X_device, y_device = jnp.asarray(X, dtype=jnp.float32), jnp.asarray(y, dtype=jnp.int32)
    initial = init_params(sizes, seed)
    epoch = epoch_function(recipe, batch, lr)
    epochs_run = 0

    def run() -> float:
        nonlocal epochs_run
        params = jax.block_until_ready([(jnp.array(W), jnp.array(b)) for W, b in initial])  # copies
        key = jax.block_until_ready(jax.random.key(seed + epochs_run))
        epochs_run += 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            start = time.perf_counter()
            jax.block_until_ready(epoch(params, key, X_device, y_device))
            return time.perf_counter() - start

    return run
