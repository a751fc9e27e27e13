"""The compiled engine (deltaprop.engine.compiled) against the NumPy engine, the reference.

Same results: over a matrix of configurations (every built-in activation and loss, SGD with
momentum and Nesterov, Adam, every schedule, clipping, L2 and L1, sample weights, batch sizes
from 1 to the full batch, random sampling, float32 and float64, no hidden layer to three, the
BLAS path of large layers), three epochs on each engine from the same seed end with the same
weights, history and optimizer state: to 1e-12 relative in float64 and 1e-5 in float32
(relative to the largest weight). The gradient check runs against the compiled backward pass.
Then which engine runs: what "auto" chooses and why, and what "compiled" refuses.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine.compiled import choice
from deltaprop.engine.compiled.engine import CompiledEngine, learning_rates
from deltaprop.engine.step import NumpyEngine

pytest.importorskip("numba")

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _data(n: int = 90, n_in: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    return X, rng.integers(0, 3, n)


def _targets(loss: str, labels: np.ndarray, n_out: int) -> np.ndarray:
    """Targets for ``loss``: labels, 0/1 rows, or real values."""
    if loss == "cross_entropy":
        return labels
    rng = np.random.default_rng(1)
    if loss == "binary_cross_entropy":
        return (rng.random((labels.shape[0], n_out)) > 0.5).astype(float)
    return rng.normal(size=(labels.shape[0], n_out))


def _train_both(sizes, dtype, fit_options, activation="tanh", output_activation=None, n_out=None,
                sample_weight=None, X=None):
    """Train one network per engine from the same seed; return (nets, histories, optimizers)."""
    X_all, labels = _data(n_in=sizes[0]) if X is None else (X, np.zeros(X.shape[0], int))
    y = _targets(fit_options["loss"], labels, sizes[-1])
    results = []
    for engine in ("numpy", "compiled"):
        net = dp.MLP(sizes, activation=activation, output_activation=output_activation, seed=3, dtype=dtype)
        options = dict(fit_options)
        optimizer = options.pop("optimizer")()
        history = dp.fit(net, X_all, y, optimizer=optimizer, epochs=3, engine=engine, threads=1,
                         sample_weight=sample_weight, **options)
        results.append((net, history, optimizer))
    return results


def _assert_same(results, dtype):
    (net_a, hist_a, opt_a), (net_b, hist_b, opt_b) = results
    assert (hist_a.engine, hist_b.engine) == ("numpy", "compiled")
    tol = TOLERANCE[dtype]
    scale = np.abs(net_a.theta).max()
    difference = np.abs(net_a.theta.astype(float) - net_b.theta.astype(float)).max() / scale
    assert difference <= tol, f"weights differ by {difference:.3g} (relative), over {tol:g}"
    np.testing.assert_allclose(hist_b.loss, hist_a.loss, rtol=100 * tol)
    np.testing.assert_allclose(hist_b.grad_norm_matrix(), hist_a.grad_norm_matrix(), rtol=100 * tol)
    assert hist_b.stop_reason == hist_a.stop_reason and hist_b.n_epochs == hist_a.n_epochs
    assert opt_b.t == opt_a.t and opt_b.current_lr == pytest.approx(opt_a.current_lr, rel=1e-12)
    for name in opt_a.state_arrays:
        state_a, state_b = getattr(opt_a, name), getattr(opt_b, name)
        assert (state_a is None) == (state_b is None), name
        if state_a is not None:
            top = max(np.abs(state_a).max(), 1e-30)
            assert np.abs(state_a.astype(float) - state_b.astype(float)).max() / top <= 100 * tol, name


OPTIMIZERS = {
    "sgd": lambda: dp.SGD(lr=0.05),
    "momentum": lambda: dp.SGD(lr=0.02, momentum=0.9),
    "nesterov": lambda: dp.SGD(lr=0.02, momentum=0.8, nesterov=True),
    "adam": lambda: dp.Adam(lr=0.01),
    "sgd_invscaling": lambda: dp.SGD(lr=0.1, schedule=dp.InverseScaling(0.5)),
    "adam_cosine_clip": lambda: dp.Adam(lr=0.02, schedule=dp.Cosine(), clip_norm=0.5),
    "sgd_step_clip": lambda: dp.SGD(lr=0.1, momentum=0.5, schedule=dp.StepDecay(1, 0.5), clip_norm=1.0),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_and_schedule_gives_the_numpy_engines_weights(dtype, optimizer):
    results = _train_both([5, 8, 6, 3], dtype, {"loss": "cross_entropy", "optimizer": OPTIMIZERS[optimizer],
                                                "batch_size": 16, "l2": 1e-3})
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "elu", "softplus",
                                        {"name": "leaky_relu", "slope": 0.1}, {"name": "elu", "alpha": 0.5}])
def test_every_hidden_activation(dtype, activation):
    results = _train_both([5, 7, 4, 3], dtype, {"loss": "cross_entropy", "optimizer": OPTIMIZERS["momentum"],
                                                "batch_size": 10}, activation=activation)
    _assert_same(results, dtype)


LOSSES = [  # (loss, output activation, outputs): the fused pairs and the chain rule through f'
    ("squared_error", None, 2),
    ("squared_error", "sigmoid", 2),
    ("squared_error", "tanh", 1),
    ("squared_error", "softmax", 3),
    ("mse", None, 3),
    ("mse", "relu", 2),
    ("cross_entropy", None, 3),
    ("binary_cross_entropy", None, 1),
    ("binary_cross_entropy", None, 3),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, output_activation, n_out", LOSSES)
def test_every_loss_and_output_activation(dtype, loss, output_activation, n_out):
    options = {"loss": loss, "optimizer": OPTIMIZERS["adam"], "batch_size": 8, "l1": 1e-3}
    results = _train_both([5, 6, n_out], dtype, options, output_activation=output_activation)
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size, sampling, shuffle", [
    (1, "epoch", True), (7, "epoch", True), (16, "epoch", False), ("full", "epoch", True),
    (11, "random", True), (1, "random", True),
])
def test_batch_sizes_and_samplings(dtype, batch_size, sampling, shuffle):
    options = {"loss": "cross_entropy", "optimizer": OPTIMIZERS["sgd"], "batch_size": batch_size,
               "sampling": sampling, "shuffle": shuffle}
    results = _train_both([5, 6, 3], dtype, options)
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_weights_with_a_batch_of_zero_weights(dtype):
    weights = np.random.default_rng(5).random(90) * 3
    weights[:10] = 0.0  # unshuffled, the first batch has only zero weights: decay alone
    results = _train_both([5, 6, 3], dtype, {"loss": "cross_entropy", "optimizer": OPTIMIZERS["nesterov"],
                                             "batch_size": 10, "shuffle": False, "l2": 1e-2},
                          sample_weight=weights)
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[5, 1], [5, 9, 8, 7, 1]])
def test_no_hidden_layer_and_three(dtype, sizes):
    results = _train_both(sizes, dtype, {"loss": "binary_cross_entropy", "optimizer": OPTIMIZERS["adam"],
                                         "batch_size": 4})
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layers_large_enough_for_blas(dtype):
    """At batch 16 the 130-128 layer multiplies by BLAS from the compiled code (the first
    layer's rows gathered), the 128-3 layer by loops."""
    X = np.random.default_rng(2).normal(size=(70, 130))  # a last batch of 6
    results = _train_both([130, 128, 3], dtype, {"loss": "squared_error", "optimizer": OPTIMIZERS["momentum"],
                                                 "batch_size": 16}, activation="relu", X=X)
    blas_rows = CompiledEngine(results[1][0], dp.losses.SquaredError()).layers[:, 6]
    assert blas_rows[0] <= 16 < blas_rows[1]
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size, optimizer", [(9, "momentum"), (5, "adam"), ("full", "sgd")])
def test_batchnorm_between_dense_layers_and_their_activations(dtype, batch_size, optimizer):
    """MLP(batch_norm=True): Dense -> BatchNorm -> activation; 90 = 10 * 9 (no short batch);
    the running statistics end equal too. The biases of the dense layers under a BatchNorm are
    left out of the comparison: their gradient is 0 but for rounding, which Adam's normalized
    step turns into steps of size lr on either engine (they change no output)."""
    results = []
    for engine in ("numpy", "compiled"):
        net = dp.MLP([5, 8, 6, 3], activation="relu", batch_norm=True, seed=2, dtype=dtype)
        X, labels = _data()
        dp.fit(net, X, labels, loss="cross_entropy", optimizer=OPTIMIZERS[optimizer](), epochs=3,
               batch_size=batch_size, engine=engine, l2=1e-3)
        results.append(net)
    numpy_net, compiled_net = results
    tol = TOLERANCE[dtype]
    compared = np.ones(numpy_net.theta.size, bool)
    for name, part in numpy_net.parameter_slices.items():
        if name.endswith(".b") and name != f"layers.{len(numpy_net.layers) - 1}.b":
            compared[part] = False  # a bias under a BatchNorm
    difference = np.abs(compiled_net.theta - numpy_net.theta)[compared].max()
    assert difference / np.abs(numpy_net.theta).max() <= tol
    for a, b in zip(numpy_net.batchnorm_layers, compiled_net.batchnorm_layers):
        if optimizer != "adam":  # (the running mean follows those biases)
            np.testing.assert_allclose(b.running_mean, a.running_mean, rtol=100 * tol, atol=tol)
        np.testing.assert_allclose(b.running_var, a.running_var, rtol=100 * tol, atol=tol)
    assert compiled_net.history.engine == "compiled"


def test_batchnorm_skips_a_one_row_last_batch_as_the_numpy_engine_does():
    X, labels = _data(n=91)  # 91 = 10 * 9 + 1: the one-row batch sits out, on both engines
    nets = [dp.MLP([5, 4, 3], batch_norm=True, seed=2, dtype=np.float64) for _ in range(2)]
    for net, engine in zip(nets, ("numpy", "compiled")):
        dp.fit(net, X, labels, loss="cross_entropy", optimizer=dp.SGD(0.1), epochs=2, batch_size=9,
               engine=engine)
    np.testing.assert_allclose(nets[1].theta, nets[0].theta, rtol=1e-12, atol=1e-14)


def test_the_gradient_check_passes_on_the_compiled_batchnorm():
    X, labels = _data(n=12)
    net = dp.MLP([5, 6, 4, 3], activation="tanh", batch_norm=True, seed=1, dtype=np.float64)
    before = [layer.running_mean.copy() for layer in net.batchnorm_layers]
    report = dp.gradcheck(net, X, labels, loss="cross_entropy", engine="compiled")
    assert report.passed, report
    for layer, mean in zip(net.batchnorm_layers, before):  # the check trains nothing
        np.testing.assert_array_equal(layer.running_mean, mean)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_norm, batch_size", [(False, 7), (True, 9), (False, 1)])
def test_dropout_draws_the_numpy_engines_masks(dtype, batch_norm, batch_size):
    """The masks come from the network's generator in the NumPy engine's order, so the weights
    and the generator's state end the same; then a second fit goes on alike."""
    nets = []
    for engine in ("numpy", "compiled"):
        net = dp.MLP([5, 8, 6, 3], activation="tanh", batch_norm=batch_norm, dropout=0.3, seed=2,
                     dtype=dtype)
        X, labels = _data()
        for _ in range(2):
            dp.fit(net, X, labels, loss="cross_entropy", optimizer=dp.SGD(0.05, momentum=0.5), epochs=2,
                   batch_size=batch_size, engine=engine)
        nets.append(net)
    tol = TOLERANCE[dtype]
    assert np.abs(nets[1].theta - nets[0].theta).max() / np.abs(nets[0].theta).max() <= tol
    assert nets[1].rng.integers(2**62) == nets[0].rng.integers(2**62)
    assert nets[1].history.engine == "compiled"


def test_the_gradient_check_passes_with_compiled_dropout_masks_held_fixed():
    X, labels = _data(n=12)
    net = dp.MLP([5, 6, 4, 3], activation="tanh", dropout=0.4, seed=1, dtype=np.float64)
    assert dp.gradcheck(net, X, labels, loss="cross_entropy", engine="compiled").passed


def test_dropout_with_random_sampling_stays_on_numpy():
    X, labels = _data()
    net = dp.MLP([5, 8, 3], dropout=0.3, seed=2)
    history = dp.fit(net, X, labels, loss="cross_entropy", epochs=1, sampling="random")
    assert history.engine == "numpy" and "random sampling with Dropout" in history.engine_reason


def test_the_delta_rule_is_a_compiled_run():
    """One sigmoid unit, squared error, online SGD: the notes' delta rule, on both engines."""
    results = _train_both([5, 1], np.float64, {"loss": "squared_error", "optimizer": lambda: dp.SGD(lr=0.5),
                                               "batch_size": 1}, output_activation="sigmoid")
    _assert_same(results, np.float64)


def test_divergence_restores_the_epoch_start_as_the_numpy_engine_does():
    options = {"loss": "squared_error", "optimizer": lambda: dp.SGD(lr=1e12), "batch_size": 8}
    results = _train_both([5, 6, 1], np.float64, options)
    (net_a, hist_a, _), (net_b, hist_b, _) = results
    assert hist_a.stop_reason == hist_b.stop_reason == "diverged"
    np.testing.assert_array_equal(net_b.theta, net_a.theta)  # both back at the same epoch start
    assert np.isnan(hist_b.loss[-1]) and hist_b.kept_epoch == hist_a.kept_epoch


# -- the gradient ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "elu"])
def test_the_gradient_check_passes_on_the_compiled_backward_pass(activation):
    X, labels = _data(n=12)
    net = dp.MLP([5, 6, 4, 3], activation=activation, seed=1, dtype=np.float64)
    report = dp.gradcheck(net, X, labels, loss="cross_entropy", l2=0.01, l1=0.001, engine="compiled",
                          sample_weight=np.linspace(0.5, 2.0, 12))
    assert report.passed, report


def test_the_compiled_gradient_is_the_numpy_engines():
    X, labels = _data(n=12)
    net = dp.MLP([5, 6, 3], activation="relu", seed=1, dtype=np.float64)
    loss = net.check_loss("cross_entropy")
    net.use_loss(loss)
    Y = loss.prepare_targets(labels, 3, np.float64)
    scale = dp.losses.row_scale(np.linspace(0.5, 2.0, 12))
    value_numpy = NumpyEngine(net, loss, l2=0.1).loss_and_gradient(X, Y, scale)
    grad_numpy = net.grad.copy()
    value_compiled = CompiledEngine(net, loss, l2=0.1).loss_and_gradient(X, Y, scale)
    assert value_compiled == pytest.approx(value_numpy, rel=1e-13)
    np.testing.assert_allclose(net.grad, grad_numpy, rtol=1e-12, atol=1e-15)


def test_a_planted_bug_in_the_compiled_backward_pass_is_caught(monkeypatch):
    """The check is not a rubber stamp: the kernel's output delta fused where it must not be
    (squared error on a sigmoid output: (a - y) / B without f'(z)) fails it."""
    original = CompiledEngine.__init__

    def planted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.fused = True

    X, _ = _data(n=8)
    y = np.random.default_rng(0).random((8, 2))
    net = dp.MLP([5, 4, 2], activation="tanh", output_activation="sigmoid", seed=1, dtype=np.float64)
    assert dp.gradcheck(net, X, y, loss="squared_error", engine="compiled").passed
    monkeypatch.setattr(CompiledEngine, "__init__", planted)
    assert not dp.gradcheck(net, X, y, loss="squared_error", engine="compiled").passed


# -- chunks and hooks --------------------------------------------------------------------------
class CountingHook(dp.Callback):
    needs_every_step = False

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_batch_end(self, trainer, step):
        self.steps.append(step)


def test_hooks_between_chunks_change_nothing(monkeypatch):
    from deltaprop.engine.compiled import engine as compiled

    monkeypatch.setattr(compiled, "CHUNK_SECONDS", 1e-9)  # a chunk of one step after the first
    X, labels = _data(n=200)
    plain, hooked = (dp.MLP([5, 6, 3], seed=0, dtype=np.float64) for _ in range(2))
    hook = CountingHook()
    dp.fit(plain, X, labels, loss="cross_entropy", epochs=2, batch_size=10, engine="compiled")
    dp.fit(hooked, X, labels, loss="cross_entropy", epochs=2, batch_size=10, engine="compiled",
           callbacks=[hook])
    np.testing.assert_array_equal(hooked.theta, plain.theta)
    first_epoch = hook.steps[:hook.steps.index(20) + 1]  # steps count from 1 in each epoch
    assert first_epoch == sorted(first_epoch) and len(first_epoch) > 2 and hook.steps[-1] == 20


def test_a_time_limit_stops_a_compiled_run():
    X, labels = _data(n=200)
    net = dp.MLP([5, 6, 3], seed=0)
    history = dp.fit(net, X, labels, loss="cross_entropy", epochs=10**7, batch_size=1, engine="compiled",
                     time_limit=0.3)
    assert history.stop_reason == "time_limit" and history.time[-1] < 3.0


def test_a_callback_that_must_see_every_step_keeps_auto_on_numpy():
    class EveryStep(dp.Callback):
        def on_batch_end(self, trainer, step):
            pass

    X, labels = _data()
    history = dp.fit(dp.MLP([5, 4, 3], seed=0), X, labels, loss="cross_entropy", epochs=2,
                     callbacks=[EveryStep()])
    assert history.engine == "numpy" and "EveryStep must see every step" in history.engine_reason
    with pytest.raises(ValueError, match="EveryStep must see every step"):
        dp.fit(dp.MLP([5, 4, 3], seed=0), X, labels, loss="cross_entropy", epochs=2,
               callbacks=[EveryStep()], engine="compiled")


def test_checkpoint_and_resume_continue_a_compiled_run(tmp_path):
    X, labels = _data()
    whole = dp.MLP([5, 6, 3], seed=0, dtype=np.float64)
    dp.fit(whole, X, labels, loss="cross_entropy", optimizer="adam", epochs=4, engine="compiled")
    part = dp.MLP([5, 6, 3], seed=0, dtype=np.float64)
    path = tmp_path / "run.ckpt"
    dp.fit(part, X, labels, loss="cross_entropy", optimizer="adam", epochs=2, engine="compiled",
           checkpoint=path)
    resumed, history = dp.resume(path, X, labels, epochs=4)
    assert history.engine == "compiled" and history.n_epochs == 4
    np.testing.assert_allclose(resumed.theta, whole.theta, rtol=1e-12, atol=1e-15)


# -- which engine runs -------------------------------------------------------------------------
@pytest.mark.parametrize("layers, name", [
    (lambda: [dp.Dense(5, 4, "tanh"), dp.ActivationLayer("relu"), dp.Dense(4, 3)], "both in a dense layer"),
    (lambda: [dp.Dense(5, 4, "relu"), dp.Dropout(0.2), dp.Dropout(0.2), dp.Dense(4, 3)], "Dropout layer"),
])
def test_layers_the_kernels_lack_are_named(layers, name):
    X, labels = _data()
    net = dp.Network(layers(), seed=0)
    history = dp.fit(net, X, labels, loss="cross_entropy", epochs=1)
    assert history.engine == "numpy" and name in history.engine_reason
    with pytest.raises(ValueError, match=f"engine='compiled' cannot train this model: .*{name}"):
        dp.fit(net, X, labels, loss="cross_entropy", epochs=1, engine="compiled")


def test_a_chain_the_kernels_do_not_take_is_named():
    from deltaprop.engine.compiled.structure import units

    assert "ends with a BatchNorm" in units([dp.Dense(5, 4), dp.BatchNorm(4)])
    assert "ends with a BatchNorm or a Dropout" in units([dp.Dense(5, 4), dp.Dropout(0.5)])
    found = units([dp.Dense(5, 4), dp.BatchNorm(4), dp.ActivationLayer("tanh"), dp.Dense(4, 2),
                   dp.ActivationLayer("sigmoid")])
    assert [(unit.index, unit.norm is not None, unit.activation.name) for unit in found] == [
        (0, True, "tanh"), (3, False, "sigmoid")]


def test_user_defined_parts_are_named():
    class Cube:
        name = "cube"

        def f(self, z):
            return z**3

        def df(self, z):
            return 3 * z**2

    class MySGD(dp.SGD):
        pass

    net = dp.MLP([5, 4, 3], activation=Cube(), seed=0)
    assert "'cube' is user-defined" in choice.uncovered(net, dp.losses.CrossEntropy(), dp.SGD())
    plain = dp.MLP([5, 4, 3], seed=0)
    assert "MySGD is user-defined" in choice.uncovered(plain, dp.losses.CrossEntropy(), MySGD())
    assert choice.uncovered(plain, dp.losses.CrossEntropy(), dp.SGD(), reduction=object()) is None


def test_without_numba_auto_says_so_and_compiled_refuses(monkeypatch):
    monkeypatch.setattr(choice, "numba_installed", lambda: False)
    X, labels = _data()
    history = dp.fit(dp.MLP([5, 4, 3], seed=0), X, labels, loss="cross_entropy", epochs=1)
    assert history.engine == "numpy" and "pip install 'deltaprop[fast]'" in history.engine_reason
    with pytest.raises(ValueError, match="Numba is not installed"):
        dp.fit(dp.MLP([5, 4, 3], seed=0), X, labels, loss="cross_entropy", engine="compiled")


def test_auto_keeps_short_runs_on_numpy_and_long_ones_compiled(monkeypatch):
    net, loss = dp.MLP([5, 4, 3], seed=0), dp.losses.CrossEntropy()
    engine, reason = choice.choose("auto", net, loss, dp.SGD(), batch_size=32, steps=100)
    assert engine == "numpy" and "too short to pay for the compiled kernels" in reason
    monkeypatch.setattr(choice, "_kernels_ready", lambda dtype: False)
    engine, reason = choice.choose("auto", net, loss, dp.SGD(), batch_size=32, steps=100_000)
    assert engine == "numpy" and "not built yet" in reason
    assert choice.choose("auto", net, loss, dp.SGD(), batch_size=32, steps=10**7) == ("compiled", "")
    monkeypatch.setattr(choice, "_kernels_ready", lambda dtype: True)
    assert choice.choose("auto", net, loss, dp.SGD(), batch_size=32, steps=100_000) == ("compiled", "")
    assert choice.choose("numpy", net, loss, dp.SGD(), batch_size=32, steps=10**7) == ("numpy", "")


def test_auto_leaves_a_large_step_to_numpys_threads(monkeypatch):
    """Large steps are bound by the matrix products: with several BLAS threads NumPy's are
    faster than the compiled engine's single-threaded loops around its products."""
    monkeypatch.setattr(choice, "_kernels_ready", lambda dtype: True)
    from deltaprop.engine import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 2)  # the thread policy's own count
    net, loss = dp.MLP([784, 1024, 1024, 10], seed=0), dp.losses.CrossEntropy()
    engine, reason = choice.choose("auto", net, loss, dp.SGD(), batch_size=256, steps=10**6)
    assert engine == "numpy" and "2 threads" in reason
    assert choice.choose("auto", net, loss, dp.SGD(), batch_size=256, steps=10**6, threads=1)[0] == "compiled"
    small = dp.MLP([64, 32, 10], seed=0)  # one BLAS thread under "auto": compiled
    assert choice.choose("auto", small, loss, dp.SGD(), batch_size=32, steps=10**6)[0] == "compiled"
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    assert choice.choose("auto", net, loss, dp.SGD(), batch_size=256, steps=10**6)[0] == "compiled"


