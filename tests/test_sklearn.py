"""The scikit-learn estimators: scikit-learn's own checks, its Array API checks, and behaviour.

scikit-learn's estimator checks and the dataset comparisons run in the numpy
session only (they test the estimator, not a backend); the Array API checks
and the parity test run once per backend of the session.
"""

from __future__ import annotations

import os

# scikit-learn runs its Array API checks only with SciPy's Array API support switched on.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from conftest import TEST_ENV
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_array_api_input,
    check_array_api_same_namespace,
    parametrize_with_checks,
)

from backprop_xp.errors import SettingError
from backprop_xp.sklearn import MLPClassifier, MLPRegressor

#: The estimator checks test the estimator, not a backend: the numpy session (or a run without the variable).
NUMPY_SESSION = os.environ.get(TEST_ENV, "numpy").strip() == "numpy"
numpy_session = pytest.mark.skipif(not NUMPY_SESSION, reason="estimator checks run in the numpy session only")

#: Backend name -> (scikit-learn's array namespace name, device name) for its Array API checks.
ARRAY_API = {
    "array_api_strict": ("array_api_strict", None),
    "torch": ("torch", "cpu"),
    "jax": ("jax.numpy", None),
    "torch:cuda": ("torch", "cuda"),
    "cupy": ("cupy", None),
}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


# --- scikit-learn's estimator checks -------------------------------------------------


@numpy_session
@parametrize_with_checks(
    # Small and short (a higher rate than the default 1e-3), yet enough for the checks' accuracy and R^2 bars.
    [MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01, random_state=0),
     MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01, random_state=0)],
    expected_failed_checks=lambda est: {},
)
def test_scikit_learns_estimator_checks(estimator, check):
    _quiet(check, estimator)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor], ids=["classifier", "regressor"])
def test_scikit_learns_array_api_checks_on_each_backend(backend, make):
    if backend.name not in ARRAY_API and not backend.name.startswith(("torch:cuda", "cupy")):
        pytest.skip(f"scikit-learn has no Array API check for {backend.name}")
    namespace, device = ARRAY_API.get(backend.name.split(":")[0] if backend.name.startswith("cupy") else
                                      "torch:cuda" if backend.name.startswith("torch:cuda") else backend.name)
    estimator = make(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    for dtype in ("float64", "float32"):
        _quiet(check_array_api_input, type(estimator).__name__, estimator, array_namespace=namespace,
               device_name=device, dtype_name=dtype)
    _quiet(check_array_api_same_namespace, type(estimator).__name__, estimator, array_namespace=namespace,
           device_name=device)


# --- behaviour ---------------------------------------------------------------------


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


@numpy_session
@pytest.mark.parametrize("solver, batch_size", [("adam", 50), ("sgd", 50), ("adam", "auto")])
def test_warm_start_continues_exactly_two_fits_of_10_are_one_of_20(solver, batch_size):
    X, y = _digits()
    kwargs = {"hidden_layer_sizes": (16,), "solver": solver, "batch_size": batch_size, "random_state": 1,
              "tol": 0.0, "n_iter_no_change": 1000}
    one = _quiet(MLPClassifier(max_iter=20, **kwargs).fit, X, y)
    two = MLPClassifier(max_iter=10, warm_start=True, **kwargs)
    _quiet(two.fit, X, y)
    _quiet(two.fit, X, y)
    assert two.n_iter_ == 20 and two.t_ == one.t_ == 20 * len(y)
    assert two.loss_curve_ == one.loss_curve_
    for W, V in zip(one.coefs_ + one.intercepts_, two.coefs_ + two.intercepts_):
        np.testing.assert_array_equal(W, V)


@numpy_session
def test_partial_fit_is_one_epoch_of_a_continued_run():
    X, y = _digits()
    kwargs = {"hidden_layer_sizes": (16,), "batch_size": 50, "random_state": 1, "tol": 0.0, "n_iter_no_change": 99}
    whole = _quiet(MLPClassifier(max_iter=3, **kwargs).fit, X, y)
    parts = MLPClassifier(**kwargs)
    parts.partial_fit(X, y, classes=np.arange(10))
    parts.partial_fit(X, y)
    parts.partial_fit(X, y)
    np.testing.assert_array_equal(parts.coefs_[0], whole.coefs_[0])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)


