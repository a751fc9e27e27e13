"""The playground's Python side: configuration, sessions, exports and the HTTP API.

The numbers the page draws are checked against the library computed independently; the HTTP
tests run a real server on 127.0.0.1 (the browser tests are in test_playground_e2e.py).
"""

import base64
import concurrent.futures
import contextlib
import fnmatch
import http.client
import io
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.playground
from deltaprop.files.container import read_archive
from deltaprop.playground import Session, parse_config, serve_in_thread
from deltaprop.playground.config import ConfigError
from deltaprop.playground.export import model_bytes, python_code
from deltaprop.playground.landscape import directions as landscape_directions
from deltaprop.playground.pictures import MAP_SIZE, OUTPUT_SIZE
from deltaprop.playground.server import BODY_KEYS, PlaygroundServer, Sessions
from deltaprop.playground.session import fit_options


def _decode(encoded, shape):
    q = np.frombuffer(base64.b64decode(encoded["data"]), dtype=np.uint8).reshape(shape)
    return encoded["min"] + (encoded["max"] - encoded["min"]) * q / 255.0


# -- configuration ----------------------------------------------------------------------------

def test_defaults_and_normalized_query():
    config = parse_config({})
    assert config.layer_sizes == [2, 4, 4, 1]
    assert config.loss == "binary_cross_entropy" and config.task == "classify"
    assert parse_config({"dataset": "sine"}).loss == "squared_error"
    config = parse_config({"dataset": "moons", "layers": "3, 5", "bn": "1", "lr": "0.03",
                           "batch": "16", "loss": "cross_entropy"})
    assert config.layer_sizes == [2, 3, 5, 2] and config.bn and config.lr == 0.03
    assert "layers=3%2C5" in config.query() and "bn=1" in config.query()
    assert "l2=0&" in config.query() and "lr=0.03&" in config.query()  # as typed, every digit kept
    assert "lr=0.123456789012&" in parse_config({"lr": 0.123456789012}).query()
    # the query parses back to the same configuration (the URL reproduces the setup)
    from urllib.parse import parse_qsl
    assert parse_config(dict(parse_qsl(config.query(), keep_blank_values=True))) == config
    assert parse_config({"layers": ""}).layer_sizes == [2, 1]
    assert parse_config({"samples": " +40 ", "layers": [3, "2"]}).samples == 40
    assert "l2=0&" in parse_config({"l2": "-0"}).query()  # -0 is 0
    # the default batch size (10) is cut to a small data set's training rows, not refused
    assert parse_config({"samples": 8}).batch == 6


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"lr": "abc"}, "lr", "lr must be a number, got 'abc'"),
    ({"lr": 0}, "lr", "lr must be in (0, 10]"),
    ({"lr": "nan"}, "lr", "lr must be in"),
    ({"noise": 2}, "noise", "noise must be in [0, 1]"),
    ({"dataset": "mnist"}, "dataset", "dataset 'mnist' is not one of xor, circles"),
    ({"activation": "gelu"}, "activation", "activation 'gelu' is not one of"),
    ({"optimizer": "rmsprop"}, "optimizer", "optimizer 'rmsprop' is not one of sgd, adam"),
    ({"layers": "4,99"}, "layers", "hidden layer 2 width must be a whole number from 1 to 16, got '99'"),
    ({"layers": "4,x"}, "layers", "hidden layer 2 width"),
    ({"layers": "1,1,1,1,1,1,1"}, "layers", "at most 6 hidden layers"),
    ({"layers": 4}, "layers", "layers must be widths separated by commas"),
    ({"samples": "10.5"}, "samples", "samples must be a whole number"),
    ({"samples": 5000}, "samples", "samples must be between 8 and 2000"),
    ({"batch": 500}, "batch", "batch must be between 1 and 140"),
    ({"bn": 1, "batch": 1}, "batch", "batch must be between 2 and 140"),
    ({"bn": "maybe"}, "bn", "bn must be 0 or 1"),
    ({"test": 0.95}, "test", "test must be in [0, 0.9]"),
    ({"samples": 8, "test": 0.6}, "test", "leaves 3 for training"),
    ({"dataset": "sine", "loss": "cross_entropy"}, "loss", "does not fit 'sine', a regression dataset"),
    ({"dataset": "xor", "loss": "mse"}, "loss", "does not fit 'xor', a classification dataset"),
    ({"seed": -1}, "seed", "seed must be between 0 and"),
    ({"colour": "red"}, "colour", "unknown setting 'colour'"),
    # what Python's int() and float() would read, or fail on deep inside, is refused by name
    ({"samples": "\u00b2"}, "samples", "samples must be a whole number"),
    ({"layers": "\u0663"}, "layers", "hidden layer 1 width must be a whole number"),
    ({"samples": "++40"}, "samples", "samples must be a whole number"),
    ({"samples": "9" * 5000}, "samples", "samples must be a whole number, got '99999"),
    ({"samples": 10**400}, "samples", "samples must be between 8 and 2000"),
    ({"lr": 10**400}, "lr", "lr must be a number, got 1000"),
    ({"lr": "1" * 500}, "lr", "lr must be a number"),
    ({"lr": [0.1]}, "lr", "lr must be a number, got [0.1]"),
])
def test_bad_values_name_their_field(values, field, words):
    with pytest.raises(ConfigError) as caught:
        parse_config(values)
    assert caught.value.field == field
    assert words in str(caught.value)


# -- sessions: what the page draws, checked against the library ----------------------------------

def _session(**values):
    return Session(parse_config(values))


def test_a_step_shows_the_deltas_of_the_batch_before_the_update():
    session = _session(dataset="moons", layers="5,3", activation="sigmoid", loss="squared_error",
                       batch=8, l2=0.01, seed=2)
    session.train(5, max_steps=7)
    before = session.net.copy()
    result = session.step()
    state = session.state(result)
    rows = state["step"]["rows"]
    assert len(rows) == 8 and state["steps"] == 8
    loss, dWs, dbs = before.loss_and_gradients(session.X_train[rows], session.y_train[rows],
                                               loss="squared_error", l2=0.01)
    assert state["step"]["loss"] == pytest.approx(loss, rel=1e-12)
    layers = state["step"]["layers"]
    assert [np.shape(layer["delta"]) for layer in layers] == [(8, 5), (8, 3), (8, 1)]
    for layer, expected, dW, db in zip(layers, before.deltas, dWs, dbs):
        np.testing.assert_allclose(layer["delta"], expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["mean_abs_delta"], np.abs(expected).mean(axis=0), rtol=1e-12)
        assert layer["grad_norm"] == pytest.approx(np.sqrt(np.sum(dW**2) + np.sum(db**2)), rel=1e-12)
        assert layer["rows_shown"] == layer["rows_total"] == 8
    # and the weights shown are the ones after the update: SGD (lr 0.1) on this gradient
    for shown, W, dW in zip(state["weights"], before.weights, dWs):
        np.testing.assert_allclose(shown["W"], W - 0.1 * dW, rtol=1e-12, atol=1e-15)


def test_large_batches_send_32_rows_of_each_delta():
    session = _session(dataset="circles", batch=100)
    layers = session.state(session.step())["step"]["layers"]
    assert all(layer["rows_shown"] == 32 and len(layer["delta"]) == 32 and layer["rows_total"] == 100
               for layer in layers)


