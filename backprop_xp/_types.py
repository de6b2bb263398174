"""Type aliases shared by the package; no array library is imported."""

from __future__ import annotations

from typing import Any, List, Tuple

#: An array of any backend that follows the Array API standard.
Array = Any
#: An Array API namespace (``array_api_compat.numpy``, ``jax.numpy``, ...).
Namespace = Any
#: A device object of some backend (``"cpu"``, ``torch.device("cuda", 0)``, ...).
Device = Any
#: The parameters of a network: one ``(W, b)`` pair per layer, ``W`` of shape
#: ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)``. Gradients share the structure.
Params = List[Tuple[Array, Array]]