@numpy_session
def test_any_labels_binary_multiclass_and_multilabel():
    X, y = _digits()
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit, X, words)
    assert clf.out_activation_ == "softmax" and list(clf.classes_) == sorted(set(words))
    assert clf.predict(X).dtype.kind == "U" and clf.score(X, words) > 0.9
    shifted = _quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit, X, y + 1)
    assert set(shifted.predict(X)) <= set(range(1, 11))
    binary = _quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit, X, y % 2 == 0)
    assert binary.out_activation_ == "logistic" and binary.coefs_[-1].shape == (16, 1)
    assert binary.predict_proba(X).shape == (len(y), 2) and binary.predict(X).dtype == bool
    np.testing.assert_allclose(binary.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(binary.predict_log_proba(X)), binary.predict_proba(X), rtol=1e-12)
    Y = np.stack([y % 2, y > 4, y == 0], axis=1).astype(int)
    multi = _quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01, random_state=0).fit, X, Y)
    assert multi.out_activation_ == "logistic" and multi.predict(X).shape == Y.shape and multi.score(X, Y) > 0.7


@numpy_session
def test_multi_output_regression_and_the_convergence_warning():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Y = np.stack([y, -y / 2], axis=1) / 100
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(5\) reached"):
        reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == Y.shape and reg.n_outputs_ == 2 and len(reg.loss_curve_) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=500, tol=1.0, n_iter_no_change=2, random_state=0).fit(X, Y)


@numpy_session
def test_early_stopping_keeps_the_best_validation_weights_as_scikit_learn_reports_them():
    X, y = _digits(600)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3,
                               learning_rate_init=0.05, max_iter=200, random_state=0).fit, X, y)
    assert clf.n_iter_ < 200 and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_) and len(clf.validation_scores_) == clf.n_iter_


@numpy_session
def test_verbose_prints_scikit_learns_lines_and_the_regressor_continues_by_partial_fit(capsys):
    X, y = load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    kwargs = {"hidden_layer_sizes": (8,), "random_state": 0, "tol": 0.0, "n_iter_no_change": 99}
    whole = _quiet(MLPRegressor(max_iter=2, verbose=True, **kwargs).fit, X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {v:.8f}" for i, v in enumerate(whole.loss_curve_)]
    parts = MLPRegressor(**kwargs).partial_fit(X, y).partial_fit(X, y)
    assert parts.n_iter_ == 2 and parts.loss_curve_ == whole.loss_curve_
    np.testing.assert_array_equal(parts.predict(X), whole.predict(X))


@numpy_session
def test_settings_are_checked():
    X, y = _digits(50)
    with pytest.raises(SettingError, match="solver must be 'adam' or 'sgd'"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(SettingError, match=r"activation must be one of 'identity', 'logistic', 'tanh', 'relu'"):
        MLPClassifier(activation="softplus").fit(X, y)
    with pytest.raises(SettingError, match=r"batch_size must be an integer of at least 1 or one of 'auto'"):
        MLPClassifier(batch_size=0).fit(X, y)


@numpy_session
def test_pipeline_grid_search_cross_validation_with_two_jobs_and_pickling():
    X, y = _digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=40, learning_rate_init=0.01, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)]}, cv=2, n_jobs=2)
    _quiet(search.fit, X, y)
    assert search.best_score_ > 0.8
    scores = _quiet(cross_val_score, MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, learning_rate_init=0.01, random_state=0), X, y,
                    cv=2, n_jobs=2)
    assert scores.shape == (2,) and scores.min() > 0.5  # chance is 0.1
    fitted = search.best_estimator_
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert clone(fitted[-1]).get_params() == fitted[-1].get_params()


@numpy_session
def test_decision_boundary_display():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.inspection import DecisionBoundaryDisplay

    X, y = load_iris(return_X_y=True)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit, X[:, :2], y)
    display = DecisionBoundaryDisplay.from_estimator(clf, X[:, :2], response_method="predict", grid_resolution=20)
    assert display.response.shape == (20, 20)


