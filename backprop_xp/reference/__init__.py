"""The lab's two other derivations of backpropagation, as small reference
implementations: one sample at a time with NumPy vectors (exercise 1.2,
:mod:`.per_sample`) and one unit at a time with Python floats (exercise 1.1,
:mod:`.per_element`).

They are part of the lesson and written to be read, not to be fast. The tests
prove that the batched engine (:mod:`backprop_xp.equations`) gives the same
gradients: the batch's gradient is the sum of the samples' gradients.
Unlike the engine, they take each derivative at the pre-activation ``z``, as
the lab's equations are written, and share no code with the engine.
"""

from .per_element import gradients as per_element_gradients
from .per_sample import gradients as per_sample_gradients
from .per_sample import sample_gradients

__all__ = ["per_element_gradients", "per_sample_gradients", "sample_gradients"]
