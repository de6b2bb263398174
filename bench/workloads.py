"""What the benchmarks time: the sizes, their FLOPs, and one runner per
implementation and phase, each a ``setup`` (untimed: inputs, and for the
backward phase the forward pass it starts from) and a ``run`` (timed: the work,
then a synchronisation with the device).

Every implementation of a size starts from the same seeded weights and data.
The peers are the bare matrix products of the phase (the floor), torch
autograd and ``jax.grad`` under ``jax.jit``; ``tests/test_bench_helpers.py``
checks that the peers compute the gradients the engine computes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backprop_xp import Architecture, equations, five_points, train
from backprop_xp.initializers import initial_params
from backprop_xp.network import NeuralNetwork

if TYPE_CHECKING:
    from backprop_xp import Backend

LEARNING_RATE = 0.25
TINY_EPOCHS = 2500
PHASES = ("forward", "backward", "step")


@dataclass(frozen=True)
class Size:
    """A network and batch: ``sizes`` are the layer widths, input to output."""

    name: str
    batch: int
    sizes: tuple[int, ...]
    hidden: str = "tanh"
    output: str = "softmax"
    loss: str = "categorical_crossentropy"
    gpu_only: bool = False

    @property
    def architecture(self) -> Architecture:
        return Architecture.build(self.sizes[0], self.sizes[-1], self.sizes[1:-1], self.hidden, self.output, self.loss)

    @property
    def width(self) -> int:
        return max(self.sizes[:-1])


#: The lab's experiment: 2-5-3-1, tanh/sigmoid, MSE, its five points, 2500 epochs.
TINY = Size("tiny", 5, (2, 5, 3, 1), "tanh", "sigmoid", "mse")
MEDIUM = Size("medium", 1024, (256, 256, 256, 10))
LARGE = Size("large", 4096, (1024, 1024, 1024, 1024, 10))
BIGGER = Size("bigger", 16384, (4096, 4096, 4096, 4096, 10), gpu_only=True)
SIZES = {s.name: s for s in (TINY, MEDIUM, LARGE, BIGGER)}


def sweep_size(batch: int, width: int) -> Size:
    """A point of the scaling sweep: depth 4, ``width`` wide, 10 outputs."""
    return Size(f"sweep-b{batch}-w{width}", batch, (width,) * 4 + (10,))


#: The scaling sweep on the CPU (cheap): batch sizes at width 512, widths at batch 512.
SWEEP_BATCHES = (128, 256, 512, 1024, 2048, 4096)
SWEEP_WIDTHS = (128, 256, 512, 1024, 2048)
SWEEP_FIXED = 512


def sweep_sizes() -> list[Size]:
    points = [sweep_size(b, SWEEP_FIXED) for b in SWEEP_BATCHES] + [sweep_size(SWEEP_FIXED, w) for w in SWEEP_WIDTHS]
    return list({s.name: s for s in points}.values())


def size_named(name: str) -> Size:
    if name in SIZES:
        return SIZES[name]
    _, b, w = name.split("-")  # sweep-bB-wW
    return sweep_size(int(b[1:]), int(w[1:]))


# --- FLOPs -----------------------------------------------------------------


def products(size: Size, phase: str) -> list[tuple[int, int, int]]:
    """The matrix products ``(m, k, n)`` of a phase, in the engine's order.

    Forward: ``A_{l-1} @ W_l`` per layer. Backward: ``A_{l-1}^T @ Delta_l`` per
    layer and ``Delta_l @ W_l^T`` for every layer but the first. A step is both.
    """
    B, layers = size.batch, list(zip(size.sizes[:-1], size.sizes[1:]))
    forward = [(B, n_in, n_out) for n_in, n_out in layers]
    backward = []
    for index in range(len(layers) - 1, -1, -1):
        n_in, n_out = layers[index]
        backward.append((n_in, B, n_out))
        if index > 0:
            backward.append((B, n_out, n_in))
    return {"forward": forward, "backward": backward, "step": forward + backward}[phase]


def flops(size: Size, phase: str) -> int:
    """Floating-point operations of the phase's matrix products (``2 m k n`` each).

    Elementwise work is left out: it is what separates a step from its floor.
    """
    return sum(2 * m * k * n for m, k, n in products(size, phase))


# --- machines and devices ----------------------------------------------------


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(backend: Backend) -> str:
    """The name of the device a backend computes on, for ``extra_info``."""
    return backend.device_name() or f"{cpu_name()} ({os.cpu_count()} cores)"


def synchronizer(backend: Backend) -> Callable[[Any], None]:
    """A function that waits until the device has finished the work behind an output."""
    return backend.synchronise


# --- the problems ------------------------------------------------------------


@dataclass
class Problem:
    size: Size
    backend: Backend
    arch: Architecture
    params: list  # (W, b) on the backend
    X: Any
    Y: Any


def make_problem(size: Size, backend: Backend, *, seed: int = 0) -> Problem:
    """Seeded glorot weights, a batch of normal inputs and one-hot (or lab) targets, in float32."""
    arch = size.architecture
    host = initial_params(size.sizes, "glorot_uniform", seed, "float32")
    if size is TINY:
        x, y = five_points()
        X, Y = x, y.astype(np.float32).reshape(-1, 1)
    else:
        rng = np.random.default_rng(seed + 1)
        X = rng.normal(size=(size.batch, size.sizes[0])).astype(np.float32)
        Y = np.eye(size.sizes[-1], dtype=np.float32)[rng.integers(0, size.sizes[-1], size.batch)]
    params = [(backend.from_numpy(W), backend.from_numpy(b)) for W, b in host]
    return Problem(size, backend, arch, params, backend.from_numpy(X), backend.from_numpy(Y))


@dataclass
class Runner:
    """``setup()`` returns the arguments of ``run``; only ``run`` is timed."""

    setup: Callable[[], tuple]
    run: Callable[..., Any]  # returns what it computed, for the tests to check


def _timed(fn: Callable[..., Any], sync: Callable[[Any], None]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        out = fn(*args)
        sync(out)
        return out

    return run


def _no_args() -> tuple:
    return ()


#: The implementations: ``ours`` (the engine), ``matmul`` (the floor), ``autograd``
#: (torch), ``jax_grad`` (jax), ``lab`` (the lab's torch loop, tiny only),
#: ``ours_compiled`` (``train(..., compile=True)``, tiny only) and ``eager``
#: (``train()`` on JAX, uncompiled: the peer of ``ours_compiled`` there; on
#: NumPy and torch the tiny ``ours`` is ``train()`` already).
IMPLEMENTATIONS = ("ours", "matmul", "autograd", "jax_grad", "lab", "ours_compiled", "eager")
#: Libraries where ``compile=True`` does something: the others run the eager step.
COMPILING = ("jax", "torch")


def supported(impl: str, library: str, size: Size, phase: str) -> str | None:
    """None if the combination is benchmarked, else why not (a skip reason)."""
    if size is TINY:
        if phase != "step":
            return "the tiny size is timed as the lab's whole training (step phase only)"
        if impl == "matmul":
            return "the tiny size is compared with the lab's loop, not with bare products"
        if impl == "ours_compiled" and library not in COMPILING:
            return f"compile=True runs the eager step on {library}: no compiler to time"
        if impl == "eager" and library != "jax":
            return "the eager train() is the tiny 'ours' on this backend"
    elif impl in ("lab", "ours_compiled", "eager"):
        return f"{impl} runs the tiny size only"
    if impl == "autograd" and library != "torch":
        return "torch autograd runs on torch backends"
    if impl == "jax_grad" and library != "jax":
        return "jax.grad runs on jax backends"
    if impl == "lab" and library != "torch":
        return "the lab's loop is torch code"
    if library == "jax" and phase == "backward" and impl != "matmul":
        return "under jax.jit the backward pass is fused with the forward pass: see the step phase"
    return None


def runner(impl: str, phase: str, problem: Problem) -> Runner:
    """The runner of one implementation and phase on a problem's backend."""
    reason = supported(impl, problem.backend.library, problem.size, phase)
    if reason:
        raise ValueError(reason)
    sync = synchronizer(problem.backend)
    if problem.size is TINY:
        return _tiny_runner(impl, problem, sync)
    if impl == "matmul":
        return _matmul_runner(phase, problem, sync)
    if impl == "autograd":
        return _autograd_runner(phase, problem, sync)
    if impl == "jax_grad":
        return _jax_grad_runner(phase, problem, sync)
    return _ours_runner(phase, problem, sync)


