"""What "export" gives: the model file of a session, and a Python script that replays its run.

The script is plain deltaprop: the same generated data and split, the same MLP and seed, and a
:class:`~deltaprop.BatchStepper` taking the same number of minibatches, so that it ends with the
weights the page shows (tests execute it and compare, bit for bit).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from deltaprop.files.container import save_payload
from deltaprop.optim import Optimizer
from deltaprop.playground.config import Config
from deltaprop.playground.session import Session, fit_options, output_activation, stepper_keywords


def model_bytes(session: Session) -> bytes:
    """The session's network in deltaprop's model file format: a file of kind ``network`` whose
    metadata hold the playground's settings (``deltaprop.load`` gives the network)."""
    config = session.config
    metadata = {"playground": config.as_dict(), "steps": session.steps, "task": config.task,
                "feature_names": list(session.feature_names)}
    with tempfile.TemporaryDirectory(prefix="deltaprop-playground-") as folder:
        path = os.path.join(folder, "playground.dp")
        save_payload(path, session.net, "network", {"metadata": metadata})
        with open(path, "rb") as stream:
            return stream.read()


def python_code(session: Session) -> str:
    """A script that rebuilds the data and network and trains the session's minibatches."""
    c = session.config
    steps, per_epoch = session.steps, session.stepper.batches_per_epoch
    activation = output_activation(c)
    whole, rest = divmod(steps, per_epoch)
    engine = session.stepper.engine_name  # named: "auto" might choose the other, to rounding
    options = _keywords_code({**stepper_keywords(fit_options(c)), "engine": engine})
    if session.diverged:  # fit would restore the epoch's start; the stepper refused one step
        fit_note = ("# The run diverged: its last step was refused (result.taken is False) and "
                    "the weights\n# are those before it, as on the page.\n")
    elif steps and not rest:
        fit_note = (f"# The same run as one call, since {steps} steps are {whole} whole epochs:\n"
                    f"#   net.fit(X_train, y_train, epochs={whole}, {', '.join(options)})\n")
    else:
        fit_note = ""
    stepper_options = (",\n" + " " * len("stepper = dp.BatchStepper(")).join(options)
    return f'''"""Replays a deltaprop playground run: {steps} minibatches ({steps / per_epoch:.2f} epochs).

Playground URL query: ?{c.query()}
"""

import numpy as np

import deltaprop as dp

# The data: generated, then split into training and test rows as the playground does.
data = dp.datasets.load({c.dataset!r}, n_samples={c.samples}, noise={c.noise!r}, seed={c.seed})
order = np.random.default_rng([{c.seed}, 1]).permutation({c.samples})
test_rows, train_rows = np.sort(order[:{c.n_test}]), np.sort(order[{c.n_test}:])
X_train, y_train = data.X[train_rows], data.y[train_rows]
X_test, y_test = data.X[test_rows], data.y[test_rows]

net = dp.MLP({c.layer_sizes}, activation={c.activation!r}, output_activation={activation!r},
             batch_norm={c.bn}, seed={c.seed}, dtype=np.float64)
stepper = dp.BatchStepper(net, X_train, y_train,
                          {stepper_options})
{_replay_lines(engine, steps, whole, per_epoch, rest)}
{fit_note}
{_score_lines(c)}
dp.save(net, "playground.dp")
'''


def _replay_lines(engine: str, steps: int, whole: int, per_epoch: int, rest: int) -> str:
    """The steps again: one at a time on the NumPy engine (each result holds the deltas), as
    one run on the compiled engine (the page's requests were runs; the same steps, bit for bit)."""
    if engine == "compiled":
        return (f"result = stepper.run({steps})  # {whole} epochs of {per_epoch} minibatches and "
                f"{rest} more")
    return (f"for _ in range({steps}):  # {whole} epochs of {per_epoch} minibatches and {rest} more\n"
            "    result = stepper.step()")


def _keywords_code(keywords: dict[str, Any]) -> list[str]:
    """``name=value`` for each keyword, as Python code (an optimizer as its constructor call)."""
    return [f"{name}={_optimizer_code(value) if isinstance(value, Optimizer) else repr(value)}"
            for name, value in keywords.items()]


def _optimizer_code(optimizer: Optimizer) -> str:
    """``dp.Adam(lr=0.01)``: the class with its learning rate and any argument off its default."""
    config = optimizer.to_config()
    assert config["schedule"] == {"name": "constant"}, "the playground's optimizers have no schedule"
    defaults = type(optimizer)(lr=optimizer.lr).to_config()["params"]  # the class's defaults
    arguments = [f"{name}={value!r}" for name, value in config["params"].items()
                 if name == "lr" or value != defaults[name]]
    return f"dp.{config['class']}({', '.join(arguments)})"


def _score_lines(c: Config) -> str:
    """Print the page's read-outs: loss, and accuracy of the predicted class or R^2."""
    parts = [("training", "X_train", "y_train")]
    parts += [("test", "X_test", "y_test")] if c.n_test else []
    lines = []
    for name, X, y in parts:
        if c.task == "classify":
            lines.append(f'print("{name} loss:", dp.evaluate(net, {X}, {y})[0], '
                         f'"accuracy:", np.mean(net.predict_classes({X}) == {y}))')
        else:
            lines.append(f'print("{name} loss and R^2:", dp.evaluate(net, {X}, {y}))')
    if not c.n_test:
        lines.append("# (no test rows: the test fraction is 0)")
    return "\n".join(lines)
