"""gradient_check: it passes a correct backward pass, and it finds and
localises a wrong one (the lab's kind of mistake)."""

from __future__ import annotations

import numpy as np

from backprop_xp import NeuralNetwork, activations, five_points
from backprop_xp.gradcheck import TOLERANCE, format_table, gradient_check, verdict


def test_a_correct_backward_pass_passes_on_every_backend(backend):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [4, 3], dtype="float64", seed=0, backend=backend.name)
    before = [backend.to_numpy(W).copy() for W, _ in net.params]
    checks = gradient_check(net, x, y, max_entries=None)
    assert [(c.layer, c.name, c.shape, c.entries) for c in checks] == [
        (1, "W", (2, 4), 8), (1, "b", (4,), 4), (2, "W", (4, 3), 12), (2, "b", (3,), 3),
        (3, "W", (3, 1), 3), (3, "b", (1,), 1),
    ]
    assert max(c.relative_error for c in checks) < TOLERANCE["float64"]
    for (W, _), saved in zip(net.params, before):  # the network is left as it was
        np.testing.assert_array_equal(backend.to_numpy(W), saved)
    assert net.grads is not None


def test_a_wrong_derivative_is_found_in_the_layers_it_touches(monkeypatch):
    # tanh' written as 1 - A instead of 1 - A*A: only the hidden layers' gradients go wrong.
    monkeypatch.setitem(activations.DERIVATIVES, "tanh", lambda A, upstream, xp: upstream * (1 - A))
    x, y = five_points()
    net = NeuralNetwork(2, 1, [4, 3], dtype="float64", seed=0)
    checks = {(c.layer, c.name): c.relative_error for c in gradient_check(net, x, y)}
    assert checks[(3, "W")] < 1e-6 and checks[(3, "b")] < 1e-6
    assert min(checks[(1, "W")], checks[(2, "W")], checks[(2, "b")]) > 1e-3
    table = format_table(list(gradient_check(net, x, y)), TOLERANCE["float64"])
    assert table.count("TOO LARGE") >= 3 and table.splitlines()[0].startswith("layer")


def test_large_arrays_are_sampled():
    x = np.random.default_rng(0).normal(size=(8, 30))
    net = NeuralNetwork(30, 1, [20], dtype="float64", seed=0)
    checks = gradient_check(net, x, np.zeros(8), max_entries=25)
    assert [c.entries for c in checks] == [25, 20, 20, 1]
    assert max(c.relative_error for c in checks) < 1e-6



def test_relu_kinks_are_reported_apart_and_left_out_of_the_verdict():
    # relu's biases start at 0 and the origin is one of the five points: the first layer's
    # pre-activations sit on the kink there, so nudging b1 by +-eps crosses it.
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], hidden_activation="relu", dtype="float64", seed=0)
    checks = {(c.layer, c.name): c for c in gradient_check(net, x, y)}
    b1 = checks[(1, "b")]
    assert b1.kink_entries == 5 and b1.kink_error > 1e-2  # the central difference averages two slopes there
    assert all(c.passes(TOLERANCE["float64"]) for c in checks.values())
    assert checks[(1, "W")].kink_entries == 0 and np.isnan(checks[(1, "W")].kink_error)
    text = verdict(list(checks.values()), TOLERANCE["float64"])
    assert text.startswith("backprop's gradients agree with finite differences away from relu's kink")
    assert "Only those disagree: backprop is right." in text
    assert "at a kink" in format_table(list(checks.values()), TOLERANCE["float64"])


def test_a_wrong_relu_derivative_is_still_found_away_from_the_kinks(monkeypatch):
    monkeypatch.setitem(activations.DERIVATIVES, "relu", lambda A, upstream, xp: upstream * 0.5 * (A > 0))
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], hidden_activation="relu", dtype="float64", seed=0)
    checks = gradient_check(net, x, y)
    assert not all(c.passes(TOLERANCE["float64"]) for c in checks)
    assert "DISAGREE" in verdict(checks, TOLERANCE["float64"])


def test_no_kink_no_kink_columns():
    x, y = five_points()
    checks = gradient_check(NeuralNetwork(2, 1, [3], dtype="float64", seed=0), x, y)
    assert sum(c.kink_entries for c in checks) == 0
    assert "kink" not in format_table(checks, 1e-6) + verdict(checks, 1e-6)
