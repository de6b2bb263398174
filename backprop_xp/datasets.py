"""Small datasets, as NumPy arrays that every backend accepts.

The 2-D ones are drawn by a seeded NumPy generator, so a seed gives the same
points everywhere; ``digits`` is scikit-learn's bundled 8x8 digits (read from
the installed package, nothing downloaded), split once into a training and a
held-out part. Inputs are float32, labels int64 class indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import MissingDependencyError, SettingError, UnknownNameError
from .inputs import check_seed
from .settings import Integer, Real, check


@dataclass(frozen=True)
class Dataset:
    """A classification dataset.

    Attributes
    ----------
    name : str
    x : float32 array of shape (n_samples, n_features)
    y : int64 array of shape (n_samples,), class indices 0..n_classes-1
    n_classes : int
    x_test, y_test : arrays or None
        A held-out split, where the dataset has one.
    """

    name: str
    x: Any  # NumPy arrays, or Dask arrays for data in chunks (see dask_data)
    y: Any
    n_classes: int
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x.shape[1]


def five_points() -> tuple[np.ndarray, np.ndarray]:
    """The lab's dataset: the origin (label 1) and its four neighbours (label 0).

    Returns
    -------
    x : float32 array of shape (5, 2)
    y : int64 array of shape (5,)
    """
    x = np.array([[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]], dtype=np.float32)
    y = np.array([1, 0, 0, 0, 0], dtype=np.int64)
    return x, y


def _xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Points in the square [-1, 1]^2; class 1 where the two coordinates differ in sign."""
    x = rng.uniform(-1, 1, size=(n, 2))
    y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    return x + rng.normal(0, noise, x.shape), y


def _moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, centred on the origin."""
    y = np.arange(n) % 2
    t = rng.uniform(0, math.pi, n)
    x = np.where(
        (y == 0)[:, None],
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    ) - [0.5, 0.25]
    return x + rng.normal(0, noise, x.shape), y.astype(np.int64)


def _circles(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A disc of radius 0.5 (class 1) inside a ring of radius 1 (class 0)."""
    y = np.arange(n) % 2
    t = rng.uniform(0, 2 * math.pi, n)
    r = np.where(y == 1, 0.5, 1.0)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return x + rng.normal(0, noise, x.shape), y.astype(np.int64)


def _spirals(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two spiral arms wound one and a half turns around the origin."""
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * math.pi
    r = t / (3 * math.pi)
    x = np.stack([r * np.cos(t + math.pi * y), r * np.sin(t + math.pi * y)], axis=1)
    return x + rng.normal(0, noise, x.shape), y.astype(np.int64)


#: The generated 2-D datasets: name -> (generator, default n_samples, default noise).
GENERATED: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], int, float]] = {
    "xor": (_xor, 200, 0.0),
    "moons": (_moons, 200, 0.1),
    "circles": (_circles, 200, 0.08),
    "spirals": (_spirals, 400, 0.03),
}

#: Every dataset ``load_dataset`` knows, the lab's first.
DATASETS = ("five-points", *GENERATED, "digits")

#: The fraction of the digits held out for testing.
DIGITS_TEST_FRACTION = 0.25
#: The rules of the generated datasets' settings (see :mod:`settings`).
N_SAMPLES = (Integer(low=2),)
NOISE = (Real(low=0),)


def _digits(seed: int) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError(
            "The digits dataset is scikit-learn's: install it with pip install scikit-learn "
            "(or pip install \".[digits]\" in a checkout of backprop-xp)."
        ) from None
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel intensities 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(DIGITS_TEST_FRACTION * len(y))
    test, fit = order[:n_test], order[n_test:]
    return Dataset("digits", x[fit], y[fit], 10, x[test], y[test])


def load_dataset(
    name: str, *, n_samples: int | None = None, noise: float | None = None, seed: int = 0
) -> Dataset:
    """A dataset by name: ``five-points`` (the lab's), ``xor``, ``moons``,
    ``circles``, ``spirals`` or ``digits``.

    Parameters
    ----------
    name : str
    n_samples, noise : optional
        For the generated 2-D datasets only: how many points, and the standard
        deviation of the Gaussian noise added to them.
    seed : int
        Seed of the generator (and of the digits' train/test split).
    """
    if name not in DATASETS:
        raise UnknownNameError(f"Unknown dataset {name!r}. Expected one of: {', '.join(DATASETS)}.")
    check_seed(seed)
    if name not in GENERATED and (n_samples is not None or noise is not None):
        raise SettingError(f"The {name} dataset is fixed: n_samples and noise apply to {', '.join(GENERATED)} only.")
    if name == "five-points":
        return Dataset(name, *five_points(), n_classes=2)
    if name == "digits":
        return _digits(seed)
    generate, default_n, default_noise = GENERATED[name]
    n = default_n if n_samples is None else n_samples
    check("n_samples", n, *N_SAMPLES)
    noise = default_noise if noise is None else noise
    check("noise", noise, *NOISE)
    x, y = generate(np.random.default_rng(seed), int(n), float(noise))
    return Dataset(name, x.astype(np.float32), y, n_classes=2)
