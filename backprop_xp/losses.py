"""Loss functions and their gradients, in tables keyed by name.

``LOSSES[name](A, Y, xp)`` is the loss of a batch as a 0-d array, where ``A`` is
the network's output and ``Y`` the targets, both of shape
``(n_samples, n_outputs)``; for a population, ``A`` of shape
``(n_networks, n_samples, n_outputs)`` gives one loss per network. ``LOSS_GRADIENTS[name](A, Y, xp)`` is ``dLoss/dA``,
of the same shape. The losses are means over the batch, so each sample's share
of a gradient carries a factor ``1 / n_samples``.

``OUTPUT_DELTAS`` holds the pairs of output activation and loss whose
``Delta_L`` simplifies; the engine uses them in place of the general product.
``LOSSES_FROM_LOGITS`` holds the pairs whose loss the engine computes from the
output layer's pre-activation ``Z`` (the logits) instead of from ``A``: the
same value, but exact where ``A`` has rounded to 0 or 1, which the losses of
``A`` can only clip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from array_api_compat import device

from .scalars import scalar

if TYPE_CHECKING:
    from ._types import Array, Namespace

#: The axes of one network's batch, (samples, outputs): a population of
#: networks (a leading axis) gets one loss per network, a single network a 0-d loss.
_BATCH = (-2, -1)


def _probabilities(A: Array, xp: Namespace) -> Array:
    # Saturated float outputs can round to exactly 0 or 1; keep the logs finite
    # by moving them to the nearest representable values inside (0, 1).
    finfo = xp.finfo(A.dtype)
    # minimum and maximum, not clip: array-api-compat's generic clip (used on
    # CuPy) assigns through boolean masks, which waits for the device.
    return xp.minimum(xp.maximum(A, scalar(finfo.smallest_normal, A, xp)), scalar(1 - finfo.eps / 2, A, xp))


def mse(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over all elements of ``(A - Y)**2`` (the lab's loss)."""
    n_samples, n_outputs = A.shape[-2:]
    D = A - Y
    # A sum and a product: cheaper than xp.mean on every backend, and the same value.
    return xp.sum(D * D, axis=_BATCH) * (1 / (n_samples * n_outputs))


def mse_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    n_samples, n_outputs = A.shape[-2:]
    return (A - Y) * (2 / (n_samples * n_outputs))


