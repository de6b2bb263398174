"""The batched backpropagation equations, written once for every backend.

Nothing here names an array library: the namespace ``xp`` comes from the
arrays (or from the caller, in hot loops), and only operations of the Python
Array API standard are used. Parameters are plain data, a list of ``(W, b)``
pairs with ``W`` of shape ``(n_in, n_out)``; functions take parameters and
return new arrays and never update in place, so a whole step can be compiled
by a backend (``jax.jit``) and run on immutable arrays.

With ``A_0 = X`` and, for each layer ``l = 1..L``, ``Z_l = A_{l-1} @ W_l + b_l``
and ``A_l = act_l(Z_l)``, the loss is taken from the logits ``Z_L`` where the
output activation and loss have a stable formula (``LOSSES_FROM_LOGITS``), else
from ``A_L`` (``output_loss``), and the gradients of the loss are::

    Delta_L     = dLoss/dA_L (*) act_L'(Z_L)              output_delta
    dW_l        = A_{l-1}^T @ Delta_l                      backward
    db_l        = sum over the batch of Delta_l            backward
    Delta_{l-1} = (Delta_l @ W_l^T) (*) act_{l-1}'(Z_{l-1})  backward
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from array_api_compat import array_namespace

from .activations import ACTIVATIONS, DERIVATIVES
from .errors import ShapeError
from .losses import LOSS_GRADIENTS, LOSSES, LOSSES_FROM_LOGITS, OUTPUT_DELTAS

if TYPE_CHECKING:
    from ._types import Array, Namespace, Params
    from .architecture import Architecture


def forward(params: Params, X: Array, arch: Architecture, *, xp: Namespace = None) -> list[Array]:
    """Run the network and keep what the backward pass needs.

    Parameters
    ----------
    params : list of (W, b)
    X : array of shape (n_samples, n_features)
    arch : Architecture

    Returns
    -------
    list of arrays
        ``[A_0, A_1, ..., A_L]``: the input and every layer's activation, the
        last of shape ``(n_samples, n_outputs)``. Pre-activations ``Z`` are not
        kept: every derivative is written from ``A``.
    """
    return forward_with_logits(params, X, arch, xp=xp)[0]


def forward_with_logits(
    params: Params, X: Array, arch: Architecture, *, xp: Namespace = None
) -> tuple[list[Array], Array]:
    """:func:`forward`, and the output layer's pre-activation ``Z_L`` (the logits).

    Returns
    -------
    activations : list of arrays
        ``[A_0, A_1, ..., A_L]``, as :func:`forward` returns them.
    Z_L : array of shape (n_samples, n_outputs)
        What :func:`output_loss` takes the loss from where it can.
    """
    xp = xp or array_namespace(X)
    A = [X]
    *hidden, (W_L, b_L) = params
    for (W, b), name in zip(hidden, arch.activations):
        A.append(ACTIVATIONS[name](A[-1] @ W + b, xp))
    Z_L = A[-1] @ W_L + b_L
    A.append(ACTIVATIONS[arch.activations[-1]](Z_L, xp))
    return A, Z_L


def output_loss(Z_L: Array, A_L: Array, Y: Array, arch: Architecture, xp: Namespace) -> Array:
    """The loss of a batch, a 0-d array: from the logits ``Z_L`` where the
    output activation and loss allow (exact for saturated outputs), else from ``A_L``."""
    from_logits = LOSSES_FROM_LOGITS.get((arch.activations[-1], arch.loss))
    if from_logits is not None:
        return from_logits(Z_L, Y, xp)
    return LOSSES[arch.loss](A_L, Y, xp)


def output_delta(A_L: Array, Y: Array, arch: Architecture, xp: Namespace) -> Array:
    """``Delta_L = dLoss/dA_L (*) act_L'(Z_L)``, of shape (n_samples, n_outputs)."""
    output = arch.activations[-1]
    fused = OUTPUT_DELTAS.get((output, arch.loss))
    if fused is not None:
        return fused(A_L, Y, xp)
    return DERIVATIVES[output](A_L, LOSS_GRADIENTS[arch.loss](A_L, Y, xp), xp)