# --- the engine --------------------------------------------------------------


def _ours_runner(phase: str, p: Problem, sync: Callable[[Any], None]) -> Runner:
    xp, arch = p.backend.xp, p.arch

    def forward(params, X, Y):
        # The loss as the engine takes it: from the logits where the pair allows.
        activations, Z_L = equations.forward_with_logits(params, X, arch, xp=xp)
        return equations.output_loss(Z_L, activations[-1], Y, arch, xp)

    def step(params, X, Y):
        return equations.sgd_step(params, X, Y, LEARNING_RATE, arch, xp=xp)

    args = (p.params, p.X, p.Y)
    if p.backend.library == "jax":
        import jax

        fn = jax.jit(forward if phase == "forward" else step)
        return Runner(lambda: args, _timed(fn, sync))
    if phase == "forward":
        return Runner(lambda: args, _timed(forward, sync))
    if phase == "step":
        return Runner(lambda: args, _timed(step, sync))

    def setup():
        activations = equations.forward(p.params, p.X, arch, xp=xp)
        sync(activations[-1])
        return (activations,)

    def backward(activations):
        delta = equations.output_delta(activations[-1], p.Y, arch, xp)
        return equations.backward(p.params, activations, delta, arch, xp)

    return Runner(setup, _timed(backward, sync))


