"""Settings declared, not hand-checked: one rule per kind of setting, one function that applies them.

A setting is checked by naming what it may be::

    batch_size = check("batch_size", value, Integer(low=1), None)
    lr = check("learning_rate", value, Real(low=0, low_open=True))

``check`` returns the value normalised (a Python ``int``, ``float`` or
``bool``), or raises :class:`~backprop_xp.errors.SettingError` (a
``ValueError``) saying what was expected and what was received. ``None`` among
the rules means that ``None`` is allowed. Booleans are never integers or
numbers here, and NaN is never in a range.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from .errors import SettingError


@dataclass(frozen=True)
class Integer:
    """An integer (not a bool) in ``[low, high]``; either bound may be None."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return False
        number = int(value)
        return (self.low is None or number >= self.low) and (self.high is None or number <= self.high)

    def normalise(self, value: Any) -> int:
        return int(value)

    def describe(self) -> str:
        if self.high is None and self.low is not None:
            return f"an integer of at least {self.low}"
        if self.low is None and self.high is not None:
            return f"an integer of at most {self.high}"
        return "an integer" + _range(self.low, self.high, False, False)

    def bad_values(self) -> list[Any]:
        """Values this rule refuses, for the table test of every setting."""
        bad: list[Any] = [True, 1.5, "1", float("nan")]
        if self.low is not None:
            bad.append(self.low - 1)
        if self.high is not None:
            bad.append(self.high + 1)
        return bad


@dataclass(frozen=True)
class Real:
    """A finite real number (not a bool) between ``low`` and ``high``, each bound closed unless said open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def normalise(self, value: Any) -> float:
        return float(value)

    def describe(self) -> str:
        if self.low == 0 and self.high is None:
            return "a positive, finite number" if self.low_open else "a finite number >= 0"
        return "a finite number" + _range(self.low, self.high, self.low_open, self.high_open)

    def bad_values(self) -> list[Any]:
        bad: list[Any] = [True, "1", float("nan"), float("inf"), -float("inf")]
        if self.low is not None:
            bad.append(self.low if self.low_open else self.low - 1)
        if self.high is not None:
            bad.append(self.high if self.high_open else self.high + 1)
        return bad


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    names: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.names

    def normalise(self, value: Any) -> str:
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(repr(n) for n in self.names)

    def bad_values(self) -> list[Any]:
        return [1, "", "not-" + self.names[0], self.names[0].upper() + "?"]


@dataclass(frozen=True)
class Boolean:
    """True or False (a NumPy bool too)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or type(value).__name__ == "bool_"

    def normalise(self, value: Any) -> bool:
        return bool(value)

    def describe(self) -> str:
        return "True or False"

    def bad_values(self) -> list[Any]:
        return [1, 0, "yes", None]


@dataclass(frozen=True)
class Callable_:
    """Anything callable."""

    def accepts(self, value: Any) -> bool:
        return callable(value)

    def normalise(self, value: Any) -> Any:
        return value

    def describe(self) -> str:
        return "a callable"

    def bad_values(self) -> list[Any]:
        return [42, "print"]


def _range(low: Any, high: Any, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check(name: str, value: Any, *rules: Any, none: str = "") -> Any:
    """Return ``value`` normalised by the first rule that accepts it; raise SettingError if none does.

    ``None`` among ``rules`` accepts ``None``; ``none`` says what it means
    there, for the message (``"for full batches"``).
    """
    for rule in rules:
        if rule is None:
            if value is None:
                return None
        elif rule.accepts(value):
            return rule.normalise(value)
    raise SettingError(f"{name} must be {describe(*rules, none=none)}; received {value!r}.")


def describe(*rules: Any, none: str = "") -> str:
    """What ``rules`` accept, in words: the "expected" of :func:`check`'s message."""
    expected = [(f"None {none}".rstrip() if rule is None else rule.describe()) for rule in rules]
    if len(expected) == 1:
        return expected[0]
    return ", ".join(expected[:-1]) + ("," if none else "") + " or " + expected[-1]
