"""The training state: continued runs, the L2 penalty, schedules, stopping and the best weights.

``k`` calls of ``n`` epochs with one :class:`TrainingState` must give the
weights and losses of one call of ``k * n`` epochs, bit for bit on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_gradient, on_backend, random_problem, with_param

from backprop_xp import NeuralNetwork, equations, train
from backprop_xp.architecture import Architecture
from backprop_xp.errors import InputTypeError, SettingError
from backprop_xp.optimizers import Adam, Momentum, get_optimizer
from backprop_xp.training import StopTraining, TrainingState

CONTINUED = [
    pytest.param(optimizer, batch_size, alpha, id=f"{optimizer}-{'full' if batch_size is None else batch_size}-a{alpha}")
    for optimizer in ("sgd", "momentum", "adam")
    for batch_size, alpha in ((None, 0.0), (7, 0.0), (7, 0.3))
]


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (np.sin(x[:, 0]) + x[:, 1] * x[:, 2] > 0).astype(np.float64)
    return x, y


def _assert_same_params(a, b):
    for (W, c), (V, d) in zip(a.host_params(), b.host_params()):
        np.testing.assert_array_equal(V, W)
        np.testing.assert_array_equal(d, c)


def _skip_lazy(backend):
    if backend.name == "dask":
        pytest.skip("continuation is proven on the eager CPU backends; dask adds minutes here")


@pytest.mark.parametrize("optimizer, batch_size, alpha", CONTINUED)
def test_k_calls_of_n_epochs_are_one_call_of_k_times_n_bit_for_bit(backend, optimizer, batch_size, alpha):
    _skip_lazy(backend)
    x, y = _data()
    one = NeuralNetwork(3, 1, [4], seed=1, dtype="float64", backend=backend.name)
    many = NeuralNetwork(3, 1, [4], seed=1, dtype="float64", backend=backend.name)
    kwargs = {"optimizer": optimizer, "batch_size": batch_size, "alpha": alpha, "seed": 5}
    _, whole = train(x, y, one, 12, 0.05, **kwargs)
    state = TrainingState()
    parts = [backend.to_numpy(train(x, y, many, 4, 0.05, state=state, **kwargs)[1]) for _ in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), backend.to_numpy(whole))
    _assert_same_params(one, many)
    assert state.epoch == 12 and state.t == 12 * 30 and len(state.losses) == 12
    assert all(P is Q for pair, same in zip(state.params, many.params) for P, Q in zip(pair, same))


def test_without_a_state_every_call_starts_a_new_optimiser():
    x, y = _data()
    a, b = (NeuralNetwork(3, 1, [4], seed=1, dtype="float64") for _ in range(2))
    train(x, y, a, 10, 0.05, optimizer="adam")
    for _ in range(10):
        train(x, y, b, 1, 0.05, optimizer="adam")
    assert not np.allclose(a.host_params()[0][0], b.host_params()[0][0])


def test_optimisers_take_their_hyper_parameters_as_values():
    x, y = _data()
    a, b, c = (NeuralNetwork(3, 1, [4], seed=1, dtype="float64") for _ in range(3))
    train(x, y, a, 5, 0.05, optimizer="adam")
    train(x, y, b, 5, 0.05, optimizer=Adam(0.9, 0.999, 1e-8))
    train(x, y, c, 5, 0.05, optimizer=Adam(beta1=0.5))
    np.testing.assert_array_equal(a.host_params()[0][0], b.host_params()[0][0])
    assert not np.allclose(a.host_params()[0][0], c.host_params()[0][0])
    d, e = (NeuralNetwork(3, 1, [4], seed=1, dtype="float64") for _ in range(2))
    train(x, y, d, 5, 0.05, optimizer="momentum")
    train(x, y, e, 5, 0.05, optimizer=Momentum(0.9))
    np.testing.assert_array_equal(d.host_params()[0][0], e.host_params()[0][0])
    assert get_optimizer(Adam()) is not None
    with pytest.raises(SettingError, match=r"beta1 must be a finite number in \[0, 1\); received 1.5"):
        Adam(beta1=1.5)


def test_the_l2_penalty_is_scikit_learns_and_its_gradient_matches_finite_differences():
    arch = Architecture.build(3, 2, [4], "tanh", "sigmoid", "binary_crossentropy")
    params, X, Y = random_problem(arch, 6, seed=3)
    alpha = 0.7
    penalty, _ = equations.l2_penalty(params, alpha, 6, np)
    np.testing.assert_allclose(float(penalty), alpha / 12 * sum((W**2).sum() for W, _ in params), rtol=1e-14)
    _, grads = equations.loss_and_gradients_l2(params, X, Y, arch, alpha, xp=np)

    def loss_at(layer, which):
        def f(value):
            activations, Z_L = equations.forward_with_logits(with_param(params, layer, which, value), X, arch)
            p = with_param(params, layer, which, value)
            return float(equations.output_loss(Z_L, activations[-1], Y, arch, np) + equations.l2_penalty(p, alpha, 6, np)[0])
        return f

    for layer, (dW, db) in enumerate(grads):
        np.testing.assert_allclose(dW, numeric_gradient(loss_at(layer, 0), params[layer][0]), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(db, numeric_gradient(loss_at(layer, 1), params[layer][1]), rtol=1e-6, atol=1e-9)


def test_the_l2_gradient_matches_torch_autograd(backend):
    torch = pytest.importorskip("torch")
    _skip_lazy(backend)
    arch = Architecture.build(3, 2, [4, 5], "relu", "softmax", "categorical_crossentropy")
    params, X, Y = random_problem(arch, 7, seed=4)
    alpha = 0.3
    leaves = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
    A = torch.tensor(X)
    for i, (W, b) in enumerate(leaves):
        Z = A @ W + b
        A = torch.relu(Z) if i < len(leaves) - 1 else Z
    value = torch.nn.functional.cross_entropy(A, torch.tensor(Y))
    value = value + alpha / (2 * 7) * sum((W**2).sum() for W, _ in leaves)
    value.backward()
    moved, Xb, Yb = on_backend(backend, params, X, Y)
    loss, grads = equations.loss_and_gradients_l2(moved, Xb, Yb, arch, alpha, xp=backend.xp)
    np.testing.assert_allclose(float(loss), value.item(), rtol=1e-12)
    for (dW, db), (W, b) in zip(grads, leaves):
        np.testing.assert_allclose(backend.to_numpy(dW), W.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(backend.to_numpy(db), b.grad.numpy(), rtol=1e-10, atol=1e-13)


def _recording_sgd():
    """Plain SGD that records the learning rate of every update."""
    seen, sgd = [], get_optimizer("sgd")

    def update(params, grads, state, lr, xp):
        seen.append(lr)
        return sgd.update(params, grads, state, lr, xp)

    return seen, (sgd.init, update)


def test_schedules_follow_scikit_learns_definitions():
    x, y = _data()
    rates = {}
    for schedule in ("constant", "invscaling", lambda epoch: 0.1 / epoch):
        seen, rec = _recording_sgd()
        train(x, y, NeuralNetwork(3, 1, [4], seed=1), 3, 0.1, optimizer=rec, schedule=schedule, power_t=0.5)
        rates[schedule if isinstance(schedule, str) else "callable"] = seen
    assert rates["constant"] == [0.1] * 3
    np.testing.assert_allclose(rates["invscaling"], [0.1, 0.1 / 31**0.5, 0.1 / 61**0.5])
    np.testing.assert_allclose(rates["callable"], [0.1, 0.05, 0.1 / 3])


def test_adaptive_divides_the_rate_by_five_on_a_plateau_and_stops_below_1e_6():
    x, y = _data()
    seen, rec = _recording_sgd()
    state = TrainingState()
    # tol=1 is a plateau at every epoch after the first: a division every 2 epochs.
    train(x, y, NeuralNetwork(3, 1, [4], seed=1), 100, 0.1, optimizer=rec, schedule="adaptive", tol=1.0,
          patience=2, state=state)
    expected = [0.1] * 3 + [0.1 / 5**k for k in range(1, 9) for _ in range(2)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    assert state.epoch == 19 and state.learning_rate == pytest.approx(0.1 / 5**8)
    with pytest.raises(SettingError, match="needs tol"):
        train(x, y, NeuralNetwork(3, 1, [4], seed=1), 4, 0.1, schedule="adaptive")
    with pytest.raises(SettingError, match=r"compile=True needs schedule='constant'"):
        train(x, y, NeuralNetwork(3, 1, [4], seed=1), 4, 0.1, schedule="invscaling", compile=True)


def test_a_callback_stops_training_and_the_losses_so_far_are_kept():
    x, y = _data()
    _, losses = train(x, y, NeuralNetwork(3, 1, [4], seed=1), 50, 0.1, callback=lambda epoch, loss: epoch == 4)
    assert losses.shape == (4,)

    def stop(epoch, loss):
        if epoch == 6:
            raise StopTraining
    _, losses = train(x, y, NeuralNetwork(3, 1, [4], seed=1), 50, 0.1, callback=stop)
    assert losses.shape == (6,)
    _, losses = train(x, y, NeuralNetwork(3, 1, [4], seed=1), 5, 0.1, callback=lambda epoch, loss: [epoch])
    assert losses.shape == (5,)  # only True stops


def test_early_stopping_on_a_validation_fraction_keeps_the_best_weights():
    x, y = _data(80)
    seen = []
    state = TrainingState()

    def score(net, X, Y):
        value = float(-np.mean((np.asarray(net.forward(X)) - np.asarray(Y)[:, 0]) ** 2))
        seen.append((value, net.host_params()))
        return value

    net = NeuralNetwork(3, 1, [8], seed=1, dtype="float64")
    train(x, y, net, 300, 2.0, optimizer="adam", validation_fraction=0.25, validation_score=score, tol=1e-4,
          patience=5, state=state)
    assert state.epoch < 300 and len(state.validation_scores) == state.epoch
    best = int(np.argmax([s for s, _ in seen]))
    assert best < state.epoch - 1  # the last epoch was not the best one: the weights went back
    for (W, b), (V, c) in zip(seen[best][1], net.host_params()):
        np.testing.assert_array_equal(V, W)
        np.testing.assert_array_equal(c, b)
    assert state.best_score == seen[best][0]


def test_a_state_must_be_a_training_state():
    x, y = _data()
    with pytest.raises(InputTypeError, match="state must be a TrainingState; received dict"):
        train(x, y, NeuralNetwork(3, 1, [4]), 2, 0.1, state={})


def test_continued_compiled_runs_are_one_compiled_run(backend):
    """The step count travels in the state (a 0-d array once compiled): no special case for a continued run."""
    _skip_lazy(backend)
    x, y = _data()
    one = NeuralNetwork(3, 1, [4], seed=1, dtype="float64", backend=backend.name)
    many = NeuralNetwork(3, 1, [4], seed=1, dtype="float64", backend=backend.name)
    # Batches of one shape and two calls: each call compiles its step anew (seconds on JAX here).
    kwargs = {"optimizer": "adam", "batch_size": 10, "seed": 5, "compile": True}
    _, whole = train(x, y, one, 6, 0.05, **kwargs)
    state = TrainingState()
    parts = [backend.to_numpy(train(x, y, many, 3, 0.05, state=state, **kwargs)[1]) for _ in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts), backend.to_numpy(whole))
    _assert_same_params(one, many)
    assert float(state.optimizer_state.step) == 6 * 3  # three minibatches an epoch


def test_adam_weight_decay_is_torchs_adamw_on_the_weights():
    torch = pytest.importorskip("torch")
    x, y = _data()
    net = NeuralNetwork(3, 1, [4], seed=1, dtype="float64", hidden_activation="tanh", output_activation="identity")
    start = net.host_params()
    train(x, y, net, 15, 0.05, optimizer=Adam(weight_decay=0.1))
    weights = [torch.tensor(W, requires_grad=True) for W, _ in start]
    biases = [torch.tensor(b, requires_grad=True) for _, b in start]
    opt = torch.optim.AdamW([{"params": weights, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0.0}],
                            lr=0.05, betas=(0.9, 0.999), eps=1e-8)
    X, Y = torch.tensor(x), torch.tensor(y).reshape(-1, 1)
    for _ in range(15):
        opt.zero_grad()
        A = torch.tanh(X @ weights[0] + biases[0]) @ weights[1] + biases[1]
        torch.nn.functional.mse_loss(A, Y).backward()
        opt.step()
    for (W, b), V, c in zip(net.host_params(), weights, biases):
        np.testing.assert_allclose(W, V.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, c.detach().numpy(), rtol=1e-10, atol=1e-12)
