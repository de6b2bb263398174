"""The training loop: optimisers against torch.optim, minibatches against an
independent per-sample derivation, early stopping, and the divergence stop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, Optimizer, TrainingDiverged, five_points, train
from backprop_xp.optimizers import OPTIMIZERS, get_optimizer
from backprop_xp.reference import per_sample_gradients
from backprop_xp.training import TrainingState, _plateau
from conftest import assert_close


def torch_reference(params, x, y, optimizer, lr, epochs):
    """The same training with torch autograd and torch.optim, in float64."""
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for pair in params for a in pair]
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=lr),
        "momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    }[optimizer]
    opt = make(tensors)
    X, Y = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        A = X
        for layer in range(0, len(tensors), 2):
            Z = A @ tensors[layer] + tensors[layer + 1]
            A = torch.sigmoid(Z) if layer == len(tensors) - 2 else torch.tanh(Z)
        loss = torch.mean((A - Y) ** 2)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [(tensors[i].detach().numpy(), tensors[i + 1].detach().numpy()) for i in range(0, len(tensors), 2)], losses


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_optimizers_match_torch_optim(backend, optimizer):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=1, backend=backend.name)
    expected_params, expected_losses = torch_reference(net.host_params(), x, y, optimizer, 0.05, 30)
    _, losses = train(x, y, net, 30, 0.05, optimizer=optimizer)
    assert_close(backend, losses, expected_losses, rtol=1e-12, computed=True)
    for (W, b), (eW, eb) in zip(net.params, expected_params):
        assert_close(backend, W, eW, rtol=1e-11, computed=True)
        assert_close(backend, b, eb, rtol=1e-11, computed=True)


def test_an_optimizer_may_be_given_as_an_init_update_pair():
    x, y = five_points()
    by_name = NeuralNetwork(2, 1, [5, 3], seed=0)
    by_pair = NeuralNetwork(2, 1, [5, 3], seed=0)
    train(x, y, by_name, 20, 0.1, optimizer="adam")
    train(x, y, by_pair, 20, 0.1, optimizer=get_optimizer("adam"))
    for (W, b), (V, c) in zip(by_name.params, by_pair.params):
        np.testing.assert_array_equal(W, V)
        np.testing.assert_array_equal(b, c)


def reference_minibatch_sgd(params, x, y, arch, lr, epochs, batch_size, seed):
    """Minibatch gradient descent with the per-sample derivation, on the host."""
    rng = np.random.default_rng(seed)
    params = [(W.copy(), b.copy()) for W, b in params]
    Y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            rows = order[start:start + batch_size]
            grads = per_sample_gradients(params, np.asarray(x, np.float64)[rows], Y[rows], arch)
            params = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
    return params


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_minibatches_follow_the_seeded_shuffle(backend, batch_size):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0, backend=backend.name)
    expected = reference_minibatch_sgd(net.host_params(), x, y, net.architecture, 0.3, 7, batch_size, seed=4)
    _, losses = train(x, y, net, 7, 0.3, batch_size=batch_size, seed=4)
    assert losses.shape == (7,)
    for (W, b), (eW, eb) in zip(net.params, expected):
        assert_close(backend, W, eW, rtol=1e-12, computed=True)
        assert_close(backend, b, eb, rtol=1e-12, computed=True)


def test_a_batch_as_large_as_the_data_is_the_full_batch():
    x, y = five_points()
    full = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0)
    whole = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0)
    _, full_losses = train(x, y, full, 50, 0.25)
    _, whole_losses = train(x, y, whole, 50, 0.25, batch_size=5)
    np.testing.assert_array_equal(full_losses, whole_losses)


def test_the_epoch_loss_of_minibatches_is_their_weighted_mean():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0)
    seen = []  # the weights before each batch's update, recorded by a wrapped optimizer
    sgd = get_optimizer("sgd")

    def update(params, grads, state, lr, xp):
        seen.append(params)
        return sgd.update(params, grads, state, lr, xp)

    _, losses = train(x, y, net, 1, 0.1, batch_size=2, seed=9, optimizer=Optimizer(sgd.init, update))
    order = np.random.default_rng(9).permutation(5)
    rows = []
    for params, start in zip(seen, (0, 2, 4)):
        probe = NeuralNetwork(2, 1, [5, 3], dtype="float64")
        probe.params = params
        batch = order[start:start + 2]
        rows.append(float(probe.get_loss(x[batch], y[batch])) * len(batch))
    assert float(losses[0]) == pytest.approx(sum(rows) / 5, rel=1e-12)


def test_early_stopping_waits_patience_epochs_without_progress():
    state = TrainingState()
    decisions = [_plateau(state, v, 0.1, 2) for v in (1.0, 0.8, 0.75, 0.72, 0.5, 0.45, 0.44)]
    assert decisions == [False, False, False, True, False, False, True]
    assert not any(_plateau(TrainingState(), v, None, 1) for v in (1.0, 1.0, 1.0))


def test_early_stopping_ends_training_and_returns_the_losses_run():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    _, losses = train(x, y, net, 2500, 0.25, tol=1.0, patience=3)
    assert losses.shape == (4,)  # epoch 1 sets the best; 2, 3 and 4 bring no progress of more than 1
    _, losses = train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0), 300, 0.25, tol=None)
    assert losses.shape == (300,)


def test_divergence_stops_with_the_epoch_and_learning_rate_and_keeps_the_last_finite_weights():
    x, y = five_points()
    kwargs = dict(hidden_activation="relu", output_activation="identity", dtype="float64", seed=0)
    net = NeuralNetwork(2, 1, [5, 3], **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the divergence is reported once, by the exception
        with pytest.raises(TrainingDiverged) as caught:
            train(x, y, net, 1000, 40.0)
    error = caught.value
    assert error.epoch > 2 and error.learning_rate == 40.0
    assert f"Training diverged at epoch {error.epoch}: the loss became" in str(error)
    assert "with learning rate 40" in str(error) and "Try a smaller learning rate" in str(error)
    assert error.losses.shape == (error.epoch,) and not np.isfinite(error.losses[-1])
    assert np.all(np.isfinite(error.losses[:-1]))
    # The network holds the weights of the start of the epoch before: those of epoch - 2 steps.
    replay = NeuralNetwork(2, 1, [5, 3], **kwargs)
    with np.errstate(all="ignore"):
        train(x, y, replay, error.epoch - 2, 40.0)
    for (W, b), (V, c) in zip(net.params, replay.params):
        np.testing.assert_array_equal(W, V)
        np.testing.assert_array_equal(b, c)
    assert net.grads is None


def test_a_non_finite_loss_before_any_update_points_at_the_scale_of_the_data():
    x, y = five_points()
    x = x * np.float32(1e30)  # finite, but its squares overflow float32
    net = NeuralNetwork(2, 1, [5, 3], hidden_activation="relu", output_activation="identity", seed=0)
    before = net.host_params()
    with pytest.raises(TrainingDiverged, match=r"The loss is inf at epoch 1, before any update: the forward pass overflowed") as caught:
        train(x, y, net, 10, 0.25)
    assert caught.value.epoch == 1 and caught.value.losses.shape == (1,)
    for (W, b), (V, c) in zip(before, net.host_params()):
        np.testing.assert_array_equal(W, V)
        np.testing.assert_array_equal(b, c)


def test_weights_made_non_finite_by_the_last_update_are_caught():
    x, y = five_points()
    # In float32, W - 1e40 * dW overflows, while the loss of the epoch, taken before the update, is finite.
    net = NeuralNetwork(2, 1, [5, 3], hidden_activation="relu", output_activation="identity", seed=0)
    before = net.host_params()
    with pytest.raises(TrainingDiverged, match=r"at epoch 1: its update, with learning rate 1e\+40, made the weights NaN"):
        train(x, y, net, 1, 1e40)
    for (W, b), (V, c) in zip(before, net.host_params()):  # the weights of the start of that epoch
        np.testing.assert_array_equal(W, V)
        np.testing.assert_array_equal(b, c)


def test_a_plain_init_update_pair_is_an_optimizer():
    x, y = five_points()
    sgd = get_optimizer("sgd")
    a, b = NeuralNetwork(2, 1, [3], seed=0), NeuralNetwork(2, 1, [3], seed=0)
    train(x, y, a, 5, 0.1)
    train(x, y, b, 5, 0.1, optimizer=(sgd.init, sgd.update))
    for (W, _), (V, _) in zip(a.host_params(), b.host_params()):
        np.testing.assert_array_equal(W, V)
