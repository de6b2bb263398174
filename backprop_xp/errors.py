"""Every error backprop_xp raises on purpose, in one place.

A user's mistake (a bad value, name, shape, file or setting) raises a subclass
of :class:`InputError`; each also derives from the built-in exception a Python
user would expect (``ValueError``, ``TypeError``, ``OSError``, ...), so
``except ValueError`` keeps working. The command line turns an
:class:`InputError` into exit status 2 and one line on stderr. Anything else,
:class:`TrainingDiverged` included, is not the user's mistake: status 1.

Every message says what was expected and what was received, and how to fix it
where that helps. Every check runs before any state changes, so a call that
raises one of these leaves the network, its gradients and an optimiser's
state as they were.
"""

from __future__ import annotations

import numpy as np


class BackpropXPError(Exception):
    """The base of every error backprop_xp raises on purpose."""


class InputError(BackpropXPError):
    """A user's mistake: something passed in, named or pointed at is not what was expected."""


class UsageError(InputError, ValueError):
    """A command line that cannot be parsed: an unknown option or command, a missing or malformed value."""


class ShapeError(InputError, ValueError):
    """An array of the wrong shape or rank, or an empty batch."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong kind of object: a string where a list is expected, a dict for a network..."""


class DTypeError(InputError, TypeError):
    """An array of the wrong dtype: strings, complex numbers, objects where real numbers are expected."""


class NonFiniteError(InputError, ValueError):
    """NaN or infinite values where finite numbers are needed."""


class SettingError(InputError, ValueError, TypeError):
    """A setting out of its range or of the wrong kind: a learning rate, a layer size, epochs...

    Both a ``ValueError`` and a ``TypeError`` (as scikit-learn's
    ``InvalidParameterError``): one rule (:mod:`settings`) checks a setting's
    kind and range together, and either ``except`` keeps working.
    """


class UnknownNameError(InputError, ValueError):
    """A name that is not in its table: an activation, loss, initialiser, optimiser, dataset, backend or dtype."""


class BackendMismatchError(InputError, TypeError):
    """An array of another library than the network's backend."""


class DeviceMismatchError(InputError, ValueError):
    """An array on another device than the network's."""


class LabelError(InputError, ValueError):
    """Targets that do not fit the loss: class labels out of range, or labels that are not 0/1."""


class StateError(InputError, RuntimeError):
    """A call made out of order, such as ``apply_gradients`` before any ``backward``."""


class DataError(InputError, ValueError):
    """Data files in the wrong layout: shards without their partners, none at all."""


class PathError(InputError, OSError):
    """A file or directory that cannot be read or written as asked."""


class MissingPathError(PathError, FileNotFoundError):
    """A file or directory that does not exist."""


class SchedulerError(InputError, ConnectionError):
    """A Dask scheduler that does not answer at the address given."""


class MissingDependencyError(InputError, ImportError):
    """An optional library that a feature needs (scikit-learn for digits, dask.distributed) is not installed."""


class CheckpointError(InputError, ValueError):
    """A file that is not a readable checkpoint, or not of the network asked for."""


class BackendUnavailableError(InputError, RuntimeError):
    """A known backend that cannot run here: not installed, broken, or no GPU for it."""


class TrainingDiverged(BackpropXPError, ArithmeticError):
    """The loss, or the weights after the last update, became NaN or infinite.

    Not an :class:`InputError`: the settings were valid, the run failed.

    Attributes
    ----------
    epoch : int
        The epoch (from 1) at which it was found.
    learning_rate : float
    loss : float
        That epoch's loss (finite when only the last update's weights are not).
    losses : 1-D NumPy array
        The loss of every epoch up to and including ``epoch``.
    """

    def __init__(self, message: str, epoch: int, learning_rate: float, loss: float, losses: np.ndarray) -> None:
        super().__init__(message)
        self.epoch, self.learning_rate, self.loss, self.losses = epoch, learning_rate, loss, losses
