"""The playground's API, against a real server on 127.0.0.1 (an ephemeral port), started and stopped here.

Sessions train with the package's own engine, so their losses are those of
:func:`backprop_xp.train` with the same settings, step after step; bad
requests get a 4xx with an "expected ...; received ..." message and the
server keeps serving; several sessions train at once without touching each
other. NumPy only, in the numpy session only: the engine's backends are
compared elsewhere, and the server is the same on all of them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import TEST_ENV, selected_backends

from backprop_xp import NeuralNetwork, TrainingDiverged, cli, equations, train
from backprop_xp.backends import get_backend
from backprop_xp.datasets import load_dataset
from backprop_xp.playground import server as playground_server
from backprop_xp.playground.server import PlaygroundServer, make_server
from backprop_xp.playground.sessions import Limits

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(TEST_ENV)) and selected_backends() != ("numpy",),
    reason="the playground's API is tested in the numpy session only",
)


def _serve(server: PlaygroundServer):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def _stop(server: PlaygroundServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def url():
    server = make_server("127.0.0.1", 0, "numpy")
    thread = _serve(server)
    yield server.url.rstrip("/")
    _stop(server, thread)


def call(url: str, method: str, path: str, body=None, *, raw: bytes | None = None, headers=None):
    """(status, decoded JSON or text) of one request; never raises for a 4xx or 5xx."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, text, kind = error.code, error.read(), error.headers.get("Content-Type", "")
    if "json" in kind:
        return status, json.loads(text)
    return status, text.decode()


def test_the_page_and_its_files_are_served(url):
    for path, kind in [("/", "<canvas id=\"boundary\""), ("/app.js", "function drawBoundary"), ("/style.css", ":root")]:
        status, text = call(url, "GET", path)
        assert status == 200 and kind in text
    status, options = call(url, "GET", "/api/options")
    assert status == 200 and options["backend"] == "numpy" and options["device"] == "cpu"
    assert options["choices"]["dataset"] == ["five-points", "xor", "moons", "circles", "spirals"]
    assert options["defaults"]["hidden"] == [5, 3] and options["limits"]["max_sessions"] == 16


def test_a_session_starts_as_the_lab_and_its_steps_are_trains_epochs(url):
    status, created = call(url, "POST", "/api/sessions", {})
    assert status == 201
    info, view = created["info"], created["view"]
    assert info["sizes"] == [2, 5, 3, 1] and info["activations"] == ["tanh", "tanh", "sigmoid"]
    assert info["n_samples"] == info["batch"] == 5 and info["labels"] == [1, 0, 0, 0, 0]
    assert view["epoch"] == 0 and len(view["grid"]) == 60 * 60
    assert [(len(layer["W"]), len(layer["W"][0])) for layer in view["layers"]] == [(2, 5), (5, 3), (3, 1)]

    # The output over the grid is the network's: at epoch 0, the lab's initial weights (seed 0).
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="numpy")
    x0, x1, y0, y1 = info["extent"]
    u, v = np.meshgrid(np.linspace(x0, x1, 60), np.linspace(y0, y1, 60))
    expected = net.forward(np.stack([u.ravel(), v.ravel()], axis=1))
    np.testing.assert_allclose(view["grid"], expected, atol=1e-4)

    # Two steps (1 epoch, then 4) give the first five losses of train(..., 5, 0.25).
    key = created["id"]
    losses = [*call(url, "POST", f"/api/sessions/{key}/step", {"epochs": 1})[1]["losses"]]
    status, stepped = call(url, "POST", f"/api/sessions/{key}/step", {"epochs": 4})
    assert status == 200 and stepped["view"]["epoch"] == 5
    losses += stepped["losses"]
    x, y = load_dataset("five-points").x, load_dataset("five-points").y
    _, reference = train(x, y, net, 5, 0.25)
    np.testing.assert_allclose(losses, reference, rtol=1e-6)

    # Per layer, the norm of dW_l and db_l: those of backward() at the weights after those epochs.
    grads = net.backward(x, y)
    for layer, (dW, db) in zip(stepped["view"]["layers"], grads):
        assert layer["dW_norm"] == pytest.approx(float(np.linalg.norm(dW)), rel=1e-5)
        assert layer["db_norm"] == pytest.approx(float(np.linalg.norm(db)), rel=1e-5)
        assert layer["delta_norm"] > 0

    status, again = call(url, "GET", f"/api/sessions/{key}")
    assert status == 200 and again["view"]["epoch"] == 5
    assert call(url, "DELETE", f"/api/sessions/{key}")[0] == 204
    assert call(url, "GET", f"/api/sessions/{key}")[0] == 404


