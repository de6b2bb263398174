"""The batched backpropagation equations, written once for every backend.

Nothing here names an array library: the namespace ``xp`` comes from the
arrays (or from the caller, in hot loops), and only operations of the Python
Array API standard are used. Parameters are plain data, a list of ``(W, b)``
pairs with ``W`` of shape ``(n_in, n_out)``; functions take parameters and
return new arrays and never write into an argument, so a whole step can be
compiled by a backend (``jax.jit``) and run on immutable arrays. Where arrays
are mutable, a step writes into temporaries it made itself and no longer needs
(:mod:`inplace`): the same operations in the same order, fewer allocations.

With ``A_0 = X`` and, for each layer ``l = 1..L``, ``Z_l = A_{l-1} @ W_l + b_l``
and ``A_l = act_l(Z_l)``, the loss is taken from the logits ``Z_L`` where the
output activation and loss have a stable formula (``LOSSES_FROM_LOGITS``), else
from ``A_L`` (``output_loss``), and the gradients of the loss are::

    Delta_L     = dLoss/dA_L (*) act_L'(Z_L)              output_delta
    dW_l        = A_{l-1}^T @ Delta_l                      backward
    db_l        = sum over the batch of Delta_l            backward
    Delta_{l-1} = (Delta_l @ W_l^T) (*) act_{l-1}'(Z_{l-1})  backward

The same code trains a population of S networks of one architecture at once:
give every ``W`` a leading axis, ``(S, n_in, n_out)``, and every ``b`` the shape
``(S, 1, n_out)``; ``X`` and ``Y`` may be shared, ``(n_samples, n)``, or each
network's own, ``(S, n_samples, n)``. Products broadcast over the leading axis,
sums run over the batch axis (-2), the loss is one per network, shape ``(S,)``,
and a learning rate of shape ``(S, 1, 1)`` gives each network its own. One
network is the same program without the leading axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from array_api_compat import array_namespace

from .activations import ACTIVATIONS, DERIVATIVES, OVERWRITING
from .errors import ShapeError
from .inplace import add_into, may_overwrite
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
        A.append(ACTIVATIONS[name](add_into(A[-1] @ W, b, xp), xp))
    Z_L = add_into(A[-1] @ W_L, b_L, xp)
    A.append(ACTIVATIONS[arch.activations[-1]](Z_L, xp))
    return A, Z_L


def output_loss(Z_L: Array, A_L: Array, Y: Array, arch: Architecture, xp: Namespace) -> Array:
    """The loss of a batch, a 0-d array: from the logits ``Z_L`` where the
    output activation and loss allow (exact for saturated outputs), else from ``A_L``."""
    from_logits = LOSSES_FROM_LOGITS.get((arch.activations[-1], arch.loss))
    if from_logits is not None:
        return from_logits(Z_L, Y, xp)
    return LOSSES[arch.loss](A_L, Y, xp)


def _transpose(A: Array, xp: Namespace) -> Array:
    """The transpose of a matrix, or of each matrix of a stack (a population's)."""
    # .T is the standard's for 2-D arrays only, and the cheaper call on torch.
    return A.T if A.ndim == 2 else xp.matrix_transpose(A)


def _derivative(name: str, overwrite: bool, xp: Namespace):
    """``DERIVATIVES[name]``, or its in-place twin where ``A`` and ``dA`` may be overwritten."""
    derivative = DERIVATIVES[name]
    if overwrite and may_overwrite(xp):
        return OVERWRITING.get(derivative, derivative)
    return derivative


def output_delta(A_L: Array, Y: Array, arch: Architecture, xp: Namespace, *, overwrite: bool = False) -> Array:
    """``Delta_L = dLoss/dA_L (*) act_L'(Z_L)``, of shape (n_samples, n_outputs).

    ``overwrite=True``: ``A_L`` is the caller's temporary, which may be
    overwritten (where the namespace allows) and must not be used afterwards.
    """
    output = arch.activations[-1]
    fused = OUTPUT_DELTAS.get((output, arch.loss))
    if fused is not None:
        return fused(A_L, Y, xp)
    return _derivative(output, overwrite, xp)(A_L, LOSS_GRADIENTS[arch.loss](A_L, Y, xp), xp)


def backward(
    params: Params, activations: list[Array], delta: Array, arch: Architecture, xp: Namespace,
    *, overwrite: bool = False, deltas: list[Array] | None = None,
) -> Params:
    """Propagate ``Delta_L`` back through the layers.

    ``activations`` is the list that :func:`forward` returned; it is consumed
    (emptied) as the pass goes, so that each layer's activation is released as
    soon as its last use is behind it. With ``overwrite=True`` the hidden
    layers' activations and ``delta`` are the caller's temporaries: a
    derivative may be written into them where the namespace allows
    (:func:`inplace.may_overwrite`). ``activations[0]`` (the input) is never written.
    A list passed as ``deltas`` receives
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
        W, b = params[layer]
        if deltas is not None:
            deltas.insert(0, delta)
        # A population's biases are (S, 1, n_out): their gradients keep the batch axis.
        grads.append((_transpose(A_in, xp) @ delta, xp.sum(delta, axis=-2, keepdims=b.ndim > 1)))
        if layer > 0:
            # delta @ W^T is new; A_in (layer > 0: never the input) has had its last use.
            delta = _derivative(arch.activations[layer - 1], overwrite, xp)(A_in, delta @ _transpose(W, xp), xp)
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
    if tuple(Y.shape[-2:]) != (X.shape[-2], arch.sizes[-1]) or Y.ndim not in (2, 3):
        # Checked because a (n,) Y would silently broadcast against (n, 1).
        raise ShapeError(
            f"Y must have shape {(X.shape[-2], arch.sizes[-1])}, the network's output; "
            f"received shape {tuple(Y.shape)}."
        )
    activations, Z_L = forward_with_logits(params, X, arch, xp=xp)
    A_L = activations[-1]
    loss = output_loss(Z_L, A_L, Y, arch, xp)
    del Z_L
    # The activations are this step's own: the backward pass may write into them.
    delta = output_delta(A_L, Y, arch, xp, overwrite=True)
    del A_L
    return loss, backward(params, activations, delta, arch, xp, overwrite=True)


def sgd_update(params: Params, grads: Params, learning_rate: float | Array) -> Params:
    """Plain gradient descent: ``W - learning_rate * dW`` for every parameter.

    ``learning_rate``: a number, or for a population an array of shape ``(S, 1, 1)``, one per network.
    """
    # The scalar on the right: torch's reflected operators (2.0 * T) are slower.
    return [(W - dW * learning_rate, b - db * learning_rate) for (W, b), (dW, db) in zip(params, grads)]


def sgd_step(
    params: Params, X: Array, Y: Array, learning_rate: float | Array, arch: Architecture, *, xp: Namespace = None
) -> tuple[Array, Params]:
    """One training step: the loss before the update and the updated parameters (see :func:`sgd_update`)."""
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