def test_neuron_maps_and_decision_map_are_the_network_on_the_grid():
    session = _session(dataset="spirals", layers="6,3", activation="relu", bn=1, batch=16, seed=4)
    session.train(20, max_steps=40)
    state = session.state()
    xmin, xmax, ymin, ymax = state["grid"]["extent"]
    assert xmin < session.X_train[:, 0].min() and xmax > session.X_train[:, 0].max()
    assert ymin < session.X_train[:, 1].min() and ymax > session.X_train[:, 1].max()
    xs, ys = np.linspace(xmin, xmax, MAP_SIZE), np.linspace(ymax, ymin, MAP_SIZE)
    grid = np.column_stack([a.ravel() for a in np.meshgrid(xs, ys)])
    # independent forward pass in evaluation mode: dense -> BatchNorm (running stats) -> relu
    dense, bn = session.net.dense_layers[0], session.net.batchnorm_layers[0]
    z = grid @ dense.W.T + dense.b
    z_hat = (z - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
    hidden = np.maximum(bn.gamma * z_hat + bn.beta, 0.0)
    for unit, encoded in enumerate(state["maps"][0]):
        decoded = _decode(encoded, (MAP_SIZE, MAP_SIZE)).ravel()
        span = max(encoded["max"] - encoded["min"], 1e-12)
        # half a byte's step, and float32's rounding: the pictures are computed in float32
        assert np.max(np.abs(decoded - hidden[:, unit])) <= span / 255 / 2 + 1e-6
    assert len(state["maps"]) == 3 and [len(m) for m in state["maps"]] == [6, 3, 1]
    output_map = _decode(state["maps"][2][0], (MAP_SIZE, MAP_SIZE)).ravel()
    span = state["maps"][2][0]["max"] - state["maps"][2][0]["min"]
    np.testing.assert_allclose(output_map, session.net.predict(grid)[:, 0], atol=span / 255 / 2 + 1e-6)
    np.testing.assert_allclose(_decode(state["input_maps"][0], (MAP_SIZE, MAP_SIZE)).ravel(),
                               grid[:, 0], atol=(xmax - xmin) / 255)
    # the decision map: P(class 1) on the 100 x 100 grid, byte / 255
    xs, ys = np.linspace(xmin, xmax, OUTPUT_SIZE), np.linspace(ymax, ymin, OUTPUT_SIZE)
    big = np.column_stack([a.ravel() for a in np.meshgrid(xs, ys)])
    q = np.frombuffer(base64.b64decode(state["output"]["data"]), np.uint8)
    np.testing.assert_allclose(q / 255.0, session.net.predict(big)[:, 0], atol=0.5 / 255 + 1e-6)


def test_regression_sends_curves():
    session = _session(dataset="sine", layers="8", batch=20)
    session.train(10, max_steps=30)
    state = session.state()
    assert state["task"] == "regress" and state["metric_name"] == "r2"
    assert state["layer_sizes"] == [1, 8, 1]
    x = np.array(state["output"]["x"])
    np.testing.assert_allclose(state["output"]["y"], session.net.predict(x[:, None])[:, 0])
    assert len(base64.b64decode(state["maps"][0][0]["data"])) == MAP_SIZE
    assert state["data"] is None  # the data points come with the reset only
    data = session.state(with_data=True)["data"]
    assert np.shape(data["train"]["x"]) == (140, 1) and np.shape(data["test"]["x"]) == (60, 1)
    np.testing.assert_allclose(data["train"]["y"], session.y_train)
    assert state["activations"] == ["tanh", "identity"]


def test_scores_are_the_libraries_and_accuracy_is_of_the_predicted_class():
    session = _session(dataset="blobs", loss="cross_entropy", layers="3")
    session.train(20, max_steps=50)
    state = session.state()
    assert state["layer_sizes"] == [2, 3, 2] and state["activations"] == ["tanh", "softmax"]
    loss, _ = dp.evaluate(session.net, session.X_test, session.y_test, loss="cross_entropy")
    assert state["test"]["loss"] == pytest.approx(loss)
    predicted = session.net.predict(session.X_test).argmax(axis=1)
    assert state["test"]["metric"] == pytest.approx(np.mean(predicted == session.y_test))
    assert _session(test=0).state()["test"] is None


def test_history_is_thinned_to_at_most_500_entries():
    session = _session(dataset="xor", layers="2", batch=140)
    for _ in range(1200):
        session.train(1, max_steps=1)
    history = session.history
    assert 250 <= len(history["epoch"]) <= 500
    assert all(len(history[key]) == len(history["epoch"]) for key in history)
    assert history["epoch"] == sorted(history["epoch"])
    assert np.shape(history["grad_norms"])[1] == 2


def test_history_has_no_gradient_norms_where_no_step_was_taken():
    session = _session(dataset="sine", layers="16,16", activation="relu", lr=10, batch=70, seed=2)
    assert session.history["grad_norms"][0] == [None, None, None]  # the reset: no step yet
    while not session.diverged:
        session.train(50, max_steps=1)
    assert session.history["grad_norms"][-1] == [None, None, None]  # its only step was refused
    taken = session.history["grad_norms"][1:-1]  # the requests whose step was taken
    assert all(v is not None for norms in taken for v in norms)


def test_divergence_stops_training_and_says_what_to_do():
    session = _session(dataset="sine", layers="16,16", activation="relu", lr=10, optimizer="sgd")
    for _ in range(20):
        session.train(20)
        if session.diverged:
            break
    assert session.diverged and "Lower the learning rate (now 10)" in session.diverged
    steps = session.steps
    session.train(20)
    assert session.steps == steps and session.step() is None
    state = session.state()
    json.dumps(state, allow_nan=False)  # no NaN reaches the page
    assert all(np.isfinite(session.net.theta))


# -- exports --------------------------------------------------------------------------------------

def test_exported_code_replays_the_run_to_the_same_weights(tmp_path):
    session = _session(dataset="moons", layers="4,3", bn=1, batch=12, optimizer="adam", lr=0.02,
                       l2=0.001, noise=0.2, seed=7)
    session.train(50, max_steps=37)  # not a whole number of epochs
    session.step()
    script = tmp_path / "playground_run.py"
    script.write_text(python_code(session))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "test loss:" in done.stdout and "accuracy:" in done.stdout
    replayed = dp.load(tmp_path / "playground.dp")
    np.testing.assert_array_equal(replayed.theta, session.net.theta)
    for a, b in zip(replayed.batchnorm_layers, session.net.batchnorm_layers):
        np.testing.assert_array_equal(a.running_mean, b.running_mean)


def test_exported_code_names_the_fit_call_for_whole_epochs_and_it_gives_the_same_weights():
    session = _session(dataset="xor", batch=14, optimizer="adam", lr=0.05, l2=0.001)
    session.train(50, max_steps=30)  # 140 training rows: 10 batches an epoch, 3 epochs
    code = python_code(session)
    assert "?dataset=xor" in code
    call = "net.fit(X_train, y_train, epochs=3, loss='binary_cross_entropy'"
    assert call in code
    # run the script up to the network, then the fit call in the comment instead of the steps
    setup = code.split("stepper = ")[0]
    fit_line = code.split("#   ", 1)[1].split("\n")[0]
    namespace: dict = {}
    exec(setup + fit_line, namespace)
    np.testing.assert_array_equal(namespace["net"].theta, session.net.theta)


def test_the_session_trains_with_its_fit_options_and_the_export_writes_them():
    session = _session(dataset="circles", loss="cross_entropy", optimizer="sgd", lr=0.3, batch=7,
                       l2=0.01)
    options = fit_options(session.config)
    assert options.to_dict()["optimizer"]["params"]["lr"] == 0.3 and options.batch_size == 7
    stepper = session.stepper
    assert (type(stepper.optimizer), stepper.optimizer.lr) == (dp.SGD, 0.3)
    assert (stepper.loss.name, stepper.batch_size, stepper.l2) == ("cross_entropy", 7, 0.01)
    code = python_code(session)
    assert ("loss='cross_entropy',\n" + " " * 26 + "optimizer=dp.SGD(lr=0.3),\n") in code
    assert "batch_size=7,\n" in code and "l2=0.01,\n" in code
    assert f"engine={session.stepper.engine_name!r})\n" in code  # named: auto may differ


def test_exported_code_of_a_diverged_run_says_so_and_names_no_fit_call():
    session = _session(dataset="sine", layers="16,16", activation="relu", lr=10, batch=70, seed=2)
    while not session.diverged:
        session.train(50)
    code = python_code(session)
    assert "The run diverged" in code and "net.fit(" not in code


def test_exported_scores_are_the_pages():
    session = _session(dataset="moons", loss="squared_error", layers="3")
    session.train(20, max_steps=40)
    state = session.state()
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(python_code(session).replace('dp.save(net, "playground.dp")', ""), namespace)
    test_line = [line for line in printed.getvalue().splitlines() if line.startswith("test")][0]
    assert test_line.endswith(f"accuracy: {state['test']['metric']}")


def test_exported_model_file_loads_with_the_weights_and_settings(tmp_path):
    session = _session(dataset="circles", layers="5")
    session.train(10, max_steps=20)
    path = tmp_path / "playground.dp"
    path.write_bytes(model_bytes(session))
    net, extra = dp.load(path), read_archive(path).metadata
    np.testing.assert_array_equal(net.theta, session.net.theta)
    assert extra["playground"]["dataset"] == "circles" and extra["steps"] == 20


# -- HTTP -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    running = serve_in_thread(port=0)
    yield running
    running.shutdown()


def _request(server, path, body=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _post(server, path, body=None, raw=None):
    status, _, data = _request(server, path, body, raw)
    return status, json.loads(data)


def test_the_server_listens_on_this_machine_only_and_serves_the_page(server, tmp_path):
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, page = _request(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<html" in page.lower()
    status, headers, _ = _request(server, "/static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    # a file the server could read, with a suffix it serves, outside its static folder
    secret = tmp_path / "secret.css"
    secret.write_text("body {}")
    static = os.path.join(os.path.dirname(dp.playground.__file__), "static")
    relative = os.path.relpath(secret, static)
    for path in (f"/static/{relative}", f"/static/{secret}", "/static/../config.py", "/static/x.py",
                 "/static/nothing.js", "/etc/passwd", "/static/.hidden.css",
                 f"/static/{relative.replace('/', '%2f')}", "/static/%2e%2e/server.py",
                 "/static/..%5cserver.py", "/static/app.js%00.css", "//etc/passwd",
                 "/static//etc/passwd", "/static/index.html/", "/static/app.js/.", "/STATIC/app.js"):
        assert _request(server, path)[0] == 404, path


def test_requests_addressed_to_another_host_are_refused(server):
    """DNS rebinding: a page from evil.example resolving to 127.0.0.1 gets nothing."""
    port = server.url.rsplit(":", 1)[1].strip("/")
    for host, status in ((f"evil.example:{port}", 403), (f"localhost:{port}", 200),
                         (f"127.0.0.1:{port}", 200), (f"127.0.0.2:{port}", 200), ("[::1]", 200),
                         (f"127.0.0.1.evil.example:{port}", 403), ("", 403)):
        request = urllib.request.Request(server.url, headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == status
        except urllib.error.HTTPError as error:
            assert error.code == status
            assert "addressed to localhost or a loopback address only" in json.loads(error.read())["error"]


def test_every_file_the_page_loads_is_served_and_shipped_in_the_package(server):
    """What index.html and the modules reference exists, is served, and matches the
    package-data patterns in pyproject.toml (so an installed package has it: no build step)."""
    static = Path(dp.playground.__file__).parent / "static"
    root = Path(dp.playground.__file__).parents[3]
    # tomllib is Python 3.11+: the one line is read as the JSON list it also is
    line = re.search(r'^"deltaprop\.playground" = (\[.*\])$', (root / "pyproject.toml").read_text(), re.M)
    patterns = json.loads(line.group(1))
    referenced, pending = set(), ["index.html"]
    while pending:
        name = pending.pop()
        if name in referenced:
            continue
        referenced.add(name)
        text = (static / name).read_text()
        module = r'(?:from|import)\s+"\./([\w-]+\.js)"'
        linked = r'(?:src|href)="(?:static/)?([\w-]+\.(?:js|css))"'
        for found in re.findall(f"{module}|{linked}", text):
            pending.extend(part for part in found if part)
    assert {"index.html", "app.js", "style.css"} <= referenced
    assert referenced == {path.name for path in static.iterdir()}  # nothing unused, nothing missing
    for name in referenced:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in patterns), name
        status, _, body = _request(server, "/" if name == "index.html" else f"/static/{name}")
        assert status == 200 and body, name
        assert "http://" not in body.decode() and "https://" not in body.decode(), name  # offline


def test_reset_train_step_and_export_over_http(server):
    status, answer = _post(server, "/api/reset", {"session": "http-1", "config": {
        "dataset": "xor", "layers": "4", "lr": "0.3"}})
    assert status == 200 and answer["config"]["lr"] == 0.3 and answer["state"]["steps"] == 0
    assert answer["query"].startswith("dataset=xor&")
    status, answer = _post(server, "/api/train", {"session": "http-1", "max_ms": 50, "max_steps": 14})
    assert status == 200 and answer["state"]["steps"] == 14 and answer["state"]["epoch"] == 1.0
    status, answer = _post(server, "/api/step", {"session": "http-1"})
    assert answer["state"]["steps"] == 15 and len(answer["state"]["step"]["layers"]) == 2
    status, headers, code = _request(server, "/api/export/code?session=http-1")
    assert status == 200 and 'filename="playground_run.py"' in headers["Content-Disposition"]
    assert b"for _ in range(15)" in code or b"result = stepper.run(15)" in code
    status, headers, model = _request(server, "/api/export/model?session=http-1")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert model[:2] == b"PK"


@pytest.mark.parametrize(("path", "body", "raw", "status", "words"), [
    ("/api/reset", {"session": "bad", "config": {"lr": "abc"}}, None, 400, "lr must be a number"),
    ("/api/reset", {"session": "bad", "config": "lr=1"}, None, 400, "must be a JSON object"),
    ("/api/reset", {"config": {}}, None, 400, "must name its session"),
    ("/api/reset", None, b"{not json", 400, "the body is not JSON"),
    ("/api/reset", None, b"[1, 2]", 400, "the body must be a JSON object"),
    ("/api/reset", None, b"", 400, "needs a JSON body"),
    ("/api/train", {"session": "never-reset"}, None, 404, "unknown to the server"),
    ("/api/train", {"session": "bad", "max_ms": "fast"}, None, 400, "max_ms must be"),
    ("/api/train", {"session": "bad", "max_steps": 0}, None, 400, "max_steps must be"),
    ("/api/nothing", {"session": "bad"}, None, 404, "no such API call"),
    # wrong types and values anywhere in the body: a 400 naming the field
    ("/api/reset", {"session": ["x"], "config": {}}, None, 400, "must name its session"),
    ("/api/reset", {"session": "", "config": {}}, None, 400, "must name its session"),
    ("/api/reset", {"session": "x" * 101, "config": {}}, None, 400, "must name its session"),
    ("/api/reset", {"session": "bad", "config": None}, None, 400, "must be a JSON object, got NoneType"),
    ("/api/reset", {"session": "bad", "config": [["lr", 1]]}, None, 400, "must be a JSON object"),
    ("/api/reset", {"session": "bad", "config": {"layers": [[1]]}}, None, 400, "hidden layer 1 width"),
    ("/api/reset", {"session": "bad", "config": {"bn": {}}}, None, 400, "bn must be 0 or 1"),
    ("/api/reset", None, b'{"session": "bad", "config": {"lr": ' + b"[" * 900 + b"]" * 900 + b"}}",
     400, "lr must be a number"),
    ("/api/train", None, b'{"session": "bad", "max_ms": NaN}', 400, "max_ms must be"),
    ("/api/train", None, b'{"session": "bad", "max_ms": Infinity}', 400, "max_ms must be"),
    ("/api/train", {"session": "bad", "max_ms": True}, None, 400, "max_ms must be"),
    ("/api/train", {"session": "bad", "max_steps": 1.5}, None, 400, "max_steps must be"),
    ("/api/train", None, b'{"session": "bad", "max_steps": ' + b"9" * 4400 + b"}", 400, "not JSON"),
    ("/api/step", None, b"null", 400, "the body must be a JSON object"),
    ("/api/step", None, b'"text"', 400, "the body must be a JSON object"),
    ("/api/step", None, b'{"session": "bad"', 400, "the body is not JSON"),
    # a key the call does not read (a typo, say) is refused by every call, before the session
    ("/api/reset", {"session": "bad", "config": {}, "x": 1}, None, 400, "takes no 'x'"),
    ("/api/train", {"session": "never-reset", "x": 1}, None, 400, "takes no 'x'"),
    ("/api/train", {"session": "bad", "max_step": 5}, None, 400, "takes no 'max_step'"),
    ("/api/step", {"session": "never-reset", "x": 1}, None, 400, "takes no 'x'"),
])
def test_bad_requests_get_a_json_error_naming_the_problem(server, path, body, raw, status, words):
    got, answer = _post(server, path, body, raw)
    assert got == status and words in answer["error"], answer
    assert set(answer) == {"error", "field"}


@pytest.mark.parametrize("path", sorted(BODY_KEYS))
def test_every_call_refuses_a_key_it_does_not_read_naming_it(server, path):
    if path.startswith("/api/export/"):
        got, _, data = _request(server, path + "?session=never-reset&sesion=x")
        answer = json.loads(data)
    else:
        got, answer = _post(server, path, {"session": "never-reset", "colour": "red"})
    assert got == 400 and answer["field"] in ("colour", "sesion"), answer
    assert "takes no" in answer["error"] and "its keys: session" in answer["error"]


def test_a_refused_post_closes_its_connection_so_its_body_is_never_a_request(server):
    """The body of a refused POST is not read; were the connection kept, it would be parsed
    as the next request (here one that would pass the Host check)."""
    _post(server, "/api/reset", {"session": "smuggle", "config": {}})
    hidden = b"GET /api/export/code?session=smuggle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    host, port = server.server.server_address[:2]
    for target, host_header in ((b"/api/nothing", b"127.0.0.1"), (b"/api/train", b"evil.example")):
        with socket.create_connection((host, port), timeout=30) as connection:
            connection.sendall(b"POST " + target + b" HTTP/1.1\r\nHost: " + host_header +
                               b"\r\nContent-Length: " + str(len(hidden)).encode() + b"\r\n\r\n" + hidden)
            answer = b""
            while chunk := connection.recv(65536):  # the server closes after its one answer
                answer += chunk
        assert answer.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in answer
        assert b"200 OK" not in answer


def test_bodies_python_cannot_read_are_refused_not_crashed_on(server):
    deep = b'{"session": "deep", "config": {"samples": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
    for body, words in ((deep[:60_000], "not JSON"), (b'{"session": "x", "config": {"samples": '
                                                        + b"9" * 5000 + b"}}", "not JSON"),
                        (b"\xff\xfe", "not JSON")):
        status, answer = _post(server, "/api/reset", raw=body)
        assert status == 400 and words in answer["error"], answer


def test_a_refused_reset_keeps_the_sessions_run(server):
    _post(server, "/api/reset", {"session": "keep", "config": {"dataset": "moons"}})
    _post(server, "/api/train", {"session": "keep", "max_steps": 5})
    status, answer = _post(server, "/api/reset", {"session": "keep", "config": {"layers": "4,99"}})
    assert status == 400 and answer["field"] == "layers"
    status, answer = _post(server, "/api/step", {"session": "keep"})
    assert status == 200 and answer["state"]["steps"] == 6


def test_a_tab_closing_during_its_request_leaves_no_traceback(server, capfd):
    """The page closes while /api/train runs: the server finds the connection gone, says
    nothing, and serves the next request."""
    _post(server, "/api/reset", {"session": "closing", "config": {}})
    host, port = server.server.server_address[:2]
    body = json.dumps({"session": "closing", "max_ms": 300}).encode()
    with socket.create_connection((host, port)) as connection:
        connection.sendall(b"POST /api/train HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: "
                           + str(len(body)).encode() + b"\r\n\r\n" + body)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert _post(server, "/api/step", {"session": "closing"})[0] == 200
    time.sleep(0.5)  # the closed request's training (300 ms) has ended and tried to answer
    assert "Traceback" not in capfd.readouterr().err


def test_an_exception_inside_a_request_is_answered_and_the_server_goes_on(server, monkeypatch):
    def broken(self, max_ms, max_steps=1):
        raise RuntimeError("boom")
    _post(server, "/api/reset", {"session": "boom", "config": {}})
    monkeypatch.setattr(Session, "train", broken)
    status, answer = _post(server, "/api/train", {"session": "boom"})
    assert status == 500 and "RuntimeError: boom" in answer["error"]
    monkeypatch.undo()
    assert _post(server, "/api/train", {"session": "boom", "max_steps": 1})[0] == 200


def test_tabs_training_at_once_do_not_interfere(server):
    """Four sessions trained from four threads at once end exactly as each trained alone."""
    configs = {f"tab-{i}": {"dataset": name, "layers": "5,3", "seed": i, "batch": 7}
               for i, name in enumerate(["xor", "moons", "spirals", "sine"])}

    data = {}

    def run(session_id):
        data[session_id] = _post(server, "/api/reset", {"session": session_id,
                                                        "config": configs[session_id]})[1]["state"]["data"]
        for _ in range(8):
            _post(server, "/api/train", {"session": session_id, "max_ms": 2000, "max_steps": 25})
        return _post(server, "/api/step", {"session": session_id})[1]["state"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        states = dict(zip(configs, pool.map(run, configs)))
    for session_id, state in states.items():
        alone = Session(parse_config(configs[session_id]))
        for _ in range(8):
            alone.train(2000, max_steps=25)
        expected = alone.state(alone.step())
        assert state["steps"] == 201
        assert state["weights"] == expected["weights"]
        assert state["step"] == expected["step"]
        assert data[session_id] == alone.state(with_data=True)["data"]


def test_shutdown_ends_kept_alive_connections():
    running = serve_in_thread(port=0)
    host, port = running.server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    body = json.dumps({"session": "s", "config": {}})
    connection.request("POST", "/api/reset", body, {"Content-Type": "application/json"})
    assert connection.getresponse().read() and connection.sock is not None  # kept alive
    running.shutdown()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("POST", "/api/train", json.dumps({"session": "s"}),
                           {"Content-Type": "application/json"})
        connection.getresponse()
    connection.close()


def test_sessions_are_bounded_least_recently_used_first():
    sessions = Sessions(capacity=2)
    for name in ("a", "b"):
        sessions.replace(name, _session(samples=20, batch=4))
    sessions.get("a")
    sessions.replace("c", _session(samples=20, batch=4))
    assert len(sessions) == 2
    sessions.get("a")
    with pytest.raises(Exception, match="unknown to the server"):
        sessions.get("b")


# -- HTTP: hostile requests, slow clients, many at once --------------------------------------------

_HOST = b"Host: 127.0.0.1\r\n"


def _raw_post(headers=b"Content-Length: 18\r\n", body=b'{"session": "raw"}', target=b"/api/step"):
    return b"POST " + target + b" HTTP/1.1\r\n" + _HOST + headers + b"\r\n" + body


def _get(target, headers=b""):
    return b"GET " + target + b" HTTP/1.1\r\n" + _HOST + headers + b"\r\n"


def _exchange(server, data, method="GET"):
    """Send ``data`` on a new connection; the answer's status, headers and body."""
    with socket.create_connection(server.server.server_address[:2], timeout=30) as connection:
        connection.sendall(data)
        answer = http.client.HTTPResponse(connection, method=method)
        answer.begin()  # skips a "100 Continue"
        return answer.status, answer.headers, answer.read()


_HOSTILE = [  # name, request, status, words of the error
    # the body's length: never allocated or waited for beyond the limit, never ambiguous
    ("length over the limit", _raw_post(b"Content-Length: 70000\r\n"), 413,
     "Content-Length 70000 is over the 65536 bytes"),
    ("length of 10**12", _raw_post(b"Content-Length: 1000000000000\r\n"), 413, "is over the 65536"),
    ("length of 5000 digits", _raw_post(b"Content-Length: " + b"9" * 5000 + b"\r\n"), 413,
     "is over the 65536 bytes"),
    ("negative length", _raw_post(b"Content-Length: -5\r\n"), 400,
     "Content-Length must be one whole number of bytes, got '-5'"),
    ("length not a number", _raw_post(b"Content-Length: abc\r\n"), 400, "got 'abc'"),
    ("length with an underscore", _raw_post(b"Content-Length: 1_8\r\n"), 400, "got '1_8'"),  # int(): 18
    ("length with a sign", _raw_post(b"Content-Length: +18\r\n"), 400, "got '+18'"),
    ("two lengths", _raw_post(b"Content-Length: 18\r\nContent-Length: 4\r\n"), 400, "got '18', '4'"),
    ("length 0", _raw_post(b"Content-Length: 0\r\n", b""), 400, "its Content-Length is 0"),
    ("no length", _raw_post(b""), 411, "needs a JSON body sent with a Content-Length"),
    ("chunked body", _raw_post(b"Transfer-Encoding: chunked\r\n", b'12\r\n{"session": "raw"}\r\n0\r\n\r\n'),
     411, "and no Transfer-Encoding"),
    ("expect 100 with a long body", _raw_post(b"Expect: 100-continue\r\nContent-Length: 10000000\r\n", b""),
     413, "is over the 65536 bytes"),
    # the request line and headers: the standard library's refusals, as JSON
    ("request line too long", _get(b"/" + b"a" * 70_000), 414, "longer than 65536 bytes"),
    ("header line too long", _get(b"/", b"X: " + b"a" * 70_000 + b"\r\n"), 431, "Line too long"),
    ("too many headers", _get(b"/", b"X: 1\r\n" * 101), 431, "Too many headers"),
    ("bad version", b"GET / HTTP/x\r\n" + _HOST + b"\r\n", 400, "Bad request version"),
    ("HTTP/0.9", b"GET /\r\n\r\n", 400, "must end in its HTTP version"),  # its answer: no status line
    ("bytes, not a request", b"\x00\x01\x02 \xff\r\n\r\n", 400, "Bad HTTP/0.9 request type"),
    ("four words", b"GET / HTTP/1.1 x\r\n" + _HOST + b"\r\n", 400, "Bad request version"),
    ("HTTP/2", b"GET / HTTP/2.0\r\n" + _HOST + b"\r\n", 505, "Invalid HTTP version"),  # HTTP's answer
    ("two Host headers", _get(b"/", b"Host: evil.example\r\n"), 400, "more than one Host header"),
    # methods, targets, queries
    ("PUT", _raw_post().replace(b"POST", b"PUT", 1), 405, "answers GET and POST, not PUT"),
    ("DELETE", _raw_post().replace(b"POST", b"DELETE", 1), 405, "not DELETE"),
    ("unknown method", b"FOO / HTTP/1.1\r\n" + _HOST + b"\r\n", 405, "not FOO"),
    ("OPTIONS", b"OPTIONS * HTTP/1.1\r\n" + _HOST + b"\r\n", 405, "not OPTIONS"),
    ("GET target not a URL", _get(b"http://[/"), 400, "is not a URL: Invalid IPv6 URL"),
    ("POST target not a URL", _raw_post(target=b"http://[/api/step"), 400, "is not a URL"),
    ("export without a session", _get(b"/api/export/model"), 400, "must name its session"),
    ("export with a long session", _get(b"/api/export/code?session=" + b"x" * 101), 400,
     "must name its session"),
    ("export with undecodable query", _get(b"/api/export/code?session=%ff%fe"), 404, "unknown to the"),
]


@pytest.mark.parametrize(("data", "status", "words"), [case[1:] for case in _HOSTILE],
                         ids=[case[0] for case in _HOSTILE])
def test_hostile_requests_get_one_line_of_json_and_a_closed_connection(server, data, status, words):
    """Every malformed request is refused by a 4xx (505 for HTTP/2: HTTP's own answer) with
    {"error": one line naming the problem}; none is a 500, none waits for bytes never sent."""
    got, headers, body = _exchange(server, data)
    answer = json.loads(body)
    assert got == status and words in answer["error"], answer
    assert set(answer) == {"error", "field"} and "\n" not in answer["error"]
    assert headers["Connection"] == "close" and headers["Content-Type"] == "application/json"
    if status == 405:
        assert headers["Allow"] == "GET, POST"


def test_a_refused_expect_100_continue_is_answered_before_the_body_is_sent(server):
    with socket.create_connection(server.server.server_address[:2], timeout=30) as connection:
        connection.sendall(_raw_post(b"Expect: 100-continue\r\nContent-Length: 10000000\r\n", b""))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer


def test_head_is_refused_with_headers_only(server):
    status, headers, body = _exchange(server, b"HEAD / HTTP/1.1\r\n" + _HOST + b"\r\n", "HEAD")
    assert (status, body, headers["Allow"]) == (405, b"", "GET, POST")


def test_a_get_with_a_body_is_answered_and_its_body_never_read_as_a_request(server):
    _post(server, "/api/reset", {"session": "get-body", "config": {}})
    hidden = b"GET /api/export/code?session=get-body HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(server.server.server_address[:2], timeout=30) as connection:
        connection.sendall(b"GET /static/style.css HTTP/1.1\r\n" + _HOST + b"Content-Length: "
                           + str(len(hidden)).encode() + b"\r\n\r\n" + hidden)
        answer = b""
        while chunk := connection.recv(65536):  # the server closes after its one answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in answer


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan"), True, "5", None])
def test_time_limits_must_be_positive_numbers_of_seconds(seconds):
    for name in ("request_timeout", "idle_timeout"):
        with pytest.raises(ValueError, match=f"{name} must be a positive number of seconds"):
            PlaygroundServer("127.0.0.1", 0, **{name: seconds})


@pytest.fixture()
def hasty_server():
    """A server that gives a request 0.5 s to arrive and an idle connection 0.5 s."""
    running = serve_in_thread(port=0, request_timeout=0.5, idle_timeout=0.5)
    yield running
    running.shutdown()


def _read_to_end(connection):
    answer = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):  # socket timeout: the server never closed it
            answer += chunk
    return answer


def test_a_request_dripped_slower_than_its_deadline_gets_408_and_others_are_served(hasty_server):
    """A byte every 50 ms: each read waits far less than the deadline, the request as a whole
    longer. The server answers 408 and closes; a normal client is served meanwhile."""
    request = _raw_post()
    with socket.create_connection(hasty_server.server.server_address[:2], timeout=10) as slow:
        for sent in range(len(request)):  # at most len(request) * 50 ms: bounded
            slow.sendall(request[sent:sent + 1])
            if sent == 2:
                status, answer = _post(hasty_server, "/api/reset", {"session": "meanwhile",
                                                                    "config": {}})
                assert status == 200 and answer["state"]["steps"] == 0
            if select.select([slow], [], [], 0.05)[0]:  # the server has answered
                break
        answer = _read_to_end(slow)
    assert sent < len(request) - 1  # it did not wait for the whole request
    assert answer.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 0.5 s" in answer
    assert b"Connection: close" in answer


def test_a_body_shorter_than_its_content_length_gets_408_not_a_waiting_thread(hasty_server):
    with socket.create_connection(hasty_server.server.server_address[:2], timeout=10) as connection:
        connection.sendall(_raw_post(b"Content-Length: 100\r\n"))  # 18 of the 100 bytes
        answer = _read_to_end(connection)
    assert answer.startswith(b"HTTP/1.1 408 ") and answer.count(b"HTTP/1.1 ") == 1


def test_a_body_cut_short_by_the_end_of_sending_is_refused(server):
    with socket.create_connection(server.server.server_address[:2], timeout=30) as connection:
        connection.sendall(_raw_post(b"Content-Length: 100\r\n"))
        connection.shutdown(socket.SHUT_WR)  # no more is coming; the answer is awaited
        answer = _read_to_end(connection)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"the body ended after 18 of the 100 bytes its Content-Length announced" in answer


def test_idle_connections_are_closed(hasty_server):
    """A connection that never sends, and a kept-alive one after its answer, are closed by the
    server (the socket timeout of 10 s fails the test if not)."""
    address = hasty_server.server.server_address[:2]
    with socket.create_connection(address, timeout=10) as silent, \
            socket.create_connection(address, timeout=10) as kept:
        kept.sendall(b"GET /static/style.css HTTP/1.1\r\n" + _HOST + b"\r\n")
        assert _read_to_end(silent) == b""
        answer = _read_to_end(kept)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" not in answer  # it was kept alive, then closed when idle


def _reset_on(connection, number):
    """A moderately heavy request on a connected socket: a reset sending 1000 points and the
    maps of 25 units. Its status and answer."""
    connection.settimeout(30)
    body = json.dumps({"session": f"burst-{number}", "config": {
        "dataset": "spirals", "samples": 1000, "layers": "16,8", "seed": number}}).encode()
    connection.sendall(b"POST /api/reset HTTP/1.1\r\n" + _HOST + b"Content-Length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)
    answer = http.client.HTTPResponse(connection)
    answer.begin()
    return answer.status, json.loads(answer.read())


def test_a_burst_of_connections_waits_in_the_backlog_and_each_gets_its_whole_answer():
    """24 connections arrive while the server accepts none (as when it is busy): the kernel
    completes every handshake (a listen backlog of 5 leaves all but 6 unanswered), and once
    accepted each gets the whole answer to a real request."""
    running = serve_in_thread(port=0)
    accepting, accept = threading.Event(), running.server.get_request

    def get_request():
        accepting.wait(timeout=30)
        return accept()

    running.server.get_request = get_request
    connections = [socket.socket() for _ in range(24)]
    try:
        for connection in connections:
            connection.setblocking(False)
            connection.connect_ex(running.server.server_address[:2])
        pending = set(connections)
        for _ in range(100):  # at most 2 s; on loopback a handshake takes microseconds
            pending -= set(select.select([], list(pending), [], 0.02)[1])
            if not pending:
                break
        assert not pending, f"{len(pending)} of 24 connections were not completed"
        assert all(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for c in connections)
        accepting.set()
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(_reset_on, connections, range(24)))
        assert [status for status, _ in answers] == [200] * 24
        assert [answer["config"]["seed"] for _, answer in answers] == list(range(24))
        assert all(len(answer["state"]["data"]["train"]["x"]) == 700 for _, answer in answers)
    finally:
        accepting.set()
        for connection in connections:
            connection.close()
        running.shutdown()


# -- the command --------------------------------------------------------------------------------

def test_the_command_serves_until_stopped_and_refuses_a_taken_port(server):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen([sys.executable, "-m", "deltaprop", "playground", "--port", "0"],
                          stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            line = process.stderr.readline()
            assert "deltaprop playground: open http://127.0.0.1:" in line
            url = line.split("open ", 1)[1].split()[0]
            with urllib.request.urlopen(url, timeout=30) as answer:
                assert answer.status == 200
        except BaseException:
            process.kill()
            raise
        process.send_signal(signal.SIGINT)  # Ctrl-C: the way to stop it, not an error
        assert process.wait(timeout=30) == 0
        assert "deltaprop playground: stopped" in process.stderr.read()
    port = server.url.rsplit(":", 1)[1].strip("/")
    done = subprocess.run([sys.executable, "-m", "deltaprop", "playground", "--port", port],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


# -- teaching: a sample's trace, a step's gradient and update, the landscape, the gradient check --

def _tanh_forward(trace):
    """The trace's forward pass again, by hand from its W and b (tanh hidden layers)."""
    a, pairs = np.array(trace["x"]), []
    for layer in trace["layers"]:
        z = np.array(layer["W"]) @ a + np.array(layer["b"])
        a = np.tanh(z) if layer["activation"] == "tanh" else a
        pairs.append((z, a))
    return pairs


def test_a_trace_is_the_forward_and_backward_pass_of_one_row_recomputed_by_hand():
    session = _session(dataset="moons", layers="3,2", batch=8, seed=3)
    session.train(5, max_steps=20)
    trace = session.trace(7)
    x, label = session.X_train[7], int(session.y_train[7])
    assert trace["row"] == 7 and trace["x"] == x.tolist() and trace["y"] == label
    assert trace["batch_size"] == 8 and trace["loss_name"] == "binary_cross_entropy"
    layers = trace["layers"]
    assert [layer["activation"] for layer in layers] == ["tanh", "tanh", "sigmoid"]
    for layer, dense in zip(layers, session.net.dense_layers):  # the current weights
        assert layer["W"] == dense.W.tolist() and layer["b"] == dense.b.tolist()
    # forward: z_l = W_l a_{l-1} + b_l, a_l = f(z_l); the output a sigmoid
    a_prev, a_prevs = x, []
    for layer in layers:
        z = np.array(layer["W"]) @ a_prev + np.array(layer["b"])
        a = 1 / (1 + np.exp(-z)) if layer["activation"] == "sigmoid" else np.tanh(z)
        np.testing.assert_allclose(layer["z"], z, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["a"], a, rtol=1e-12, atol=1e-15)
        a_prevs.append(a_prev)
        a_prev = a
    p = a_prev[0]
    assert trace["loss"] == pytest.approx(-(label * np.log(p) + (1 - label) * np.log(1 - p)), rel=1e-10)
    # backward: delta_L = a - y (sigmoid with its cross-entropy: no f' factor), then the recursion
    assert layers[-1]["fprime"] is None
    delta = np.array([p - label])
    for i in range(len(layers) - 1, -1, -1):
        if i < len(layers) - 1:
            a = np.array(layers[i]["a"])
            np.testing.assert_allclose(layers[i]["fprime"], 1 - a**2, rtol=1e-12)
            delta = (np.array(layers[i + 1]["W"]).T @ delta) * (1 - a**2)
        np.testing.assert_allclose(layers[i]["delta"], delta, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(layers[i]["dW"], np.outer(delta, a_prevs[i]), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(layers[i]["db"], delta, rtol=1e-10, atol=1e-15)


def test_a_trace_is_b_times_its_rows_share_of_the_minibatch_and_the_gradient_of_that_row_alone():
    session = _session(dataset="circles", layers="4,3", batch=8, seed=5)
    session.train(5, max_steps=9)
    traces = {row: session.trace(row) for row in range(len(session.X_train))}
    before = session.net.copy()
    state = session.state(session.step())
    rows = state["step"]["rows"]
    for i, layer in enumerate(state["step"]["layers"]):
        for k, row in enumerate(rows):  # delta_l of row k in the minibatch mean carries 1/B
            np.testing.assert_allclose(8 * np.array(layer["delta"][k]), traces[row]["layers"][i]["delta"],
                                       rtol=1e-10, atol=1e-14)
        mean_dW = np.mean([traces[row]["layers"][i]["dW"] for row in rows], axis=0)
        np.testing.assert_allclose(layer["dW"], mean_dW, rtol=1e-10, atol=1e-14)
    row = rows[0]  # a minibatch of that one row: the library's gradient is the trace's
    _, dWs, dbs = before.loss_and_gradients(session.X_train[[row]], session.y_train[[row]],
                                            loss="binary_cross_entropy")
    for layer, dW, db in zip(traces[row]["layers"], dWs, dbs):
        np.testing.assert_allclose(layer["dW"], dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["db"], db, rtol=1e-12, atol=1e-15)


def test_traces_of_softmax_squared_error_and_regression_outputs():
    softmax = _session(dataset="blobs", loss="cross_entropy", layers="3").trace(0)
    out = softmax["layers"][-1]
    assert out["activation"] == "softmax" and out["fprime"] is None and isinstance(softmax["y"], int)
    np.testing.assert_allclose(out["delta"], np.array(out["a"]) - np.eye(2)[softmax["y"]], atol=1e-15)
    squared = _session(dataset="xor", loss="squared_error", layers="2").trace(3)
    out = squared["layers"][-1]  # a sigmoid under squared error: delta = (a - y) f'(z)
    a = np.array(out["a"])
    np.testing.assert_allclose(out["fprime"], a * (1 - a), rtol=1e-12)
    np.testing.assert_allclose(out["delta"], (a - squared["y"]) * a * (1 - a), rtol=1e-12)
    assert squared["loss"] == pytest.approx(0.5 * float((a[0] - squared["y"]) ** 2), rel=1e-12)
    sine = _session(dataset="sine", layers="4", activation="relu")
    regress = sine.trace(2)
    out = regress["layers"][-1]
    assert regress["y"] == [sine.y_train[2]] and out["activation"] == "identity"
    assert out["fprime"] == [1.0]
    np.testing.assert_allclose(out["delta"], np.array(out["a"]) - regress["y"], rtol=1e-12)
    hidden = regress["layers"][0]
    assert hidden["fprime"] == [float(z > 0) for z in hidden["z"]]


def test_a_trace_changes_nothing_and_refuses_batch_norm_and_rows_out_of_range():
    session = _session(dataset="xor", layers="3", batch=5)
    theta = session.net.theta.copy()
    session.trace(0)
    assert np.array_equal(session.net.theta, theta) and session.steps == 0
    for bad in (-1, 140, 1.0, "3", True, None, [1]):
        with pytest.raises(ConfigError, match="row must be a training row's index") as caught:
            session.trace(bad)
        assert caught.value.field == "row"
    with pytest.raises(ConfigError, match="batch normalization") as caught:
        _session(bn=1).trace(0)
    assert caught.value.field == "bn"


@pytest.mark.parametrize(("optimizer", "l2"), [("sgd", 0.0), ("sgd", 0.05), ("adam", 0.01)])
def test_a_step_answers_its_gradient_its_update_and_the_outputs_before_it(optimizer, l2):
    session = _session(dataset="moons", layers="5,3", batch=12, optimizer=optimizer, lr=0.2, l2=l2)
    session.train(5, max_steps=6)
    before = session.net.copy()
    state = session.state(session.step())
    step, rows = state["step"], state["step"]["rows"]
    _, dWs, dbs = before.loss_and_gradients(session.X_train[rows], session.y_train[rows],
                                            loss="binary_cross_entropy", l2=l2)
    y_hat = before.forward(session.X_train[rows], training=True)
    np.testing.assert_allclose(step["y_hat"], y_hat, rtol=1e-12)
    assert np.shape(step["y_hat"]) == (12, 1)
    for layer, old, new, dW, db in zip(step["layers"], before.dense_layers,
                                       session.net.dense_layers, dWs, dbs):
        np.testing.assert_allclose(layer["dW"], dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["db"], db, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["update"]["W"], new.W - old.W, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["update"]["b"], new.b - old.b, rtol=1e-12, atol=1e-15)
        if optimizer == "sgd":  # plain SGD: update = -lr dW
            for name in ("W", "b"):
                np.testing.assert_allclose(layer["update"][name], -0.2 * np.array(layer["d" + name]),
                                           rtol=1e-9, atol=1e-15)
    assert session.state()["step"] is None  # a train's answer has no step


def test_large_steps_send_the_outputs_of_the_rows_shown():
    session = _session(dataset="circles", batch=100, loss="cross_entropy")
    step = session.state(session.step())["step"]
    assert np.shape(step["y_hat"]) == (32, 2)
    first = step["layers"][0]
    assert np.shape(first["dW"]) == (4, 2) and np.shape(first["update"]["W"]) == (4, 2)


@pytest.mark.parametrize("values", [{"dataset": "moons", "layers": "4,3"},
                                    {"dataset": "spirals", "layers": "5", "bn": 1, "activation": "relu"},
                                    {"dataset": "sine", "layers": "6"}])
def test_the_landscape_is_the_training_loss_around_the_weights_which_stay(values):
    session = _session(**values, seed=4)
    session.train(5, max_steps=30)
    theta, statistics = session.net.snapshot()
    reported = session.state()["train"]["loss"]
    land = session.landscape(7, 0.5)
    assert land["size"] == 7 and land["radius"] == 0.5 and np.shape(land["loss"]) == (7, 7)
    assert land["centre"] == reported
    assert land["loss"][3][3] == pytest.approx(reported, rel=1e-9)
    assert land["min"] == np.min(land["loss"]) and land["max"] == np.max(land["loss"])
    assert np.array_equal(session.net.theta, theta)
    for (mean, var), bn in zip(statistics, session.net.batchnorm_layers):
        assert np.array_equal(bn.running_mean, mean) and np.array_equal(bn.running_var, var)
    # row 0 is beta = +r, column 0 alpha = -r: that corner by hand, with the library's evaluate
    parts = landscape_directions(session.net, 4)
    probe = session.net.copy()
    for layer, (d1, d2) in zip(probe.dense_layers, parts):
        layer.W[...] += -0.5 * d1 + 0.5 * d2
        assert np.linalg.norm(d1) == pytest.approx(np.linalg.norm(layer.W - (-0.5 * d1 + 0.5 * d2)))
    corner, _ = dp.evaluate(probe, session.X_train, session.y_train, loss=session.config.loss)
    assert land["loss"][0][0] == pytest.approx(corner, rel=1e-9)
    assert session.landscape(7, 0.5) == land  # seeded by the run's seed


def test_the_gradient_check_passes_on_fresh_and_trained_networks():
    for values in ({"layers": "4,4"}, {"layers": "5,3", "activation": "relu", "l2": 0.01},
                   {"dataset": "blobs", "loss": "cross_entropy", "layers": "3", "bn": 1},
                   {"dataset": "sine", "layers": "6", "activation": "relu"}):
        session = _session(**values, seed=1)
        for _ in range(2):  # fresh, then trained
            check = session.gradcheck()
            assert check["passed"] is True and check["rows"] == 16, (values, check)
            assert check["max_error"] < check["tolerance"] == 1e-6
            assert "layers.0.W" in check["errors"] and isinstance(check["skipped"], dict)
            session.train(5, max_steps=50)
    assert _session(samples=8, test=0.5).gradcheck()["rows"] == 4


def test_teaching_calls_over_http(server):
    _post(server, "/api/reset", {"session": "teach", "config": {"layers": "2", "batch": 4}})
    status, answer = _post(server, "/api/trace", {"session": "teach", "row": 3})
    assert status == 200 and answer["trace"]["row"] == 3 and len(answer["trace"]["layers"]) == 2
    status, answer = _post(server, "/api/landscape", {"session": "teach"})
    assert status == 200 and np.shape(answer["landscape"]["loss"]) == (21, 21)
    assert answer["landscape"]["radius"] == 1.0
    status, answer = _post(server, "/api/landscape", {"session": "teach", "size": 5, "radius": 2})
    assert status == 200 and answer["landscape"]["radius"] == 2.0
    status, answer = _post(server, "/api/gradcheck", {"session": "teach"})
    assert status == 200 and answer["gradcheck"]["passed"] is True
    status, answer = _post(server, "/api/step", {"session": "teach"})
    step = answer["state"]["step"]
    assert np.shape(step["y_hat"]) == (4, 1) and np.shape(step["layers"][1]["update"]["W"]) == (1, 2)


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"row": -1}, "row", "row must be a training row's index, a whole number from 0 to 139"),
    ({"row": 140}, "row", "from 0 to 139, got 140"),
    ({"row": 2.0}, "row", "got 2.0"),
    ({"row": "2"}, "row", "got '2'"),
    ({"row": True}, "row", "got True"),
    ({}, "row", "got None"),
    ({"row": 10**400}, "row", "..."),
    ({"size": 4}, "size", "size must be a whole number from 5 to 41, got 4"),
    ({"size": 42}, "size", "got 42"),
    ({"size": 9.0}, "size", "got 9.0"),
    ({"size": "21"}, "size", "got '21'"),
    ({"size": False}, "size", "got False"),
    ({"radius": 0}, "radius", "radius must be a number in (0, 10], got 0"),
    ({"radius": -1}, "radius", "got -1"),
    ({"radius": 10.5}, "radius", "got 10.5"),
    ({"radius": "1"}, "radius", "got '1'"),
    ({"radius": True}, "radius", "got True"),
    ({"radius": None}, "radius", "got None"),
    ({"radius": 10**400}, "radius", "..."),
    ({"rows": 1}, "rows", "takes no 'rows'"),
])
def test_teaching_calls_name_the_bad_field(server, body, field, words):
    _post(server, "/api/reset", {"session": "teach-bad", "config": {}})
    path = "/api/trace" if field in ("row", "rows") else "/api/landscape"
    status, answer = _post(server, path, {"session": "teach-bad", **body})
    assert status == 400 and answer["field"] == field and words in answer["error"], answer


def test_teaching_calls_refuse_batch_norm_traces_unknown_sessions_and_nonfinite_radii(server):
    _post(server, "/api/reset", {"session": "teach-bn", "config": {"bn": 1}})
    status, answer = _post(server, "/api/trace", {"session": "teach-bn", "row": 0})
    assert status == 400 and answer["field"] == "bn" and "batch normalization" in answer["error"]
    for path in ("/api/trace", "/api/landscape", "/api/gradcheck"):
        body = {"session": "never-reset", **({"row": 0} if "trace" in path else {})}
        status, answer = _post(server, path, body)
        assert status == 404 and "unknown to the server" in answer["error"], path
    for raw in (b"NaN", b"Infinity", b"-Infinity"):
        status, answer = _post(server, "/api/landscape",
                               raw=b'{"session": "teach-bn", "radius": ' + raw + b"}")
        assert status == 400 and answer["field"] == "radius", raw


def test_concurrent_requests_leave_the_blas_threads_as_they_were():
    """Sessions set no process-wide BLAS limit from their request threads (threadpoolctl's
    limits are per process, and per-request ones interleaved left OpenBLAS on one thread)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()]
    running = serve_in_thread(port=0)
    try:
        connections = [socket.create_connection(running.server.server_address[:2]) for _ in range(8)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(_reset_on, connections, range(8)))
        assert [status for status, _ in answers] == [200] * 8
    finally:
        for connection in connections:
            connection.close()
        running.shutdown()
    after = {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}
    assert all(after[path] == threads for path, threads in before if path in after)
