"""The training loop: epochs of (mini)batches, an optimiser, early stopping,
and one mechanism that stops training when the loss stops being finite.

Each epoch computes every batch's loss and gradients with the engine, updates
the parameters with the optimiser, and pulls one number to the host: the
epoch's loss, which the divergence check, early stopping and the callback all
read. Batches are drawn by a seeded NumPy generator on the host, so the same
seed gives the same batches on every backend.

Everything carried from one epoch to the next (parameters, the optimiser's
state, the shuffling generator, the epoch count, the schedule's and early
stopping's records) is one :class:`TrainingState`, which ``train(...,
state=...)`` continues: ``k`` calls of ``n`` epochs are one call of ``k * n``.

With ``compile=True`` a step (forward, backward and the optimiser's update) is
one pure function, :func:`training_step`, that the backend compiles once
(:meth:`Backend.compile`); the loop around it is the same.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import chunks, compiled, equations, graphs
from .backends import at_full_precision, on_the_networks_device
from .errors import InputTypeError, SettingError, TrainingDiverged
from .inputs import check_epochs, check_learning_rate, check_seed
from .network import NeuralNetwork
from .optimizers import Optimizer, get_optimizer
from .settings import Boolean, Callable_, Integer, Options, Real, check
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


def training_step(
    arch: Architecture, optimizer: Optimizer, lr: float, xp: Namespace, *, alpha: float = 0.0
) -> Callable[..., Any]:
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
        loss, grads = equations.loss_and_gradients_l2(params, X, Y, arch, alpha, xp=xp)
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


#: The learning-rate schedules by name, as scikit-learn names them (or a callable of the epoch).
SCHEDULES = ("constant", "invscaling", "adaptive")


class StopTraining(Exception):
    """Raised by a callback to end training after the current epoch; the losses so far are kept.

    A callback may instead return ``True``.
    """


@dataclass
class TrainingState:
    """Everything that training carries from one epoch to the next, so that a run can be continued.

    :func:`train` creates one for each call unless given one with ``state=``;
    it then updates it in place, so that ``k`` calls of ``n`` epochs with the
    same state give the weights and losses of one call of ``k * n`` epochs
    (bit for bit on the CPU).

    Attributes
    ----------
    params : list of (W, b), or None before the first epoch
        The parameters after the last epoch (those the network holds).
    optimizer_state : any
        The optimiser's state (Adam's moments and step count, momentum's velocity).
    rng : numpy.random.Generator, or None before the first epoch
        The generator that shuffles minibatches (and splits off a validation set).
    epoch : int
        Epochs run so far, over all calls.
    t : int
        Training samples seen so far (scikit-learn's ``t_``; ``invscaling`` reads it).
    learning_rate : float or None
        The current learning rate (``adaptive`` divides it by 5 on a plateau).
    losses : list of float
        Every epoch's training loss, over all calls.
    validation_scores : list of float
        Every epoch's validation score, where a validation set is watched.
    best_loss, best_score, waited : float, float, int
        Early stopping's record: the best training loss, the best validation
        score, and the epochs since the last improvement.
    best_params : list of (W, b), or None
        Copies of the parameters with the best validation score so far.
    stopped : bool
        Whether the last call ended before its epochs ran out (early
        stopping, ``adaptive`` below its floor, or the callback).
    """

    params: Any = None
    optimizer_state: Any = None
    rng: np.random.Generator | None = None
    epoch: int = 0
    t: int = 0
    learning_rate: float | None = None
    losses: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    best_score: float = -math.inf
    waited: int = 0
    best_params: Any = None
    stopped: bool = False

    @property
    def started(self) -> bool:
        return self.rng is not None


def _check_schedule(schedule: Any, power_t: Any, tol: float | None, compile: bool) -> tuple[Any, float]:
    if not callable(schedule):
        schedule = check("schedule", schedule, Options(SCHEDULES))
    power_t = check("power_t", power_t, Real(low=0))
    if schedule == "adaptive" and tol is None:
        raise SettingError("schedule='adaptive' divides the learning rate on a plateau, which needs tol; received tol=None.")
    if compile and schedule != "constant":
        raise SettingError(
            f"compile=True needs schedule='constant' (a compiled step holds its learning rate); received {schedule!r}."
        )
    return schedule, power_t


def _epoch_learning_rate(state: TrainingState, schedule: Any, lr: float, power_t: float) -> float:
    """The learning rate of the next epoch, as scikit-learn's schedules define it."""
    if callable(schedule):
        value = schedule(state.epoch + 1)
        return check("the schedule's learning rate", value, Real(low=0, low_open=True))
    if schedule == "invscaling":  # scikit-learn: learning_rate_init / (t + 1) ** power_t, t samples seen
        return lr / (state.t + 1) ** power_t
    if schedule == "adaptive":
        return state.learning_rate if state.learning_rate is not None else lr
    return lr


def _plateau(state: TrainingState, loss: float, tol: float | None, patience: int) -> bool:
    """Update the training loss's record; True once it has not fallen more than ``tol`` for ``patience`` epochs."""
    if tol is None:
        return False
    # scikit-learn's rule: the best follows every improvement, however small.
    state.waited = state.waited + 1 if loss > state.best_loss - tol else 0
    state.best_loss = min(state.best_loss, loss)
    return state.waited >= patience


def _validation_plateau(state: TrainingState, score: float, params: Params, tol: float | None, patience: int,
                        xp: Namespace) -> bool:
    """scikit-learn's rule for a validation score (higher is better); keeps copies of the best parameters."""
    if score > state.best_score:
        state.best_params = [(xp.asarray(W, copy=True), xp.asarray(b, copy=True)) for W, b in params]
    if tol is None:
        state.best_score = max(state.best_score, score)
        return False
    if score < state.best_score + tol:
        state.waited += 1
    else:
        state.waited = 0
    state.best_score = max(state.best_score, score)
    return state.waited >= patience


def _loss_score(net: NeuralNetwork, X: Array, Y: Array) -> float:
    """The default validation score: minus the validation loss (higher is better)."""
    xp = net.backend.xp
    activations, Z_L = equations.forward_with_logits(net.params, X, net.architecture, xp=xp)
    return -float(net.backend.evaluate(equations.output_loss(Z_L, activations[-1], Y, net.architecture, xp))[0])


def _backend_of_net(x: Any = None, y: Any = None, net: Any = None, *args: Any, **kwargs: Any) -> Any:
    return net.backend if isinstance(net, NeuralNetwork) else None


# cupy:N makes what it computes on the current device: the loop runs with N current.
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
    callback: Callable[[int, Array], Any] | None = None,
    compile: bool = False,
    alpha: float = 0.0,
    schedule: str | Callable[[int], float] = "constant",
    power_t: float = 0.5,
    validation: tuple[Any, Any] | None = None,
    validation_fraction: float | None = None,
    validation_score: Callable[[NeuralNetwork, Array, Array], float] | None = None,
    state: TrainingState | None = None,
    shuffle: bool = True,
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
        Learning rate, positive (the initial one, under a schedule).
    optimizer : {"sgd", "momentum", "adam"}, or an Optimizer such as ``Adam(beta1, beta2, eps)``
        Or an ``(init, update)`` pair (see :mod:`optimizers`).
    batch_size : int, optional
        Minibatch size; batches are reshuffled every epoch. ``None`` (the
        default) takes the whole batch in one step, unshuffled.
    seed : int
        Seed of the shuffling (and of the validation split); ignored when
        ``state`` continues a run, whose generator goes on.
    tol, patience : optional
        Early stopping: stop once the loss has not fallen more than ``tol``
        below its best for ``patience`` epochs in a row. ``tol=None`` (the
        default) trains for all the epochs. The network keeps its last
        weights, not those of its best epoch, unless a validation set is watched.
    callback : callable, optional
        Called as ``callback(epoch, loss)`` after each epoch (from 1, counted
        over continued calls), with the epoch's loss as a 0-d array. It stops
        training by returning ``True`` or raising :class:`StopTraining`; the
        losses so far are returned.
    compile : bool
        Compile the whole step (forward, backward, update) once and run that:
        ``jax.jit`` on JAX, CUDA graphs on torch on a GPU; elsewhere (NumPy,
        torch on the CPU, CuPy, array-api-strict, Dask) the same step runs
        uncompiled (``net.backend.compiler`` is ``"none"``). The same losses and
        weights, to rounding; it pays off where launching the operations costs
        more than computing them (small networks). The network keeps no
        gradients (``net.grads`` is None afterwards), and an optimiser's
        counters become 0-d arrays of the parameters' dtype. Needs ``schedule="constant"``.
    alpha : float
        L2 penalty, as scikit-learn defines it: ``alpha / (2 n) * sum ||W||^2``
        added to each batch's loss (``n`` the batch's size; biases not
        penalised). See :func:`equations.l2_penalty`.
    schedule : {"constant", "invscaling", "adaptive"} or callable
        scikit-learn's learning-rate schedules: ``invscaling`` uses
        ``lr / (t + 1) ** power_t`` in each epoch, ``t`` the samples seen
        before it; ``adaptive`` divides the rate by 5 where early stopping
        would stop (and stops once it is below 1e-6); it needs ``tol``. A
        callable is called as ``schedule(epoch)`` (from 1) for each epoch's rate.
    power_t : float
        The exponent of ``invscaling``.
    validation : (x_val, y_val), optional
        A held-out set, scored after every epoch; with ``tol``, early stopping
        watches its score instead of the training loss (scikit-learn's rule:
        stop once the score has not risen more than ``tol`` above its best for
        ``patience`` epochs). The network ends with the weights of the best score.
    validation_fraction : float in (0, 1), optional
        Hold out this fraction of ``x, y`` (a seeded random split) as ``validation``.
    validation_score : callable, optional
        ``validation_score(net, X_val, Y_val) -> float``, higher is better, on
        the checked arrays; by default minus the validation loss.
    shuffle : bool
        Reshuffle the minibatches every epoch (the default); ``False`` takes them in the data's order.
    state : TrainingState, optional
        Continue the run that this state holds (its optimiser state, shuffling,
        epoch count, schedule and early-stopping record), and update it in
        place. A new ``TrainingState()`` starts a run from the network's weights.

    Returns
    -------
    net : NeuralNetwork
    losses : 1-D array, one entry per epoch run by this call
        With full batches, the loss at the start of each epoch; with
        minibatches, the mean of the epoch's batch losses, each taken before
        its update (penalty included). On the network's backend.

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
    if state is not None and not isinstance(state, TrainingState):
        raise InputTypeError(f"state must be a TrainingState; received {type(state).__name__}.")
    epochs, lr, opt, batch_size, tol, patience = check_settings(epochs, lr, optimizer, batch_size, seed, tol, patience)
    compile = check_compile(compile)
    shuffle = check("shuffle", shuffle, Boolean())
    alpha = check("alpha", alpha, Real(low=0))
    schedule, power_t = _check_schedule(schedule, power_t, tol, compile)
    validation_fraction = check("validation_fraction", validation_fraction, Real(low=0, high=1, low_open=True,
                                                                                   high_open=True), None)
    if validation_score is not None and not callable(validation_score):
        raise InputTypeError(f"validation_score must be callable; received {validation_score!r}.")
    if validation is not None and validation_fraction is not None:
        raise SettingError("give validation or validation_fraction, not both; received both.")
    X, Y = net.as_arrays(x, y)  # checked and moved once, not once per epoch
    X_val = Y_val = None
    if validation is not None:
        X_val, Y_val = net.as_arrays(*validation)
    if validation_fraction is not None:  # before the state changes: the split may be refused
        X, Y, X_val, Y_val = _split(X, Y, validation_fraction, seed, net)
    state = TrainingState() if state is None else state
    xp = net.backend.xp
    if not state.started:
        state.rng = np.random.default_rng(seed)
        (state.optimizer_state,) = net.backend.evaluate(opt.init(net.params, xp))  # on dask: NumPy, like the params
    scoring = X_val is not None
    score_fn = validation_score or _loss_score
    n = X.shape[0]
    batches = _batches(X, Y, batch_size, state.rng if shuffle else None, net) if batch_size and batch_size < n else None

    params = net.params
    state.stopped = False
    step = None
    opt_state = state.optimizer_state
    if compile:
        # Kept across train() calls where the compiler allows (compiled.py): a second call compiles nothing.
        arch = net.architecture
        key = (arch, opt, lr, alpha)

        def build() -> Callable[..., Any]:
            return training_step(arch, opt, lr, xp, alpha=alpha)

        step = compiled.compiled_step(net.backend, key, build)
        if net.backend.compiler != "none":
            opt_state = _counters_as_arrays(opt_state, params[0][0], xp)
        # Full batches and no validation set: chunks of epochs, one dispatch each, where the backend can.
        if batches is None and not scoring:
            run_epochs = compiled.compiled_epochs(net.backend, key, build, chunks.EPOCHS_PER_CHUNK)
            if run_epochs is not None:
                return _train_in_chunks(net, state, run_epochs, params, opt_state, X, Y, epochs, lr,
                                        tol, patience, callback)
    # A CUDA graph reuses its output buffers: keep() holds the rollback weights
    # for as long as they are needed (copied only when about to be overwritten).
    keep = graphs.keeper(step)

    def run_step(p: Params, s: Any, Xb: Array, Yb: Array, rate: float) -> tuple[Array, Params, Any]:
        if step is not None:
            return net.backend.evaluate(*step(p, s, Xb, Yb))
        loss_b, grads = equations.loss_and_gradients_l2(p, Xb, Yb, net.architecture, alpha, xp=xp)
        loss_b, grads = net.backend.evaluate(loss_b, grads)  # one graph on dask: the forward pass runs once
        p, s = opt.update(p, grads, s, rate, xp)
        return loss_b, p, s

    losses: list[Array] = []
    host_losses: list[float] = []
    before = keep(params)  # the weights at the start of the last epoch with a finite loss
    start = before
    rate = lr
    for _ in range(epochs):
        start = keep(params)
        epoch = state.epoch + 1
        rate = _epoch_learning_rate(state, schedule, lr, power_t)
        # A diverging run overflows on its way to NaN: the checks below report
        # it once, in place of NumPy's warnings at every operation.
        with np.errstate(over="ignore", invalid="ignore"):
            if batches is None:
                loss, params, opt_state = run_step(params, opt_state, X, Y, rate)
            else:
                total = 0.0
                for Xb, Yb in batches():
                    loss_b, params, opt_state = run_step(params, opt_state, Xb, Yb, rate)
                    total = total + loss_b * Xb.shape[0]
                loss = total / n
            host_loss = float(loss)
        host_losses.append(host_loss)
        losses.append(loss)  # stacked at the end by an eager run; a compiled one returns the host copies
        if not math.isfinite(host_loss):
            net.set_trained(before())
            state.params = net.params
            state.losses.append(host_loss)
            raise _diverged(state.epoch + 1, rate, state.losses)
        before = start
        state.epoch, state.t = epoch, state.t + n
        state.params, state.optimizer_state = params, opt_state
        state.losses.append(host_loss)
        net.set_trained(params)
        stop = False
        if scoring:
            score = float(score_fn(net, X_val, Y_val))
            state.validation_scores.append(score)
            stop = _validation_plateau(state, score, params, tol, patience, xp)
        else:
            stop = _plateau(state, host_loss, tol, patience)
        if stop and schedule == "adaptive":
            current = rate
            if current > 1e-6:  # scikit-learn's floor
                state.learning_rate, state.waited, stop = current / 5, 0, False
        if callback is not None:
            try:
                # A CUDA graph writes its next loss where it wrote this one: the
                # callback gets a copy that later calls leave alone (only it needs one).
                stop = callback(epoch, graphs.lasting(step, loss)) is True or stop
            except StopTraining:
                stop = True
        if stop:
            state.stopped = True
            break
    if not _all_finite(params, xp):  # the last update is checked by no loss
        net.set_trained(start())
        state.params = net.params
        raise _diverged(state.epoch, rate, state.losses, weights=True)
    if scoring and state.best_params is not None:
        net.set_trained(state.best_params)
    if step is not None:
        net.set_trained(net.params)  # no gradients after a compiled run
        return net, xp.asarray(host_losses, dtype=params[0][0].dtype, device=device_of(params[0][0]))
    # Stacked where they are: on a lazy backend, evaluate() has made them NumPy.
    return net, array_namespace(*losses).stack(losses)



