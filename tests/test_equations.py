"""How the engine computes, beyond what it computes: each function of the
forward pass runs once, the backward pass releases activations as it goes,
and nothing is updated in place."""

from __future__ import annotations

import collections
import weakref

import numpy as np

from backprop_xp import equations, get_backend
from backprop_xp.activations import ACTIVATIONS, DERIVATIVES
from conftest import make_problem

xp = get_backend("numpy").xp


def test_each_activation_runs_once_per_layer_and_never_in_the_backward_pass(monkeypatch):
    arch, params, X, Y = make_problem(4, "tanh", "sigmoid", "mse")
    calls = collections.Counter()
    for table, kind in ((ACTIVATIONS, "forward"), (DERIVATIVES, "backward")):
        for name, function in list(table.items()):
            def spy(*args, _function=function, _key=(kind, name)):
                calls[_key] += 1
                return _function(*args)
            monkeypatch.setitem(table, name, spy)
    equations.loss_and_gradients(params, X, Y, arch, xp=xp)
    assert calls == {
        ("forward", "tanh"): 3, ("forward", "sigmoid"): 1,
        ("backward", "tanh"): 3, ("backward", "sigmoid"): 1,
    }


def test_backward_releases_each_activation_after_its_last_use(monkeypatch):
    arch, params, X, Y = make_problem(4, "tanh", "sigmoid", "mse")
    activations = equations.forward(params, X, arch, xp=xp)
    alive = [weakref.ref(A) for A in activations]
    delta = equations.output_delta(activations[-1], Y, arch, xp)
    seen = []
    tanh_backward = DERIVATIVES["tanh"]

    def spy(A, dA, xp):
        seen.append([ref() is not None for ref in alive])
        return tanh_backward(A, dA, xp)

    monkeypatch.setitem(DERIVATIVES, "tanh", spy)
    equations.backward(params, activations, delta, arch, xp)
    # When the derivative of layer l runs (from A_l), A_{l+1} .. A_L are gone.
    assert seen == [
        [True, True, True, True, False],
        [True, True, True, False, False],
        [True, True, False, False, False],
    ]
    assert activations == []


def test_a_step_returns_new_parameters_and_changes_no_input():
    arch, params, X, Y = make_problem(3, "relu", "softmax", "categorical_crossentropy")
    copies = [(W.copy(), b.copy()) for W, b in params]
    X0, Y0 = X.copy(), Y.copy()
    loss, new = equations.sgd_step(params, X, Y, 0.1, arch)
    for (W, b), (W0, b0), (W1, b1) in zip(params, copies, new):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
        assert W1 is not W and not np.array_equal(W1, W0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    assert loss.shape == ()
