"""The shape of a network: layer sizes, one activation per layer, a loss.

An :class:`Architecture` is checked once, when it is made, so that the engine
can trust it. It is a frozen, hashable value: a backend that compiles a step
(``jax.jit``) can take it as a static argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .errors import InputTypeError, SettingError, UnknownNameError
from .losses import COMPATIBLE_OUTPUTS, LOSSES
from .settings import Integer, check

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Architecture:
    """Layer sizes ``(n_features, *hidden_sizes, n_outputs)``, the activation of
    each layer (hidden ones first, the output's last) and the loss's name."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str

    @classmethod
    def build(
        cls,
        input_size: int,
        output_size: int,
        hidden_sizes: Iterable[int],
        hidden_activation: str = "tanh",
        output_activation: str = "sigmoid",
        loss: str = "mse",
    ) -> Architecture:
        """Check every argument and return the architecture they describe."""
        _check_size("input_size", input_size)
        _check_size("output_size", output_size)
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Iterable):
            raise InputTypeError(
                "hidden_sizes must be a list of positive integers, e.g. [5, 3]; "
                f"received {type(hidden_sizes).__name__} {hidden_sizes!r}."
            )
        hidden_sizes = list(hidden_sizes)
        for i, size in enumerate(hidden_sizes):
            _check_size(f"hidden_sizes[{i}]", size)
        _check_name("hidden activation", hidden_activation, HIDDEN_ACTIVATIONS)
        _check_name("output activation", output_activation, OUTPUT_ACTIVATIONS)
        _check_name("loss", loss, tuple(LOSSES))
        if output_activation not in COMPATIBLE_OUTPUTS[loss]:
            raise SettingError(
                f"Loss {loss!r} needs an output activation among "
                f"{', '.join(COMPATIBLE_OUTPUTS[loss])}; received {output_activation!r}. "
                f"Pass output_activation={COMPATIBLE_OUTPUTS[loss][0]!r}, or a loss that fits {output_activation!r}."
            )
        if output_activation == "softmax" and output_size < 2:
            raise SettingError(
                "A softmax output needs output_size >= 2 (a single softmax unit is always 1); "
                f"received output_size={output_size}. Use a sigmoid output for one unit."
            )
        sizes = (int(input_size), *(int(s) for s in hidden_sizes), int(output_size))
        activations = (hidden_activation,) * len(hidden_sizes) + (output_activation,)
        return cls(sizes, activations, loss)

    @property
    def depth(self) -> int:
        """The number of layers with weights (hidden layers plus the output layer)."""
        return len(self.activations)


def check_dtype(dtype: object) -> str:
    """Return ``dtype`` if it names a supported float dtype, else raise."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise UnknownNameError(f"Unknown dtype {dtype!r}. Expected one of: {', '.join(DTYPES)}.")
    return dtype  # type: ignore[return-value]


#: The rule of every layer size (see :mod:`settings`).
SIZE = (Integer(low=1),)


def _check_size(name: str, value: object) -> None:
    check(name, value, *SIZE)


def _check_name(what: str, name: object, allowed: tuple[str, ...]) -> None:
    if name in allowed:
        return
    expected = f"Expected one of: {', '.join(allowed)}."
    if name in ACTIVATIONS:  # a known activation in the wrong place (softmax in a hidden layer)
        raise SettingError(f"The {what} cannot be {name!r}. {expected}")
    raise UnknownNameError(f"Unknown {what} {name!r}. {expected}")
