"""Backpropagation one unit at a time, with scalars (the lab's exercise 1.1).

For sample by sample and unit by unit, with ``i`` a unit of layer ``l``, ``j``
a unit of layer ``l - 1`` and ``k`` a unit of layer ``l + 1``::

    delta_i^L       = sum_k dL/da_k^L * da_k^L/dz_i^L   (= dL/da_i * act'(z_i) elementwise)
    dL/dW_ji^l      = delta_i^l * a_j^{l-1}
    dL/db_i^l       = delta_i^l
    delta_j^{l-1}   = (sum_i delta_i^l * W_ji^l) * act'(z_j^{l-1})

The activations themselves and the loss gradient come from :mod:`.per_sample`;
every sum over units is an explicit loop here.
"""

from __future__ import annotations

import numpy as np

from ..architecture import Architecture
from .per_sample import ACTIVATION, JACOBIAN, LOSS_GRADIENT


def gradients(
    params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, Y: np.ndarray, arch: Architecture
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batch's gradient, summed over samples with scalar loops, in float64."""
    weights = [np.asarray(W, float).tolist() for W, _ in params]
    biases = [np.asarray(b, float).tolist() for _, b in params]
    dW = [[[0.0] * len(row) for row in W] for W in weights]
    db = [[0.0] * len(b) for b in biases]
    n_samples = len(X)

    for x, y in zip(np.asarray(X, float), np.asarray(Y, float)):
        # Forward, unit by unit.
        a, zs, activations = list(x), [], [list(x)]
        for W, b, name in zip(weights, biases, arch.activations):
            z = [sum(W[j][i] * a[j] for j in range(len(a))) + b[i] for i in range(len(b))]
            a = ACTIVATION[name](np.array(z)).tolist()
            zs.append(z)
            activations.append(a)

        # The output layer's deltas.
        dL_da = LOSS_GRADIENT[arch.loss](np.array(a), y, n_samples).tolist()
        J = JACOBIAN[arch.activations[-1]](np.array(zs[-1])).tolist()
        delta = [sum(dL_da[k] * J[k][i] for k in range(len(a))) for i in range(len(a))]

        # Back through the layers.
        for layer in reversed(range(len(weights))):
            a_prev = activations[layer]
            for i, delta_i in enumerate(delta):
                db[layer][i] += delta_i
                for j, a_j in enumerate(a_prev):
                    dW[layer][j][i] += delta_i * a_j
            if layer > 0:
                W = weights[layer]
                J = JACOBIAN[arch.activations[layer - 1]](np.array(zs[layer - 1])).tolist()
                back = [sum(delta[i] * W[j][i] for i in range(len(delta))) for j in range(len(a_prev))]
                delta = [sum(back[k] * J[k][j] for k in range(len(back))) for j in range(len(back))]

    return [(np.array(gW), np.array(gb)) for gW, gb in zip(dW, db)]