def test_steps_continue_one_run_with_the_optimisers_state_and_the_minibatches(url):
    settings = {"dataset": "moons", "hidden": [4], "optimizer": "adam", "lr": 0.02, "batch_size": 64, "seed": 3}
    key = call(url, "POST", "/api/sessions", settings)[1]["id"]
    losses = []
    for epochs in (1, 2, 3):
        losses += call(url, "POST", f"/api/sessions/{key}/step", {"epochs": epochs})[1]["losses"]
    data = load_dataset("moons")
    net = NeuralNetwork(2, 1, [4], seed=3, backend="numpy")
    _, reference = train(data.x, data.y, net, 6, 0.02, optimizer="adam", batch_size=64, seed=3)
    np.testing.assert_allclose(losses, reference, rtol=1e-5)

    # Reset: a new network from new settings under the same id, from epoch 0.
    status, reset = call(url, "POST", f"/api/sessions/{key}/reset", {"dataset": "xor", "hidden": [3, 3, 2]})
    assert status == 200 and reset["id"] == key and reset["view"]["epoch"] == 0
    assert reset["info"]["sizes"] == [2, 3, 3, 2, 1] and reset["info"]["config"]["optimizer"] == "sgd"
    call(url, "DELETE", f"/api/sessions/{key}")


def test_backward_reports_each_delta_and_they_make_the_gradients():
    data = load_dataset("xor")
    net = NeuralNetwork(2, 1, [4, 3], seed=1, backend="numpy", dtype="float64")
    X, Y = net.as_arrays(data.x, data.y)
    activations = equations.forward(net.params, X, net.architecture)
    kept = list(activations)
    delta = equations.output_delta(activations[-1], Y, net.architecture, np)
    deltas: list = []
    grads = equations.backward(net.params, activations, delta, net.architecture, np, deltas=deltas)
    assert [d.shape for d in deltas] == [(200, 4), (200, 3), (200, 1)]
    for A_in, D, (dW, db) in zip(kept[:-1], deltas, grads):
        np.testing.assert_allclose(A_in.T @ D, dW, rtol=1e-12)  # dW_l = A_{l-1}^T Delta_l
        np.testing.assert_allclose(D.sum(axis=0), db, rtol=1e-12)  # db_l = sum of Delta_l's rows


BAD = {
    # name: (method, path, body, status, message)
    "lr-zero": ("POST", "/api/sessions", {"lr": 0}, 400, r"lr must be a finite number in \(0, 10\]; received 0"),
    "lr-text": ("POST", "/api/sessions", {"lr": "fast"}, 400, r"lr must be a finite number in \(0, 10\]; received 'fast'"),
    "too-wide": ("POST", "/api/sessions", {"hidden": [5, 99]}, 400, r"hidden\[1\] must be an integer in \[1, 16\]; received 99"),
    "too-deep": ("POST", "/api/sessions", {"hidden": [2] * 7}, 400, r"hidden must have at most 6 layers; received 7"),
    "hidden-text": ("POST", "/api/sessions", {"hidden": "5 3"}, 400, r"hidden must be a list of widths such as \[5, 3\]; received '5 3'"),
    "unknown-setting": ("POST", "/api/sessions", {"epochs": 3}, 400, r"expected settings among dataset, .*; received 'epochs'"),
    "digits": ("POST", "/api/sessions", {"dataset": "digits"}, 400, r"dataset must be one of 'five-points', .*; received 'digits'"),
    "loss-output": ("POST", "/api/sessions", {"loss": "categorical_crossentropy"}, 400,
                    r"needs an output activation among softmax; received 'sigmoid'"),
    "init-unknown": ("POST", "/api/sessions", {"init": "xavier"}, 400, r"init must be one of .* or 'normal:STD'; received 'xavier'"),
    "init-bad-std": ("POST", "/api/sessions", {"init": "normal:-1"}, 400, r"'normal:STD' needs a positive, finite standard deviation"),
    "grid-huge": ("POST", "/api/sessions", {"grid": 5000}, 400, r"grid must be an integer in \[8, 120\]; received 5000"),
    "batch-bool": ("POST", "/api/sessions", {"batch_size": True}, 400, r"batch_size must be an integer in \[1, 1000\] or None; received True"),
    "not-an-object": ("POST", "/api/sessions", [1, 2], 400, r"expected a JSON object of settings; received list"),
    "not-json": ("POST", "/api/sessions", b"{lr: 1", 400, r"expected a JSON body; received b'\{lr: 1'"),
    "no-session": ("POST", "/api/sessions/nope/step", {"epochs": 1}, 404, r"expected the id of an open session; received 'nope'"),
    "no-route": ("GET", "/api/nothing", None, 404, r"expected one of the page's files or /api/...; received GET '/api/nothing'"),
    "no-file": ("GET", "/secret.txt", None, 404, r"received GET '/secret.txt'"),
    "put": ("PUT", "/api/sessions", {}, 405, r"expected GET, POST or DELETE; received PUT"),
}


@pytest.mark.parametrize("method, path, body, status, message", BAD.values(), ids=BAD.keys())
def test_a_bad_request_gets_a_4xx_that_says_what_was_expected_and_the_server_keeps_serving(url, method, path, body, status, message):
    raw = body if isinstance(body, bytes) else None
    got, payload = call(url, method, path, None if raw else body, raw=raw)
    assert got == status and re.search(message, payload["error"]), payload
    assert call(url, "GET", "/api/options")[0] == 200


