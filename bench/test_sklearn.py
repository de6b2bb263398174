"""``fit`` of backprop_xp's scikit-learn estimators against scikit-learn's own MLP.

On scikit-learn's bundled datasets, the same model (one hidden layer of 100
ReLU units, Adam at 1e-3, minibatches of 200, a fixed number of epochs: tol=0
and no early stopping) is fitted by scikit-learn's ``MLPClassifier`` /
``MLPRegressor`` and by ours on NumPy and on torch (CPU), all in float64. The
peers of one dataset run next to each other, in an order that rotates from
pass to pass; ``sklearn_report.py`` turns the JSON into the median over the
passes of each pass's ratio to scikit-learn. Ratios are reported, never asserted.
"""

from __future__ import annotations

import os
import time
import warnings

import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler
from workloads import cpu_name

from backprop_xp import BackendUnavailableError, get_backend
from backprop_xp.sklearn import MLPClassifier, MLPRegressor

PASSES = int(os.environ.get("BACKPROP_XP_BENCH_PASSES", "3"))
ROUNDS = 3
SETTLE = float(os.environ.get("BACKPROP_XP_BENCH_SETTLE", "0.15"))
EPOCHS = 30
#: name -> (loader, regression?)
DATASETS = {
    "digits": (load_digits, False),
    "breast_cancer": (load_breast_cancer, False),
    "wine": (load_wine, False),
    "iris": (load_iris, False),
    "diabetes": (load_diabetes, True),
}
IMPLS = ("sklearn", "ours-numpy", "ours-torch")


def _data(name):
    load, regression = DATASETS[name]
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if regression:
        y = (y - y.mean()) / y.std()
    return X, y, regression


def _estimator(impl: str, regression: bool):
    settings = {"hidden_layer_sizes": (100,), "solver": "adam", "learning_rate_init": 1e-3, "batch_size": 200,
                "max_iter": EPOCHS, "tol": 0.0, "n_iter_no_change": 10**6, "random_state": 0}
    if impl == "sklearn":
        return (SkMLPRegressor if regression else SkMLPClassifier)(**settings)
    backend = impl.split("-")[1]
    return (MLPRegressor if regression else MLPClassifier)(backend=backend, dtype="float64", **settings)


def _cases():
    params = []
    for run in range(PASSES):
        for d, name in enumerate(DATASETS):
            for turn in range(len(IMPLS)):
                impl = IMPLS[(turn + run + d) % len(IMPLS)]  # rotated: no peer always first
                params.append(pytest.param(name, impl, run, id=f"p{run}-{name}-{turn}-{impl}"))
    return params


@pytest.mark.parametrize("dataset, impl, run", _cases())
def test_sklearn_fit(benchmark, dataset, impl, run):
    if impl == "ours-torch":
        try:
            get_backend("torch")
        except BackendUnavailableError as exc:
            pytest.skip(str(exc))
    X, y, regression = _data(dataset)

    def setup():
        time.sleep(SETTLE)
        return (_estimator(impl, regression),), {}

    def fit(estimator):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)

    benchmark.group = f"sklearn-fit-{dataset}"
    info = benchmark.extra_info
    info.update(dataset=dataset, impl=impl, run=run, epochs=EPOCHS, n_samples=X.shape[0], n_features=X.shape[1],
                dtype="float64", cpu=cpu_name(), threads=os.environ.get("OMP_NUM_THREADS", "default"))
    if hasattr(os, "getloadavg"):
        info["loadavg_before"] = os.getloadavg()[0]
    benchmark.pedantic(fit, setup=setup, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    info["fit_samples_s"] = list(benchmark.stats.stats.data)
    if hasattr(os, "getloadavg"):
        info["loadavg_after"] = os.getloadavg()[0]
