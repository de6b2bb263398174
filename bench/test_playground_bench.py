"""Updates per second of the playground, on NumPy (issue 16's goal: at least 20 for the lab's network).

One update is what the page asks for while it plays: a step of one or more
epochs, then the view (one full-batch backward pass for the per-layer norms
of ``Delta_l``, ``dW_l`` and ``db_l``, and the output over the page's 60x60
grid). Timed in the session itself and, for one case, over HTTP on the
loopback interface with the JSON both ways, as the page sees it (less the
drawing). The rate is written into ``extra_info`` (``updates_per_s``), never
asserted.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request

import pytest

from backprop_xp.backends import get_backend
from backprop_xp.playground import make_server
from backprop_xp.playground.sessions import Session, check_config

CASES = {
    # name: (settings, epochs per update)
    "lab-1epoch": ({}, 1),
    "lab-10epochs": ({}, 10),
    "xor-10epochs": ({"dataset": "xor"}, 10),
    "spirals-16-16-adam-10epochs": ({"dataset": "spirals", "hidden": [16, 16], "optimizer": "adam", "lr": 0.02}, 10),
}


def _info(benchmark, name: str, epochs: int, how: str) -> None:
    benchmark.group = "playground-update"
    # size/phase/backend/impl name the case for bench/report.py, which skips it (no samples_s): it is no peer race.
    benchmark.extra_info.update(size=name, phase="playground-update", backend="numpy", impl=how, epochs=epochs)
    if hasattr(os, "getloadavg"):
        benchmark.extra_info["loadavg_before"] = os.getloadavg()[0]


@pytest.mark.parametrize("name", CASES)
def test_playground_update(benchmark, name):
    settings, epochs = CASES[name]
    session = Session(check_config(settings), get_backend("numpy"))

    def update():
        session.step(epochs)
        return session.view()

    _info(benchmark, name, epochs, "session")
    benchmark.pedantic(update, rounds=30, warmup_rounds=2, iterations=1)
    benchmark.extra_info["updates_per_s"] = 1 / benchmark.stats.stats.median


def test_playground_update_over_http(benchmark):
    server = make_server("127.0.0.1", 0, "numpy")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = server.url.rstrip("/")

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    try:
        key = post("/api/sessions", {"dataset": "xor"})["id"]
        _info(benchmark, "xor-10epochs", 10, "http")
        benchmark.pedantic(lambda: post(f"/api/sessions/{key}/step", {"epochs": 10}), rounds=30, warmup_rounds=2,
                           iterations=1)
        benchmark.extra_info["updates_per_s"] = 1 / benchmark.stats.stats.median
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
