"""Optimisers as ``(init, update)`` pairs of pure functions, keyed by name.

``init(params, xp)`` returns the optimiser's state; ``update(params, grads,
state, learning_rate, xp)`` returns the new parameters and the new state. Like
the equations, they use only Array API operations, take arrays and return new
ones, and update nothing in place, so a step stays compilable (``jax.jit``)
and the same code runs on every backend. The state is plain data: a tuple of
arrays with the structure of the parameters, plus counters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from .equations import sgd_update
from .errors import InputTypeError, UnknownNameError

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

#: The fraction of the previous step that momentum keeps.
MOMENTUM = 0.9


def _momentum_init(params: Params, xp: Namespace) -> Params:
    return _zeros_like(params, xp)


def _momentum_update(params: Params, grads: Params, velocity: Params, learning_rate: float, xp: Namespace):
    # v <- beta v + g;  p <- p - lr v   (the form PyTorch's SGD uses)
    velocity = [
        (MOMENTUM * vW + dW, MOMENTUM * vb + db) for (vW, vb), (dW, db) in zip(velocity, grads)
    ]
    new = [(W - learning_rate * vW, b - learning_rate * vb) for (W, b), (vW, vb) in zip(params, velocity)]
    return new, velocity


# --- adam -------------------------------------------------------------------

#: Adam's decay rates of the first and second moments, and its epsilon (Kingma & Ba, 2015).
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


class AdamState(NamedTuple):
    step: int
    first: Params
    second: Params


def _adam_init(params: Params, xp: Namespace) -> AdamState:
    return AdamState(0, _zeros_like(params, xp), _zeros_like(params, xp))


def _bias_corrections(t: Any, xp: Namespace) -> tuple[Any, Any]:
    """``1 - BETA1**t`` and ``1 - BETA2**t``."""
    if isinstance(t, int):
        return 1 - BETA1**t, 1 - BETA2**t
    # A count held as an array of the parameters' dtype (a compiled step):
    # 1 - 0.999**t would cancel to a few digits in float32; -expm1(t log beta) does not.
    return -xp.expm1(t * math.log(BETA1)), -xp.expm1(t * math.log(BETA2))


def _adam_update(params: Params, grads: Params, state: AdamState, learning_rate: float, xp: Namespace):
    t = state.step + 1
    # The bias corrections (Python floats, or 0-d arrays in a compiled step): folded into one step size.
    correction1, correction2 = _bias_corrections(t, xp)
    step_size = learning_rate * correction2**0.5 / correction1
    eps = EPSILON * correction2**0.5

    def moments(m, v, g):
        return BETA1 * m + (1 - BETA1) * g, BETA2 * v + (1 - BETA2) * (g * g)

    first, second, new = [], [], []
    for (W, b), (dW, db), (mW, mb), (vW, vb) in zip(params, grads, state.first, state.second):
        mW, vW = moments(mW, vW, dW)
        mb, vb = moments(mb, vb, db)
        first.append((mW, mb))
        second.append((vW, vb))
        new.append((W - step_size * mW / (xp.sqrt(vW) + eps), b - step_size * mb / (xp.sqrt(vb) + eps)))
    return new, AdamState(t, first, second)


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer(_sgd_init, _sgd_update),
    "momentum": Optimizer(_momentum_init, _momentum_update),
    "adam": Optimizer(_adam_init, _adam_update),
}


def get_optimizer(optimizer: str | tuple[Callable[..., Any], Callable[..., Any]]) -> Optimizer:
    """An :class:`Optimizer` by name (``"sgd"``, ``"momentum"``, ``"adam"``), or from an ``(init, update)`` pair."""
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]
    if isinstance(optimizer, tuple) and len(optimizer) == 2 and all(map(callable, optimizer)):
        return Optimizer(*optimizer)
    error = UnknownNameError if isinstance(optimizer, str) else InputTypeError
    raise error(
        f"Unknown optimizer {optimizer!r}. Expected one of: {', '.join(OPTIMIZERS)}, "
        "or an Optimizer(init, update) pair."
    )
