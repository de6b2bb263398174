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
    # Scalars on the right of an operator: torch's reflected operators are slower.
    velocity = [(vW * MOMENTUM + dW, vb * MOMENTUM + db) for (vW, vb), (dW, db) in zip(velocity, grads)]
    new = [(W - vW * learning_rate, b - vb * learning_rate) for (W, b), (vW, vb) in zip(params, velocity)]
    return new, velocity


# --- adam -------------------------------------------------------------------

#: Adam's decay rates of the first and second moments, and its epsilon (Kingma & Ba, 2015).
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


class AdamState(NamedTuple):
    """Adam's step count and moments, each kept without its ``(1 - beta)`` factor.

    ``first`` is ``M = m / (1 - BETA1)`` and ``second`` is ``V = v / (1 - BETA2)``,
    where ``m`` and ``v`` are Kingma and Ba's moments: ``M <- BETA1 M + g`` is
    two array operations where ``m <- BETA1 m + (1 - BETA1) g`` is three, and
    the factors fold into the step size and epsilon, which are scalars.
    """

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


#: The moments' factors, folded into the step: m = (1 - BETA1) M, sqrt(v) = sqrt(1 - BETA2) sqrt(V).
_FIRST_FACTOR, _SECOND_ROOT = 1 - BETA1, math.sqrt(1 - BETA2)


def _adam_update(params: Params, grads: Params, state: AdamState, learning_rate: float, xp: Namespace):
    t = state.step + 1
    # W - lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and v_hat = v / c2,
    # is W - step_size M / (sqrt(V) + eps): the bias corrections (Python floats,
    # or 0-d arrays in a compiled step) and the moments' factors are all in
    # the two scalars. Ten array operations per parameter array; scalars on
    # the right of an operator (torch's reflected operators are slower).
    correction1, correction2 = _bias_corrections(t, xp)
    root2 = correction2**0.5
    step_size = learning_rate * _FIRST_FACTOR / _SECOND_ROOT * root2 / correction1
    eps = EPSILON / _SECOND_ROOT * root2

    first, second, new = [], [], []
    for (W, b), (dW, db), (mW, mb), (vW, vb) in zip(params, grads, state.first, state.second):
        mW, mb = mW * BETA1 + dW, mb * BETA1 + db
        vW, vb = vW * BETA2 + dW * dW, vb * BETA2 + db * db
        first.append((mW, mb))
        second.append((vW, vb))
        new.append((W - mW / (xp.sqrt(vW) + eps) * step_size, b - mb / (xp.sqrt(vb) + eps) * step_size))
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
