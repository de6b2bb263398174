"""A population of networks of one architecture, trained by the equations'
one broadcasting form: weights ``(S, n_in, n_out)``, biases ``(S, 1, n_out)``,
a learning rate per network ``(S, 1, 1)``. Each network's losses and weights
equal its own single run (float64, within 1e-12 relative), on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_problem

from backprop_xp import Architecture, equations

S = 3
LEARNING_RATES = (0.05, 0.25, 1.0)
#: Every loss, and each output layer's own code (softmax's sums over the last axis).
PAIRS = [("sigmoid", "mse"), ("softmax", "mse"), ("sigmoid", "binary_crossentropy"),
         ("softmax", "binary_crossentropy"), ("softmax", "categorical_crossentropy")]


def _population(backend, host_params, dtype="float64"):
    """The S networks' parameters stacked: W (S, n_in, n_out), b (S, 1, n_out)."""
    xp = backend.xp
    stacked = []
    for layer in range(len(host_params[0])):
        W = np.stack([p[layer][0] for p in host_params])
        b = np.stack([p[layer][1][None, :] for p in host_params])
        stacked.append((backend.from_numpy(W.astype(dtype)), backend.from_numpy(b.astype(dtype))))
    return stacked, xp


def _close(backend, actual, expected):
    actual = backend.to_numpy(backend.evaluate(actual)[0])
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shared_data", [True, False], ids=["shared-data", "own-data"])
@pytest.mark.parametrize("output, loss", PAIRS)
def test_a_population_trains_as_its_networks_do_alone(backend, output, loss, shared_data):
    arch = Architecture.build(3, 3, [4, 5], "tanh", output, loss)
    problems = [random_problem(arch, 6, seed) for seed in range(S)]
    host_params = [p for p, _, _ in problems]
    params, xp = _population(backend, host_params)
    if shared_data:
        X, Y = backend.from_numpy(problems[0][1]), backend.from_numpy(problems[0][2])
        data = [problems[0][1:]] * S
    else:
        X = backend.from_numpy(np.stack([p[1] for p in problems]))
        Y = backend.from_numpy(np.stack([p[2] for p in problems]))
        data = [p[1:] for p in problems]
    lr = backend.from_numpy(np.array(LEARNING_RATES).reshape(S, 1, 1))
    singles = [[(backend.from_numpy(W), backend.from_numpy(b)) for W, b in p] for p in host_params]
    for _ in range(4):
        losses, params = equations.sgd_step(params, X, Y, lr, arch, xp=xp)
        (losses, params) = backend.evaluate(losses, params)
        assert tuple(losses.shape) == (S,)
        for i in range(S):
            Xi, Yi = (backend.from_numpy(a) for a in data[i])
            loss_i, singles[i] = backend.evaluate(*equations.sgd_step(singles[i], Xi, Yi, LEARNING_RATES[i], arch, xp=xp))
            _close(backend, losses[i], backend.to_numpy(loss_i))
    for i in range(S):
        for (W, b), (Wi, bi) in zip(params, singles[i]):
            _close(backend, W[i, ...], backend.to_numpy(Wi))
            _close(backend, b[i, 0, :], backend.to_numpy(bi))


def test_a_sweeps_population_gives_each_runs_own_results(backend):
    # relu layers and a linear output: lr 40 diverges at epoch 74 from seed 0, lr 0.25 does not.
    from backprop_xp.experiment import RunConfig
    from backprop_xp.sweep import _run_one, grid, run_sweep

    base = RunConfig(hidden_activation="relu", output_activation="identity", epochs=80, dtype="float64",
                     backend=backend.name)
    configs = grid(base, [(5, 3)], [0.25, 40.0], ["glorot_uniform"], [0, 1])
    runs = run_sweep(configs, jobs=1)
    assert [r.config for r in runs] == configs
    assert [r.diverged_at for r in runs] == [None, None, 74, None]  # seed 1 survives lr 40 for 80 epochs
    for run in runs:
        alone = _run_one(run.config)
        assert run.diverged_at == alone.diverged_at
        np.testing.assert_equal([run.train_accuracy, run.test_accuracy], [alone.train_accuracy, alone.test_accuracy])
        np.testing.assert_allclose(run.losses, alone.losses, rtol=1e-12)
        for got, want in zip([a for pair in run.params for a in pair], [a for pair in alone.params for a in pair]):
            # Relative to the array's norm: torch's batched products round an
            # entry near zero differently (2e-12 of itself after 80 epochs).
            assert np.linalg.norm(got - want) <= 1e-12 * np.linalg.norm(want)


@pytest.mark.parametrize("output, loss", [("sigmoid", "mse"), ("softmax", "categorical_crossentropy")])
def test_a_populations_outputs_are_its_networks_own(backend, output, loss):
    # The sweep's decision boundaries: every panel's grid from one batched forward pass.
    from backprop_xp import populations

    arch = Architecture.build(2, 1 if output == "sigmoid" else 3, [4, 5], "tanh", output, loss)
    host_params = [random_problem(arch, 1, seed)[0] for seed in range(S)]
    X = np.random.default_rng(7).uniform(-2, 2, (50, 2))
    batched = populations.outputs(host_params, X, arch, backend)
    assert isinstance(batched, np.ndarray) and batched.shape == (S, 50, arch.sizes[-1])
    for i, params in enumerate(host_params):
        single = [(backend.from_numpy(W), backend.from_numpy(b)) for W, b in params]
        alone = equations.forward(single, backend.from_numpy(X), arch, xp=backend.xp)[-1]
        np.testing.assert_allclose(batched[i], backend.to_numpy(backend.evaluate(alone)[0]), rtol=1e-12, atol=1e-15)


def test_the_sweeps_panels_are_each_networks_own_forward_pass():
    # Two architectures (two batched passes) and a diverged run (no panel).
    from backprop_xp.experiment import RunConfig, build_network, load_data
    from backprop_xp.plotting import boundary_grid
    from backprop_xp.sweep import boundary_outputs, grid, run_sweep

    base = RunConfig(hidden_activation="relu", output_activation="identity", epochs=80, dtype="float64")
    runs = run_sweep(grid(base, [(5, 3), (4,)], [0.25, 40.0], ["glorot_uniform"], [0]), jobs=1)
    assert [r.diverged_at for r in runs] == [None, 74, None, None]
    panels = boundary_outputs(runs, resolution=20)
    assert panels[1] is None
    data = load_data(base)
    for run, panel in zip(runs, panels):
        if run.diverged_at:
            continue
        u, v, output = panel
        np.testing.assert_array_equal(np.stack([u, v]), np.stack(boundary_grid(data.x, resolution=20)))
        net = build_network(run.config, data)
        net.params = run.params
        alone = net.forward(np.stack([u.ravel(), v.ravel()], axis=1))
        np.testing.assert_allclose(output.reshape(alone.shape), alone, rtol=1e-12, atol=1e-15)
