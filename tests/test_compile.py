"""``train(..., compile=True)``: the compiled step gives eager training's losses
and weights on every backend and optimiser, keeps the divergence check, and
refuses what is not True or False. The CUDA-graph mechanism is checked here on
the CPU through a stand-in capture that reruns the captured work, and on a GPU
(torch:cuda) for real; without a GPU those cases skip."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, TrainingDiverged, backends, five_points, get_backend, train
from backprop_xp.cli import main
from backprop_xp.errors import SettingError
from backprop_xp.graphs import GraphStep, rerun_capture

#: Compiled against eager, relative. XLA may reorder sums and fuse products:
#: in float64, measured up to 2.4e-14 on the losses and 7e-15 on the weights
#: after 30 epochs of Adam on jax; the uncompiled backends give equal bits. In
#: float32, as the cross-backend parity tests: rounding differences grow over
#: 200 epochs (measured on jax: 2e-7 with sgd, 1.2e-5 with Adam, whose bias
#: corrections are then float32 arrays rather than Python floats).
RTOL = {"float64": 1e-12, "float32": 1e-4}
OPTIMIZERS = ("sgd", "momentum", "adam")


def _data():
    x, y = five_points()
    return x, y


def _compiles(backend):
    # Where compile returns the step as written, compiled against eager would be
    # eager against eager: those backends are tested below, for that and for
    # their equal bits.
    if backend.compiler == "none":
        pytest.skip(f"{backend.name} compiles nothing (see test_where_nothing_compiles_...)")


def _pair(backend_name, dtype="float64", **kwargs):
    return (NeuralNetwork(2, 1, [5, 3], seed=0, dtype=dtype, backend=backend_name, **kwargs),
            NeuralNetwork(2, 1, [5, 3], seed=0, dtype=dtype, backend=backend_name, **kwargs))


def _assert_same_training(eager, compiled, eager_losses, compiled_losses, dtype):
    backend = eager.backend
    rtol = RTOL[dtype]
    np.testing.assert_allclose(backend.to_numpy(compiled_losses), backend.to_numpy(eager_losses), rtol=rtol, atol=0)
    for (W, b), (V, c) in zip(eager.host_params(), compiled.host_params()):
        for want, got in ((W, V), (b, c)):
            error = np.linalg.norm(got - want)
            assert error <= rtol * np.linalg.norm(want), f"{error:.2e} > {rtol:g} x {np.linalg.norm(want):.2e}"


@pytest.mark.parametrize("batch_size", [None, 2], ids=["full-batch", "minibatches"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_compiled_training_matches_eager(backend, optimizer, batch_size):
    # Minibatches of 2 over five points: a short last batch of 1, a second shape to compile.
    _compiles(backend)
    x, y = _data()
    eager, compiled = _pair(backend.name)
    _, eager_losses = train(x, y, eager, 30, 0.1, optimizer=optimizer, batch_size=batch_size, seed=3)
    _, compiled_losses = train(x, y, compiled, 30, 0.1, optimizer=optimizer, batch_size=batch_size, seed=3,
                               compile=True)
    assert compiled_losses.shape == (30,)
    assert type(compiled_losses) is type(eager_losses)  # on dask, both computed: NumPy
    assert compiled_losses.dtype == eager_losses.dtype
    _assert_same_training(eager, compiled, eager_losses, compiled_losses, "float64")
    assert compiled.grads is None


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_training_matches_eager_in_float32(backend, optimizer):
    _compiles(backend)
    x, y = _data()
    eager, compiled = _pair(backend.name, dtype="float32")
    _, eager_losses = train(x, y, eager, 200, 0.25, optimizer=optimizer)
    _, compiled_losses = train(x, y, compiled, 200, 0.25, optimizer=optimizer, compile=True)
    _assert_same_training(eager, compiled, eager_losses, compiled_losses, "float32")


def test_each_backend_names_its_compiler(backend):
    expected = {"jax": "jax.jit"}.get(backend.library, "none")
    if backend.library == "torch" and backend.device.type == "cuda":
        expected = "cuda graph"
    assert backend.compiler == expected


def test_where_nothing_compiles_the_step_runs_as_written(backend):
    if backend.compiler != "none":
        pytest.skip(f"{backend.name} compiles with {backend.compiler}: compared with eager above")

    def step(params, state, X, Y):
        raise AssertionError("not called here")

    assert backend.compile(step) is step
    # train(compile=True) then runs training_step, the pure function, where eager
    # training runs the network's own methods: the same operations, so the same bits.
    x, y = _data()
    eager, compiled = _pair(backend.name)
    _, eager_losses = train(x, y, eager, 5, 0.1, optimizer="adam")
    _, compiled_losses = train(x, y, compiled, 5, 0.1, optimizer="adam", compile=True)
    np.testing.assert_array_equal(backend.to_numpy(compiled_losses), backend.to_numpy(eager_losses))
    for (W, b), (V, c) in zip(eager.host_params(), compiled.host_params()):
        np.testing.assert_array_equal(V, W)
        np.testing.assert_array_equal(c, b)


def test_the_callback_and_early_stopping_see_the_compiled_losses(backend):
    _compiles(backend)
    x, y = _data()
    eager, compiled = _pair(backend.name)
    seen = {"eager": [], "compiled": []}
    _, eager_losses = train(x, y, eager, 300, 0.25, tol=1e-2, patience=2,
                            callback=lambda epoch, loss: seen["eager"].append((epoch, float(loss))))
    _, compiled_losses = train(x, y, compiled, 300, 0.25, tol=1e-2, patience=2, compile=True,
                               callback=lambda epoch, loss: seen["compiled"].append((epoch, float(loss))))
    assert eager_losses.shape == compiled_losses.shape and eager_losses.shape[0] < 300
    assert [e for e, _ in seen["compiled"]] == [e for e, _ in seen["eager"]]
    np.testing.assert_allclose([v for _, v in seen["compiled"]], [v for _, v in seen["eager"]], rtol=RTOL["float64"])


@pytest.mark.parametrize("batch_size", [None, 2], ids=["full-batch", "minibatches"])
def test_divergence_is_still_reported_with_the_last_finite_weights(backend, batch_size):
    # Minibatches: the weights to go back to are many compiled calls old (issue 13).
    _compiles(backend)
    x, y = _data()
    kwargs = dict(hidden_activation="relu", output_activation="identity")
    eager, compiled = _pair(backend.name, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged) as eager_error:
            train(x, y, eager, 1000, 40.0, batch_size=batch_size, seed=3)
        with pytest.raises(TrainingDiverged) as compiled_error:
            train(x, y, compiled, 1000, 40.0, batch_size=batch_size, seed=3, compile=True)
    assert compiled_error.value.epoch == eager_error.value.epoch > 2
    assert compiled_error.value.learning_rate == 40.0
    assert str(compiled_error.value) == str(eager_error.value)
    # Both keep the weights of the start of the epoch before the non-finite loss.
    for (W, b), (V, c) in zip(eager.host_params(), compiled.host_params()):
        np.testing.assert_allclose(V, W, rtol=RTOL["float64"])
        np.testing.assert_allclose(c, b, rtol=RTOL["float64"])


@pytest.mark.parametrize("value", ["yes", 1, 0, None, 0.5, "jax.jit"])
def test_a_compile_value_that_is_not_true_or_false_is_refused_before_anything_changes(value):
    x, y = _data()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    before = net.host_params()
    with pytest.raises(SettingError, match=r"compile must be True or False; received"):
        train(x, y, net, 10, 0.1, compile=value)
    for (W, b), (V, c) in zip(before, net.host_params()):
        np.testing.assert_array_equal(W, V)
        np.testing.assert_array_equal(b, c)


# --- the CUDA-graph mechanism, on the CPU ---------------------------------------


@pytest.fixture
def graphs_on_cpu(monkeypatch):
    """torch on the CPU, compiling as torch on a GPU does, with the stand-in capture (graphs.rerun_capture)."""
    pytest.importorskip("torch")
    library = backends._LIBRARIES["torch"]
    fake = dataclasses.replace(
        library, compiler=lambda device: ("graph stand-in", lambda step: GraphStep(step, rerun_capture))
    )
    monkeypatch.setitem(backends._LIBRARIES, "torch", fake)
    return get_backend("torch")


@pytest.mark.parametrize("batch_size", [None, 2], ids=["full-batch", "minibatches"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_graph_steps_rotate_their_buffers_and_match_eager(graphs_on_cpu, optimizer, batch_size):
    assert graphs_on_cpu.compiler == "graph stand-in"
    x, y = _data()
    eager, compiled = _pair("torch")
    _, eager_losses = train(x, y, eager, 30, 0.1, optimizer=optimizer, batch_size=batch_size, seed=3)
    _, compiled_losses = train(x, y, compiled, 30, 0.1, optimizer=optimizer, batch_size=batch_size, seed=3,
                               compile=True)
    _assert_same_training(eager, compiled, eager_losses, compiled_losses, "float64")


def test_graph_step_outputs_survive_the_next_two_calls(graphs_on_cpu):
    import torch

    from backprop_xp.optimizers import get_optimizer
    from backprop_xp.training import _counters_as_arrays, training_step

    net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch")
    X, Y = net.as_arrays(*_data())
    adam = get_optimizer("adam")
    step = graphs_on_cpu.compile(training_step(net.architecture, adam, 0.1, graphs_on_cpu.xp))
    params, state = net.params, _counters_as_arrays(adam.init(net.params, graphs_on_cpu.xp), net.params[0][0], graphs_on_cpu.xp)
    outputs, copies = [], []
    for _ in range(3):
        loss, params, state = step(params, state, X, Y)
        outputs.append(params)
        copies.append([W.clone() for W, _ in params])
    for W, V in zip([W for W, _ in outputs[0]], copies[0]):  # written by call 1, untouched by calls 2 and 3
        torch.testing.assert_close(W, V, rtol=0, atol=0)
    assert float(state.step) == 3.0
    assert all(W is not V for W, V in zip(outputs[0], outputs[1]))


@pytest.mark.parametrize("batch_size", [None, 1, 2], ids=["full-batch", "batch-1", "batch-2"])
def test_divergence_with_graph_steps_keeps_the_weights_eager_training_keeps(graphs_on_cpu, batch_size):
    # With minibatches the rollback weights (the start of the epoch before) are
    # many calls old: far more than the three buffer sets cover (issue 13).
    x, y = _data()
    kwargs = {"hidden_activation": "relu", "output_activation": "identity"}
    eager, compiled = _pair("torch", **kwargs)
    settings = {"batch_size": batch_size, "seed": 3}
    with pytest.raises(TrainingDiverged) as eager_error:
        train(x, y, eager, 1000, 40.0, **settings)
    with pytest.raises(TrainingDiverged) as compiled_error:
        train(x, y, compiled, 1000, 40.0, compile=True, **settings)
    assert compiled_error.value.epoch == eager_error.value.epoch > 2
    for (W, b), (V, c) in zip(eager.host_params(), compiled.host_params()):
        np.testing.assert_array_equal(V, W)
        np.testing.assert_array_equal(c, b)


@pytest.mark.parametrize("batch_size", [None, 2], ids=["full-batch", "minibatches"])
def test_the_callbacks_losses_stay_valid_with_graph_steps(graphs_on_cpu, batch_size):
    # The lab's own callback keeps the loss arrays (losses.append(loss)); a
    # graph's loss buffer is rewritten three calls later.
    x, y = _data()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch")
    kept = []
    _, losses = train(x, y, net, 12, 0.25, batch_size=batch_size, compile=True,
                      callback=lambda epoch, loss: kept.append(loss))
    assert len({id(loss) for loss in kept}) == 12
    np.testing.assert_array_equal([float(loss) for loss in kept], graphs_on_cpu.to_numpy(losses))


def _step_and_start(backend, optimizer="adam"):
    from backprop_xp.optimizers import get_optimizer
    from backprop_xp.training import _counters_as_arrays, training_step

    net = NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch")
    X, Y = net.as_arrays(*_data())
    opt = get_optimizer(optimizer)
    step = backend.compile(training_step(net.architecture, opt, 0.1, backend.xp))
    state = _counters_as_arrays(opt.init(net.params, backend.xp), net.params[0][0], backend.xp)
    return step, net.params, state, X, Y


def test_kept_graph_outputs_survive_any_number_of_calls_and_are_copied_only_when_needed(graphs_on_cpu):
    step, params, state, X, Y = _step_and_start(graphs_on_cpu)
    _, params, state = step(params, state, X, Y)
    get = step.keep(params)
    assert get()[0][0] is params[0][0]  # nothing copied yet
    want = [W.clone() for W, _ in params]
    for _ in range(7):
        _, params, state = step(params, state, X, Y)
    assert get()[0][0] is not params[0][0]
    for W, V in zip([W for W, _ in get()], want):
        torch = pytest.importorskip("torch")
        torch.testing.assert_close(W, V, rtol=0, atol=0)
    # Only the last two keep() requests are honoured: an older one may be overwritten.
    old = step.keep(params)
    step.keep(params)
    step.keep(params)
    assert old()[0][0] is params[0][0]
    outside = [(W.clone(), b.clone()) for W, b in params]
    assert step.keep(outside)() is outside  # not the step's buffers: handed back as they are


def test_graphs_leave_their_loss_in_buffers_made_before_the_capture(graphs_on_cpu):
    # What lets every graph of a step share one memory pool (issue 13): no
    # array allocated inside a graph is read after its replay.
    import torch

    made_in_capture = []

    def capture(fns, warm):
        warm()
        before = [fn for fn in fns]
        out = []
        for fn in before:
            loss = fn()  # what a capture's `loss = fn()` records
            made_in_capture.append(loss)
            out.append((lambda fn=fn: fn(), loss))
        return out

    step, params, state, X, Y = _step_and_start(graphs_on_cpu, "sgd")
    graph_step = GraphStep(step.step, capture)
    loss, params, state = graph_step(params, state, X, Y)
    assert loss is made_in_capture[0] and loss.shape == () and loss.dtype == torch.float64
    assert all(loss is buffer for loss, buffer in zip(made_in_capture, graph_step.batches[((5, 2), (5, 1))]["losses"]))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_graph_epochs_run_n_steps_from_graphs_of_powers_of_two_and_write_nothing_they_were_given(optimizer):
    # Backend.compile_epochs on torch:cuda, over the stand-in capture: n epochs
    # replay the graphs of n's binary digits; each call copies its inputs in and
    # its results out.
    torch = pytest.importorskip("torch")
    from backprop_xp.graphs import GraphEpochs

    backend = get_backend("torch")
    step, params, state, X, Y = _step_and_start(backend, optimizer)
    captures = []

    def capture(fns, warm):
        captures.append(len(fns))
        return rerun_capture(fns, warm)

    run = GraphEpochs(step, 13, capture)  # graphs of 1, 2, 4 and 8 steps, each captured when first needed
    given = [W.clone() for W, _ in params]
    for n in (1, 2, 5, 8, 13):
        losses, new_params, new_state, last_start = run(params, state, X, Y, n)
        assert losses.shape == (13,) and losses.dtype == X.dtype
        want_params, want_state, want_losses = params, state, []
        for _ in range(n):
            want_start = want_params
            loss, want_params, want_state = step(want_params, want_state, X, Y)
            want_losses.append(float(loss))
        np.testing.assert_array_equal(losses[:n].numpy(), want_losses)
        for got, want in ((new_params, want_params), (last_start, want_start)):
            for (V, c), (W, b) in zip(got, want):
                torch.testing.assert_close(V, W, rtol=0, atol=0)
                torch.testing.assert_close(c, b, rtol=0, atol=0)
        if optimizer == "adam":
            assert float(new_state.step) == float(state.step) + n
        # Nothing given was written, nothing returned is a buffer the next call writes.
        for W, V in zip([W for W, _ in params], given):
            torch.testing.assert_close(W, V, rtol=0, atol=0)
        kept = [V.clone() for V, _ in new_params]
        run(new_params, new_state, X, Y, 3)
        for V, U in zip([V for V, _ in new_params], kept):
            torch.testing.assert_close(V, U, rtol=0, atol=0)
    assert captures == [1, 1, 1, 1] and run.captured == 4  # 1, 2, 4 (n = 5 reuses 1), 8; none for 13 = 8 + 4 + 1
    run(params, state, X[:3], Y[:3], 1)  # another batch shape: its own buffers and graphs, in place of the first's
    assert run.captured == 5 and len(run.batches) == 1
    for n in (0, 14):
        with pytest.raises(ValueError, match="expected 1 <= n <= 13"):
            run(params, state, X, Y, n)


def test_graph_epochs_are_kept_across_train_calls_and_capture_once(monkeypatch):
    # A second train(compile=True) of the same kind captures nothing (the
    # chunks of CUDA graphs are cached: they return copies, not their buffers).
    pytest.importorskip("torch")
    from backprop_xp import chunks, compiled
    from backprop_xp.graphs import GraphEpochs

    made = []
    library = backends._LIBRARIES["torch"]

    def epochs(device, step, k):
        made.append(GraphEpochs(step, k, rerun_capture))
        return made[-1]

    fake = dataclasses.replace(library, compiler=lambda device: ("cuda graph", lambda step: GraphStep(step, rerun_capture)),
                               epochs_compiler=epochs)
    monkeypatch.setitem(backends._LIBRARIES, "torch", fake)
    monkeypatch.setattr(chunks, "EPOCHS_PER_CHUNK", 16)
    compiled.clear()
    try:
        x, y = _data()
        results = []
        for seed in (0, 1, 0):
            net = NeuralNetwork(2, 1, [5, 3], seed=seed, dtype="float64", backend="torch")
            _, losses = train(x, y, net, 40, 0.25, compile=True)
            results.append((losses.numpy(), net.host_params()))
        assert len(made) == 1 and made[0].captured == 2  # chunks of 16, 16 and 8 epochs: graphs of 16 and 8 steps
        np.testing.assert_array_equal(results[0][0], results[2][0])  # the kept graphs start afresh from each net
        eager = NeuralNetwork(2, 1, [5, 3], seed=1, dtype="float64", backend="torch")
        _, eager_losses = train(x, y, eager, 40, 0.25)
        np.testing.assert_array_equal(results[1][0], eager_losses.numpy())
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch"), 40, 0.5, compile=True)
        assert len(made) == 2  # another learning rate: another program
        # They hold device memory: only the last compiled.MAX_KEPT_GRAPHS (2) are kept.
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch"), 40, 1.0, compile=True)
        train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", backend="torch"), 40, 0.25, compile=True)
        assert len(made) == 4  # the first was dropped, and is made again
    finally:
        compiled.clear()


def _pairings():
    from backprop_xp.activations import HIDDEN_ACTIVATIONS
    from backprop_xp.losses import COMPATIBLE_OUTPUTS

    return [(hidden, output, loss) for hidden in HIDDEN_ACTIVATIONS
            for loss, outputs in COMPATIBLE_OUTPUTS.items() for output in outputs]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_training_step_makes_no_tensor_from_a_python_number(optimizer):
    # A tensor made from a Python number (array-api-compat's torch maximum
    # does torch.asarray(0.0, device=...)) is a copy from the host on a GPU,
    # which a CUDA graph capture forbids: the step that compile=True captures
    # must make its constants on the device (scalars.py).
    torch = pytest.importorskip("torch")
    from torch.overrides import TorchFunctionMode

    from backprop_xp.optimizers import get_optimizer
    from backprop_xp.training import _counters_as_arrays, training_step

    factories = (torch.asarray, torch.tensor, torch.as_tensor, torch.scalar_tensor)
    made = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in factories and args and isinstance(args[0], (bool, int, float)):
                made.append(func.__name__)
            return func(*args, **(kwargs or {}))

    x, y = _data()
    for hidden, output, loss in _pairings():
        net = NeuralNetwork(2, 1 if output != "softmax" else 2, [4], seed=0, dtype="float64", backend="torch",
                            hidden_activation=hidden, output_activation=output, loss=loss)
        X, Y = net.as_arrays(x, y if output != "softmax" else np.eye(2)[(y.ravel() > 0.5).astype(int)])
        opt = get_optimizer(optimizer)
        step = training_step(net.architecture, opt, 0.1, net.backend.xp)
        state = _counters_as_arrays(opt.init(net.params, net.backend.xp), net.params[0][0], net.backend.xp)
        with Spy():
            step(net.params, state, X, Y)
        assert made == [], f"{hidden}/{output}/{loss}: {made}"


def test_cuda_graph_capture_warms_up_and_captures_on_one_stream_into_one_pool(monkeypatch):
    # torch.cuda, faked: which stream each piece of work ran on, and the pool each graph was given.
    torch = pytest.importorskip("torch")
    from contextlib import contextmanager

    from backprop_xp.graphs import cuda_graph_capture

    events, current = [], ["main"]
    streams = iter(range(100))

    class Stream:
        def __init__(self):
            self.name = f"side{next(streams)}"

        def wait_stream(self, other):
            events.append(("wait", self.name, getattr(other, "name", other)))

    @contextmanager
    def stream(s):
        previous, current[0] = current[0], s.name
        yield
        current[0] = previous

    graphs = []

    @contextmanager
    def graph(g, pool=None, stream=None, **kwargs):
        graphs.append((pool, stream.name if stream is not None else None))
        previous, current[0] = current[0], stream.name if stream is not None else "torch's own"
        yield
        current[0] = previous

    class CurrentStream:
        name = "main"

        def wait_stream(self, other):
            events.append(("wait", "main", other.name))

    fake = {"Stream": Stream, "stream": stream, "graph": graph, "CUDAGraph": lambda: type("G", (), {"replay": None})(),
            "current_stream": lambda: CurrentStream(), "graph_pool_handle": lambda: object(),
            "device": lambda d: contextmanager(lambda: (yield))()}
    for name, value in fake.items():
        monkeypatch.setattr(torch.cuda, name, value, raising=False)
    ran = []
    capture = cuda_graph_capture("cuda:0")
    for _ in range(2):  # two batch shapes
        capture([lambda: ran.append(("fn", current[0])) or 0.0] * 3, lambda: ran.append(("warm", current[0])))
    warm_streams = {where for what, where in ran if what == "warm"}
    fn_streams = [where for what, where in ran if what == "fn"]
    # Every capture records on the one side stream its warm-up ran on (a pool's blocks are reused per stream).
    assert len(fn_streams) == 6 and warm_streams == {"side0"} and next(streams) == 1
    assert fn_streams == ["side0"] * 6
    assert [s for _, s in graphs] == fn_streams
    assert len({id(pool) for pool, _ in graphs}) == 1 and graphs[0][0] is not None
    assert ("wait", "main", "side0") in events  # the loop's stream waits for the side stream's work


# --- on a GPU ----------------------------------------------------------------------


def _cuda_backend():
    try:
        return get_backend("torch:cuda")
    except backends.BackendUnavailableError as exc:
        pytest.skip(f"needs a CUDA GPU for torch: {exc}")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_cuda_graph_training_matches_eager_on_a_gpu(optimizer):
    backend = _cuda_backend()
    assert backend.compiler == "cuda graph"
    x, y = _data()
    for dtype, batch_size in (("float64", None), ("float64", 2), ("float32", None)):
        eager, compiled = _pair(backend.name, dtype=dtype)
        _, eager_losses = train(x, y, eager, 200, 0.1, optimizer=optimizer, batch_size=batch_size)
        _, compiled_losses = train(x, y, compiled, 200, 0.1, optimizer=optimizer, batch_size=batch_size, compile=True)
        assert compiled_losses.device == backend.device
        _assert_same_training(eager, compiled, eager_losses, compiled_losses, dtype)


def test_a_cuda_graph_replays_without_launching_from_python_on_a_gpu():
    """A replayed step is one graph launch: the eager step's kernels are not launched one by one."""
    backend = _cuda_backend()
    import torch

    from backprop_xp.optimizers import get_optimizer
    from backprop_xp.training import training_step

    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    X, Y = net.as_arrays(*_data())
    sgd = get_optimizer("sgd")
    step = backend.compile(training_step(net.architecture, sgd, 0.25, backend.xp))
    loss, params, state = step(net.params, None, X, Y)  # captures
    float(loss)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        loss, params, state = step(params, state, X, Y)
        float(loss)
    names = {event.name for event in prof.events()}
    assert not any(name.startswith("aten::mm") for name in names), sorted(names)


# --- the command ---------------------------------------------------------------------


def test_train_compile_is_recorded_in_metrics(tmp_path, capsys):
    pytest.importorskip("jax")
    out = tmp_path / "run"
    status = main(["train", "--backend", "jax", "--epochs", "20", "--compile", "--quiet", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["compile"] is True and metrics["compiler"] == "jax.jit"
    status = main(["train", "--epochs", "20", "--quiet", "--out", str(tmp_path / "eager")])
    assert status == 0
    metrics = json.loads((tmp_path / "eager" / "metrics.json").read_text())
    assert metrics["config"]["compile"] is False and metrics["compiler"] == "off"
