"""Compiled full-batch training in chunks of epochs (:mod:`backprop_xp.chunks`)
and compiled programs kept across ``train()`` calls (:mod:`backprop_xp.compiled`).

The chunk runner's rules (host code, the same for every backend) are checked
on NumPy with a stand-in for ``Backend.compile_epochs`` written in plain
Python; the real ones in their sessions: ``jax.jit`` of a loop on JAX, CUDA
graphs on torch:cuda, and CUDA graphs' mechanism on the CPU through the
stand-in capture in the torch session. Chunks of 7 epochs put the stops inside chunks, at their
first epoch and at their last.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, TrainingDiverged, chunks, compiled, five_points, get_backend, train
from backprop_xp import training as training_module
from backprop_xp.optimizers import SGD, Adam, Momentum, get_optimizer

K = 7


@pytest.fixture
def numpy_backend():
    return get_backend("numpy")


def _stand_in(step, k):
    """``Backend.compile_epochs``'s contract, uncompiled: the eager step in a Python loop."""

    def run(params, state, X, Y, n):
        losses, start = [], params
        for _ in range(int(n)):
            start = params
            loss, params, state = step(params, state, X, Y)
            losses.append(float(loss))
        return np.array(losses + [0.0] * (k - len(losses))), params, state, start

    return run


def _chunked(backend, net, x, y, epochs, lr, k=K, **kwargs):
    """train()'s chunked path on any backend: the stand-in as the compiled program, ``k`` epochs a chunk."""
    opt = get_optimizer(kwargs.pop("optimizer", "sgd"))
    tol, patience, callback = kwargs.pop("tol", None), kwargs.pop("patience", 10), kwargs.pop("callback", None)
    X, Y = net.as_arrays(x, y)
    step = training_module.training_step(net.architecture, opt, lr, backend.xp)
    record = training_module.TrainingState()
    (state,) = backend.evaluate(opt.init(net.params, backend.xp))

    def evaluated(params, state, X, Y):
        return backend.evaluate(*step(params, state, X, Y))

    def on_epoch(i, loss, loss_array):
        if callback is not None:
            callback(i + 1, loss_array())
        return training_module._plateau(record, loss, tol, patience)

    per_epoch = on_epoch if tol is not None or callback is not None else None  # as train(): none needed
    return chunks.run_in_chunks(_stand_in(evaluated, k), net.params, state, X, Y, epochs, k,
                                on_epoch=per_epoch, to_host=np.asarray, **kwargs)


def _same_weights(backend, params, net):
    for (W, b), (V, c) in zip(net.host_params(), params):
        np.testing.assert_array_equal(backend.to_numpy(V), W)
        np.testing.assert_array_equal(backend.to_numpy(c), b)


@pytest.mark.parametrize("epochs", [1, K, 3 * K + 2])
def test_chunks_give_the_eager_losses_and_weights(numpy_backend, epochs):
    x, y = five_points()
    eager, chunked = (NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend=numpy_backend.name) for _ in "ab")
    seen = []
    _, losses = train(x, y, eager, epochs, 0.5)
    run = _chunked(numpy_backend, chunked, x, y, epochs, 0.5, callback=lambda e, loss: seen.append(e))
    np.testing.assert_array_equal(run.losses, numpy_backend.to_numpy(losses))
    _same_weights(numpy_backend, run.params, eager)
    assert seen == list(range(1, epochs + 1))


@pytest.mark.parametrize("patience", [1, 3, 5])
def test_chunks_stop_early_where_eager_stops(numpy_backend, patience):
    x, y = five_points()
    eager, chunked = (NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend=numpy_backend.name) for _ in "ab")
    _, losses = train(x, y, eager, 200, 0.25, tol=1e-3, patience=patience)
    run = _chunked(numpy_backend, chunked, x, y, 200, 0.25, tol=1e-3, patience=patience)
    assert len(run.losses) == losses.shape[0] < 200
    np.testing.assert_array_equal(run.losses, numpy_backend.to_numpy(losses))
    _same_weights(numpy_backend, run.params, eager)


#: (learning rate, chunk size): relu layers and a linear output diverge at
#: epoch 74 with lr 40 (the 4th epoch of a chunk of 7, the 1st of the second
#: chunk of 73), at 105 with lr 15 (the last of a chunk of 7), at 44 with lr 1000.
DIVERGING = [(40.0, 7), (40.0, 73), (15.0, 7), (1000.0, 43)]
RELU = {"hidden_activation": "relu", "output_activation": "identity", "dtype": "float64"}


@pytest.mark.parametrize("per_epoch", [False, True], ids=["checked-per-chunk", "with-a-callback"])
@pytest.mark.parametrize("lr, k", DIVERGING)
def test_chunks_diverge_where_eager_diverges_and_keep_the_same_weights(numpy_backend, lr, k, per_epoch):
    x, y = five_points()
    eager, chunked = (NeuralNetwork(2, 1, [5, 3], seed=0, backend=numpy_backend.name, **RELU) for _ in "ab")
    with pytest.raises(TrainingDiverged) as caught, np.errstate(over="ignore", invalid="ignore"):
        train(x, y, eager, 1000, lr)
    seen = []
    with np.errstate(over="ignore", invalid="ignore"):
        run = _chunked(numpy_backend, chunked, x, y, 1000, lr, k,
                       callback=(lambda e, loss: seen.append(e)) if per_epoch else None)
    assert run.diverged and len(run.losses) == caught.value.epoch
    assert seen == (list(range(1, caught.value.epoch)) if per_epoch else [])  # every finite epoch, in order
    np.testing.assert_array_equal(run.losses, caught.value.losses)
    _same_weights(numpy_backend, run.params, eager)


