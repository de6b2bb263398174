"""Optimisers as ``(init, update)`` pairs of pure functions, keyed by name.

``init(params, xp)`` returns the optimiser's state; ``update(params, grads,
state, learning_rate, xp)`` returns the new parameters and the new state.
Hyper-parameters are values given to a factory (``Adam(beta1, beta2, eps)``,
``Momentum(beta)``), closed over by ``update``; the learning rate is passed
to every update, so that a schedule can change it. Counters such as Adam's
step count live in the state, so continuing a run continues them. Like
the equations, they use only Array API operations, take arrays and return new
ones, and update nothing in place, so a step stays compilable (``jax.jit``)
and the same code runs on every backend. The state is plain data: a tuple of
arrays with the structure of the parameters, plus counters.

A factory called twice with the same settings returns the same optimiser
(``Adam(0.9, 0.99) is Adam(beta2=0.99)``), so that a compiled training
program, kept under its optimiser (:mod:`compiled`), is found again by a new
call that makes its optimiser afresh.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from .equations import sgd_update
from .errors import InputTypeError, UnknownNameError
from .settings import Boolean, Real, check

if TYPE_CHECKING:
    from ._types import Namespace, Params


class Optimizer(NamedTuple):
    """An optimiser: ``init(params, xp) -> state`` and
    ``update(params, grads, state, learning_rate, xp) -> (params, state)``."""

    init: Callable[[Params, Namespace], Any]
    update: Callable[[Params, Params, Any, float, Namespace], tuple[Params, Any]]


def _zeros_like(params: Params, xp: Namespace) -> Params:
    return [(xp.zeros_like(W), xp.zeros_like(b)) for W, b in params]


# --- sgd: the lab's ----------------------------------------------------------


def _sgd_init(params: Params, xp: Namespace) -> None:
    return None


def _sgd_update(params: Params, grads: Params, state: None, learning_rate: float, xp: Namespace):
    return sgd_update(params, grads, learning_rate), None


# --- momentum ---------------------------------------------------------------

#: The fraction of the previous step that momentum keeps, by default.
MOMENTUM = 0.9


def _momentum_init(params: Params, xp: Namespace) -> Params:
    return _zeros_like(params, xp)


def Momentum(beta: float = MOMENTUM, *, nesterov: bool = False) -> Optimizer:
    """Gradient descent with momentum ``beta`` (PyTorch's form: ``v <- beta v + g; p <- p - lr v``).

    With ``nesterov=True``, the step is ``p <- p - lr (g + beta v)`` with the new
    ``v``: PyTorch's Nesterov momentum.
    """
    return _momentum(check("beta", beta, Real(low=0, high=1, high_open=True)),
                     check("nesterov", nesterov, Boolean()))


@functools.cache
def _momentum(beta: float, nesterov: bool) -> Optimizer:
    def update(params: Params, grads: Params, velocity: Params, learning_rate: float, xp: Namespace):
        # Scalars on the right of an operator: torch's reflected operators are slower.
        velocity = [(vW * beta + dW, vb * beta + db) for (vW, vb), (dW, db) in zip(velocity, grads)]
        steps = velocity
        if nesterov:
            steps = [(dW + vW * beta, db + vb * beta) for (vW, vb), (dW, db) in zip(velocity, grads)]
        new = [(W - sW * learning_rate, b - sb * learning_rate) for (W, b), (sW, sb) in zip(params, steps)]
        return new, velocity

    return Optimizer(_momentum_init, update)


# --- adam -------------------------------------------------------------------

#: Adam's default decay rates of the first and second moments, and its epsilon (Kingma & Ba, 2015).
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


class AdamState(NamedTuple):
    """Adam's step count and moments, each kept without its ``(1 - beta)`` factor.

    ``first`` is ``M = m / (1 - beta1)`` and ``second`` is ``V = v / (1 - beta2)``,
    where ``m`` and ``v`` are Kingma and Ba's moments: ``M <- beta1 M + g`` is
    two array operations where ``m <- beta1 m + (1 - beta1) g`` is three, and
    the factors fold into the step size and epsilon, which are scalars.
    """

    step: Any  # an int, or a 0-d array in a compiled step
    first: Params
    second: Params


def _adam_init(params: Params, xp: Namespace) -> AdamState:
    return AdamState(0, _zeros_like(params, xp), _zeros_like(params, xp))


def _bias_corrections(t: Any, beta1: float, beta2: float, xp: Namespace) -> tuple[Any, Any]:
    """``1 - beta1**t`` and ``1 - beta2**t``."""
    if isinstance(t, int):
        return 1 - beta1**t, 1 - beta2**t
    # A count held as an array of the parameters' dtype (a compiled step):
    # 1 - 0.999**t would cancel to a few digits in float32; -expm1(t log beta) does not.
    return -xp.expm1(t * math.log(beta1)), -xp.expm1(t * math.log(beta2))


def Adam(beta1: float = BETA1, beta2: float = BETA2, eps: float = EPSILON, *, weight_decay: float = 0.0) -> Optimizer:
    """Adam (Kingma & Ba, 2015) with these decay rates and epsilon; the step count is in its state.

    The learning rate is :func:`~backprop_xp.training.train`'s (and its schedule's).
    ``weight_decay`` is decoupled (AdamW, Loshchilov & Hutter, 2019):
    ``W <- W - lr * weight_decay * W`` besides the Adam step, for the weights
    only (biases are not decayed, as the L2 penalty ``alpha`` leaves them alone).
    """
    return _adam(check("beta1", beta1, Real(low=0, high=1, high_open=True)),
                 check("beta2", beta2, Real(low=0, high=1, high_open=True)),
                 check("eps", eps, Real(low=0, low_open=True)),
                 check("weight_decay", weight_decay, Real(low=0)))


@functools.cache
def _adam(beta1: float, beta2: float, eps: float, weight_decay: float) -> Optimizer:
    # The moments' factors, folded into the step: m = (1 - beta1) M, sqrt(v) = sqrt(1 - beta2) sqrt(V).
    first_factor, second_root = 1 - beta1, math.sqrt(1 - beta2)

    def update(params: Params, grads: Params, state: AdamState, learning_rate: float, xp: Namespace):
        t = state.step + 1
        # W - lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and v_hat = v / c2,
        # is W - step_size M / (sqrt(V) + eps'): the bias corrections (Python floats,
        # or 0-d arrays in a compiled step) and the moments' factors are all in
        # the two scalars. Ten array operations per parameter array; scalars on
        # the right of an operator (torch's reflected operators are slower).
        correction1, correction2 = _bias_corrections(t, beta1, beta2, xp)
        root2 = correction2**0.5
        step_size = learning_rate * first_factor / second_root * root2 / correction1
        eps_hat = eps / second_root * root2

        first, second, new = [], [], []
        for (W, b), (dW, db), (mW, mb), (vW, vb) in zip(params, grads, state.first, state.second):
            mW, mb = mW * beta1 + dW, mb * beta1 + db
            vW, vb = vW * beta2 + dW * dW, vb * beta2 + db * db
            first.append((mW, mb))
            second.append((vW, vb))
            if weight_decay:
                W = W - W * (learning_rate * weight_decay)
            new.append((W - mW / (xp.sqrt(vW) + eps_hat) * step_size, b - mb / (xp.sqrt(vb) + eps_hat) * step_size))
        return new, AdamState(t, first, second)

    return Optimizer(_adam_init, update)


def SGD() -> Optimizer:
    """Plain gradient descent, the lab's: ``p <- p - lr g``."""
    return _SGD


_SGD = Optimizer(_sgd_init, _sgd_update)


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": SGD(),
    "momentum": Momentum(),
    "adam": Adam(),
}


def get_optimizer(optimizer: str | tuple[Callable[..., Any], Callable[..., Any]]) -> Optimizer:
    """An :class:`Optimizer` by name (``"sgd"``, ``"momentum"``, ``"adam"``), or from an ``(init, update)`` pair."""
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, tuple) and len(optimizer) == 2 and all(map(callable, optimizer)):
        return Optimizer(*optimizer)
    error = UnknownNameError if isinstance(optimizer, str) else InputTypeError
    raise error(
        f"Unknown optimizer {optimizer!r}. Expected one of: {', '.join(OPTIMIZERS)}, "
        "or an Optimizer(init, update) pair."
    )
