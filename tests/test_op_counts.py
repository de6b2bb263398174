"""How many array operations one training step launches, on every backend.

On torch each operation costs microseconds of dispatch whatever its size, so
on small problems (the lab's five points, digits in batches of 32) the count
is the cost. The counts are the same on every backend: the engine is one
program; where arrays are immutable the in-place forms are the same
operations, rebound.
"""

from __future__ import annotations

import pytest
from conftest import on_backend, random_problem
from counting import CountingNamespace

from backprop_xp import Architecture, equations, inplace
from backprop_xp.optimizers import get_optimizer

#: The lab's network (2-5-3-1, tanh, sigmoid output, MSE): loss and gradients.
#: Forward: per layer a product and the bias (2 x 3), tanh (2), sigmoid's
#: stable form (7); the loss (A - Y, square, sum, scale: 4). Backward: the
#: loss gradient (2) and sigmoid' (3), per layer A^T, a product and a sum
#: (3 x 3), and for the hidden layers delta @ W^T (2 x 2) and tanh' (2 x 3).
LAB_LOSS_AND_GRADIENTS = 43

#: Array operations per parameter array (W or b) of each optimiser's update.
PER_PARAMETER_ARRAY = {"sgd": 2, "momentum": 4, "adam": 10}


@pytest.fixture
def counting(monkeypatch):
    # The counting namespace stands in for the backend's: it may overwrite what that one may.
    real = inplace.may_overwrite
    for module in (equations, inplace):
        monkeypatch.setattr(module, "may_overwrite", lambda xp: real(getattr(xp, "xp", xp)))
    return CountingNamespace


def _lab(backend):
    arch = Architecture.build(2, 1, [5, 3], "tanh", "sigmoid", "mse")
    params, X, Y = on_backend(backend, *random_problem(arch, 5, seed=0), dtype="float32")
    return arch, params, X, Y


def test_the_labs_loss_and_gradients(backend, counting):
    arch, params, X, Y = _lab(backend)
    xp = counting(backend.xp)
    equations.loss_and_gradients(xp.wrap(params), xp.wrap(X), xp.wrap(Y), arch, xp=xp)
    assert xp.total() == LAB_LOSS_AND_GRADIENTS, dict(xp.counts)
    assert xp.counts["__matmul__"] == 8


@pytest.mark.parametrize("name", list(PER_PARAMETER_ARRAY))
def test_each_optimiser_update(backend, counting, name):
    arch, params, X, Y = _lab(backend)
    _, grads = equations.loss_and_gradients(params, X, Y, arch, xp=backend.xp)
    optimizer = get_optimizer(name)
    xp = counting(backend.xp)
    state = xp.wrap(optimizer.init(params, backend.xp))
    for _ in range(2):  # the first update and a later one cost the same
        xp.counts.clear()
        _, state = optimizer.update(xp.wrap(params), xp.wrap(grads), state, 0.1, xp)
        assert xp.total() == PER_PARAMETER_ARRAY[name] * 2 * len(params), dict(xp.counts)
