"""The training loop: epochs of (mini)batches, an optimiser, early stopping,
and one mechanism that stops training when the loss stops being finite.

Each epoch computes every batch's loss and gradients with the engine, updates
the parameters with the optimiser, and pulls one number to the host: the
epoch's loss, which the divergence check, early stopping and the callback all
read. Batches are drawn by a seeded NumPy generator on the host, so the same
seed gives the same batches on every backend.

With ``compile=True`` a step (forward, backward and the optimiser's update) is
one pure function, :func:`training_step`, that the backend compiles once
(:meth:`Backend.compile`); the loop around it is the same.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import equations, graphs
from .backends import at_full_precision, on_the_networks_device
from .errors import InputTypeError, TrainingDiverged
from .inputs import check_epochs, check_learning_rate, check_seed
from .network import NeuralNetwork
from .optimizers import Optimizer, get_optimizer
from .settings import Boolean, Callable_, Integer, Real, check
from .tree import map_leaves

if TYPE_CHECKING:
    from ._types import Array, Namespace, Params
    from .architecture import Architecture


def _diverged(epoch: int, lr: float, losses: list[float], *, weights: bool = False) -> TrainingDiverged:
    """The exception for a non-finite loss at ``epoch`` (or, with ``weights``, non-finite weights after it)."""
    loss = losses[-1]
    if weights:
        message = (
            f"Training diverged at epoch {epoch}: its update, with learning rate {lr:g}, made the weights "
            f"NaN or infinite. The network keeps the weights it had at the start of epoch {epoch}. "
            "Try a smaller learning rate."
        )
    elif epoch == 1:
        message = (
            f"The loss is {loss} at epoch 1, before any update: the forward pass overflowed. Check the scale "
            "of the data and of the initial weights, or use float64. The network keeps its initial weights."
        )
    else:
        message = (
            f"Training diverged at epoch {epoch}: the loss became {loss} with learning rate {lr:g}. "
            f"The network keeps the weights it had at the start of epoch {epoch - 1}, the last with a "
            "finite loss. Try a smaller learning rate."
        )
    return TrainingDiverged(message, epoch, lr, loss, np.asarray(losses, dtype=np.float64))


def _all_finite(params: Params, xp: Namespace) -> bool:
    return all(bool(xp.all(xp.isfinite(W))) and bool(xp.all(xp.isfinite(b))) for W, b in params)


#: The rules of train()'s settings (see :mod:`settings`); lr, epochs and seed are in :mod:`inputs`.
BATCH_SIZE = (Integer(low=1), None)
TOL = (Real(low=0), None)
PATIENCE = (Integer(low=1),)
COMPILE = (Boolean(),)
CALLBACK = (Callable_(), None)


def _check_batch_size(batch_size: Any) -> int | None:
    return check("batch_size", batch_size, *BATCH_SIZE, none="for full batches")


def _check_early_stopping(tol: Any, patience: Any) -> tuple[float | None, int]:
    return check("tol", tol, *TOL, none="for no early stopping"), check("patience", patience, *PATIENCE)


def check_settings(
    epochs: Any, lr: Any, optimizer: Any, batch_size: Any, seed: Any, tol: Any, patience: Any
) -> tuple[int, float, Optimizer, int | None, float | None, int]:
    """Check :func:`train`'s settings; return them normalised (the optimiser looked up)."""
    epochs, lr = check_epochs(epochs), check_learning_rate(lr)
    opt = get_optimizer(optimizer)
    batch_size = _check_batch_size(batch_size)
    tol, patience = _check_early_stopping(tol, patience)
    check_seed(seed)
    return epochs, lr, opt, batch_size, tol, patience


def check_compile(compile: Any) -> bool:
    """``compile`` must be True or False."""
    return check("compile", compile, *COMPILE)