def _train_in_chunks(
    net: NeuralNetwork, state: TrainingState, run_epochs: Callable[..., Any], params: Params, opt_state: Any,
    X: Array, Y: Array, epochs: int, lr: float, tol: float | None, patience: int, callback: Callable[..., Any] | None,
) -> tuple[NeuralNetwork, Array]:
    """:func:`train`'s full-batch compiled epochs, a chunk per dispatch (:mod:`chunks`), with the eager loop's rules."""
    n, xp = X.shape[0], net.backend.xp
    first = state.epoch

    def on_epoch(i: int, loss: float, loss_array: Callable[[], Array]) -> bool:
        stop = _plateau(state, loss, tol, patience)
        if callback is not None:
            try:
                stop = callback(first + i + 1, loss_array()) is True or stop
            except StopTraining:
                stop = True
        return stop

    per_epoch = on_epoch if tol is not None or callback is not None else None  # else: the host checks once a chunk
    run = chunks.run_in_chunks(run_epochs, params, opt_state, X, Y, epochs, chunks.EPOCHS_PER_CHUNK,
                               on_epoch=per_epoch, to_host=net.backend.to_numpy)
    trained = run.losses[:-1] if run.diverged else run.losses  # the epochs that ended with a finite loss
    state.epoch, state.t = first + len(trained), state.t + n * len(trained)
    state.losses.extend(trained)
    net.set_trained(run.params)
    state.params, state.optimizer_state = net.params, run.state
    if run.diverged:
        state.losses.append(run.losses[-1])
        raise _diverged(state.epoch + 1, lr, state.losses)
    state.stopped = len(run.losses) < epochs
    if not _all_finite(run.params, xp):  # the last update is checked by no loss
        net.set_trained(run.last_start)
        state.params = net.params
        raise _diverged(state.epoch, lr, state.losses, weights=True)
    # Through NumPy: an array of a list of 2500 floats costs JAX about 1 us an element.
    return net, net.backend.from_numpy(np.asarray(run.losses, dtype=net.dtype))

