"""Backpropagation for one sample, with vectors (the lab's exercise 1.2).

For one sample, with column vectors ``z_l = W_l^T a_{l-1} + b_l`` and
``a_l = act_l(z_l)``::

    delta_L     = J_L(z_L)^T grad_a L        (= grad_a L (*) act'(z_L) elementwise)
    dW_l        = a_{l-1} delta_l^T          (an outer product)
    db_l        = delta_l
    delta_{l-1} = J_{l-1}(z_{l-1})^T (W_l delta_l)

where ``J(z)`` is the Jacobian of the activation, diagonal for all but softmax.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..architecture import Architecture

Vector = np.ndarray


def _softmax(z: Vector) -> Vector:
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def _sigmoid(z: Vector) -> Vector:
    return 1 / (1 + np.exp(-z))


#: act(z) for a layer's pre-activation vector z.
ACTIVATION: dict[str, Callable[[Vector], Vector]] = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "tanh": np.tanh,
}

#: J(z)[k, i] = d act(z)_k / d z_i, from the pre-activation as in the lab.
JACOBIAN: dict[str, Callable[[Vector], np.ndarray]] = {
    "identity": lambda z: np.eye(z.size),
    "relu": lambda z: np.diag((z > 0).astype(float)),
    "sigmoid": lambda z: np.diag(_sigmoid(z) * (1 - _sigmoid(z))),
    "softmax": lambda z: np.diag(_softmax(z)) - np.outer(_softmax(z), _softmax(z)),
    "tanh": lambda z: np.diag(1 - np.tanh(z) ** 2),
}

#: One sample's share of dLoss/da for a batch of n_samples (the losses are batch means).
LOSS_GRADIENT: dict[str, Callable[[Vector, Vector, int], Vector]] = {
    "mse": lambda a, y, n: 2 * (a - y) / (n * a.size),
    "binary_crossentropy": lambda a, y, n: (a - y) / (a * (1 - a) * n * a.size),
    "categorical_crossentropy": lambda a, y, n: -y / (a * n),
}


def sample_gradients(
    params: list[tuple[np.ndarray, np.ndarray]], x: Vector, y: Vector, arch: Architecture, n_samples: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The gradient of one sample's share of the batch loss, as ``(dW, db)`` pairs."""
    # Forward: remember every z and a.
    a, zs, activations = np.asarray(x, float), [], [np.asarray(x, float)]
    for (W, b), name in zip(params, arch.activations):
        z = W.T @ a + b
        a = ACTIVATION[name](z)
        zs.append(z)
        activations.append(a)

    # Backward.
    delta = JACOBIAN[arch.activations[-1]](zs[-1]).T @ LOSS_GRADIENT[arch.loss](a, y, n_samples)
    grads = []
    for layer in reversed(range(len(params))):
        grads.append((np.outer(activations[layer], delta), delta))
        if layer > 0:
            W = params[layer][0]
            delta = JACOBIAN[arch.activations[layer - 1]](zs[layer - 1]).T @ (W @ delta)
    return grads[::-1]


def gradients(
    params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, Y: np.ndarray, arch: Architecture
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batch's gradient as the sum of its samples' gradients, in float64.

    ``X`` has shape (n_samples, n_features), ``Y`` (n_samples, n_outputs).
    """
    params = [(np.asarray(W, float), np.asarray(b, float)) for W, b in params]
    n_samples = len(X)
    total = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    for x, y in zip(X, Y):
        for (dW, db), (gW, gb) in zip(total, sample_gradients(params, x, np.asarray(y, float), arch, n_samples)):
            dW += gW
            db += gb
    return total