def training_step(arch: Architecture, optimizer: Optimizer, lr: float, xp: Namespace) -> Callable[..., Any]:
    """One training step as a pure function, the one that ``compile=True`` hands to the backend.

    Returns
    -------
    step : callable
        ``step(params, state, X, Y) -> (loss, params, state)``: the loss of
        the batch before the update, and the parameters and optimiser state
        after it. ``X`` of shape (n_samples, input_size), ``Y`` of shape
        (n_samples, output_size).
    """

    def step(params: Params, state: Any, X: Array, Y: Array) -> tuple[Array, Params, Any]:
        loss, grads = equations.loss_and_gradients(params, X, Y, arch, xp=xp)
        params, state = optimizer.update(params, grads, state, lr, xp)
        return loss, params, state

    return step


def _counters_as_arrays(state: Any, like: Array, xp: Namespace) -> Any:
    """The state with its Python numbers (Adam's step count) as 0-d arrays of ``like``'s dtype and device.

    A compiled step would otherwise bake a count into the graph (a CUDA graph)
    or trace it anew (``jax.jit``).
    """

    def as_array(leaf: Any) -> Any:
        if isinstance(leaf, numbers.Real) and not isinstance(leaf, bool):
            return xp.asarray(float(leaf), dtype=like.dtype, device=device_of(like))
        return leaf

    return map_leaves(as_array, state)


class _EarlyStopping:
    """Stop once the loss has not improved on its best by more than ``tol`` for ``patience`` epochs."""

    def __init__(self, tol: float | None, patience: int) -> None:
        self.tol, self.patience = tol, patience
        self.best, self.waited = math.inf, 0

    def should_stop(self, loss: float) -> bool:
        if self.tol is None:
            return False
        if loss < self.best - self.tol:
            self.best, self.waited = loss, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


def _backend_of_net(x: Any = None, y: Any = None, net: Any = None, *args: Any, **kwargs: Any) -> Any:
    return net.backend if isinstance(net, NeuralNetwork) else None


