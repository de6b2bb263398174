"""Loss functions and their gradients, in tables keyed by name.

``LOSSES[name](A, Y, xp)`` is the loss of a batch as a 0-d array, where ``A`` is
the network's output and ``Y`` the targets, both of shape
``(n_samples, n_outputs)``. ``LOSS_GRADIENTS[name](A, Y, xp)`` is ``dLoss/dA``,
of the same shape. The losses are means over the batch, so each sample's share
of a gradient carries a factor ``1 / n_samples``.

``OUTPUT_DELTAS`` holds the pairs of output activation and loss whose
``Delta_L`` simplifies; the engine uses them in place of the general product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ._types import Array, Namespace


def _probabilities(A: Array, xp: Namespace) -> Array:
    # Saturated float outputs can round to exactly 0 or 1; keep the logs finite
    # by moving them to the nearest representable values inside (0, 1).
    finfo = xp.finfo(A.dtype)
    return xp.clip(A, min=finfo.smallest_normal, max=1 - finfo.eps / 2)


def mse(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over all elements of ``(A - Y)**2`` (the lab's loss)."""
    n_samples, n_outputs = A.shape
    D = A - Y
    # A sum and a product: cheaper than xp.mean on every backend, and the same value.
    return xp.sum(D * D) * (1 / (n_samples * n_outputs))


def mse_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    n_samples, n_outputs = A.shape
    return (A - Y) * (2 / (n_samples * n_outputs))


def binary_crossentropy(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over all elements of ``-(Y log A + (1 - Y) log(1 - A))``."""
    P = _probabilities(A, xp)
    return -xp.mean(Y * xp.log(P) + (1 - Y) * xp.log1p(-P))


def binary_crossentropy_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    n_samples, n_outputs = A.shape
    P = _probabilities(A, xp)
    return (P - Y) / (P * (1 - P) * (n_samples * n_outputs))


def categorical_crossentropy(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over samples of ``-sum_k Y_k log A_k``."""
    return -xp.sum(Y * xp.log(_probabilities(A, xp))) / A.shape[0]


def categorical_crossentropy_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    return -Y / (_probabilities(A, xp) * A.shape[0])


def sigmoid_binary_crossentropy_delta(A: Array, Y: Array, xp: Namespace) -> Array:
    # sigmoid' = A(1 - A) cancels the denominator of the loss gradient exactly,
    # which is cheaper and stays exact where A has saturated to 0 or 1.
    n_samples, n_outputs = A.shape
    return (A - Y) * (1 / (n_samples * n_outputs))


def softmax_categorical_crossentropy_delta(A: Array, Y: Array, xp: Namespace) -> Array:
    # The softmax Jacobian applied to -Y/A gives A * sum(Y) - Y per row: the
    # familiar A - Y when each row of Y sums to one, and still exact when not.
    return (A * xp.sum(Y, axis=1, keepdims=True) - Y) * (1 / A.shape[0])


LOSSES: dict[str, Callable[[Array, Array, Namespace], Array]] = {
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "mse": mse,
}

LOSS_GRADIENTS: dict[str, Callable[[Array, Array, Namespace], Array]] = {
    "binary_crossentropy": binary_crossentropy_gradient,
    "categorical_crossentropy": categorical_crossentropy_gradient,
    "mse": mse_gradient,
}

#: ``Delta_L`` for the (output activation, loss) pairs where it simplifies.
OUTPUT_DELTAS: dict[tuple[str, str], Callable[[Array, Array, Namespace], Array]] = {
    ("sigmoid", "binary_crossentropy"): sigmoid_binary_crossentropy_delta,
    ("softmax", "categorical_crossentropy"): softmax_categorical_crossentropy_delta,
}

#: The output activations each loss is meant for: the cross-entropies take
#: logarithms of the outputs, which must therefore lie in (0, 1).
COMPATIBLE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "binary_crossentropy": ("sigmoid", "softmax"),
    # Only softmax: independent sigmoid units would each be pushed towards 1,
    # since the loss rewards the labelled class and never penalises the others.
    "categorical_crossentropy": ("softmax",),
    "mse": ("identity", "relu", "sigmoid", "softmax", "tanh"),
}
