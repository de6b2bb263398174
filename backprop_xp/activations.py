"""Activation functions and their derivatives, in two tables keyed by name.

Every function takes the namespace ``xp`` explicitly (no lookup in the hot
loop) and names no array library. A derivative is written from the
activation's *output* ``A`` rather than its input ``Z``: the forward pass has
already computed ``A``, so the backward pass never evaluates the function again
(``tanh' = 1 - A*A``, ``sigmoid' = A*(1 - A)``).

``DERIVATIVES[name](A, dA, xp)`` returns ``dZ = dA * act'(Z)``: the
vector-Jacobian product. For the elementwise activations that is the lab's
``(*) act'(Z)``; for softmax, whose Jacobian is not diagonal, the same call
does the full product, so the engine needs no special case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .scalars import scalar

if TYPE_CHECKING:
    from ._types import Array, Namespace


def identity(Z: Array, xp: Namespace) -> Array:
    return Z


def identity_backward(A: Array, dA: Array, xp: Namespace) -> Array:
    return dA


def tanh(Z: Array, xp: Namespace) -> Array:
    return xp.tanh(Z)


def tanh_backward(A: Array, dA: Array, xp: Namespace) -> Array:
    # dA * (1 - A*A), written without a scalar on the left of an operator:
    # torch runs ``1 - T`` through a slow reflected-operator wrapper. The
    # order of the products is the one tanh_backward_overwriting can do in place.
    return dA - (A * A) * dA


def tanh_backward_overwriting(A: Array, dA: Array, xp: Namespace) -> Array:
    # tanh_backward's three operations, each written into A or dA: no temporary.
    A *= A
    A *= dA
    dA -= A
    return dA


def sigmoid(Z: Array, xp: Namespace) -> Array:
    # exp(-|Z|) never overflows; 1/(1 + E) for Z >= 0 and E/(1 + E) for
    # Z < 0 are the same function, each without cancellation. One division,
    # and no scalar on the left of an operator (slow on torch), in 7 operations.
    E = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1.0, E) / (E + 1)


def sigmoid_backward(A: Array, dA: Array, xp: Namespace) -> Array:
    return dA * (A * (1 - A))


def sigmoid_backward_overwriting(A: Array, dA: Array, xp: Namespace) -> Array:
    # sigmoid_backward's three operations with one temporary instead of three
    # (both products commute exactly).
    T = 1 - A
    T *= A
    dA *= T
    return dA


def relu(Z: Array, xp: Namespace) -> Array:
    # maximum, not clip: array-api-compat's generic clip (used on CuPy) assigns
    # through boolean masks, which waits for the device; maximum keeps NaN.
    return xp.maximum(Z, scalar(0.0, Z, xp))


def relu_backward(A: Array, dA: Array, xp: Namespace) -> Array:
    # relu'(Z) is 1 where Z > 0, i.e. exactly where A > 0 (0 at the kink).
    return xp.where(A > 0, dA, 0.0)


def softmax(Z: Array, xp: Namespace) -> Array:
    # Shifting each row by its maximum leaves softmax unchanged and keeps exp finite.
    E = xp.exp(Z - xp.max(Z, axis=-1, keepdims=True))
    return E / xp.sum(E, axis=-1, keepdims=True)


def softmax_backward(A: Array, dA: Array, xp: Namespace) -> Array:
    # Row-wise Jacobian diag(a) - a a^T applied to dA, without forming it.
    return A * (dA - xp.sum(dA * A, axis=-1, keepdims=True))


ACTIVATIONS: dict[str, Callable[[Array, Namespace], Array]] = {
    "identity": identity,
    "relu": relu,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "tanh": tanh,
}

DERIVATIVES: dict[str, Callable[[Array, Array, Namespace], Array]] = {
    "identity": identity_backward,
    "relu": relu_backward,
    "sigmoid": sigmoid_backward,
    "softmax": softmax_backward,
    "tanh": tanh_backward,
}

#: In-place twins of derivatives, keyed by the function they stand in for:
#: the same result, but they may overwrite both ``A`` and ``dA``. The engine
#: uses one only where both are temporaries of its own step and the namespace
#: allows it (:func:`inplace.may_overwrite`); a derivative replaced in
#: ``DERIVATIVES`` (a test's deliberate mistake) has no twin and runs as it is.
OVERWRITING: dict[Callable[[Array, Array, Namespace], Array], Callable[[Array, Array, Namespace], Array]] = {
    tanh_backward: tanh_backward_overwriting,
    sigmoid_backward: sigmoid_backward_overwriting,
}

#: Activations that act on each unit alone; softmax couples the units of a
#: row, so it is offered for the output layer only.
HIDDEN_ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh")
OUTPUT_ACTIVATIONS = tuple(ACTIVATIONS)
