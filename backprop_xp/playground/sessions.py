"""Training sessions for the playground, and the limits on what a request may ask.

A :class:`Session` is one network learning one 2-D dataset with the package's
own engine (:mod:`backprop_xp.equations` and :mod:`backprop_xp.optimizers`)
on the server's backend. The session, not the network, owns the optimiser's
state and the epoch count, so that Play, Pause and Step continue one run.
After each step it reports what the page draws: the new losses, the output
over a grid of the plane, the weights, and per layer the size of ``Delta_l``,
``dW_l`` and ``db_l`` on the full batch.

Every setting is checked with :mod:`backprop_xp.settings` against
:data:`LIMITS` before anything is built, so that a page cannot ask for more
than a small machine gives without noticing.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import equations
from ..activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..architecture import DTYPES
from ..backends import Backend
from ..datasets import GENERATED
from ..errors import InputTypeError, SettingError, StateError, UnknownNameError
from ..experiment import RunConfig, build_network, load_data, output_size, targets
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..errors import TrainingDiverged
from ..optimizers import OPTIMIZERS
from ..settings import Integer, Options, Real, check
from ..training import TrainingState, train

if TYPE_CHECKING:
    from .._types import Array

#: The 2-D datasets the page offers (digits is not drawn in the plane).
DATASETS = ("five-points", *GENERATED)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many sessions may be open at once."""

    max_width: int = 16
    max_depth: int = 6  # hidden layers
    min_grid: int = 8
    max_grid: int = 120
    max_epochs_per_step: int = 500
    max_epochs: int = 200_000  # per session, so that its loss curve stays small
    max_sessions: int = 16
    idle_seconds: float = 15 * 60  # a session unused this long may be closed to make room
    max_lr: float = 10.0
    max_batch_size: int = 1000


LIMITS = Limits()

#: The page's first network: the lab's (2-5-3-1, tanh/sigmoid, MSE, sgd lr 0.25, full batch).
DEFAULTS: dict[str, Any] = {
    "dataset": "five-points", "hidden": [5, 3], "hidden_activation": "tanh", "output_activation": "sigmoid",
    "loss": "mse", "init": "glorot_uniform", "optimizer": "sgd", "lr": 0.25, "batch_size": None, "seed": 0,
    "grid": 60, "dtype": "float32",
}


class SessionNotFound(UnknownNameError):
    """No open session has this id (never made, deleted, or closed after being idle)."""


class TooManySessions(StateError):
    """As many sessions are open as the server allows."""


class SessionDiverged(StateError):
    """A step asked of a session whose loss stopped being finite."""


def check_config(request: Any, limits: Limits = LIMITS) -> dict[str, Any]:
    """A request's network and training settings, checked and normalised, the defaults filled in.

    Raises an :class:`~backprop_xp.errors.InputError` naming the first bad setting.
    """
    if not isinstance(request, dict):
        raise InputTypeError(f"expected a JSON object of settings; received {type(request).__name__} {request!r}.")
    unknown = sorted(set(request) - set(DEFAULTS))
    if unknown:
        raise SettingError(f"expected settings among {', '.join(DEFAULTS)}; received {unknown[0]!r}.")
    c = {**DEFAULTS, **request}
    hidden = c["hidden"]
    if not isinstance(hidden, list):
        raise InputTypeError(f"hidden must be a list of widths such as [5, 3]; received {hidden!r}.")
    if len(hidden) > limits.max_depth:
        raise SettingError(f"hidden must have at most {limits.max_depth} layers; received {len(hidden)}.")
    return {
        "dataset": check("dataset", c["dataset"], Options(DATASETS)),
        "hidden": [check(f"hidden[{i}]", h, Integer(1, limits.max_width)) for i, h in enumerate(hidden)],
        "hidden_activation": check("hidden_activation", c["hidden_activation"], Options(HIDDEN_ACTIVATIONS)),
        "output_activation": check("output_activation", c["output_activation"], Options(OUTPUT_ACTIVATIONS)),
        "loss": check("loss", c["loss"], Options(tuple(LOSSES))),
        # "normal:STD" too: the initialiser's own lookup checks the rest when the network is built.
        "init": check("init", c["init"], Options(tuple(INITIALIZERS)), _NormalStd()),
        "optimizer": check("optimizer", c["optimizer"], Options(tuple(OPTIMIZERS))),
        "lr": check("lr", c["lr"], Real(0, limits.max_lr, low_open=True)),
        "batch_size": check("batch_size", c["batch_size"], Integer(1, limits.max_batch_size), None),
        "seed": check("seed", c["seed"], Integer(0, 2**32 - 1)),
        "grid": check("grid", c["grid"], Integer(limits.min_grid, limits.max_grid)),
        "dtype": check("dtype", c["dtype"], Options(DTYPES)),
    }