def _tiny_runner(impl: str, p: Problem, sync: Callable[[Any], None]) -> Runner:
    """The lab's 2500 epochs of full-batch gradient descent."""
    if impl == "lab":
        import torch

        lab = _sibling("lab_torch")
        # The lab's code makes its tensors with torch's factories: torch's
        # default-device context puts them (and its data) on the backend's
        # device, so the torch:cuda row times the lab's loop on the GPU.
        device = p.backend.device

        def setup():
            with torch.device(device):
                torch.manual_seed(0)
                return (lab.NeuralNetwork(2, 1, [5, 3]), *lab.five_points())

        def run_lab(net, x, y):
            with torch.device(device):
                return lab.train(x, y, net, TINY_EPOCHS, LEARNING_RATE)[1]

        return Runner(setup, _timed(run_lab, sync))
    if impl in ("ours_compiled", "eager"):
        x, y = five_points()
        compile = impl == "ours_compiled"

        def fresh():
            return (NeuralNetwork(2, 1, [5, 3], seed=0, backend=p.backend.name),)

        # Each round trains a new network: compilation (tracing, graph capture) is in the time.
        return Runner(fresh, _timed(lambda net: train(x, y, net, TINY_EPOCHS, LEARNING_RATE, compile=compile)[1], sync))
    if impl == "autograd":
        import torch

        def run_autograd(params):
            flat = [t for pair in params for t in pair]
            for _ in range(TINY_EPOCHS):
                grads = torch.autograd.grad(_torch_loss(params, p.X, p.Y, p.size), flat)
                with torch.no_grad():
                    torch._foreach_add_(flat, grads, alpha=-LEARNING_RATE)
            return flat[0]

        return Runner(lambda: (autograd_params(p),), _timed(run_autograd, sync))
    if impl == "jax_grad":
        step = _jax_step(p)
        return Runner(lambda: (p.params,), _timed(lambda params: _loop(step, params, p), sync))
    if p.backend.library == "jax":
        import jax

        step = jax.jit(equations.sgd_step, static_argnames=("arch", "xp"))
        xp = p.backend.xp

        def run_jit(params):
            for _ in range(TINY_EPOCHS):
                _, params = step(params, p.X, p.Y, LEARNING_RATE, p.arch, xp=xp)
            return params

        return Runner(lambda: (p.params,), _timed(run_jit, sync))
    x, y = five_points()

    def setup():
        return (NeuralNetwork(2, 1, [5, 3], seed=0, backend=p.backend.name),)

    return Runner(setup, _timed(lambda net: train(x, y, net, TINY_EPOCHS, LEARNING_RATE)[1], sync))


def _loop(step: Callable, params: list, p: Problem) -> list:
    for _ in range(TINY_EPOCHS):
        _, params = step(params, p.X, p.Y)
    return params


# --- the floor: bare matrix products -------------------------------------------


def _matmul_runner(phase: str, p: Problem, sync: Callable[[Any], None]) -> Runner:
    """The phase's products on random operands of the engine's shapes and layouts."""
    rng = np.random.default_rng(2)
    B, layers = p.size.batch, list(zip(p.size.sizes[:-1], p.size.sizes[1:]))
    acts = [p.X] + [p.backend.from_numpy(rng.uniform(-1, 1, (B, n)).astype(np.float32)) for _, n in layers]
    Ws = [W for W, _ in p.params]
    if p.backend.library == "jax":
        import jax

        # Operands as arguments, so that XLA cannot fold the products into constants.
        return Runner(lambda: (acts, Ws), _timed(jax.jit(functools.partial(_products, phase)), sync))
    return Runner(_no_args, _timed(lambda: _products(phase, acts, Ws), sync))