def test_backend_none_follows_x_and_predict_returns_xs_namespace(backend):
    if backend.library not in ("torch", "cupy"):
        # JAX and array-api-strict: scikit-learn's Array API checks above cover them, at less cost.
        pytest.skip("checked on torch and CuPy; the Array API checks cover the other backends")
    X, y = _digits(120)
    Xb = backend.from_numpy(X)
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit, Xb, y)
    assert clf._net.backend.name == backend.name  # trained where X lives
    out = clf.predict_proba(Xb)
    assert type(out) is type(Xb)
    assert isinstance(clf.predict_proba(X), np.ndarray)  # NumPy in, NumPy out
    np.testing.assert_allclose(np.asarray(backend.to_numpy(out)), clf.predict_proba(X), rtol=1e-12)
    moved = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, backend=backend.name).fit, X, y)
    assert moved._net.backend.name == backend.name and isinstance(moved.predict(X), np.ndarray)
    with config_context(array_api_dispatch=True), pytest.raises(ValueError, match="must use the same namespace"):
        clf.predict(X)
    again = pickle.loads(pickle.dumps(clf))  # parameters travel on the host, come back on the backend
    np.testing.assert_allclose(np.asarray(backend.to_numpy(again.predict_proba(Xb))), clf.predict_proba(X), rtol=1e-12)


# --- against scikit-learn's MLP on its datasets ----------------------------------------

#: name -> (loader, epochs, Adam's learning rate): short runs, each near its held-out best for both estimators.
DATASETS = {
    "digits": (load_digits, 20, 0.01),
    "breast_cancer": (load_breast_cancer, 30, 0.01),
    "wine": (load_wine, 60, 0.01),
    "iris": (load_iris, 100, 0.01),
    "diabetes": (load_diabetes, 50, 0.001),
}


def _split(name):
    load, epochs, _ = DATASETS[name]
    X, y = load(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=0,
                                      stratify=None if name == "diabetes" else y)
    scaler = StandardScaler().fit(Xa)
    if name == "diabetes":
        mean, std = ya.mean(), ya.std()
        ya, yb = (ya - mean) / std, (yb - mean) / std
    return scaler.transform(Xa), scaler.transform(Xb), ya, yb, epochs


def _model(name, cls, epochs, **kwargs):
    settings = {"hidden_layer_sizes": (32,), "solver": "adam", "learning_rate_init": DATASETS[name][2],
                "batch_size": 32, "max_iter": epochs, "tol": 0.0, "n_iter_no_change": 10**6, "random_state": 0}
    return cls(**{**settings, **kwargs})


@numpy_session
@pytest.mark.parametrize("name", list(DATASETS))
def test_held_out_scores_match_scikit_learns_mlp(name):
    Xa, Xb, ya, yb, epochs = _split(name)
    ours, theirs = (MLPRegressor, SkMLPRegressor) if name == "diabetes" else (MLPClassifier, SkMLPClassifier)
    mine = [_quiet(_model(name, ours, epochs, dtype="float64").set_params(random_state=s).fit, Xa, ya).score(Xb, yb)
            for s in range(3)]
    ref = [_quiet(_model(name, theirs, epochs).set_params(random_state=s).fit, Xa, ya).score(Xb, yb) for s in range(3)]
    # Means over three seeds: the two initialise differently (biases at zero here), so single runs differ by noise.
    limit = 0.05 if name == "diabetes" else 0.02
    assert abs(np.mean(mine) - np.mean(ref)) <= limit, (mine, ref)


def test_the_same_model_trains_alike_on_every_cpu_backend(backend):
    if backend.name == "dask":
        pytest.skip("the estimators take dask arrays through the host; the parity sessions cover the eager backends")
    Xa, Xb, ya, _, _ = _split("iris")
    # Full batches, few epochs: JAX compiles each new operation shape once, seconds per shape on this machine.
    here = _quiet(_model("iris", MLPClassifier, 5, dtype="float64", backend=backend.name, batch_size="auto").fit,
                  Xa, ya)
    there = _quiet(_model("iris", MLPClassifier, 5, dtype="float64", backend="numpy", batch_size="auto").fit, Xa, ya)
    np.testing.assert_allclose(here.predict_proba(Xb), there.predict_proba(Xb), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(here.loss_curve_, there.loss_curve_, rtol=1e-10)