def test_bad_steps_and_a_body_too_large(url):
    key = call(url, "POST", "/api/sessions", {})[1]["id"]
    for body, message in [
        ({"epochs": 0}, r"epochs must be an integer in \[1, 500\]; received 0"),
        ({"epochs": 501}, r"epochs must be an integer in \[1, 500\]; received 501"),
        ({"epochs": 1, "lr": 2}, r'expected \{"epochs": N\}; received \{"epochs": 1, "lr": 2\}'),
    ]:
        status, payload = call(url, "POST", f"/api/sessions/{key}/step", body)
        assert status == 400 and re.search(message, payload["error"]), payload
    status, payload = call(url, "POST", "/api/sessions", raw=b"{" + b" " * 70_000 + b"}")
    assert status == 413 and "expected a body of at most 65536 bytes" in payload["error"]
    assert call(url, "GET", f"/api/sessions/{key}")[1]["view"]["epoch"] == 0  # nothing ran
    call(url, "DELETE", f"/api/sessions/{key}")


def test_a_diverging_session_keeps_its_last_finite_weights_and_refuses_further_steps(url):
    settings = {"hidden": [4], "hidden_activation": "identity", "output_activation": "identity", "lr": 10}
    key = call(url, "POST", "/api/sessions", settings)[1]["id"]
    status, stepped = call(url, "POST", f"/api/sessions/{key}/step", {"epochs": 500})
    assert status == 200 and "the loss became" in stepped["view"]["diverged"]
    assert 0 < stepped["view"]["epoch"] < 500 and all(np.isfinite(stepped["losses"]))
    # As train() does: the loss of the epoch after the last one counted is not finite, and the
    # network keeps the weights of the start of the epoch before it, the last with a finite loss.
    net = NeuralNetwork(2, 1, [4], hidden_activation="identity", output_activation="identity", seed=0, backend="numpy")
    with pytest.raises(TrainingDiverged) as diverged, np.errstate(all="ignore"):
        train(load_dataset("five-points").x, load_dataset("five-points").y, net, 500, 10)
    assert diverged.value.epoch == stepped["view"]["epoch"] + 1
    for layer, (W, b) in zip(stepped["view"]["layers"], net.host_params()):
        np.testing.assert_allclose(layer["W"], W, rtol=1e-4, atol=1e-4 * np.abs(W).max())
    status, payload = call(url, "POST", f"/api/sessions/{key}/step", {"epochs": 1})
    assert status == 409 and re.search(r"expected a session still training; received one that diverged", payload["error"])
    call(url, "DELETE", f"/api/sessions/{key}")


def test_the_number_of_sessions_is_limited():
    server = PlaygroundServer(("127.0.0.1", 0), get_backend("numpy"), Limits(max_sessions=2))
    thread = _serve(server)
    try:
        base = server.url.rstrip("/")
        keys = [call(base, "POST", "/api/sessions", {})[1]["id"] for _ in range(2)]
        status, payload = call(base, "POST", "/api/sessions", {})
        assert status == 429 and re.search(r"expected at most 2 open sessions; received a request for one more", payload["error"])
        call(base, "DELETE", f"/api/sessions/{keys[0]}")
        assert call(base, "POST", "/api/sessions", {})[0] == 201
    finally:
        _stop(server, thread)


def test_concurrent_sessions_train_independently(url):
    def run(seed: int) -> list[float]:
        key = call(url, "POST", "/api/sessions", {"dataset": "circles", "hidden": [6], "seed": seed, "grid": 20})[1]["id"]
        losses = []
        for _ in range(8):
            losses += call(url, "POST", f"/api/sessions/{key}/step", {"epochs": 5})[1]["losses"]
        call(url, "DELETE", f"/api/sessions/{key}")
        return losses

    seeds = [0, 1, 2, 3, 0, 1]
    with ThreadPoolExecutor(len(seeds)) as pool:
        together = list(pool.map(run, seeds))
    alone = {seed: run(seed) for seed in (0, 1, 2, 3)}
    for seed, losses in zip(seeds, together):
        assert len(losses) == 40 and losses == alone[seed]
    assert together[0] != together[1]


def test_ctrl_c_stops_the_command_with_status_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "backprop_xp", "playground", "--port", "0", "--backend", "numpy"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert found, line
        assert call(found.group(1).rstrip("/"), "GET", "/api/options")[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
        assert process.stderr.read().strip().endswith("backprop-xp: interrupted")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_a_users_mistake(capsys):
    server = make_server("127.0.0.1", 0, "numpy")
    try:
        assert cli.main(["playground", "--port", str(server.server_address[1])]) == 2
        assert re.search(r"expected a host and port to listen on; received 127\.0\.0\.1:\d+", capsys.readouterr().err)
    finally:
        server.server_close()


def test_the_static_files_are_in_the_package():
    names = {p.name for p in playground_server.STATIC.iterdir()}
    assert {"index.html", "app.js", "style.css"} <= names