def backward(
    params: Params, activations: list[Array], delta: Array, arch: Architecture, xp: Namespace,
    *, deltas: list[Array] | None = None,
) -> Params:
    """Propagate ``Delta_L`` back through the layers.

    ``activations`` is the list that :func:`forward` returned; it is consumed
    (emptied) as the pass goes, so that each layer's activation is released as
    soon as its last use is behind it. A list passed as ``deltas`` receives
    ``Delta_1, ..., Delta_L`` in layer order (for those who watch them: the playground).

    Returns
    -------
    list of (dW, db)
        In layer order, each of the same shape as its ``(W, b)``.
    """
    activations.pop()  # A_L is already folded into delta
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        A_in = activations.pop()
        if deltas is not None:
            deltas.insert(0, delta)
        grads.append((A_in.T @ delta, xp.sum(delta, axis=0)))
        if layer > 0:
            W = params[layer][0]
            delta = DERIVATIVES[arch.activations[layer - 1]](A_in, delta @ W.T, xp)
    grads.reverse()
    return grads


def loss_and_gradients(
    params: Params, X: Array, Y: Array, arch: Architecture, *, xp: Namespace = None
) -> tuple[Array, Params]:
    """The loss of a batch and its gradient with respect to every parameter.

    Parameters
    ----------
    params : list of (W, b)
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_outputs), of the parameters' dtype
    arch : Architecture

    Returns
    -------
    loss : 0-d array
    grads : list of (dW, db), in layer order
    """
    xp = xp or array_namespace(X, Y)
    if tuple(Y.shape) != (X.shape[0], arch.sizes[-1]):
        # Checked because a (n,) Y would silently broadcast against (n, 1).
        raise ShapeError(
            f"Y must have shape {(X.shape[0], arch.sizes[-1])}, the network's output; "
            f"received shape {tuple(Y.shape)}."
        )
    activations, Z_L = forward_with_logits(params, X, arch, xp=xp)
    A_L = activations[-1]
    loss = output_loss(Z_L, A_L, Y, arch, xp)
    del Z_L
    delta = output_delta(A_L, Y, arch, xp)
    del A_L
    return loss, backward(params, activations, delta, arch, xp)


def sgd_update(params: Params, grads: Params, learning_rate: float) -> Params:
    """Plain gradient descent: ``W - learning_rate * dW`` for every parameter."""
    return [(W - learning_rate * dW, b - learning_rate * db) for (W, b), (dW, db) in zip(params, grads)]


def sgd_step(
    params: Params, X: Array, Y: Array, learning_rate: float, arch: Architecture, *, xp: Namespace = None
) -> tuple[Array, Params]:
    """One training step: the loss before the update and the updated parameters."""
    loss, grads = loss_and_gradients(params, X, Y, arch, xp=xp)
    return loss, sgd_update(params, grads, learning_rate)


def l2_penalty(params: Params, alpha: float, n_samples: int, xp: Namespace) -> tuple[Array, Params]:
    """scikit-learn's L2 penalty of a batch and its gradient, written once here.

    ``penalty = alpha / (2 n) * sum_l ||W_l||^2`` (biases are not penalised),
    added to the batch's loss; its gradient ``alpha / n * W_l`` is added to each
    ``dW_l``, and zero to each ``db_l``. ``n`` is the batch's number of samples.

    Returns
    -------
    penalty : 0-d array
    grads : list of (dW, None), the penalty's gradient in layer order
    """
    scale = alpha / n_samples
    # ||W||^2 as one dot product of the flattened W with itself: no temporary the size of W.
    flat = [xp.reshape(W, (-1,)) for W, _ in params]
    penalty = sum(v @ v for v in flat) * (0.5 * scale)
    return penalty, [(scale * W, None) for W, _ in params]


def loss_and_gradients_l2(
    params: Params, X: Array, Y: Array, arch: Architecture, alpha: float, *, xp: Namespace = None
) -> tuple[Array, Params]:
    """:func:`loss_and_gradients` of the loss plus :func:`l2_penalty` (``alpha = 0`` adds nothing)."""
    xp = xp or array_namespace(X, Y)
    loss, grads = loss_and_gradients(params, X, Y, arch, xp=xp)
    if alpha == 0:
        return loss, grads
    penalty, penalty_grads = l2_penalty(params, alpha, X.shape[0], xp)
    return loss + penalty, [(dW + pW, db) for (dW, db), (pW, _) in zip(grads, penalty_grads)]
