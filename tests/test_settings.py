"""Every public setting against the rule it declares (backprop_xp/settings.py):
a value the rule accepts runs, and every value it refuses (a bool, a string,
NaN, infinities, one step past a bound) is a SettingError with the one message
"NAME must be WHAT THE RULE SAYS; received VALUE." before anything runs."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Callable, NamedTuple

import pytest

from backprop_xp import (
    NeuralNetwork,
    architecture,
    datasets,
    five_points,
    gradcheck,
    initializers,
    inputs,
    load_dataset,
)
from backprop_xp import training as training_module
from backprop_xp.errors import SettingError
from backprop_xp.gradcheck import gradient_check
from backprop_xp.optimizers import Adam, Momentum
from backprop_xp.settings import Boolean, Integer, Real, check, describe
from backprop_xp.sweep import run_sweep
from backprop_xp.training import train
from conftest import selected_backends

X, Y = five_points()

# On NumPy only (every rule is the same whatever the backend): the sessions that run NumPy.
pytestmark = pytest.mark.skipif("numpy" not in selected_backends(), reason="runs in the sessions with NumPy")


class Setting(NamedTuple):
    name: str
    rules: tuple
    good: Any
    call: Callable[[Any], Any]  # applies the value where a user would give it
    none: str = ""
    needs: str = ""


def _net(**kwargs):
    return NeuralNetwork(2, 1, [3], seed=0, **kwargs)


def _train(**kwargs):
    return train(X, Y, _net(), kwargs.pop("epochs", 1), kwargs.pop("lr", 0.1), **kwargs)


def _applied(learning_rate):
    net = _net()
    net.backward(X, Y)
    net.apply_gradients(learning_rate)


def _fitted(name, value):
    from backprop_xp.sklearn import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration: a ConvergenceWarning
        MLPClassifier(**{"hidden_layer_sizes": (3,), "max_iter": 1, name: value}).fit(X, Y)


#: The estimators' numeric and boolean parameters, with scikit-learn's ranges.
ESTIMATOR_SETTINGS = [
    ("alpha", (Real(low=0),), 1e-4),
    ("learning_rate_init", (Real(low=0, low_open=True),), 1e-3),
    ("power_t", (Real(low=0),), 0.5),
    ("max_iter", (Integer(low=1),), 1),
    ("shuffle", (Boolean(),), True),
    ("tol", (Real(low=0),), 1e-4),
    ("warm_start", (Boolean(),), False),
    ("momentum", (Real(low=0, high=1),), 0.9),
    ("nesterovs_momentum", (Boolean(),), True),
    ("early_stopping", (Boolean(),), False),
    ("validation_fraction", (Real(low=0, high=1, high_open=True),), 0.1),
    ("beta_1", (Real(low=0, high=1, high_open=True),), 0.9),
    ("beta_2", (Real(low=0, high=1, high_open=True),), 0.999),
    ("epsilon", (Real(low=0, low_open=True),), 1e-8),
    ("n_iter_no_change", (Integer(low=1),), 10),
    ("compile", (Boolean(),), False),
]


def _synthetic(**kwargs):
    from backprop_xp import dask_data

    return dask_data.synthetic(kwargs.pop("n_samples", 10), **kwargs)


T = training_module
SETTINGS = [
    Setting("input_size", architecture.SIZE, 2, lambda v: NeuralNetwork(v, 1, [3])),
    Setting("output_size", architecture.SIZE, 1, lambda v: NeuralNetwork(2, v, [3])),
    Setting("hidden_sizes[0]", architecture.SIZE, 3, lambda v: NeuralNetwork(2, 1, [v])),
    Setting("seed", initializers.SEED, 0, lambda v: NeuralNetwork(2, 1, [3], seed=v), "for fresh entropy"),
    Setting("epochs", inputs.EPOCHS, 1, lambda v: _train(epochs=v)),
    Setting("learning_rate", inputs.LEARNING_RATE, 0.1, lambda v: _train(lr=v)),
    Setting("learning_rate", inputs.LEARNING_RATE, 0.1, _applied),
    Setting("seed", inputs.SEED, 3, lambda v: _train(seed=v, batch_size=2)),
    Setting("batch_size", T.BATCH_SIZE, 2, lambda v: _train(batch_size=v), "for full batches"),
    Setting("tol", T.TOL, 0.0, lambda v: _train(tol=v), "for no early stopping"),
    Setting("patience", T.PATIENCE, 1, lambda v: _train(tol=0.0, patience=v)),
    Setting("compile", T.COMPILE, True, lambda v: _train(compile=v)),
    Setting("callback", T.CALLBACK, print, lambda v: _train(callback=v), "(no callback)"),
    Setting("n_samples", datasets.N_SAMPLES, 10, lambda v: load_dataset("moons", n_samples=v)),
    Setting("noise", datasets.NOISE, 0.1, lambda v: load_dataset("moons", noise=v)),
    Setting("seed", inputs.SEED, 1, lambda v: load_dataset("moons", seed=v)),
    Setting("eps", gradcheck.EPS, 1e-6, lambda v: gradient_check(_net(dtype="float64"), X, Y, eps=v),
            "for the dtype's default step"),
    Setting("max_entries", gradcheck.MAX_ENTRIES, 2, lambda v: gradient_check(_net(), X, Y, max_entries=v), "for all"),
    Setting("jobs", (Integer(low=1), None), 1, lambda v: run_sweep([], jobs=v), "for one per core"),
    Setting("shuffle", (Boolean(),), True, lambda v: _train(shuffle=v, batch_size=2)),
    Setting("alpha", (Real(low=0),), 0.01, lambda v: _train(alpha=v)),
    Setting("power_t", (Real(low=0),), 0.5, lambda v: _train(power_t=v, schedule="invscaling")),
    Setting("validation_fraction", (Real(low=0, high=1, low_open=True, high_open=True), None), 0.4,
            lambda v: _train(validation_fraction=v)),
    Setting("beta1", (Real(low=0, high=1, high_open=True),), 0.9, lambda v: _train(optimizer=Adam(beta1=v))),
    Setting("beta2", (Real(low=0, high=1, high_open=True),), 0.99, lambda v: _train(optimizer=Adam(beta2=v))),
    Setting("eps", (Real(low=0, low_open=True),), 1e-7, lambda v: _train(optimizer=Adam(eps=v))),
    Setting("weight_decay", (Real(low=0),), 0.01, lambda v: _train(optimizer=Adam(weight_decay=v))),
    Setting("beta", (Real(low=0, high=1, high_open=True),), 0.5, lambda v: _train(optimizer=Momentum(beta=v))),
    Setting("nesterov", (Boolean(),), True, lambda v: _train(optimizer=Momentum(nesterov=v))),
    *(
        Setting(name, rules, good, lambda v, name=name: _fitted(name, v), needs="sklearn")
        for name, rules, good in ESTIMATOR_SETTINGS
    ),
    *(
        Setting(name, (Integer(low=low),), low + 1, lambda v, name=name: _synthetic(**{name: v}), needs="dask")
        for name, low in (("n_samples", 1), ("n_features", 1), ("chunk_size", 1), ("seed", 0))
    ),
]
CASES = [
    pytest.param(s, v, id=f"{s.name}-{i}-{v!r}")
    for i, s in enumerate(SETTINGS)
    for v in (w for rule in s.rules if rule is not None for w in rule.bad_values())
    if not (v is None and None in s.rules)
]


@pytest.mark.parametrize("setting", SETTINGS, ids=[f"{s.name}-{i}" for i, s in enumerate(SETTINGS)])
def test_a_value_its_rule_accepts_runs(setting):
    if setting.needs and importlib.util.find_spec(setting.needs) is None:
        pytest.skip(f"needs {setting.needs}")
    assert check(setting.name, setting.good, *setting.rules) is not None
    setting.call(setting.good)  # raises nothing
    if None in setting.rules:
        setting.call(None)


@pytest.mark.parametrize("setting, value", CASES)
def test_a_value_its_rule_refuses_is_a_setting_error_saying_so(setting, value):
    if setting.needs and importlib.util.find_spec(setting.needs) is None:
        pytest.skip(f"needs {setting.needs}")
    expected = f"{setting.name} must be {describe(*setting.rules, none=setting.none)}; received {value!r}."
    with pytest.raises(SettingError) as caught:
        setting.call(value)
    assert str(caught.value) == expected
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