# cupy:N makes what it computes on the current device: the loop runs with N current (issue 13).
@on_the_networks_device
@at_full_precision(_backend_of_net)
def train(
    x: Any,
    y: Any,
    net: NeuralNetwork,
    epochs: int,
    lr: float,
    *,
    optimizer: str | Optimizer = "sgd",
    batch_size: int | None = None,
    seed: int = 0,
    tol: float | None = None,
    patience: int = 10,
    callback: Callable[[int, Array], None] | None = None,
    compile: bool = False,
) -> tuple[NeuralNetwork, Array]:
    """Train a network by backpropagation: full-batch gradient descent by default, as in the lab.

    Parameters
    ----------
    x : array of shape (n_samples, input_size)
    y : array of shape (n_samples, output_size) or (n_samples,)
    net : NeuralNetwork
        Trained in place.
    epochs : int
        Number of passes over the data, at least 1.
    lr : float
        Learning rate, positive.
    optimizer : {"sgd", "momentum", "adam"}, or an (init, update) pair (see :mod:`optimizers`)
    batch_size : int, optional
        Minibatch size; batches are reshuffled every epoch. ``None`` (the
        default) takes the whole batch in one step, unshuffled.
    seed : int
        Seed of the shuffling.
    tol, patience : optional
        Early stopping: stop once the loss has not fallen more than ``tol``
        below its best for ``patience`` epochs in a row. ``tol=None`` (the
        default) trains for all the epochs. The network keeps its last
        weights, not those of its best epoch.
    callback : callable, optional
        Called as ``callback(epoch, loss)`` after each epoch (from 1), with the
        epoch's loss as a 0-d array.
    compile : bool
        Compile the whole step (forward, backward, update) once and run that:
        ``jax.jit`` on JAX, CUDA graphs on torch on a GPU; elsewhere (NumPy,
        torch on the CPU, CuPy, array-api-strict, Dask) the same step runs
        uncompiled (``net.backend.compiler`` is ``"none"``). The same losses and
        weights, to rounding; it pays off where launching the operations costs
        more than computing them (small networks). The network keeps no
        gradients (``net.grads`` is None afterwards), and an optimiser's
        counters become 0-d arrays of the parameters' dtype.

    Returns
    -------
    net : NeuralNetwork
    losses : 1-D array, one entry per epoch run
        With full batches, the loss at the start of each epoch; with
        minibatches, the mean of the epoch's batch losses, each taken before
        its update. On the network's backend.

    Raises
    ------
    TrainingDiverged
        The loss became NaN or infinite: the network keeps the weights it had at
        the start of the epoch before, the last with a finite loss. Or the last
        update made the weights NaN or infinite: the network keeps the weights
        of the start of the last epoch. The exception holds the epoch, the
        learning rate and the losses so far.
    """
    if not isinstance(net, NeuralNetwork):
        raise InputTypeError(f"net must be a NeuralNetwork; received {type(net).__name__}.")
    check("callback", callback, *CALLBACK, none="(no callback)")
    epochs, lr, opt, batch_size, tol, patience = check_settings(epochs, lr, optimizer, batch_size, seed, tol, patience)
    compile = check_compile(compile)
    X, Y = net.as_arrays(x, y)  # checked and moved once, not once per epoch

    xp, n = net.backend.xp, X.shape[0]
    batches = _batches(X, Y, batch_size, seed, net) if batch_size and batch_size < n else None
    (state,) = net.backend.evaluate(opt.init(net._params, xp))  # on dask: NumPy, like the parameters
    step = None
    if compile:
        step = net.backend.compile(training_step(net.architecture, opt, lr, xp))
        if net.backend.compiler != "none":
            state = _counters_as_arrays(state, net._params[0][0], xp)
    stopping = _EarlyStopping(tol, patience)
    # A CUDA graph reuses its output buffers: keep() holds the rollback weights
    # for as long as they are needed (copied only when about to be overwritten).
    keep = graphs.keeper(step)
    losses: list[Array] = []
    host_losses: list[float] = []
    before = keep(net._params)  # the weights at the start of the last epoch with a finite loss
    for epoch in range(1, epochs + 1):
        start = keep(net._params)
        # A diverging run overflows on its way to NaN: the checks below report
        # it once, in place of NumPy's warnings at every operation.
        with np.errstate(over="ignore", invalid="ignore"):
            if batches is None:
                if step is not None:
                    loss, net._params, state = net.backend.evaluate(*step(net._params, state, X, Y))
                else:
                    loss, grads = net._backpropagate(X, Y)
                    net._params, state = opt.update(net._params, grads, state, lr, xp)
            else:
                total = 0.0
                for Xb, Yb in batches():
                    if step is not None:
                        loss_b, net._params, state = net.backend.evaluate(*step(net._params, state, Xb, Yb))
                    else:
                        loss_b, grads = net._backpropagate(Xb, Yb)
                        net._params, state = opt.update(net._params, grads, state, lr, xp)
                    total = total + loss_b * Xb.shape[0]
                loss = total / n
            host_losses.append(float(loss))
        losses.append(loss)
        if not math.isfinite(host_losses[-1]):
            net._params, net._grads = before(), None
            raise _diverged(epoch, lr, host_losses)
        before = start
        if callback is not None:
            callback(epoch, graphs.lasting(step, loss))  # a graph's loss buffer is rewritten later
        if stopping.should_stop(host_losses[-1]):
            break
    if not _all_finite(net._params, xp):  # the last update is checked by no loss
        net._params, net._grads = start(), None
        raise _diverged(epoch, lr, host_losses, weights=True)
    if step is not None:
        # A compiled step may write its next losses where it wrote these (a
        # CUDA graph): the values are taken from the host copies.
        net._grads = None
        return net, array_namespace(loss).asarray(host_losses, dtype=loss.dtype, device=device_of(loss))
    # Stacked where they are: on a lazy backend, evaluate() has made them NumPy.
    return net, array_namespace(*losses).stack(losses)


def _batches(X: Array, Y: Array, batch_size: int, seed: int, net: NeuralNetwork) -> Callable[[], Any]:
    """A function that yields one epoch's shuffled ``(X, Y)`` minibatches, from a seeded host generator."""
    rng = np.random.default_rng(seed)
    xp, n = net.backend.xp, X.shape[0]

    def epoch():
        order = net.backend.from_numpy(rng.permutation(n))
        for start in range(0, n, batch_size):
            rows = order[start:min(start + batch_size, n)]  # the standard leaves stops past the end undefined
            yield xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0)

    return epoch