def test_an_unknown_engine_is_refused_by_name():
    with pytest.raises(ValueError, match="engine must be one of"):
        dp.fit(dp.MLP([2, 2], seed=0), [[0, 0]], [[0, 0]], engine="gpu")


def test_the_engine_is_recorded_and_saved(tmp_path):
    X, labels = _data()
    net = dp.MLP([5, 4, 3], seed=0)
    history = dp.fit(net, X, labels, loss="cross_entropy", epochs=2, engine="compiled")
    assert history.engine == "compiled" and history.engine_reason == "" and history.engine_build_seconds >= 0
    path = tmp_path / "m.dp"
    dp.save(net, path)
    loaded = dp.load(path)
    assert loaded.history.engine == "compiled"


def test_learning_rates_follow_any_schedule():
    class Halving(dp.optim.Schedule):
        def __call__(self, lr0, step, epoch):
            return lr0 / 2**step

    for schedule in (None, dp.InverseScaling(0.7), dp.Cosine(10), Halving()):
        optimizer = dp.SGD(lr=0.3, schedule=schedule)
        optimizer.t, optimizer.epoch = 5, 2
        optimizer.start(10)
        expected = [optimizer.lr_at(6 + k) for k in range(4)]
        np.testing.assert_allclose(learning_rates(optimizer, 4), expected, rtol=1e-15)


# -- the command line ----------------------------------------------------------------------------
def test_the_command_line_builds_the_kernels_and_names_the_engine(capsys):
    import json

    from deltaprop.cli import main

    assert main(["build-kernels", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["seconds"]) == {"float32", "float64"} and report["cache"]
    assert main(["train", "--data", "xor", "--epochs", "2", "--engine", "compiled", "--json", "--quiet",
                 "--no-save"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "compiled"
    assert main(["train", "--data", "xor", "--epochs", "2", "--json", "--quiet", "--no-save"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "numpy" and "too short" in report["engine_reason"]
