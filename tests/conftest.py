"""Fixtures shared by the tests: the backends to run on, seeded data, checks.

The ``backend`` fixture runs a test once per backend name in
``BACKPROP_XP_TEST_BACKENDS`` (comma-separated; each nox session sets it), or
once per known name when it is unset. A backend that was asked for by name
must be present; otherwise a missing one (a GPU on a laptop) is skipped with
the reason.

Hypothesis runs the property tests under the profile named by
``HYPOTHESIS_PROFILE``: ``ci`` (the default) tries a few examples, the same
ones on every run; ``many`` (the nox session ``properties``) tries many new
ones each run and prints how to replay a failure.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from array_api_compat import array_namespace, device
from hypothesis import settings

from backprop_xp import Architecture, BackendUnavailableError, backends, get_backend
from backprop_xp.activations import HIDDEN_ACTIVATIONS
from backprop_xp.losses import COMPATIBLE_OUTPUTS

TEST_ENV = "BACKPROP_XP_TEST_BACKENDS"
ALL_BACKENDS = backends.CPU_NAMES + backends.GPU_NAMES  # the table's, in its order

# No example database: derandomized runs need none, and none is written into the checkout.
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True, database=None)
settings.register_profile("many", max_examples=300, deadline=None, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Every (output activation, loss) pairing the architecture accepts.
PAIRINGS = [(output, loss) for loss, outputs in COMPATIBLE_OUTPUTS.items() for output in outputs]

#: Relative tolerances, by dtype, for comparisons against a reference.
RTOL = {"float64": 1e-10, "float32": 1e-5}


def selected_backends() -> tuple[str, ...]:
    names = tuple(n.strip() for n in os.environ.get(TEST_ENV, "").split(",") if n.strip())
    return names or ALL_BACKENDS


if any(name.startswith("jax") for name in selected_backends()) and importlib.util.find_spec("jax"):
    import jax

    # The tests run float64 on JAX, which backprop_xp refuses without JAX's
    # 64-bit mode (it leaves that setting to whoever owns the process, as here:
    # switched on once, before any test, so no test depends on the order).
    jax.config.update("jax_enable_x64", True)


@pytest.fixture(params=selected_backends(), scope="session")
def backend(request):
    try:
        return get_backend(request.param)
    except BackendUnavailableError as exc:
        if os.environ.get(TEST_ENV):
            pytest.fail(f"{TEST_ENV} asks for {request.param!r}, but: {exc}")
        pytest.skip(str(exc))


def architectures(depths=(1, 2, 3, 4)):
    """(depth, hidden activation, output activation, loss) for every sensible
    combination; depth 1 has no hidden layer, so no hidden activation."""
    return [
        pytest.param(depth, h, output, loss, id=f"d{depth}-{h}-{output}-{loss}")
        for depth in depths
        for h in (HIDDEN_ACTIVATIONS if depth > 1 else ("tanh",))
        for output, loss in PAIRINGS
    ]


def make_problem(depth: int, hidden: str, output: str, loss: str, *, seed: int = 0, n_samples: int = 6):
    """A small network with random weights and biases, and a batch to match.

    Returns the Architecture, float64 NumPy params, X and Y (see :func:`random_problem`).
    """
    widths = [4, 3, 5][: depth - 1]
    arch = Architecture.build(3, 3, widths, hidden, output, loss)
    return (arch, *random_problem(arch, n_samples, seed))


def random_problem(arch, n_samples: int, seed: int, *, labels: bool = False):
    """Float64 NumPy params, X and Y for ``arch``, from a generator seeded with ``seed``.

    Targets suit the loss: any reals for MSE, numbers in [0, 1] for binary
    cross-entropy, rows of probabilities for categorical cross-entropy; with
    ``labels``, 0/1 for binary and one-hot rows for categorical cross-entropy.
    """
    rng = np.random.default_rng(seed)
    params = [
        (rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)), rng.normal(0, 0.1, n_out))
        for n_in, n_out in zip(arch.sizes[:-1], arch.sizes[1:])
    ]
    n_outputs = arch.sizes[-1]
    X = rng.normal(size=(n_samples, arch.sizes[0]))
    if arch.loss == "mse":
        Y = rng.normal(size=(n_samples, n_outputs))
    elif arch.loss == "binary_crossentropy":
        Y = rng.uniform(size=(n_samples, n_outputs))
        Y = np.round(Y) if labels else Y
    elif labels:
        Y = np.eye(n_outputs)[rng.integers(n_outputs, size=n_samples)]
    else:
        Y = rng.dirichlet(np.ones(n_outputs), size=n_samples)
    return params, X, Y


def on_backend(backend, params, *arrays, dtype="float64"):
    """Copy NumPy params and arrays to a backend, in the given dtype."""
    moved = [(backend.from_numpy(W.astype(dtype)), backend.from_numpy(b.astype(dtype))) for W, b in params]
    return (moved, *(backend.from_numpy(np.asarray(a, dtype=dtype)) for a in arrays))


def numeric_gradient(f, at, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function ``f`` of one float64 array.

    ``f`` is called with a copy of ``at`` shifted by ``+-eps`` at one index at a time.
    """
    point = np.array(at, dtype=np.float64)
    grad = np.empty_like(point)
    for index in np.ndindex(point.shape):
        saved = point[index]
        point[index] = saved + eps
        up = float(f(point))
        point[index] = saved - eps
        down = float(f(point))
        point[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def with_param(params, layer: int, which: int, value):
    """``params`` with ``W`` (``which=0``) or ``b`` (``which=1``) of one layer replaced."""
    pair = list(params[layer])
    pair[which] = value
    return [*params[:layer], tuple(pair), *params[layer + 1:]]


#: Backends whose computed results (trained parameters, losses) are NumPy arrays on the client.
LAZY = ("dask",)


def assert_close(backend, actual, expected, *, rtol=None, atol=0.0, dtype=None, host=None, computed=False):
    """Check namespace, device, dtype and shape of a backend array, then each of
    its values against a NumPy array: ``|actual - expected| <= atol + rtol * |expected|``
    elementwise (as SciPy's ``xp_assert_close``), so that one large entry cannot
    hide a small one that is wrong.

    ``rtol``: by default :data:`RTOL` of ``actual``'s dtype. ``atol``: for
    entries that are zero in exact arithmetic (give the reason where you pass it).
    ``host``: the values of ``actual`` already computed (dask), else computed here.
    ``computed``: ``actual`` is a result that a lazy backend has computed, so NumPy there."""
    namespace = array_namespace(np.empty(0)) if computed and backend.library in LAZY else backend.xp
    assert array_namespace(actual) is namespace, f"namespace {array_namespace(actual).__name__}"
    assert device(actual) == backend.device, f"device {device(actual)} != {backend.device}"
    if dtype is not None:
        assert actual.dtype == getattr(backend.xp, dtype), f"dtype {actual.dtype} != {dtype}"
    got = backend.to_numpy(actual if host is None else host)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    if rtol is None:
        rtol = RTOL[str(got.dtype)]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def assert_grads_close(backend, grads, expected, *, rtol=None, atol=0.0, dtype=None):
    assert len(grads) == len(expected)
    # One computation for all of them: on dask, each alone would redo the forward pass.
    (computed,) = backend.evaluate(grads)
    for layer, ((dW, db), (hW, hb), (eW, eb)) in enumerate(zip(grads, computed, expected)):
        for name, got, host, want in (("dW", dW, hW, eW), ("db", db, hb, eb)):
            try:
                assert_close(backend, got, want, rtol=rtol, atol=atol, dtype=dtype, host=host)
            except AssertionError as exc:
                raise AssertionError(f"layer {layer} {name}: {exc}") from None


def assert_image(path, size):
    """``path`` is a PNG of ``size`` (width, height) pixels with something drawn on it."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", image.format
        assert image.size == size, f"{path}: {image.size} != {size}"
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{path} has {len(colours)} colours: nearly blank"
    assert pixels.std() > 20, f"{path} is nearly uniform (std {pixels.std():.1f})"