def _products(phase: str, acts: list, Ws: list) -> list:
    out = []
    if phase in ("forward", "step"):
        out += [acts[i] @ Ws[i] for i in range(len(Ws))]
    if phase in ("backward", "step"):
        for i in range(len(Ws) - 1, -1, -1):
            out.append(acts[i].T @ acts[i + 1])
            if i > 0:
                out.append(acts[i + 1] @ Ws[i].T)
    return out


# --- torch autograd ------------------------------------------------------------


def _torch_loss(params: list, X: Any, Y: Any, size: Size) -> Any:
    """What a torch user writes: ``F.linear`` layers, tanh, and the loss on the last layer."""
    import torch
    import torch.nn.functional as F

    A = X
    for index, (W, b) in enumerate(params):
        Z = F.linear(A, W.T, b)
        A = torch.tanh(Z) if index < len(params) - 1 else Z
    if size.loss == "categorical_crossentropy":
        return F.cross_entropy(A, Y)  # softmax folded in, targets as probabilities
    return F.mse_loss(torch.sigmoid(A), Y)


def autograd_params(p: Problem) -> list:
    return [(W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()) for W, b in p.params]


def autograd_gradients(params: list, p: Problem) -> list:
    """The gradients torch autograd computes, as ``[(dW, db), ...]`` (used by the tests)."""
    import torch

    grads = torch.autograd.grad(_torch_loss(params, p.X, p.Y, p.size), [t for pair in params for t in pair])
    return [(grads[2 * i], grads[2 * i + 1]) for i in range(len(params))]


def _autograd_runner(phase: str, p: Problem, sync: Callable[[Any], None]) -> Runner:
    import torch

    params = autograd_params(p)
    flat = [t for pair in params for t in pair]

    def forward():
        return _torch_loss(params, p.X, p.Y, p.size)

    def backward(loss):
        return torch.autograd.grad(loss, flat)

    def step():
        grads = torch.autograd.grad(_torch_loss(params, p.X, p.Y, p.size), flat)
        with torch.no_grad():
            torch._foreach_add_(flat, grads, alpha=-1e-6)  # in place, as torch.optim.SGD does
        return grads

    if phase == "forward":
        return Runner(_no_args, _timed(forward, sync))
    if phase == "step":
        return Runner(_no_args, _timed(step, sync))

    def setup():
        loss = forward()
        sync(loss)
        return (loss,)

    return Runner(setup, _timed(backward, sync))


# --- jax.grad ------------------------------------------------------------------


def _jax_loss(params: list, X: Any, Y: Any, size: Size) -> Any:
    import jax
    import jax.numpy as jnp

    A = X
    for index, (W, b) in enumerate(params):
        Z = A @ W + b
        A = jnp.tanh(Z) if index < len(params) - 1 else Z
    if size.loss == "categorical_crossentropy":
        return -jnp.sum(Y * jax.nn.log_softmax(A, axis=1)) / X.shape[0]
    return jnp.mean((jax.nn.sigmoid(A) - Y) ** 2)


def jax_gradients(p: Problem) -> list:
    """The gradients ``jax.grad`` computes, as ``[(dW, db), ...]`` (used by the tests)."""
    import jax

    return jax.grad(_jax_loss)(p.params, p.X, p.Y, p.size)


def _jax_step(p: Problem) -> Callable:
    import jax

    @jax.jit
    def step(params, X, Y):
        loss, grads = jax.value_and_grad(_jax_loss)(params, X, Y, p.size)
        new = [(W - LEARNING_RATE * dW, b - LEARNING_RATE * db) for (W, b), (dW, db) in zip(params, grads)]
        return loss, new

    return step


def _jax_grad_runner(phase: str, p: Problem, sync: Callable[[Any], None]) -> Runner:
    import jax

    args = (p.params, p.X, p.Y)
    if phase == "forward":
        fn = jax.jit(functools.partial(_jax_loss, size=p.size))
        return Runner(lambda: args, _timed(fn, sync))
    return Runner(lambda: args, _timed(_jax_step(p), sync))


# --- helpers ---------------------------------------------------------------------


def _sibling(name: str) -> Any:
    """Import a module of this folder by path, whoever imported this one."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_memory(backend: Backend) -> tuple[Callable[[], None], Callable[[], int]] | None:
    """``reset()`` and ``read()`` of the device's peak allocated bytes, or None where unknown.

    Only torch on CUDA reports it; written for a GPU run and unverified on this
    project's CPU-only machines.
    """
    return backend.peak_memory()