# --- the real thing: jax.jit of a loop, and the cache ---------------------------------


@pytest.fixture(params=["compiled", "graph stand-in"])
def chunk_backend(request, backend, monkeypatch):
    """The session's backend where it compiles chunks of epochs (jax.jit; CUDA graphs on torch:cuda), and in
    the torch CPU session, torch with CUDA graphs' chunk mechanism over the stand-in capture (graphs.rerun_capture)."""
    monkeypatch.setattr(chunks, "EPOCHS_PER_CHUNK", K)
    if request.param == "compiled":
        if backend.compile_epochs(lambda *a: None, 1) is None:
            pytest.skip(f"{backend.name} runs one dispatch per epoch")
        yield backend
        return
    if backend.name != "torch":
        pytest.skip("the graph stand-in runs in the torch (CPU) session")
    yield _graphs_on_cpu(monkeypatch)
    compiled.clear()  # the stand-in's programs are kept under torch's name


def _graphs_on_cpu(monkeypatch):
    """torch on the CPU compiling as on a GPU: GraphStep and GraphEpochs over the stand-in capture."""
    import dataclasses

    from backprop_xp import backends
    from backprop_xp.graphs import GraphEpochs, GraphStep, rerun_capture

    library = backends._LIBRARIES["torch"]
    fake = dataclasses.replace(
        library, compiler=lambda device: ("cuda graph", lambda step: GraphStep(step, rerun_capture)),
        epochs_compiler=lambda device, step, k: GraphEpochs(step, k, rerun_capture),
    )
    monkeypatch.setitem(backends._LIBRARIES, "torch", fake)
    compiled.clear()
    return get_backend("torch")


def test_compiled_chunks_match_eager_and_stop_where_it_stops(chunk_backend):
    x, y = five_points()
    for kwargs in ({}, {"tol": 1e-3, "patience": 3}, {"optimizer": "adam"}):
        eager, chunked = (NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend=chunk_backend.name) for _ in "ab")
        _, losses = train(x, y, eager, 3 * K + 2, 0.25, **kwargs)
        _, chunk_losses = train(x, y, chunked, 3 * K + 2, 0.25, compile=True, **kwargs)
        np.testing.assert_allclose(np.asarray(chunk_losses), np.asarray(losses), rtol=1e-12)
        for (W, b), (V, c) in zip(eager.host_params(), chunked.host_params()):
            np.testing.assert_allclose(V, W, rtol=1e-12)
            np.testing.assert_allclose(c, b, rtol=1e-12)


@pytest.mark.parametrize("lr, k", DIVERGING)
def test_compiled_chunks_diverge_at_eagers_epoch(chunk_backend, monkeypatch, lr, k):
    monkeypatch.setattr(chunks, "EPOCHS_PER_CHUNK", k)
    x, y = five_points()
    eager, chunked = (NeuralNetwork(2, 1, [5, 3], seed=0, backend=chunk_backend.name, **RELU) for _ in "ab")
    with pytest.raises(TrainingDiverged) as expected:
        train(x, y, eager, 1000, lr)
    with pytest.raises(TrainingDiverged) as got:
        train(x, y, chunked, 1000, lr, compile=True)
    assert got.value.epoch == expected.value.epoch
    assert str(got.value) == str(expected.value)
    for (W, b), (V, c) in zip(eager.host_params(), chunked.host_params()):
        np.testing.assert_allclose(V, W, rtol=1e-12)
        np.testing.assert_allclose(c, b, rtol=1e-12)


def test_a_second_compiled_train_compiles_nothing(chunk_backend, monkeypatch):
    if chunk_backend.compiler != "jax.jit":
        pytest.skip("counts jax.jit's traces; CUDA graphs' captures are counted in test_compile")
    compiled.clear()
    traces = []
    plain = training_module.training_step

    def counted(*args, **kwargs):
        step = plain(*args, **kwargs)

        def traced(*inner):
            traces.append(1)  # runs only while jax.jit traces
            return step(*inner)

        return traced

    monkeypatch.setattr(training_module, "training_step", counted)
    x, y = five_points()
    for batch_size in (None, 2):
        first = len(traces)
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, backend=chunk_backend.name), 20, 0.25,
              batch_size=batch_size, compile=True)
        assert len(traces) > first
        traced = len(traces)
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=1, backend=chunk_backend.name), 30, 0.25,
              batch_size=batch_size, compile=True)
        assert len(traces) == traced, "the second call traced again"
    train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, backend=chunk_backend.name), 20, 0.5, compile=True)
    assert len(traces) > traced  # another learning rate: another program
    # An optimiser made afresh with the same settings is the same optimiser, so its program is found again.
    for seed in (0, 1):
        before = len(traces)
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=seed, backend=chunk_backend.name), 20, 0.5,
              optimizer=Adam(0.9, 0.99), compile=True)
        assert (len(traces) > before) == (seed == 0)


def test_an_optimiser_factory_gives_one_optimiser_per_setting():
    assert Adam(0.9, 0.99) is Adam(beta1=0.9, beta2=0.99) is Adam(beta2=0.99)
    assert Adam() is get_optimizer("adam") and SGD() is get_optimizer("sgd") and Momentum() is get_optimizer("momentum")
    assert Adam(0.9, 0.99) is not Adam(0.9, 0.98) and Momentum(0.5) is not Momentum(0.5, nesterov=True)
