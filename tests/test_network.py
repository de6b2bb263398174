"""The NeuralNetwork API: shapes, inputs of every accepted kind, refusals that
change nothing, and the functional core under it."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, equations, five_points, get_backend, train
from backprop_xp.architecture import Architecture
from conftest import numeric_gradient, with_param


def snapshot(net):
    return [(net.backend.to_numpy(W).copy(), net.backend.to_numpy(b).copy()) for W, b in net.params]


def assert_unchanged(net, before):
    for (W, b), (W0, b0) in zip(snapshot(net), before):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


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


def test_class_labels_out_of_range_are_refused():
    x, _ = five_points()
    net = NeuralNetwork(2, 3, [4], output_activation="softmax", loss="categorical_crossentropy", seed=1)
    with pytest.raises(ValueError, match=r"Class labels must lie in 0\.\.2 for 3 outputs; received labels from 0 to 3"):
        net.backward(x, np.array([0, 1, 2, 3, 0]))
    assert net.grads is None


def test_params_are_assignable_from_numpy_and_backend_arrays(backend):
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    other = NeuralNetwork(2, 1, [5, 3], seed=7, dtype="float64", backend="numpy")
    net.params = other.params  # float64 NumPy, cast to the network's float32
    assert all(W.dtype == backend.xp.float32 for W, _ in net.params)
    np.testing.assert_allclose(backend.to_numpy(net.params[1][0]), other.params[1][0], rtol=1e-7)
    same = NeuralNetwork(2, 1, [5, 3], seed=3, backend=backend.name)
    net.params = same.params
    np.testing.assert_array_equal(backend.to_numpy(net.params[2][0]), backend.to_numpy(same.params[2][0]))


def test_wrong_params_are_refused_and_change_nothing():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    net.backward(x, y)
    before = snapshot(net)
    good = net.params
    for bad, message in [
        (good[:2], r"params must be a list of 3 \(W, b\) pairs; received 2"),
        ([good[0], good[1], (np.zeros((3, 2)), np.zeros(1))], r"params\[2\]\[0\] \(W\) must have shape \(3, 1\); received shape \(3, 2\)"),
        ([good[0], good[1], (good[2][0],)], r"params\[2\] must be a \(W, b\) pair"),
    ]:
        with pytest.raises(ValueError, match=message):
            net.params = bad
        assert_unchanged(net, before)
        assert net.grads is not None


@pytest.mark.parametrize(
    "x, y, error, message",
    [
        (np.zeros((5, 3)), np.zeros(5), ValueError, r"x must have shape \(n_samples, 2\) with n_samples >= 1; received shape \(5, 3\)"),
        (np.zeros(2), np.zeros(1), ValueError, r"x must have shape \(n_samples, 2\).*received shape \(2,\)"),
        (np.zeros((0, 2)), np.zeros(0), ValueError, r"received shape \(0, 2\)"),
        (np.zeros((5, 2)), np.zeros(4), ValueError, r"y must have shape \(5, 1\) or \(5,\) to match x; received shape \(4,\)"),
        (np.zeros((5, 2)), np.zeros((5, 2)), ValueError, r"y must have shape \(5, 1\) or \(5,\) to match x; received shape \(5, 2\)"),
        ([[0, 0], [1]], [0, 1], ValueError, r"x must be a rectangular nested list of numbers"),
        (np.array([["a", "b"]]), [0], TypeError, r"x must hold real numbers; received an array of dtype <U1"),
        ("x", [0], TypeError, r"x must be an array of backend 'numpy', a NumPy array or a nested list; received str"),
    ],
)
def test_bad_batches_are_refused_before_anything_changes(x, y, error, message):
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    before = snapshot(net)
    with pytest.raises(error, match=message):
        net.backward(x, y)
    assert net.grads is None
    assert_unchanged(net, before)


def test_arrays_of_another_library_are_refused_naming_both():
    torch = pytest.importorskip("torch")
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="numpy")
    with pytest.raises(TypeError, match=r"x is an array of torch, but this network runs on 'numpy'. Pass a NumPy array or a nested list, or create the network with backend='torch'"):
        net.forward(torch.zeros(5, 2))
    strict = pytest.importorskip("array_api_strict")
    tnet = NeuralNetwork(2, 1, [5, 3], seed=0, backend="torch")
    with pytest.raises(TypeError, match=r"x is an array of array_api_strict, but this network runs on 'torch'. Pass an array of torch, a NumPy array"):
        tnet.forward(strict.zeros((5, 2)))


def test_arrays_on_another_device_are_refused_naming_both():
    strict = pytest.importorskip("array_api_strict")
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="array_api_strict")
    other = strict.zeros((5, 2), device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"x is on device .*device1.*, but this network runs on .*CPU_DEVICE"):
        net.forward(other)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_learning_rates_are_refused_before_anything_changes(lr):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    net.backward(x, y)
    before = snapshot(net)
    with pytest.raises(ValueError, match="The learning rate must be a positive, finite number"):
        net.apply_gradients(lr)
    with pytest.raises(ValueError, match="The learning rate must be a positive, finite number"):
        train(x, y, net, 10, lr)
    assert_unchanged(net, before)


def test_apply_gradients_before_backward_is_an_error():
    with pytest.raises(RuntimeError, match=r"call backward\(x, y\) before apply_gradients"):
        NeuralNetwork(2, 1, [5, 3]).apply_gradients(0.1)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(hidden_sizes=[5, 0]), ValueError, r"hidden_sizes\[1\] must be a positive integer; received 0"),
        (dict(hidden_sizes=[2.5]), ValueError, r"hidden_sizes\[0\] must be a positive integer; received 2.5"),
        (dict(hidden_sizes="5"), TypeError, r"hidden_sizes must be a list of positive integers"),
        (dict(input_size=-1), ValueError, r"input_size must be a positive integer; received -1"),
        (dict(hidden_activation="tnah"), ValueError, r"Unknown hidden activation 'tnah'. Expected one of: identity, relu, sigmoid, tanh."),
        (dict(hidden_activation="softmax"), ValueError, r"The hidden activation cannot be 'softmax'"),
        (dict(output_activation="swish"), ValueError, r"Unknown output activation 'swish'"),
        (dict(loss="hinge"), ValueError, r"Unknown loss 'hinge'. Expected one of: binary_crossentropy, categorical_crossentropy, mse."),
        (dict(loss="binary_crossentropy", output_activation="tanh"), ValueError, r"Loss 'binary_crossentropy' needs an output activation among sigmoid, softmax; received 'tanh'"),
        (dict(output_activation="softmax"), ValueError, r"A softmax output needs output_size >= 2"),
        (dict(init="glorot"), ValueError, r"Unknown initialiser 'glorot'. Expected one of: glorot_normal, glorot_uniform"),
        (dict(init="normal:-1"), ValueError, r"'normal:STD' needs a positive, finite standard deviation"),
        (dict(init="zeros:1"), ValueError, r"Initialiser 'zeros' takes no parameter"),
        (dict(dtype="float16"), ValueError, r"Unknown dtype 'float16'. Expected one of: float32, float64."),
        (dict(dtype=np.dtype("float32")), ValueError, r"Unknown dtype dtype\('float32'\). Expected one of: float32, float64."),
        (dict(backend="tourch"), ValueError, r"Unknown backend 'tourch'. Expected one of: numpy, torch, torch:cuda"),
    ],
)
def test_bad_constructor_arguments_get_clear_errors(kwargs, error, message):
    args = dict(input_size=2, output_size=1, hidden_sizes=[5, 3]) | kwargs
    with pytest.raises(error, match=message):
        NeuralNetwork(**args)


def test_epochs_below_one_are_refused():
    x, y = five_points()
    with pytest.raises(ValueError, match="epochs must be an integer of at least 1; received 0"):
        train(x, y, NeuralNetwork(2, 1, [5, 3]), 0, 0.1)


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


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match=f"seed must be None or a non-negative integer; received {seed!r}"):
        NeuralNetwork(2, 1, [3], seed=seed)


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


def test_a_callback_that_is_not_callable_is_refused_before_training():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    before = snapshot(net)
    with pytest.raises(TypeError, match="callback must be callable as callback"):
        train(x, y, net, 5, 0.1, callback=42)
    assert_unchanged(net, before)
    assert net.grads is None


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


def test_the_functional_core_refuses_targets_that_would_broadcast():
    arch = Architecture.build(2, 1, [])
    net = NeuralNetwork(2, 1, [], seed=0, dtype="float64")
    x, y = five_points()
    with pytest.raises(ValueError, match=r"Y must have shape \(5, 1\), the network's output; received shape \(5,\)"):
        equations.loss_and_gradients(net.params, np.asarray(x, float), np.asarray(y, float), arch)
    X, Y = net.as_arrays(x, y)
    _, grads = equations.loss_and_gradients(net.params, X, Y, arch)
    assert grads[0][0].shape == (2, 1)