def _split(X: Array, Y: Array, fraction: float, seed: int, net: NeuralNetwork) -> tuple[Array, Array, Array, Array]:
    """``X, Y`` split into training and validation rows, at random from a generator of its own (seeded with ``seed``)."""
    n = X.shape[0]
    n_val = max(1, math.ceil(fraction * n))
    if n_val >= n:
        raise SettingError(
            f"validation_fraction={fraction:g} of {n} samples leaves none to train on; expected a smaller fraction."
        )
    order = np.random.default_rng([seed, 1]).permutation(n)
    xp = net.backend.xp
    val, fit = net.backend.from_numpy(order[:n_val]), net.backend.from_numpy(order[n_val:])
    return xp.take(X, fit, axis=0), xp.take(Y, fit, axis=0), xp.take(X, val, axis=0), xp.take(Y, val, axis=0)


def _batches(
    X: Array, Y: Array, batch_size: int, rng: np.random.Generator | None, net: NeuralNetwork
) -> Callable[[], Any]:
    """A function that yields one epoch's ``(X, Y)`` minibatches, shuffled by ``rng`` on the host (None: in order)."""
    xp, n = net.backend.xp, X.shape[0]
    in_order = None if rng is not None else net.backend.from_numpy(np.arange(n))

    def epoch():
        order = in_order if rng is None else net.backend.from_numpy(rng.permutation(n))
        for start in range(0, n, batch_size):
            rows = order[start:min(start + batch_size, n)]  # the standard leaves stops past the end undefined
            yield xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0)

    return epoch