def binary_crossentropy(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over all elements of ``-(Y log A + (1 - Y) log(1 - A))``."""
    P = _probabilities(A, xp)
    return -xp.mean(Y * xp.log(P) + (1 - Y) * xp.log1p(-P), axis=_BATCH)


def binary_crossentropy_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    n_samples, n_outputs = A.shape[-2:]
    P = _probabilities(A, xp)
    return (P - Y) / (P * (1 - P) * (n_samples * n_outputs))


def categorical_crossentropy(A: Array, Y: Array, xp: Namespace) -> Array:
    """Mean over samples of ``-sum_k Y_k log A_k``."""
    return -xp.sum(Y * xp.log(_probabilities(A, xp)), axis=_BATCH) / A.shape[-2]


def categorical_crossentropy_gradient(A: Array, Y: Array, xp: Namespace) -> Array:
    return -Y / (_probabilities(A, xp) * A.shape[-2])


def sigmoid_binary_crossentropy_delta(A: Array, Y: Array, xp: Namespace) -> Array:
    # sigmoid' = A(1 - A) cancels the denominator of the loss gradient exactly,
    # which is cheaper and stays exact where A has saturated to 0 or 1.
    n_samples, n_outputs = A.shape[-2:]
    return (A - Y) * (1 / (n_samples * n_outputs))


def softmax_categorical_crossentropy_delta(A: Array, Y: Array, xp: Namespace) -> Array:
    # The softmax Jacobian applied to -Y/A gives A * sum(Y) - Y per row: the
    # familiar A - Y when each row of Y sums to one, and still exact when not.
    return (A * xp.sum(Y, axis=-1, keepdims=True) - Y) * (1 / A.shape[-2])


def _softplus_tail(Z: Array, xp: Namespace) -> Array:
    # log(1 + exp(-|Z|)), the part of softplus(+-Z) that is not max(+-Z, 0):
    # exp(-|Z|) never overflows and log1p keeps its smallest values.
    return xp.log1p(xp.exp(-xp.abs(Z)))


def sigmoid_binary_crossentropy_from_logits(Z: Array, Y: Array, xp: Namespace) -> Array:
    """``binary_crossentropy(sigmoid(Z), Y)`` from the logits ``Z``."""
    n_samples, n_outputs = Z.shape[-2:]
    # -log sigmoid(Z) = softplus(-Z) and -log(1 - sigmoid(Z)) = softplus(Z), so
    # each element is Y max(-Z, 0) + (1 - Y) max(Z, 0) + log1p(exp(-|Z|)),
    # written as (step(Z) - Y) * Z + tail: a sum of terms >= 0, no cancellation.
    step = xp.astype(Z >= 0, Z.dtype)
    return xp.sum((step - Y) * Z + _softplus_tail(Z, xp), axis=_BATCH) * (1 / (n_samples * n_outputs))


def softmax_categorical_crossentropy_from_logits(Z: Array, Y: Array, xp: Namespace) -> Array:
    """``categorical_crossentropy(softmax(Z), Y)`` from the logits ``Z``."""
    # -log softmax(Z) = logsumexp(Z) - Z = log(sum(exp(S))) - S with S = Z - max(Z) <= 0:
    # exp(S) <= 1, its row sum lies in [1, n_outputs], and each term is >= 0.
    S = Z - xp.max(Z, axis=-1, keepdims=True)
    log_sum = xp.log(xp.sum(xp.exp(S), axis=-1, keepdims=True))
    return xp.sum(Y * (log_sum - S), axis=_BATCH) * (1 / Z.shape[-2])


def softmax_binary_crossentropy_from_logits(Z: Array, Y: Array, xp: Namespace) -> Array:
    """``binary_crossentropy(softmax(Z), Y)`` from the logits ``Z``."""
    n_samples, n_outputs = Z.shape[-2:]
    S = Z - xp.max(Z, axis=-1, keepdims=True)
    E = xp.exp(S)
    total = xp.sum(E, axis=-1, keepdims=True)
    log_total = xp.log(total)
    # -log(1 - A_i) = log(total) - log(rest_i) with rest_i = total - E_i, the sum
    # over the other units. For every unit but the row's largest, rest_i >= 1
    # (it holds the largest's E = 1) and the subtraction is accurate. For the
    # largest, rest is the sum of the others, which may all underflow: take it
    # in logs, shifted by the second largest S (finite, as n_outputs >= 2).
    top = xp.argmax(S, axis=-1, keepdims=True) == xp.arange(n_outputs, device=device(Z))
    others = xp.where(top, -xp.inf, S)
    second = xp.max(others, axis=-1, keepdims=True)
    log_rest_of_top = second + xp.log(xp.sum(xp.exp(others - second), axis=-1, keepdims=True))
    # The maximum only keeps the unused branch of the top unit (total - 1 >= 0) finite.
    log_rest = xp.where(top, log_rest_of_top, xp.log(xp.maximum(total - E, scalar(1.0, E, xp))))
    loss = Y * (log_total - S) + (1 - Y) * (log_total - log_rest)
    return xp.sum(loss, axis=_BATCH) * (1 / (n_samples * n_outputs))


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

#: The loss of a batch from the logits ``Z_L``, for the (output activation, loss)
#: pairs where a stable formula exists (softplus, logsumexp); same arguments as
#: ``LOSSES`` with ``Z_L`` in place of ``A``. Gradients are unchanged: the fused
#: ``OUTPUT_DELTAS`` are exact for saturated outputs already, and softmax with
#: binary cross-entropy keeps the general product, kept finite by the clipping.
LOSSES_FROM_LOGITS: dict[tuple[str, str], Callable[[Array, Array, Namespace], Array]] = {
    ("sigmoid", "binary_crossentropy"): sigmoid_binary_crossentropy_from_logits,
    ("softmax", "binary_crossentropy"): softmax_binary_crossentropy_from_logits,
    ("softmax", "categorical_crossentropy"): softmax_categorical_crossentropy_from_logits,
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
