"""deltaprop.plot: each figure is written, not blank, has the expected parts, and rejects bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import plot  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, the classic non-linearly-separable toy problem."""
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x1 = np.where(upper, np.cos(t), 1 - np.cos(t))
    x2 = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    return np.column_stack([x1, x2]) + noise * rng.standard_normal((n, 2)), upper.astype(int)


@pytest.fixture(scope="module")
def moons() -> tuple[np.ndarray, np.ndarray]:
    return two_moons(120, 0.15, np.random.default_rng(0))


@pytest.fixture(scope="module")
def trained(moons):
    X, y = moons
    net = dp.MLP([2, 8, 8, 2], activation="tanh", seed=0)
    history = net.fit(X, y, loss="cross_entropy", epochs=30, validation_fraction=0.2,
                      optimizer=dp.Adam(lr=0.02))
    return net, history


@pytest.fixture(scope="module")
def sine():
    rng = np.random.default_rng(1)
    X = rng.uniform(-3, 3, (80, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(80)
    net = dp.MLP([1, 16, 1], activation="tanh", seed=0)
    net.fit(X, y, loss="mse", epochs=30, optimizer=dp.Adam(lr=0.02))
    return net, X, y


def assert_png(path, size=None) -> None:
    """A PNG file with visible content (not one flat colour), of ``size`` (width, height) in px."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image[..., :3].var() > 1e-3, "the image is blank"
    if size is not None:
        assert image.shape[1::-1] == size


def labelled_lines(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]


def history_with(**fields) -> dp.History:
    n = len(fields["loss"])
    base = {"loss_name": "cross_entropy", "metric_name": "accuracy", "epoch": list(range(1, n + 1)),
            "grad_norms": [np.array([1e-3, 1e-2, 1e-1]) * (i + 1) for i in range(n)]}
    return dp.History(**{**base, **fields})


# -- loss ----------------------------------------------------------------------------------------
def test_loss_from_a_training_run_draws_validation_and_metric(trained, tmp_path):
    _, history = trained
    path = tmp_path / "loss.png"
    fig = plot.loss(history, path=path)
    assert isinstance(fig, Figure)
    assert_png(path, size=(7 * 150, int(4.5 * 150)))
    ax, twin = fig.axes  # the loss and the validation accuracy on its own y-axis
    assert labelled_lines(ax) == ["training loss", "validation loss"]
    assert labelled_lines(twin) == ["validation accuracy"]
    assert "cross-entropy" in ax.get_ylabel()
    assert ax.get_title() == "Learning curves"
    assert ax.xaxis.label.get_fontsize() >= 11
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), history.loss)


def test_loss_without_validation_has_one_axes_and_one_line(tmp_path):
    history = history_with(loss=[1.0, 0.8, 0.7, 0.65], metric_name="r2", loss_name="mse")
    fig = plot.loss(history, path=tmp_path / "train.png", title="Only training")
    assert len(fig.axes) == 1
    assert labelled_lines(fig.axes[0]) == ["training loss"]
    assert fig.axes[0].get_title() == "Only training"
    assert not fig.legends  # one curve: the axis label names it
    assert_png(tmp_path / "train.png")


def test_loss_marks_best_epoch_and_divergence_and_names_r2():
    history = history_with(loss=[1.0, 0.5, 0.4, float("nan")], val_loss=[1.1, 0.6, 0.7, float("nan")],
                           val_metric=[0.1, 0.5, 0.4, float("nan")], metric_name="r2",
                           loss_name="mse", best_epoch=2, stop_reason="diverged")
    fig = plot.loss(history)
    ax, twin = fig.axes
    assert labelled_lines(ax) == ["training loss", "validation loss", "best epoch (2)", "diverged"]
    assert twin.get_ylabel() == "validation $R^2$"
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {
        "training loss", "validation loss", "best epoch (2)", "diverged", "validation $R^2$"}


@pytest.mark.parametrize("values, log_scale, expected", [
    ([1.0, 0.1, 0.01, 0.001], "auto", "log"),
    ([1.0, 0.8, 0.6, 0.5], "auto", "linear"),
    ([1.0, 0.8, 0.6, 0.5], True, "log"),
    ([1.0, 0.1, 0.01, 0.0], "auto", "linear"),  # a zero loss cannot go on a log axis
    ([1.0, 0.1, 0.01, 0.001], False, "linear"),
])
def test_loss_log_scale(values, log_scale, expected):
    fig = plot.loss(history_with(loss=values), log_scale=log_scale)
    assert fig.axes[0].get_yscale() == expected


def test_loss_round_trips_through_to_dict(trained):
    _, history = trained
    fig = plot.loss(dp.History.from_dict(history.to_dict()))
    assert len(fig.axes) == 2


@pytest.mark.parametrize("history, error, match", [
    (dp.History(), ValueError, "empty"),
    (history_with(loss=[1.0, 0.5], val_loss=[1.0]), ValueError, "val_loss has 1 values for 2"),
    ({"loss": [1.0]}, TypeError, "History"),
])
def test_loss_rejects_bad_histories(history, error, match):
    with pytest.raises(error, match=match):
        plot.loss(history)


def test_loss_rejects_bad_log_scale():
    with pytest.raises(ValueError, match="log_scale"):
        plot.loss(history_with(loss=[1.0, 0.5]), log_scale="yes")
    with pytest.raises(ValueError, match="log_scale=True"):
        plot.loss(history_with(loss=[0.0, 0.0]), log_scale=True)


# -- gradnorm ------------------------------------------------------------------------------------
def test_gradnorm_one_line_per_dense_layer_from_input_to_output(moons, tmp_path):
    X, y = moons
    net = dp.MLP([2, 6, 6, 6, 6, 2], activation="sigmoid", seed=0)
    history = net.fit(X, y, loss="cross_entropy", epochs=5, optimizer=dp.SGD(lr=0.1))
    path = tmp_path / "gradnorm.png"
    fig = plot.gradnorm(history, path=path)
    assert_png(path)
    (ax,) = fig.axes
    assert labelled_lines(ax) == ["layer 1 (input side)", "layer 2", "layer 3", "layer 4",
                                  "layer 5 (output)"]
    assert ax.get_yscale() == "log"
    colors = {line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color())
              for line in ax.get_lines()}
    assert len(colors) == 5
    # sigmoid layers shrink the gradient on the way down: the picture the plot is for
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), history.grad_norm_matrix()[:, 0])
    assert history.grad_norm_matrix()[-1, 0] < history.grad_norm_matrix()[-1, -1]


def test_gradnorm_leaves_gaps_for_diverged_epochs_and_rejects_missing_norms():
    history = history_with(loss=[1.0, 0.5, float("nan")])
    history.grad_norms[-1] = np.full(3, np.nan)
    assert len(plot.gradnorm(history).axes[0].get_lines()) == 3
    with pytest.raises(ValueError, match="grad_norms"):
        plot.gradnorm(history_with(loss=[1.0, 0.5], grad_norms=[]))
    with pytest.raises(ValueError, match="positive and finite"):
        plot.gradnorm(history_with(loss=[1.0], grad_norms=[np.zeros(3)]))


# -- boundary ------------------------------------------------------------------------------------
def test_boundary_of_a_trained_network(trained, moons, tmp_path):
    net, _ = trained
    X, y = moons
    path = tmp_path / "boundary.png"
    fig = plot.boundary(net, X, y, path=path, resolution=80, class_names=["lower", "upper"])
    assert_png(path)
    ax, colorbar = fig.axes  # softmax probabilities: the shading gets a colorbar
    assert "probability" in colorbar.get_ylabel()
    assert len(ax.images) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["lower", "upper"]
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
    x_low, x_high = ax.get_xlim()
    span = np.ptp(X[:, 0])
    assert x_low == pytest.approx(X[:, 0].min() - 0.1 * span)
    assert x_high == pytest.approx(X[:, 0].max() + 0.1 * span)


def test_boundary_with_a_sigmoid_output_and_a_network_callable(moons):
    X, y = moons
    net = dp.MLP([2, 8, 1], activation="tanh", seed=0)
    net.fit(X, y, loss="binary_cross_entropy", epochs=5)
    fig = plot.boundary(net.predict, X, y, resolution=40)  # (m, 1) outputs, threshold 0.5
    assert len(fig.axes) == 2
    fig = plot.boundary(lambda grid: net.predict(grid)[:, 0], X, y, resolution=40)  # (m,) floats
    assert len(fig.axes) == 2


def test_boundary_with_labels_strings_and_three_classes(tmp_path):
    rng = np.random.default_rng(2)
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [1.5, 2.5]])
    names = np.array(["setosa", "versicolor", "virginica"])
    X = np.repeat(centers, 20, axis=0) + 0.5 * rng.standard_normal((60, 2))
    y = np.repeat(names, 20)

    def nearest_center(grid):
        return ((grid[:, None, :] - centers) ** 2).sum(axis=2).argmin(axis=1)

    path = tmp_path / "labels.png"
    fig = plot.boundary(nearest_center, X, y, path=path, resolution=50)  # indices into classes
    assert_png(path)
    assert len(fig.axes) == 1  # labels carry no confidence: no colorbar
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(names)
    as_strings = plot.boundary(lambda grid: names[nearest_center(grid)], X, y, resolution=50)
    assert len(as_strings.axes[0].collections) == len(fig.axes[0].collections)
    logits = plot.boundary(lambda grid: -((grid[:, None, :] - centers) ** 2).sum(axis=2), X, y,
                           resolution=50)  # scores outside [0, 1]: regions, no confidence
    assert len(logits.axes) == 1


@pytest.mark.parametrize("X_shape, y_len, match", [
    ((10, 3), 10, r"shape \(n, 2\)"),
    ((10,), 10, r"shape \(n, 2\)"),
    ((10, 2), 9, "one label per row"),
])
def test_boundary_rejects_bad_shapes(X_shape, y_len, match):
    with pytest.raises(ValueError, match=match):
        plot.boundary(lambda grid: np.zeros(len(grid), int), np.zeros(X_shape), np.zeros(y_len, int))


def test_boundary_rejects_bad_predictions_and_options(moons):
    X, y = moons
    with pytest.raises(ValueError, match="predict returned shape"):
        plot.boundary(lambda grid: np.zeros((len(grid) + 1, 2)), X, y, resolution=20)
    with pytest.raises(ValueError, match="neither classes"):
        plot.boundary(lambda grid: np.full(len(grid), 7), X, y, resolution=20)
    with pytest.raises(ValueError, match="NaN"):
        plot.boundary(lambda grid: np.full((len(grid), 2), np.nan), X, y, resolution=20)
    with pytest.raises(ValueError, match="class_names"):
        plot.boundary(lambda grid: np.zeros(len(grid), int), X, y, resolution=20, class_names=["a"])
    with pytest.raises(ValueError, match="resolution"):
        plot.boundary(lambda grid: np.zeros(len(grid), int), X, y, resolution=5)
    with pytest.raises(TypeError, match="callable"):
        plot.boundary("net", X, y)


# -- fit1d ---------------------------------------------------------------------------------------
def test_fit1d_of_a_noisy_sine(sine, tmp_path):
    net, X, y = sine
    path = tmp_path / "fit1d.png"
    fig = plot.fit1d(net, X, y, path=path, xlabel="t (s)", ylabel="signal (V)")
    assert_png(path)
    (ax,) = fig.axes
    assert labelled_lines(ax) == ["network"]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == len(X)
    curve_x = ax.get_lines()[0].get_xdata()
    assert curve_x.min() <= X.min() and curve_x.max() >= X.max()
    assert ax.get_xlabel() == "t (s)"


def test_fit1d_takes_a_function_returning_a_vector_and_column_targets():
    X = np.linspace(0, 1, 20)[:, None]
    fig = plot.fit1d(lambda grid: 2 * grid[:, 0], X, 2 * X)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(),
                               2 * fig.axes[0].get_lines()[0].get_xdata())


@pytest.mark.parametrize("X, y, match", [
    (np.zeros(10), np.zeros(10), r"reshape\(-1, 1\)"),
    (np.zeros((10, 2)), np.zeros(10), r"shape \(n, 1\)"),
    (np.zeros((10, 1)), np.zeros(9), "to match X"),
])
def test_fit1d_rejects_bad_shapes(X, y, match):
    with pytest.raises(ValueError, match=match):
        plot.fit1d(lambda grid: grid[:, 0], X, y)


def test_fit1d_rejects_several_outputs():
    with pytest.raises(ValueError, match="one output"):
        plot.fit1d(lambda grid: np.hstack([grid, grid]), np.zeros((5, 1)), np.zeros(5))


# -- shared --------------------------------------------------------------------------------------
def test_no_pyplot_figures_are_left_open(trained, moons):
    net, history = trained
    plot.loss(history)
    plot.boundary(net, *moons, resolution=20)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"deltaprop\[plot\]"):
        plot.loss(history_with(loss=[1.0]))


# -- what a history must be to be drawn ----------------------------------------------------------
def history_dict(**fields):
    n = len(fields.get("loss", [1.0, 0.5, 0.2]))
    return {"loss_name": "mse", "epoch": list(range(1, n + 1)), "loss": [1.0, 0.5, 0.2][:n],
            "grad_norms": [[0.1, 0.2]] * n, **fields}


@pytest.mark.parametrize("fields, message", [
    ({"epoch": [10**400 + i for i in range(3)]}, r"epochs from 1 up \(1, 2, 3, ...\); entry 1 is 1000"),
    ({"epoch": [1, 3, 4]}, "entry 2 is 3"),
    ({"epoch": [2, 3, 4]}, "entry 1 is 2"),
    ({"best_epoch": 10**400}, "best_epoch is 1000.*, not an epoch of the 3 recorded"),
    ({"kept_epoch": -1}, "kept_epoch is -1"),
    ({"best_restart": 0}, "best_restart is 0, not one of the 0 restarts"),
    ({"grad_norms": [[0.1, 0.2], [0.1, -0.2], [0.1, 0.2]]}, "layer 2 of epoch 2 has the norm -0.2; a norm"),
    ({"grad_norm": [1.0, 1.0, float("-inf")]}, "grad_norm of epoch 3 is -inf"),
])
def test_a_history_is_what_fit_could_have_recorded(fields, message):
    """Epochs 1, 2, 3, ...; the epochs and restart it names among those; norms >= 0: refused
    otherwise, by from_dict and by the plots (a History built by hand)."""
    with pytest.raises(ValueError, match=message):
        dp.History.from_dict(history_dict(**fields))
    built = dp.History(**{**history_dict(**fields), "grad_norms": [
        np.array(g, dtype=float) for g in history_dict(**fields)["grad_norms"]]})
    for draw in (plot.loss, plot.gradnorm):
        with pytest.raises(ValueError, match=message):
            draw(built)


def test_a_diverged_epochs_nan_norms_are_kept_as_gaps():
    history = dp.History.from_dict(history_dict(grad_norms=[[0.1, 0.2], [0.3, 0.4], [None, None]]))
    assert np.isnan(history.grad_norm_matrix()[-1]).all()
    assert len(plot.gradnorm(history).axes[0].get_lines()) == 2


@pytest.mark.parametrize("loss, val_loss, message", [
    ([None, None, None], [], "no loss can be drawn"),
    ([float("nan")] * 3, [float("inf")] * 3, "no loss can be drawn"),
    ([1e300, -1e300, 1e308], [], r"beyond 1e\+100"),
    ([5e-324, 1e-200, 1e-150], [], "or not positive on the log axis"),
])
def test_a_loss_with_nothing_drawable_is_refused(loss, val_loss, message):
    with pytest.raises(ValueError, match=message):
        plot.loss(dp.History.from_dict(history_dict(loss=loss, val_loss=val_loss)))


def test_values_past_what_matplotlib_can_scale_are_gaps_without_warnings(tmp_path):
    """Warnings are errors here: none from numpy or matplotlib overflowing an axis."""
    history = dp.History.from_dict(history_dict(
        loss=[1e308, 1.0, 0.5, 5e-324], val_metric=[1e308, -1e308, 0.5, 0.7],
        grad_norms=[[1e308, 5e-324], [1.0, 2.0], [0.5, 1.0], [0.1, 0.2]]))
    for log_scale, gaps in ((False, [True, False, False, False]), ("auto", [True, False, False, True])):
        fig = plot.loss(history, path=tmp_path / "loss.png", log_scale=log_scale)
        assert fig.axes[0].get_yscale() == ("linear" if log_scale is False else "log")
        np.testing.assert_array_equal(np.isnan(fig.axes[0].get_lines()[0].get_ydata()), gaps)
    plot.gradnorm(history, path=tmp_path / "gradnorm.png")


def test_gradnorm_of_many_layers_names_them_by_a_colour_scale(tmp_path):
    """A legend of 1000 entries would crowd the axes off the figure (a warning, an error here)."""
    n_layers = 1000
    history = history_with(loss=[1.0, 0.5], grad_norms=[np.linspace(0.1, 1, n_layers)] * 2)
    fig = plot.gradnorm(history, path=tmp_path / "gradnorm.png")
    ax, bar = fig.axes
    assert len(ax.get_lines()) == n_layers and not fig.legends
    assert bar.get_ylabel() == f"layer (1: input side, {n_layers}: output)"
    assert_png(tmp_path / "gradnorm.png")
    few = plot.gradnorm(history_with(loss=[1.0, 0.5], grad_norms=[np.ones(plot.history.LEGEND_LAYERS)] * 2))
    assert len(few.axes) == 1 and len(few.legends) == 1
