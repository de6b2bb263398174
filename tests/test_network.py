"""The NeuralNetwork API: shapes, inputs of every accepted kind, and the
functional core under it (refusals of bad input: test_bad_input.py)."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, equations, five_points, get_backend, train
from backprop_xp.architecture import Architecture
from conftest import numeric_gradient, with_param


def test_forward_shapes_and_types(backend):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    out = net.forward(x)
    assert out.shape == (5,) and out.dtype == backend.xp.float32
    wide = NeuralNetwork(2, 4, [3], output_activation="softmax", loss="categorical_crossentropy", seed=0,
                         backend=backend.name)
    probs = backend.to_numpy(wide.forward(x))
    assert probs.shape == (5, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)


def test_backward_returns_and_stores_gradients_of_parameter_shapes(backend):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    assert net.grads is None
    grads = net.backward(x, y)
    assert [(tuple(dW.shape), tuple(db.shape)) for dW, db in grads] == [((2, 5), (5,)), ((5, 3), (3,)), ((3, 1), (1,))]
    assert len(net.grads) == 3
    loss_before = float(net.get_loss(x, y))
    net.apply_gradients(0.25)
    assert float(net.get_loss(x, y)) < loss_before


def test_apply_gradients_is_one_sgd_step():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64")
    (W0, b0), grads = net.params[0], net.backward(x, y)
    net.apply_gradients(learning_rate=0.5)
    np.testing.assert_array_equal(net.params[0][0], W0 - 0.5 * grads[0][0])
    np.testing.assert_array_equal(net.params[0][1], b0 - 0.5 * grads[0][1])


@pytest.mark.parametrize(
    "x, y",
    [
        ([[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]], [1, 0, 0, 0, 0]),  # nested lists of ints
        (five_points()[0].astype(np.float64), five_points()[1].astype(bool)),  # float64 and bool NumPy
        (five_points()[0], five_points()[1].reshape(5, 1)),  # y as a column
    ],
    ids=["lists", "numpy-float64-bool", "column-y"],
)
def test_lists_numpy_and_label_dtypes_are_accepted(backend, x, y):
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    reference = NeuralNetwork(2, 1, [5, 3], seed=0, backend="numpy")
    loss = net.get_loss(x, y)
    assert loss.shape == () and loss.dtype == backend.xp.float32
    np.testing.assert_allclose(float(loss), float(reference.get_loss(*five_points())), rtol=1e-6)


def test_integer_class_labels_are_one_hot_encoded(backend):
    x, _ = five_points()
    labels = np.array([0, 1, 2, 1, 0])
    net = NeuralNetwork(2, 3, [4], output_activation="softmax", loss="categorical_crossentropy",
                        seed=1, dtype="float64", backend=backend.name)
    one_hot = np.eye(3)[labels]
    np.testing.assert_allclose(float(net.get_loss(x, labels)), float(net.get_loss(x, one_hot)), rtol=1e-15)


def test_params_are_assignable_from_numpy_and_backend_arrays(backend):
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    other = NeuralNetwork(2, 1, [5, 3], seed=7, dtype="float64", backend="numpy")
    net.params = other.params  # float64 NumPy, cast to the network's float32
    assert all(W.dtype == backend.xp.float32 for W, _ in net.params)
    np.testing.assert_allclose(backend.to_numpy(net.params[1][0]), other.params[1][0], rtol=1e-7)
    same = NeuralNetwork(2, 1, [5, 3], seed=3, backend=backend.name)
    net.params = same.params
    np.testing.assert_array_equal(backend.to_numpy(net.params[2][0]), backend.to_numpy(same.params[2][0]))


def test_no_hidden_layer_is_logistic_regression():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [], seed=0)
    assert [tuple(W.shape) for W, _ in net.params] == [(2, 1)]
    _, losses = train(x, y, net, 100, 0.5)
    assert float(losses[-1]) < float(losses[0])


@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal", "normal", "normal:0.5", "zeros"])
def test_initialisers_are_seeded_and_have_their_scale(init):
    a = NeuralNetwork(200, 1, [300], init=init, seed=4, dtype="float64")
    b = NeuralNetwork(200, 1, [300], init=init, seed=4, dtype="float64")
    W, W_again = a.params[0][0], b.params[0][0]
    np.testing.assert_array_equal(W, W_again)
    assert np.all(a.params[0][1] == 0)
    expected_std = {
        "glorot_uniform": np.sqrt(2 / 500), "glorot_normal": np.sqrt(2 / 500),
        "he_uniform": np.sqrt(2 / 200), "he_normal": np.sqrt(2 / 200),
        "lecun_normal": np.sqrt(1 / 200), "normal": 0.05, "normal:0.5": 0.5, "zeros": 0.0,
    }[init]
    assert np.std(W) == pytest.approx(expected_std, rel=0.02, abs=1e-12)


def test_seedless_networks_differ():
    a, b = NeuralNetwork(2, 1, [5, 3]), NeuralNetwork(2, 1, [5, 3])
    assert not np.array_equal(a.params[0][0], b.params[0][0])


def test_train_returns_the_loss_before_each_update(backend):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend=backend.name)
    first = float(net.get_loss(x, y))
    seen = []
    same, losses = train(x, y, net, 3, 0.25, callback=lambda epoch, loss: seen.append((epoch, float(loss))))
    assert same is net and losses.shape == (3,)
    assert [e for e, _ in seen] == [1, 2, 3]
    np.testing.assert_allclose(backend.to_numpy(losses), [value for _, value in seen], rtol=1e-15)
    assert seen[0][1] == pytest.approx(first, rel=1e-14)
    assert float(net.get_loss(x, y)) < seen[-1][1]


def test_a_whole_step_compiles_with_jax_jit():
    jax = pytest.importorskip("jax")
    backend = get_backend("jax")
    arch = Architecture.build(2, 1, [5, 3])
    with jax.enable_x64(True):  # float64 here only: this session's setting stays as it is
        net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="jax")
        X, Y = net.as_arrays(*five_points())
        step = jax.jit(equations.sgd_step, static_argnames=("arch", "xp"))
        loss_jit, params_jit = step(net.params, X, Y, 0.25, arch, xp=backend.xp)
        loss, params = equations.sgd_step(net.params, X, Y, 0.25, arch)
    np.testing.assert_allclose(float(loss_jit), float(loss), rtol=1e-13)
    for (W, b), (W_jit, b_jit) in zip(params, params_jit):
        np.testing.assert_allclose(np.asarray(W_jit), np.asarray(W), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(np.asarray(b_jit), np.asarray(b), rtol=1e-12, atol=1e-15)


def test_assigned_params_are_copies():
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    mine = [(W.copy(), b.copy()) for W, b in net.params]
    net.params = mine
    mine[0][0][:] = 42.0
    assert not np.any(net.params[0][0] == 42.0)


@pytest.mark.parametrize(
    "kwargs, y",
    [
        (dict(output_size=1, hidden_sizes=[4, 3]), np.array([1, 0, 0, 1, 0])),  # int (n,) labels, one output
        (dict(output_size=3, hidden_sizes=[4], output_activation="softmax", loss="categorical_crossentropy"),
         np.array([2, 0, 1, 1, 0])),  # class indices, one-hot encoded
        (dict(output_size=2, hidden_sizes=[4], output_activation="softmax", loss="categorical_crossentropy"),
         np.array([True, False, False, True, True])),  # booleans as classes 0 and 1
    ],
    ids=["int-labels", "class-indices", "bool-classes"],
)
def test_gradients_through_the_api_match_finite_differences_of_get_loss(backend, kwargs, y):
    x = np.random.default_rng(5).normal(size=(5, 2))
    net = NeuralNetwork(input_size=2, **kwargs, seed=2, dtype="float64", backend=backend.name)
    grads = [(backend.to_numpy(dW), backend.to_numpy(db)) for dW, db in net.backward(x, y)]
    host = [(backend.to_numpy(W), backend.to_numpy(b)) for W, b in net.params]

    def loss_at(layer, which, value):
        net.params = with_param(host, layer, which, value)
        return net.get_loss(x, y)

    for layer, pair in enumerate(host):
        for which, array in enumerate(pair):
            numeric = numeric_gradient(lambda value: loss_at(layer, which, value), array)
            np.testing.assert_allclose(grads[layer][which], numeric, rtol=1e-6, atol=1e-10)


def test_host_data_is_cast_before_it_travels():
    # array_api_strict has no float16: a float16 NumPy x must reach it as float32.
    pytest.importorskip("array_api_strict")
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="array_api_strict")
    reference = NeuralNetwork(2, 1, [5, 3], seed=0, backend="numpy")
    np.testing.assert_allclose(
        float(net.get_loss(x.astype(np.float16), y)), float(reference.get_loss(x, y)), rtol=1e-6
    )


def test_hidden_sizes_may_be_any_iterable_of_integers():
    for hidden in ((5, 3), np.array([5, 3]), [np.int64(5), np.int32(3)], range(5, 2, -2)):
        assert NeuralNetwork(2, 1, hidden).hidden_sizes == [5, 3]


def test_torch_inputs_that_require_grad_are_used_as_plain_data():
    torch = pytest.importorskip("torch")
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="torch")
    X = torch.tensor(x, requires_grad=True)
    net.params = [(torch.tensor(W.numpy(), requires_grad=True), b) for W, b in net.params]
    _, losses = train(X, torch.tensor(y), net, 20, 0.25)
    assert not losses.requires_grad
    assert not any(W.requires_grad or b.requires_grad for W, b in net.params)
    assert X.grad is None


@pytest.mark.parametrize("dtype_name", ["uint8", "int16", "int32", "int64", "bool"])
def test_class_labels_of_every_integer_type(backend, dtype_name):
    x, _ = five_points()
    labels = np.array([1, 0, 1, 1, 0])
    net = NeuralNetwork(2, 2, [3], output_activation="softmax", loss="categorical_crossentropy", seed=0,
                        backend=backend.name)
    expected = float(net.get_loss(x, np.eye(2)[labels]))
    native = backend.from_numpy(labels.astype(dtype_name))
    assert float(net.get_loss(x, native)) == pytest.approx(expected, rel=1e-6)
    assert float(net.get_loss(x, labels.astype(dtype_name))) == pytest.approx(expected, rel=1e-6)


def test_repr_names_every_layer():
    net = NeuralNetwork(2, 1, [5], hidden_activation="sigmoid")
    assert repr(net) == "NeuralNetwork(2-5-1, activations=sigmoid/sigmoid, loss='mse', dtype='float32', backend='numpy')"

