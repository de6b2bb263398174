"""Backpropagation one unit at a time, with scalars (the lab's exercise 1.1).

Sample by sample and unit by unit, with ``i`` a unit of layer ``l`` and ``j``
a unit of layer ``l - 1``::

    delta_i^L     = dL/da_i^L * act'(z_i^L)        (softmax: sum_k dL/da_k * da_k/dz_i)
    dL/dW_ji^l    = delta_i^l * a_j^{l-1}
    dL/db_i^l     = delta_i^l
    delta_j^{l-1} = (sum_i delta_i^l * W_ji^l) * act'(z_j^{l-1})

Plain Python floats and the ``math`` module: no arrays, no code shared with
the engine or with the vector form.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..architecture import Architecture


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


#: act(z) of one unit.
UNIT_ACTIVATION: dict[str, Callable[[float], float]] = {
    "identity": lambda z: z,
    "relu": lambda z: max(z, 0.0),
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
}

#: act'(z) of one unit, from its pre-activation as in the lab.
UNIT_DERIVATIVE: dict[str, Callable[[float], float]] = {
    "identity": lambda z: 1.0,
    "relu": lambda z: 1.0 if z > 0 else 0.0,
    "sigmoid": lambda z: _sigmoid(z) * (1 - _sigmoid(z)),
    "tanh": lambda z: 1 - math.tanh(z) ** 2,
}

#: One sample's share of dLoss/da_k, for a batch of n samples and K outputs.
LOSS_PARTIAL: dict[str, Callable[[float, float, int, int], float]] = {
    "mse": lambda a, y, n, K: 2 * (a - y) / (n * K),
    "binary_crossentropy": lambda a, y, n, K: (a - y) / (a * (1 - a) * n * K),
    "categorical_crossentropy": lambda a, y, n, K: -y / (a * n),
}


def _activate(name: str, z: list[float]) -> list[float]:
    if name == "softmax":  # the one activation that looks at the whole layer
        top = max(z)
        e = [math.exp(z_i - top) for z_i in z]
        return [e_i / sum(e) for e_i in e]
    return [UNIT_ACTIVATION[name](z_i) for z_i in z]


def _deltas(name: str, z: list[float], a: list[float], dL_da: list[float]) -> list[float]:
    """delta_i = sum_k dL/da_k * da_k/dz_i: a single term unless the activation is softmax."""
    if name == "softmax":  # da_k/dz_i = a_k * ([k == i] - a_i)
        return [sum(dL_da[k] * a[k] * ((k == i) - a[i]) for k in range(len(a))) for i in range(len(a))]
    return [dL_da[i] * UNIT_DERIVATIVE[name](z[i]) for i in range(len(a))]


def gradients(
    params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, Y: np.ndarray, arch: Architecture
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batch's gradient, summed over samples with scalar loops, in float64."""
    weights = [np.asarray(W, float).tolist() for W, _ in params]
    biases = [np.asarray(b, float).tolist() for _, b in params]
    dW = [[[0.0] * len(row) for row in W] for W in weights]
    db = [[0.0] * len(b) for b in biases]
    n = len(X)

    for x, y in zip(np.asarray(X, float).tolist(), np.asarray(Y, float).tolist()):
        # Forward, unit by unit: z_i = sum_j W_ji a_j + b_i.
        a, zs, activations = x, [], [x]
        for W, b, name in zip(weights, biases, arch.activations):
            z = [sum(W[j][i] * a[j] for j in range(len(a))) + b[i] for i in range(len(b))]
            a = _activate(name, z)
            zs.append(z)
            activations.append(a)

        # The output layer's deltas.
        K = len(a)
        dL_da = [LOSS_PARTIAL[arch.loss](a[k], y[k], n, K) for k in range(K)]
        delta = _deltas(arch.activations[-1], zs[-1], a, dL_da)

        # Back through the layers.
        for layer in reversed(range(len(weights))):
            a_prev = activations[layer]
            for i, delta_i in enumerate(delta):
                db[layer][i] += delta_i
                for j, a_j in enumerate(a_prev):
                    dW[layer][j][i] += delta_i * a_j
            if layer > 0:
                W = weights[layer]
                back = [sum(delta[i] * W[j][i] for i in range(len(delta))) for j in range(len(a_prev))]
                delta = _deltas(arch.activations[layer - 1], zs[layer - 1], a_prev, back)

    return [(np.array(gW), np.array(gb)) for gW, gb in zip(dW, db)]