class _NormalStd:
    """A string ``normal:STD``, for :func:`~backprop_xp.settings.check`."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith("normal:")

    def normalise(self, value: Any) -> str:
        return value

    def describe(self) -> str:
        return "'normal:STD'"


def check_epochs(value: Any, limits: Limits = LIMITS) -> int:
    """How many epochs one step runs."""
    return check("epochs", value, Integer(1, limits.max_epochs_per_step))


def _numbers(values: np.ndarray) -> Any:
    """Nested lists of numbers rounded to 4 decimals, NaN and infinities as None (JSON has neither)."""
    rounded = np.round(values.astype(np.float64), 4)
    if np.all(np.isfinite(rounded)):
        return rounded.tolist()
    values = rounded.astype(object)
    values[~np.isfinite(rounded)] = None
    return values.tolist()


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _norm(xp: Any, a: Array) -> Array:
    return xp.sqrt(xp.sum(a * a))


class Session:
    """One network, its data, its optimiser's state and its history, on one backend.

    Parameters
    ----------
    config : dict
        Settings as :func:`check_config` returns them.
    backend : Backend
    """

    def __init__(self, config: dict[str, Any], backend: Backend) -> None:
        self.config = config
        self.backend = backend
        run = RunConfig(
            dataset=config["dataset"], hidden=tuple(config["hidden"]), hidden_activation=config["hidden_activation"],
            output_activation=config["output_activation"], loss=config["loss"], init=config["init"],
            optimizer=config["optimizer"], lr=config["lr"], batch_size=config["batch_size"], seed=config["seed"],
            backend=backend.name, dtype=config["dtype"],
        )
        self.run = run
        self.data = load_data(run)
        self.net = build_network(run, self.data)  # checks the architecture: loss against output, softmax width
        self.X, self.Y = self.net.as_arrays(self.data.x, targets(run, self.data, self.data.y))
        # What train() carries from one step to the next: optimiser state, shuffling, epochs, losses.
        self.training = TrainingState()
        self.losses: list[float] = []  # the finite ones
        self.diverged: str | None = None  # why the session stopped, once its loss is not finite
        self.grid_axes = self._grid_axes(config["grid"])
        u, v = np.meshgrid(*self.grid_axes)
        self.G = backend.from_numpy(np.stack([u.ravel(), v.ravel()], axis=1).astype(config["dtype"]))
        self.lock = threading.Lock()  # one step at a time per session; other sessions run alongside
        self.last_used = time.monotonic()

    def _grid_axes(self, resolution: int, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(self.data.x, dtype=np.float64)
        low, high = x.min(axis=0) - margin, x.max(axis=0) + margin
        return np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)

    # --- training -----------------------------------------------------------

    def step(self, epochs: int, limits: Limits = LIMITS) -> list[float]:
        """Run ``epochs`` epochs (each full-batch, or the session's minibatches); return their losses.

        Like :func:`backprop_xp.train`, each loss is taken before its epoch's
        update (the mean of the batch losses, with minibatches). A loss that is
        not finite stops the step and marks the session diverged; as in
        ``train``, the network keeps the weights (and the optimiser its state)
        of the start of the last epoch whose loss was finite.
        """
        if self.diverged:
            raise SessionDiverged(f"expected a session still training; received one that diverged: {self.diverged}")
        if self.epoch + epochs > limits.max_epochs:
            raise SettingError(
                f"expected at most {limits.max_epochs} epochs in a session; received a step to epoch "
                f"{self.epoch + epochs}. Reset to start again."
            )
        lr = self.config["lr"]
        try:
            # train() continues where the last step stopped (TrainingState): the same
            # epochs, batches and weights as one train() call of all the steps' epochs.
            _, losses = train(
                self.X, self.Y, self.net, epochs, lr, optimizer=self.config["optimizer"],
                batch_size=self.config["batch_size"], seed=self.config["seed"], state=self.training,
            )
            new = [float(v) for v in self.backend.to_numpy(losses)]
        except TrainingDiverged as exc:  # the network keeps the weights train() keeps
            new = [float(v) for v in exc.losses[len(self.losses):] if math.isfinite(v)]
            self.diverged = (
                f"the loss became {exc.loss} at epoch {exc.epoch} with learning rate {lr:g}; "
                "try a smaller one and Reset."
            )
        self.losses.extend(new)
        return new

    @property
    def epoch(self) -> int:
        """Epochs run with a finite loss."""
        return len(self.losses)

    # --- what the page draws -----------------------------------------------

    def view(self) -> dict[str, Any]:
        """The output over the grid, the weights and, per layer, ``||Delta_l||``, ``||dW_l||``, ``||db_l||``.

        The layer quantities are those of one full-batch backward pass at the
        current weights (with minibatches too, so that they do not jump with
        the batch drawn). Norms are Frobenius norms.
        """
        xp, arch, params = self.backend.xp, self.net.architecture, self.net.params
        with np.errstate(over="ignore", invalid="ignore"):
            activations, Z_L = equations.forward_with_logits(params, self.X, arch, xp=xp)
            loss = equations.output_loss(Z_L, activations[-1], self.Y, arch, xp)
            delta = equations.output_delta(activations[-1], self.Y, arch, xp)
            deltas: list[Array] = []
            grads = equations.backward(params, activations, delta, arch, xp, deltas=deltas)
            A_grid = equations.forward(params, self.G, arch, xp=xp)[-1]
            # Two classes: the probability of class 1 (the second unit of a softmax pair).
            surface = A_grid[:, 0] if A_grid.shape[1] == 1 else A_grid[:, 1]
            norms = [xp.stack([_norm(xp, d), _norm(xp, dW), _norm(xp, db)]) for d, (dW, db) in zip(deltas, grads)]
            host = [self.backend.to_numpy(a) for a in self.backend.evaluate(loss, surface, xp.stack(norms), *
                    [p for pair in params for p in pair])]
        loss_now, surface_host, norms_host, flat = float(host[0]), host[1], host[2], host[3:]
        layers = []
        for layer, (n_in, n_out) in enumerate(zip(arch.sizes[:-1], arch.sizes[1:])):
            d, w, b = (_number(float(v)) for v in norms_host[layer])
            layers.append({
                "layer": layer + 1, "n_in": n_in, "n_out": n_out, "activation": arch.activations[layer],
                "delta_norm": d, "dW_norm": w, "db_norm": b, "W": _numbers(flat[2 * layer]), "b": _numbers(flat[2 * layer + 1]),
            })
        return {
            "epoch": self.epoch, "loss": _number(loss_now), "diverged": self.diverged,
            "grid": _numbers(surface_host),
            "layers": layers,
        }

    def describe(self) -> dict[str, Any]:
        """What stays fixed for the session's life: its settings, shapes, data and grid."""
        arch = self.net.architecture
        x = np.asarray(self.data.x, dtype=np.float64)
        return {
            "config": self.config, "sizes": list(arch.sizes), "activations": list(arch.activations),
            "loss_name": arch.loss, "n_samples": int(self.X.shape[0]),
            "batch": int(min(self.config["batch_size"] or self.X.shape[0], self.X.shape[0])),
            "output_units": output_size(self.run, self.data),
            "points": np.round(x, 4).tolist(), "labels": np.asarray(self.data.y).astype(int).tolist(),
            "extent": [float(self.grid_axes[0][0]), float(self.grid_axes[0][-1]),
                       float(self.grid_axes[1][0]), float(self.grid_axes[1][-1])],
            "backend": self.backend.name, "device": str(self.backend.device),
        }


class SessionStore:
    """The open sessions, by id: at most ``limits.max_sessions``, the longest idle closed to make room."""

    def __init__(self, backend: Backend, limits: Limits = LIMITS) -> None:
        self.backend, self.limits = backend, limits
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, request: Any) -> tuple[str, Session]:
        config = check_config(request, self.limits)
        session = Session(config, self.backend)  # built outside the lock: other tabs keep stepping
        with self._lock:
            if len(self._sessions) >= self.limits.max_sessions:
                self._close_idle()
            if len(self._sessions) >= self.limits.max_sessions:
                raise TooManySessions(
                    f"expected at most {self.limits.max_sessions} open sessions; received a request for one more. "
                    "Close a tab, or wait until one has been idle for "
                    f"{self.limits.idle_seconds / 60:g} minutes."
                )
            key = secrets.token_urlsafe(9)
            self._sessions[key] = session
        return key, session

    def get(self, key: str) -> Session:
        with self._lock:
            session = self._sessions.get(key)
        if session is None:
            raise SessionNotFound(
                f"expected the id of an open session; received {key!r} (never opened, deleted, or closed "
                "after being idle). Reload the page."
            )
        session.last_used = time.monotonic()
        return session

    def reset(self, key: str, request: Any) -> Session:
        """Replace a session's network by a new one, from new settings, under the same id."""
        self.get(key)
        session = Session(check_config(request, self.limits), self.backend)
        with self._lock:
            self._sessions[key] = session
        return session

    def delete(self, key: str) -> None:
        self.get(key)
        with self._lock:
            self._sessions.pop(key, None)

    def _close_idle(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.last_used > self.limits.idle_seconds]:
            del self._sessions[key]


