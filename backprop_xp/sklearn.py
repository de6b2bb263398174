"""scikit-learn estimators: ``MLPClassifier`` and ``MLPRegressor`` on every backend.

The estimators translate scikit-learn's parameters into one :func:`~backprop_xp.training.train`
call on a :class:`~backprop_xp.network.NeuralNetwork`, and keep the
:class:`~backprop_xp.training.TrainingState`, so that ``warm_start`` and
``partial_fit`` continue a run exactly. They compute where ``X`` lives
(``backend=None``) or on the backend named; outputs come back in the namespace
of the ``X`` given. Importing this module imports scikit-learn; importing
``backprop_xp`` does not.

scikit-learn's losses are ``mean((y - p)**2) / 2`` (regression) and a sum over
the outputs of the binary cross-entropy (multi-label); the engine's are the
mean without the half, and the mean over the outputs. Both objectives differ by
a constant factor ``c``, which the translation folds into ``alpha``, ``tol``,
the SGD learning rate and Adam's epsilon, so that the steps are scikit-learn's
and ``loss_curve_`` is on scikit-learn's scale.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, is_numpy_array
from array_api_compat import device as device_of
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from .backends import get_backend, library_of, to_host
from .tree import map_leaves
from .errors import InputError, SettingError
from .network import NeuralNetwork
from .optimizers import SGD, Adam, Momentum
from .settings import Boolean, Integer, Options, Real, check
from .training import TrainingState, train

if TYPE_CHECKING:
    from ._types import Array
    from .backends import Backend

__all__ = ["MLPClassifier", "MLPRegressor"]

#: scikit-learn's activation names -> the engine's.
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def backend_of_array(X: Any) -> str | None:
    """The backend name for an array of a library other than NumPy (on its device); None for NumPy and array-likes."""
    if not is_array_api_obj(X) or is_numpy_array(X):
        return None
    library = library_of(X)
    dev = device_of(X)
    if library == "torch":
        return "torch" if dev.type == "cpu" else f"torch:{dev.type}:{dev.index or 0}"
    if library == "cupy":
        return f"cupy:{dev.id}"
    if library == "jax":
        return "jax" if getattr(dev, "platform", "cpu") == "cpu" else "jax:gpu"
    return library  # array_api_strict, dask


def _host(a: Any) -> np.ndarray:
    """Any array (of a library in the backend table, on any of its devices) as a NumPy array."""
    return np.asarray(to_host(a))


def _tree_map(fn: Any, tree: Any) -> Any:
    """``fn`` applied to every leaf of a tree of lists, tuples, NamedTuples (None and numbers kept)."""
    return map_leaves(lambda leaf: leaf if isinstance(leaf, (int, float, np.random.Generator)) else fn(leaf), tree)


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: the translation to :func:`train` and the fitted state."""

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        backend: str | None = None,
        dtype: str | None = None,
        init: str = "glorot_uniform",
        compile: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype
        self.init = init
        self.compile = compile

    # --- settings ----------------------------------------------------------------

    def _check_params(self) -> dict[str, Any]:
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
        hidden = [check("hidden_layer_sizes[i]", h, Integer(low=1)) for h in hidden]
        if self.solver == "lbfgs":
            raise SettingError(
                "solver must be 'adam' or 'sgd' (backprop_xp trains by minibatch steps; L-BFGS is not "
                "implemented); received 'lbfgs'."
            )
        return {
            "hidden": hidden,
            "activation": check("activation", self.activation, Options(tuple(_ACTIVATIONS))),
            "solver": check("solver", self.solver, Options(("adam", "sgd"))),
            "alpha": check("alpha", self.alpha, Real(low=0)),
            "batch_size": check("batch_size", self.batch_size, Integer(low=1), Options(("auto",))),
            "learning_rate": check("learning_rate", self.learning_rate, Options(("constant", "invscaling", "adaptive"))),
            "learning_rate_init": check("learning_rate_init", self.learning_rate_init, Real(low=0, low_open=True)),
            "power_t": check("power_t", self.power_t, Real(low=0)),
            "max_iter": check("max_iter", self.max_iter, Integer(low=1)),
            "shuffle": check("shuffle", self.shuffle, Boolean()),
            "tol": check("tol", self.tol, Real(low=0)),
            "verbose": check("verbose", self.verbose, Boolean(), Integer(low=0)),
            "warm_start": check("warm_start", self.warm_start, Boolean()),
            "momentum": check("momentum", self.momentum, Real(low=0, high=1)),
            "nesterovs_momentum": check("nesterovs_momentum", self.nesterovs_momentum, Boolean()),
            "early_stopping": check("early_stopping", self.early_stopping, Boolean()),
            "validation_fraction": check(
                "validation_fraction", self.validation_fraction, Real(low=0, high=1, high_open=True)
            ),
            "beta_1": check("beta_1", self.beta_1, Real(low=0, high=1, high_open=True)),
            "beta_2": check("beta_2", self.beta_2, Real(low=0, high=1, high_open=True)),
            "epsilon": check("epsilon", self.epsilon, Real(low=0, low_open=True)),
            "n_iter_no_change": check("n_iter_no_change", self.n_iter_no_change, Integer(low=1)),
            "dtype": check("dtype", self.dtype, Options(("float32", "float64")), None),
            "compile": check("compile", self.compile, Boolean()),
        }

    # --- what subclasses define ------------------------------------------------

    def _targets(self, y: Any, first: bool, classes: Any = None) -> tuple[np.ndarray, str, str]:
        """Encoded targets (host NumPy), the output activation and the loss."""
        raise NotImplementedError

    def _score_fn(self) -> Any:
        raise NotImplementedError

    # --- fitting -----------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> _BaseMLP:
        """Fit the network to ``X`` (n_samples, n_features) and ``y``; with ``warm_start``, continue the last fit."""
        return self._fit(X, y, partial=False)

    def _input(self, X: Any, y: Any, reset: bool) -> tuple[Any, Any, str | None]:
        """``X`` and ``y`` validated; ``X`` kept on its library and device if it is not NumPy."""
        foreign = backend_of_array(X)
        if foreign is None:
            X, y = validate_data(
                self, X, y, reset=reset, dtype=[np.float64, np.float32], multi_output=True, y_numeric=False
            )
            return X, y, None
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D array; received an array of shape {tuple(X.shape)}.")
        if X.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
        if reset:
            self.n_features_in_ = int(X.shape[1])
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features "
                "as input."
            )
        y = _host(y) if is_array_api_obj(y) and not is_numpy_array(y) else np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y have different numbers of samples: {X.shape[0]} and {y.shape[0]}.")
        return X, y, foreign

    def _fit(self, X: Any, y: Any, *, partial: bool, classes: Any = None) -> _BaseMLP:
        p = self._check_params()
        started = hasattr(self, "_state")
        first = not started or not (p["warm_start"] or partial)
        X, y, foreign = self._input(X, y, reset=first)
        if first:
            self._remember_input(X)
        Y, out_activation, loss = self._targets(y, first, classes)
        n_samples, n_outputs = Y.shape
        if first:
            backend = get_backend(self.backend if self.backend is not None else foreign)
            dtype = p["dtype"] or ("float32" if str(getattr(X, "dtype", "")).endswith("float32") else "float64")
            rng = check_random_state(self.random_state)
            init_seed, self._shuffle_seed = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))
            self._net = NeuralNetwork(
                self.n_features_in_, n_outputs, p["hidden"], hidden_activation=_ACTIVATIONS[p["activation"]],
                output_activation=out_activation, loss=loss, init=self.init, dtype=dtype, seed=init_seed,
                backend=backend.name,
            )
            self._state = TrainingState()
            self.out_activation_ = "logistic" if out_activation == "sigmoid" else out_activation
            self.n_outputs_ = n_outputs
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs, but this estimator was fitted with {self.n_outputs_}.")
        net = self._net
        X = self._to_backend(X, net.backend)
        scale = self._loss_scale(n_outputs)
        batch = min(200, n_samples) if p["batch_size"] == "auto" else p["batch_size"]
        if p["batch_size"] != "auto" and not 1 <= p["batch_size"] <= n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
            batch = min(batch, n_samples)
        if p["solver"] == "adam":
            optimizer, lr, schedule = Adam(p["beta_1"], p["beta_2"], p["epsilon"] * scale), p["learning_rate_init"], "constant"
        else:
            optimizer = (Momentum(p["momentum"], nesterov=p["nesterovs_momentum"]) if p["momentum"] > 0 else SGD())
            lr, schedule = p["learning_rate_init"] / scale, p["learning_rate"]
        validation = score = None
        if p["early_stopping"] and not partial:
            X, Y, validation = self._split(X, Y, y, p["validation_fraction"], net.backend)
            score = self._score_fn()
        epochs = 1 if partial else p["max_iter"]
        callback = self._printer(p, scale) if p["verbose"] else None
        train(
            X, Y, net, epochs, lr, optimizer=optimizer, batch_size=batch, seed=self._shuffle_seed,
            tol=None if partial else p["tol"] * scale, patience=p["n_iter_no_change"] + 1, callback=callback,
            compile=p["compile"], alpha=p["alpha"] * scale, schedule=schedule, power_t=p["power_t"],
            validation=validation, validation_score=score, state=self._state, shuffle=p["shuffle"],
        )
        self._fitted_attributes(scale, early=validation is not None)
        if not partial and not self._state.stopped:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) reached and the optimization hasn't "
                "converged yet.", ConvergenceWarning, stacklevel=3,
            )
        return self

    def _loss_scale(self, n_outputs: int) -> float:
        """``c``: the engine's objective over scikit-learn's (see the module's docstring)."""
        raise NotImplementedError

    def _split(self, X: Array, Y: np.ndarray, y: np.ndarray, fraction: float, backend: Backend):
        stratify = y if isinstance(self, ClassifierMixin) and type_of_target(y) in ("binary", "multiclass") else None
        fit_rows, val_rows = train_test_split(
            np.arange(X.shape[0]), test_size=fraction, random_state=check_random_state(self.random_state),
            stratify=stratify,
        )
        xp = backend.xp
        def take(rows: Any) -> Any:
            return xp.take(X, backend.from_numpy(rows), axis=0)

        return take(fit_rows), Y[fit_rows], (take(val_rows), Y[val_rows])

    def _printer(self, p: dict[str, Any], scale: float) -> Any:
        def report(epoch: int, loss: Any) -> None:
            print(f"Iteration {epoch}, loss = {float(loss) / scale:.8f}")
            if self._state.validation_scores:
                print(f"Validation score: {self._state.validation_scores[-1]:f}")

        return report

    def _fitted_attributes(self, scale: float, early: bool) -> None:
        state, net = self._state, self._net
        self.coefs_ = [W for W, _ in net.params]
        self.intercepts_ = [b for _, b in net.params]
        self.n_iter_ = state.epoch
        self.t_ = state.t
        self.loss_curve_ = [v / scale for v in state.losses]
        self.loss_ = self.loss_curve_[-1]
        # As scikit-learn's: the validation record with early stopping, else the best training loss.
        self.validation_scores_: list[float] | None = list(state.validation_scores) if early else None
        self.best_validation_score_: float | None = state.best_score if early else None
        self.best_loss_: float | None = None if early else min(self.loss_curve_)

    # --- predicting --------------------------------------------------------------

    def _to_backend(self, X: Any, backend: Backend) -> Any:
        """``X`` as the network takes it: arrays of another library or device go through the host."""
        if backend_of_array(X) is not None and (array_namespace(X) is not backend.xp or device_of(X) != backend.device):
            return _host(X)
        return X

    def _remember_input(self, X: Any) -> None:
        # An empty array of fit's namespace and device, which check_same_namespace compares predict's X with.
        if backend_of_array(X) is None:
            self._fit_input = np.zeros(0, dtype=X.dtype)
        else:
            self._fit_input = array_namespace(X).zeros((0,), dtype=X.dtype, device=device_of(X))

    def _outputs(self, X: Any, method: str) -> tuple[Array, Any]:
        """The output layer's activations for ``X``, on the network's backend, and ``X``'s namespace and device."""
        check_is_fitted(self, "coefs_")
        check_same_namespace(X, self, attribute="_fit_input", method=method)
        foreign = backend_of_array(X)
        if foreign is None:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
            where = None
        else:
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has shape {tuple(X.shape)}, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            where = (array_namespace(X), device_of(X))
        net = self._net
        return net.outputs(net.features(self._to_backend(X, net.backend))), where

    def _like_input(self, A: Array, where: Any) -> Any:
        """``A`` (of the network's backend) as an array of the input's namespace and device (NumPy for array-likes)."""
        backend = self._net.backend
        if where is None:
            return np.asarray(backend.to_numpy(A)) if backend.library != "numpy" else A
        xp, dev = where
        if xp is backend.xp and dev == backend.device:
            return A
        return xp.asarray(backend.to_numpy(A), device=dev)

    def _on_host(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """``y`` and the predictions for ``X``, on the host, for scikit-learn's metrics."""
        predicted = self.predict(X)
        host = _host(predicted) if is_array_api_obj(predicted) else np.asarray(predicted)
        return (_host(y) if is_array_api_obj(y) and not is_numpy_array(y) else y), host

    # --- pickling ----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "_fit_input" in state:
            state["_fit_input"] = np.zeros(0, dtype=_host(state["_fit_input"]).dtype)  # reloaded on the host
        net = state.pop("_net", None)
        if net is None:
            return state

        def host(a: Any) -> Any:
            return np.array(_host(a)) if is_array_api_obj(a) else a

        arch = net.architecture
        state["_net_saved"] = {
            "backend": net.backend.name, "dtype": net.dtype, "params": net.host_params(),
            "hidden_activation": arch.activations[0] if len(arch.activations) > 1 else "tanh",
            "output_activation": arch.activations[-1], "loss": arch.loss,
        }
        train_state = TrainingState(**{k: v for k, v in vars(self._state).items()})
        train_state.params = _tree_map(host, train_state.params)
        train_state.optimizer_state = _tree_map(host, train_state.optimizer_state)
        train_state.best_params = _tree_map(host, train_state.best_params)
        state["_state"] = train_state
        state["coefs_"] = [W for W, _ in state["_net_saved"]["params"]]
        state["intercepts_"] = [b for _, b in state["_net_saved"]["params"]]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_net_saved", None)
        self.__dict__.update(state)
        if saved is None:
            return
        try:  # back where it was fitted if that is here; else NumPy
            backend = get_backend(saved["backend"])
        except InputError:  # not installed here, or no GPU
            backend = get_backend("numpy")
        params = saved["params"]
        sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
        net = NeuralNetwork(
            sizes[0], sizes[-1], sizes[1:-1], hidden_activation=saved["hidden_activation"],
            output_activation=saved["output_activation"], loss=saved["loss"], dtype=saved["dtype"],
            backend=backend.name,
        )
        net.params = params
        self._net = net
        def move(a: Any) -> Any:
            return backend.from_numpy(a) if isinstance(a, np.ndarray) else a

        self._state.params = net.params
        self._state.optimizer_state = _tree_map(move, self._state.optimizer_state)
        self._state.best_params = _tree_map(move, self._state.best_params)
        self.coefs_ = [W for W, _ in net.params]
        self.intercepts_ = [b for _, b in net.params]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier, scikit-learn's API, on any backprop_xp backend.

    Parameters are scikit-learn's ``MLPClassifier``'s (``solver="lbfgs"`` is
    not implemented), plus ``backend`` (None: where ``X`` lives, else
    ``BACKPROP_XP_BACKEND``, else NumPy), ``dtype`` (None: ``X``'s float
    dtype, float64 for others), ``init`` (the weight initialiser; biases start
    at zero) and ``compile`` (``train(compile=True)``). Binary and multi-label
    targets get sigmoid outputs and binary cross-entropy, multi-class ones a
    softmax and categorical cross-entropy. With ``warm_start=True``, ``fit``
    continues the last run exactly (weights, optimiser state, shuffling).

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, n_outputs_, n_iter_, t_, loss_,
    loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    coefs_, intercepts_, out_activation_ : as scikit-learn's
        ``coefs_`` and ``intercepts_`` are arrays of the backend that trained them.
    """

    def _targets(self, y: Any, first: bool, classes: Any = None) -> tuple[np.ndarray, str, str]:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if first:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.asarray(unique_labels(classes)), self.classes_):
            raise ValueError(f"`classes={list(classes)}` is not the same as on the first call to partial_fit, "
                             f"{list(self.classes_)}.")
        elif not set(np.unique(y) if y.ndim == 1 else []).issubset(set(self.classes_)):
            raise ValueError(f"y holds labels not in classes_ {list(self.classes_)}.")
        Y = self._label_binarizer.transform(y).astype(np.float64)
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return Y, "softmax", "categorical_crossentropy"
        return Y, "sigmoid", "binary_crossentropy"

    def _loss_scale(self, n_outputs: int) -> float:
        # binary cross-entropy: the engine's mean over the outputs, scikit-learn's sum
        return 1.0 if self.out_activation_ == "softmax" else 1.0 / n_outputs

    def _score_fn(self) -> Any:
        def accuracy(net: NeuralNetwork, X: Array, Y: Array) -> float:
            xp = net.backend.xp
            A = net.outputs(X)
            if A.shape[1] > 1 and self.out_activation_ == "softmax":
                hits = xp.argmax(A, axis=1) == xp.argmax(Y, axis=1)
            else:
                hits = xp.all((A > 0.5) == (Y > 0.5), axis=1)
            return float(net.backend.evaluate(xp.mean(xp.astype(hits, A.dtype)))[0])

        return accuracy

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``X, y``, continuing the run; ``classes`` (all labels) is needed on the first call."""
        if not hasattr(self, "_state") and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, partial=True, classes=classes)

    def _proba(self, X: Any, method: str) -> tuple[Array, Any]:
        A, where = self._outputs(X, method)
        if A.shape[1] == 1 and self._label_binarizer.y_type_ == "binary":
            A = self._net.backend.xp.concat([1 - A, A], axis=1)
        return A, where

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, shape (n_samples, n_classes), in ``X``'s namespace."""
        return self._like_input(*self._proba(X, "predict_proba"))

    def predict_log_proba(self, X: Any) -> Any:
        """The logarithm of :meth:`predict_proba`."""
        A, where = self._proba(X, "predict_log_proba")
        return self._like_input(self._net.backend.xp.log(A), where)

    def predict(self, X: Any) -> Any:
        """Class labels (or a label-indicator matrix, multi-label), in ``X``'s namespace where the labels are numbers."""
        A, where = self._outputs(X, "predict")
        backend, xp = self._net.backend, self._net.backend.xp
        kind = self._label_binarizer.y_type_
        if kind == "multilabel-indicator":
            return self._like_input(xp.astype(A > 0.5, xp.int64), where)
        index = xp.argmax(A, axis=1) if kind == "multiclass" else xp.astype(A[:, 0] > 0.5, xp.int64)
        if len(self.classes_) == 1:
            index = xp.zeros_like(index)
        if self.classes_.dtype.kind not in "biuf":  # strings and objects stay NumPy
            return self.classes_[np.asarray(backend.to_numpy(index))]
        labels = xp.take(backend.from_numpy(self.classes_), index, axis=0)
        return self._like_input(labels, where)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (subset accuracy, multi-label), a Python float."""
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(*self._on_host(X, y), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor, scikit-learn's API, on any backprop_xp backend.

    Parameters as :class:`MLPClassifier`'s; identity outputs and the squared
    error, one output per column of ``y``.
    """

    def _targets(self, y: Any, first: bool, classes: Any = None) -> tuple[np.ndarray, str, str]:
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if first:
            self._y_1d = y.ndim == 1
        return (y[:, None] if y.ndim == 1 else y), "identity", "mse"

    def _loss_scale(self, n_outputs: int) -> float:
        return 2.0  # the engine's mean of squares against scikit-learn's half of it

    def _score_fn(self) -> Any:
        def r2(net: NeuralNetwork, X: Array, Y: Array) -> float:
            xp = net.backend.xp
            A = net.outputs(X)
            residual = xp.sum((Y - A) ** 2, axis=0)
            total = xp.sum((Y - xp.mean(Y, axis=0)) ** 2, axis=0)
            return float(net.backend.evaluate(xp.mean(1 - residual / total))[0])

        return r2

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over ``X, y``, continuing the run."""
        return self._fit(X, y, partial=True)

    def predict(self, X: Any) -> Any:
        """Predictions, shape (n_samples,) for one output, else (n_samples, n_outputs), in ``X``'s namespace."""
        A, where = self._outputs(X, "predict")
        if self._y_1d:
            A = self._net.backend.xp.reshape(A, (A.shape[0],))
        return self._like_input(A, where)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 (uniform average over the outputs), a Python float."""
        from sklearn.metrics import r2_score

        return float(r2_score(*self._on_host(X, y), sample_weight=sample_weight))

