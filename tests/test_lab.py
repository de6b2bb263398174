"""The lab's experiment and the lab's own driver code, run against the package."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, five_points, train
from backprop_xp.backends import ENV_VAR


@pytest.mark.slow
def test_labs_experiment_converges_for_seeds_0_to_19():
    # 2-5-3-1, tanh/sigmoid, MSE, glorot_uniform, lr 0.25, 2500 epochs, float32.
    x, y = five_points()
    finals = []
    for seed in range(20):
        net = NeuralNetwork(2, 1, [5, 3], seed=seed, backend="numpy")
        _, losses = train(x, y, net, 2500, 0.25)
        finals.append(float(losses[-1]))
    assert np.median(finals) < 1e-3, finals  # the lab reports 0.00047
    assert max(finals) < 1e-2, finals


def test_trained_network_separates_the_five_points():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="numpy")
    before = np.asarray(net.forward(x))
    train(x, y, net, 2500, 0.25)
    after = np.asarray(net.forward(x))
    assert after.shape == (5,)
    assert after[0] > 0.9 and np.all(after[1:] < 0.1), after
    assert not np.allclose(before, after)


def test_zero_initialisation_cannot_break_symmetry():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], init="zeros", seed=0, backend="numpy")
    _, losses = train(x, y, net, 500, 0.25)
    W1, W2 = net.params[0][0], net.params[1][0]
    # Only the output bias learns: every hidden unit stays at zero.
    assert np.all(W1 == 0) and np.all(W2 == 0)
    assert float(losses[-1]) > 0.15


# The lab's cells In [3] and In [5] as printed, less the plotting; only the
# import of the network changes.
LAB_DRIVER = textwrap.dedent(
    """
    from typing import List, Tuple
    import torch
    from torch import Tensor
    from backprop_xp import NeuralNetwork

    x = torch.tensor([
        [0, 0],
        [1, 0],
        [0, -1],
        [-1, 0],
        [0, 1]
    ], dtype=torch.float)
    y = torch.tensor([1, 0, 0, 0, 0])

    network = NeuralNetwork(
        input_size=2,
        hidden_sizes=[5, 3],
        output_size=1
    )

    print(network.forward(x))
    network.backward(x, y)

    def train(
        x: Tensor,
        y: Tensor,
        net: NeuralNetwork,
        epochs: int,
        lr: float
    ) -> Tuple[NeuralNetwork, Tensor]:
        losses: List = []
        for ep in range(1, epochs + 1):
            # Compute the loss (for tracking).
            loss = net.get_loss(x, y)
            losses.append(loss)

            # Backpropagate gradients.
            net.backward(x, y)

            # Apply gradients.
            net.apply_gradients(learning_rate=lr)

            print('EPOCH: \\t {:5} \\t LOSS: \\t {:.5f}'.format(ep, float(loss)), end='\\r')

        return net, torch.stack(losses)

    network, losses = train(x, y, network, 2500, 0.25)
    """
)


def test_labs_driver_code_runs_unchanged_on_the_torch_backend(monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv(ENV_VAR, "torch")
    scope: dict = {}
    exec(compile(LAB_DRIVER, "lab4-driver", "exec"), scope)
    losses = scope["losses"]
    assert isinstance(losses, torch.Tensor) and losses.shape == (2500,)
    assert scope["network"].backend.name == "torch"
    assert float(losses[-1]) < float(losses[0]) / 10
    out = capsys.readouterr().out
    assert out.startswith("tensor([") and "EPOCH:" in out and "2500" in out
