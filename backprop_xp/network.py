"""The lab's network: ``NeuralNetwork`` with ``forward``, ``get_loss``,
``backward`` and ``apply_gradients`` (``train`` is in :mod:`training`).

A thin stateful shell around the functional engine in :mod:`equations`: it
holds the parameters and the last gradients, turns user input into arrays of
its backend (:mod:`inputs`), and checks everything before it changes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from . import equations
from .architecture import Architecture, check_dtype
from .backends import at_full_precision, get_backend
from .errors import LabelError, NonFiniteError, ShapeError, StateError
from .initializers import initial_params
from .inputs import check_learning_rate, to_backend

if TYPE_CHECKING:
    from ._types import Array, Params


class NeuralNetwork:
    """A fully connected network trained by backpropagation.

    Parameters
    ----------
    input_size, output_size : int
        Number of input features and of output units.
    hidden_sizes : list of int
        Width of each hidden layer, first to last; ``[]`` for none.
    hidden_activation : {"tanh", "sigmoid", "relu", "identity"}
    output_activation : {"sigmoid", "softmax", "tanh", "relu", "identity"}
    loss : {"mse", "binary_crossentropy", "categorical_crossentropy"}
    init : str
        Weight initialiser: ``"glorot_uniform"`` (the lab's), ``"glorot_normal"``,
        ``"he_uniform"``, ``"he_normal"``, ``"lecun_normal"``, ``"normal"`` or
        ``"normal:STD"``, ``"zeros"``. Biases start at zero.
    dtype : {"float32", "float64"}
    seed : int, optional
        Seed of the initial weights, which are then the same on every backend.
    backend : str, optional
        ``"numpy"``, ``"torch"``, ``"torch:cuda"``, ``"cupy"``, ``"jax"``, ...;
        by default the ``BACKPROP_XP_BACKEND`` environment variable, else NumPy.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_sizes: Iterable[int],
        *,
        hidden_activation: str = "tanh",
        output_activation: str = "sigmoid",
        loss: str = "mse",
        init: str = "glorot_uniform",
        dtype: str = "float32",
        seed: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.architecture = Architecture.build(
            input_size, output_size, hidden_sizes, hidden_activation, output_activation, loss
        )
        self.dtype = check_dtype(dtype)
        host_params = initial_params(self.architecture.sizes, init, seed, self.dtype)
        self.backend = get_backend(backend)
        (self._params,) = self.backend.evaluate(
            [(self.backend.from_numpy(W), self.backend.from_numpy(b)) for W, b in host_params]
        )
        self._grads: Params | None = None

    # --- shape -------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return self.architecture.sizes[0]

    @property
    def output_size(self) -> int:
        return self.architecture.sizes[-1]

    @property
    def hidden_sizes(self) -> list[int]:
        return list(self.architecture.sizes[1:-1])

    def __repr__(self) -> str:
        arch = self.architecture
        return (
            f"NeuralNetwork({'-'.join(map(str, arch.sizes))}, "
            f"activations={'/'.join(arch.activations)}, loss={arch.loss!r}, "
            f"dtype={self.dtype!r}, backend={self.backend.name!r})"
        )

    # --- parameters --------------------------------------------------------

    @property
    def params(self) -> Params:
        """The ``(W, b)`` pairs, ``W`` of shape (n_in, n_out), in layer order.

        The arrays are the network's own: changing one in place changes the
        network. Assigning replaces all of them at once with copies (of arrays
        of this backend or NumPy arrays, cast to the network's dtype) and
        forgets stored gradients.
        """
        return list(self._params)

    @params.setter
    def params(self, new: Sequence[tuple[Any, Any]]) -> None:
        sizes = self.architecture.sizes
        if not isinstance(new, Sequence) or len(new) != len(sizes) - 1:
            raise ShapeError(
                f"params must be a list of {len(sizes) - 1} (W, b) pairs; received "
                f"{len(new) if isinstance(new, Sequence) else type(new).__name__}."
            )
        params = []
        for layer, (pair, n_in, n_out) in enumerate(zip(new, sizes[:-1], sizes[1:])):
            if not (isinstance(pair, Sequence) and len(pair) == 2):
                raise ShapeError(f"params[{layer}] must be a (W, b) pair; received {pair!r}.")
            params.append((
                self._parameter(pair[0], f"params[{layer}][0] (W)", (n_in, n_out)),
                self._parameter(pair[1], f"params[{layer}][1] (b)", (n_out,)),
            ))
        self._params, self._grads = params, None

    def host_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``(W, b)`` pairs as NumPy arrays on the host, copied."""
        return [(np.array(self.backend.to_numpy(W)), np.array(self.backend.to_numpy(b))) for W, b in self._params]

    @property
    def grads(self) -> Params | None:
        """The ``(dW, db)`` pairs of the last :meth:`backward`, or None."""
        return None if self._grads is None else list(self._grads)

    # --- the lab's methods -------------------------------------------------

    @at_full_precision(lambda self, *args, **kwargs: self.backend)
    def forward(self, x: Any) -> Array:
        """The network's output for a batch.

        Parameters
        ----------
        x : array of shape (n_samples, input_size)

        Returns
        -------
        array of shape (n_samples, output_size), or (n_samples,) when output_size is 1.
        """
        X = self._features(x)
        self._check_values(X)
        A_L = equations.forward(self._params, X, self.architecture, xp=self.backend.xp)[-1]
        return self._squeeze(A_L)

    @at_full_precision(lambda self, *args, **kwargs: self.backend)
    def get_loss(self, x: Any, y: Any) -> Array:
        """The loss on a batch, as a 0-d array of the network's backend."""
        X, Y = self.as_arrays(x, y)
        xp = self.backend.xp
        activations, Z_L = equations.forward_with_logits(self._params, X, self.architecture, xp=xp)
        return equations.output_loss(Z_L, activations[-1], Y, self.architecture, xp)

    @at_full_precision(lambda self, *args, **kwargs: self.backend)
    def backward(self, x: Any, y: Any) -> Params:
        """Run the forward pass, then backpropagate; store and return the gradients.

        Returns
        -------
        list of (dW, db)
            In layer order, each the shape of its ``(W, b)``.
        """
        _, grads = self._backpropagate(*self.as_arrays(x, y))
        return list(grads)

    def apply_gradients(self, learning_rate: float) -> None:
        """Take one gradient-descent step with the gradients of the last :meth:`backward`."""
        learning_rate = check_learning_rate(learning_rate)
        if self._grads is None:
            raise StateError("No gradients to apply: call backward(x, y) before apply_gradients().")
        self._descend(self._grads, learning_rate)

    def as_arrays(self, x: Any, y: Any) -> tuple[Array, Array]:
        """Check a batch and return it as the functional core takes it.

        Returns
        -------
        X : array of shape (n_samples, input_size)
        Y : array of shape (n_samples, output_size)
            Both of the network's backend, device and dtype; labels of shape
            (n_samples,) reshaped, class labels one-hot encoded.
        """
        X = self._features(x)
        n, k = X.shape[0], self.output_size
        xp = self.backend.xp
        class_labels = self.architecture.loss == "categorical_crossentropy"
        Y = to_backend(y, self.backend, name="y", dtype=self.dtype, keep_integers=class_labels)
        if Y.shape == (n,) and k == 1:
            Y = xp.reshape(Y, (n, 1))
        if not xp.isdtype(Y.dtype, "real floating"):  # integer or boolean, kept for class labels
            Y = self._one_hot(Y) if Y.shape == (n,) else xp.astype(Y, getattr(xp, self.dtype))
        if tuple(Y.shape) != (n, k):
            expected = f"({n}, {k})" + (f" or ({n},)" if k == 1 else "")
            if class_labels:
                expected += f" or integer class labels of shape ({n},)"
            raise ShapeError(f"y must have shape {expected} to match x; received shape {tuple(Y.shape)}.")
        self._check_values(X, Y)
        return X, Y

    # --- on checked arrays (train calls these once per epoch) ------------

    def _backpropagate(self, X: Array, Y: Array) -> tuple[Array, Params]:
        """The loss on a batch and its gradients, from one forward pass; the gradients are stored."""
        loss, grads = equations.loss_and_gradients(self._params, X, Y, self.architecture, xp=self.backend.xp)
        # One graph for both on a lazy backend (dask), so the forward pass runs once.
        loss, self._grads = self.backend.evaluate(loss, grads)
        return loss, self._grads

    def set_trained(self, params: Params, grads: Params | None = None) -> None:
        """Hold ``params`` (and ``grads``) as they are: arrays of this network's
        backend that training computed, so neither copied nor checked.

        The training loop's way to hand its results back; users assign
        :attr:`params`, which checks and copies.
        """
        self._params, self._grads = list(params), (None if grads is None else list(grads))

    def outputs(self, X: Array) -> Array:
        """The output layer's activations ``A_L`` for checked features ``X``, of shape (n_samples, output_size)."""
        return equations.forward(self._params, X, self.architecture, xp=self.backend.xp)[-1]

    def features(self, x: Any) -> Array:
        """``x`` checked and converted as :meth:`forward` takes it: shape (n_samples, input_size)."""
        X = self._features(x)
        self._check_values(X)
        return X

    def _descend(self, grads: Params, learning_rate: float) -> None:
        self._params = equations.sgd_update(self._params, grads, learning_rate)

    # --- conversions and checks -------------------------------------------

    def _squeeze(self, A_L: Array) -> Array:
        if self.output_size == 1:
            return self.backend.xp.reshape(A_L, (A_L.shape[0],))
        return A_L

    def _parameter(self, value: Any, name: str, shape: tuple[int, ...]) -> Array:
        (array,) = self.backend.evaluate(to_backend(value, self.backend, name=name, dtype=self.dtype, copy=True))
        if tuple(array.shape) != shape:
            raise ShapeError(f"{name} must have shape {shape}; received shape {tuple(array.shape)}.")
        self._check_values(array, name=name)
        return array

    def _features(self, x: Any) -> Array:
        X = to_backend(x, self.backend, name="x", dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.input_size or X.shape[0] == 0:
            raise ShapeError(
                f"x must have shape (n_samples, {self.input_size}) with n_samples >= 1; "
                f"received shape {tuple(X.shape)}."
            )
        return X

    def _check_values(self, X: Array, Y: Array | None = None, *, name: str = "x") -> None:
        """Refuse NaN or infinite values in ``X`` and ``Y``, and cross-entropy targets outside [0, 1].

        First one reduction per array, computed together (on dask, one pass
        over the chunks): a sum is finite only if every element is, and costs
        far less than an elementwise test and its boolean array. Only where a
        sum is not finite (NaN or inf inside, or finite values whose sum
        overflows) does the elementwise test decide.
        """
        xp, evaluate = self.backend.xp, self.backend.evaluate
        cross_entropy = self.architecture.loss != "mse"
        tests = [xp.isfinite(xp.sum(X))]
        if Y is not None:  # for the cross-entropies, in [0, 1] (False for NaN too); else finite
            tests.append((xp.min(Y) >= 0) & (xp.max(Y) <= 1) if cross_entropy else xp.isfinite(xp.sum(Y)))
        passed = [bool(t) for t in evaluate(*tests)]
        if not passed[0]:
            passed[0] = bool(evaluate(xp.all(xp.isfinite(X)))[0])
        if not passed[0]:
            raise NonFiniteError(
                f"{name} holds NaN or infinite values; expected finite numbers. Remove or replace them first."
            )
        if Y is None or passed[1]:
            return
        finite = bool(evaluate(xp.all(xp.isfinite(Y)))[0])
        if finite and not cross_entropy:
            return  # finite values whose sum overflowed
        if not finite:
            raise NonFiniteError("y holds NaN or infinite values; expected finite numbers. Remove or replace them first.")
        low, high = (float(v) for v in evaluate(xp.min(Y), xp.max(Y)))
        raise LabelError(
            f"{self.architecture.loss} needs targets in [0, 1] (probabilities or 0/1 labels); "
            f"received values from {low:g} to {high:g}."
        )

    def _one_hot(self, labels: Array) -> Array:
        xp, k = self.backend.xp, self.output_size
        # As floats: one path for bool and every integer type (torch cannot
        # reduce unsigned ones), exact for any valid label.
        labels = xp.astype(labels, getattr(xp, self.dtype))
        low, high = map(int, self.backend.evaluate(xp.min(labels), xp.max(labels)))  # one pass on dask
        if low < 0 or high >= k:
            raise LabelError(
                f"Class labels must lie in 0..{k - 1} for {k} outputs; received labels from {low} to {high}."
            )
        classes = xp.arange(k, dtype=labels.dtype, device=self.backend.device)
        return xp.astype(labels[:, None] == classes, labels.dtype)
