"""Weight initialisers, drawn on the host with a seeded NumPy generator.

The Array API standard has no random module, so every backend gets its initial
weights from here and moves them to its device: one seed gives bit-for-bit the
same starting point on NumPy, PyTorch, CuPy, JAX and the rest. Biases start at
zero. An initialiser is named by a string; ``"normal:STD"`` gives the normal
initialiser its standard deviation (``"normal"`` alone uses 0.05).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .errors import InputTypeError, SettingError, UnknownNameError
from .inputs import SEED as _SEED
from .settings import check

Initializer = Callable[[np.random.Generator, int, int], np.ndarray]


def glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    limit = math.sqrt(6 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def glorot_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2 / (n_in + n_out)), size=(n_in, n_out))


def he_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    limit = math.sqrt(6 / n_in)
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def he_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2 / n_in), size=(n_in, n_out))


def lecun_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(1 / n_in), size=(n_in, n_out))


def normal(std: float) -> Initializer:
    """A normal initialiser with mean 0 and the given standard deviation."""

    def draw(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
        return rng.normal(0.0, std, size=(n_in, n_out))

    return draw


def zeros(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    # Every unit of a layer then computes the same function and receives the
    # same gradient: the symmetry that random initialisation exists to break.
    return np.zeros((n_in, n_out))


DEFAULT_NORMAL_STD = 0.05
#: The rule of the weights' seed (see :mod:`settings`): that of every seed, or None.
SEED = (*_SEED, None)

INITIALIZERS: dict[str, Initializer] = {
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "normal": normal(DEFAULT_NORMAL_STD),
    "zeros": zeros,
}


def get_initializer(spec: str) -> Initializer:
    """Look up an initialiser by name; ``"normal:STD"`` sets the normal's std."""
    if not isinstance(spec, str):
        raise InputTypeError(
            f"init must be a string naming an initialiser; received {type(spec).__name__} {spec!r}."
        )
    name, _, arg = spec.partition(":")
    if name not in INITIALIZERS:
        raise UnknownNameError(
            f"Unknown initialiser {spec!r}. Expected one of: {', '.join(sorted(INITIALIZERS))} "
            "(or 'normal:STD', e.g. 'normal:0.1')."
        )
    if not arg:
        return INITIALIZERS[name]
    if name != "normal":
        raise SettingError(f"Initialiser {name!r} takes no parameter; received {spec!r}.")
    try:
        std = float(arg)
    except ValueError:
        std = math.nan
    if not (math.isfinite(std) and std > 0):
        raise SettingError(
            f"'normal:STD' needs a positive, finite standard deviation; received {spec!r}."
        )
    return normal(std)


def initial_params(
    sizes: Sequence[int], init: str, seed: int | None, dtype: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw ``(W, b)`` for each layer of a network with the given layer sizes.

    Parameters
    ----------
    sizes : sequence of int
        ``(n_features, *hidden_sizes, n_outputs)``.
    init : str
        A name from ``INITIALIZERS`` or ``"normal:STD"``.
    seed : int or None
        Seed of the NumPy generator; None draws fresh entropy.
    dtype : {"float32", "float64"}
        The weights are drawn in float64 and then rounded to this dtype.

    Returns
    -------
    list of (W, b)
        NumPy arrays, ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)``.
    """
    draw = get_initializer(init)
    check("seed", seed, *SEED, none="for fresh entropy")
    rng = np.random.default_rng(seed)
    return [
        (draw(rng, n_in, n_out).astype(dtype), np.zeros(n_out, dtype=dtype))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
