"""Sweep runs that share everything but their initial weights and learning
rate, trained together as one population (the equations' broadcasting form).

A run is batchable when it is plain full-batch gradient descent on data in
memory with no early stopping and no compilation (the lab's and the default
sweep's). Runs that differ only in ``lr``, ``init`` and ``seed`` share an
architecture and data: their weights are stacked along a leading axis and one
call of :func:`equations.sgd_step` per epoch trains them all. Each network is
checked as :func:`training.train` checks one: at its first non-finite loss it
is marked diverged (its later values are ignored; the others go on), and its
last update is checked for finite weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import equations
from .experiment import RunConfig, build_network, load_data, targets

if TYPE_CHECKING:
    from ._types import Params
    from .architecture import Architecture
    from .backends import Backend
    from .sweep import SweepRun


def batchable(config: RunConfig) -> bool:
    """Whether a run can train as a member of a population."""
    return (config.optimizer == "sgd" and config.batch_size is None and config.tol is None
            and not config.compile and not config.on_dask and config.scheduler is None)


def groups(configs: Sequence[RunConfig]) -> list[list[int]]:
    """Indices of the batchable runs, grouped by all they share (all but ``lr``, ``init``, ``seed``); groups of two or more."""
    found: dict[RunConfig, list[int]] = {}
    for i, config in enumerate(configs):
        if batchable(config):
            found.setdefault(dataclasses.replace(config, lr=0.0, init="", seed=0), []).append(i)
    return [members for members in found.values() if len(members) > 1]


def stack(host_params: Sequence[Params], backend: Backend) -> Params:
    """Networks' parameters (NumPy, one list of ``(W, b)`` each) as one population's on ``backend``.

    Returns
    -------
    list of (W, b)
        ``W`` of shape (S, n_in, n_out), ``b`` of shape (S, 1, n_out).
    """
    return [
        (backend.from_numpy(np.stack([p[layer][0] for p in host_params])),
         backend.from_numpy(np.stack([p[layer][1].reshape(1, -1) for p in host_params])))
        for layer in range(len(host_params[0]))
    ]


def outputs(host_params: Sequence[Params], X: np.ndarray, arch: Architecture, backend: Backend) -> np.ndarray:
    """Every network's output at the same points, from one batched forward pass.

    Parameters
    ----------
    host_params : sequence of S parameter lists (NumPy), one architecture
    X : array of shape (n_samples, n_features), NumPy, of the parameters' dtype
    arch : Architecture
    backend : Backend
        Where the pass runs.

    Returns
    -------
    array of shape (S, n_samples, n_outputs), NumPy
    """
    A = equations.forward(stack(host_params, backend), backend.from_numpy(X), arch, xp=backend.xp)[-1]
    return backend.to_numpy(backend.evaluate(A)[0])


def train_population(configs: Sequence[RunConfig]) -> list[SweepRun]:
    """Train runs of one group (see :func:`groups`) as one population; the runs as :func:`sweep._run_one` gives them."""
    from .sweep import SweepRun, finished_run

    data = load_data(configs[0])
    nets = [build_network(c, data) for c in configs]  # each its own initial weights
    backend, arch, S = nets[0].backend, nets[0].architecture, len(configs)
    xp = backend.xp
    X, Y = nets[0].as_arrays(data.x, targets(configs[0], data, data.y))
    initial = [net.host_params() for net in nets]
    params = stack(initial, backend)
    lr = backend.from_numpy(np.array([c.lr for c in configs], dtype=initial[0][0][0].dtype).reshape(S, 1, 1))
    losses = np.empty((configs[0].epochs, S))
    diverged: list[int | None] = [None] * S
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, configs[0].epochs + 1):
            loss, params = backend.evaluate(*equations.sgd_step(params, X, Y, lr, arch, xp=xp))
            # A lazy backend computes into NumPy arrays: back into its own (a no-op elsewhere).
            params = [(xp.asarray(W), xp.asarray(b)) for W, b in params]
            losses[epoch - 1] = backend.to_numpy(loss)
            for i in range(S):
                if diverged[i] is None and not math.isfinite(losses[epoch - 1, i]):
                    diverged[i] = epoch
            if all(d is not None for d in diverged):
                break
    host = [(backend.to_numpy(W), backend.to_numpy(b)) for W, b in params]
    runs = []
    for i, config in enumerate(configs):
        if diverged[i] is not None:
            runs.append(SweepRun(config, losses[:diverged[i], i].copy(), [], diverged_at=diverged[i]))
            continue
        mine = [(np.array(W[i]), np.array(b[i, 0])) for W, b in host]
        if not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in mine):  # the last update
            runs.append(SweepRun(config, losses[:, i].copy(), [], diverged_at=config.epochs))
        else:
            nets[i].params = mine
            runs.append(finished_run(config, data, nets[i], losses[:, i].copy()))
    return runs
