"""Properties of backprop on networks and batches that hypothesis draws: no
to three hidden layers, every hidden activation and every (output activation,
loss) pairing, targets of either kind a loss takes (soft ones, or 0/1 labels
and one-hot rows), and weights and data from a seed it draws.

On every backend: the gradients equal central finite differences (float64),
the batch's gradient is the mean of its samples' gradients (float64 and
float32), and loss, output and gradients equal NumPy's on the same weights.
The profile in conftest.py sets how many examples are tried.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from backprop_xp import Architecture, equations
from backprop_xp.activations import HIDDEN_ACTIVATIONS
from conftest import PAIRINGS, RTOL, assert_close, assert_grads_close, on_backend, random_problem
from test_gradients import EPS, FD_RTOL, _loss, finite_difference_gradients
from test_parity import not_numpy


class Case(NamedTuple):
    """What hypothesis draws (printed when a test fails); :meth:`problem` makes the arrays."""

    arch: Architecture
    n_samples: int
    seed: int
    labels: bool

    def problem(self):
        return random_problem(self.arch, self.n_samples, self.seed, labels=self.labels)


def cases(backend) -> st.SearchStrategy[Case]:
    """Widths of 1 to 5 units and batches of 1 to 8 samples; on JAX only 1 or
    3 units and 1 or 4 samples, since JAX compiles each operation anew for
    every shape it meets (a second or more per new network on a busy 2-core
    machine). One is the size where broadcasting could go wrong; the engine
    has no other branch on a size."""
    if backend.library == "jax":
        widths, batches = st.sampled_from((1, 3)), st.sampled_from((1, 4))
    else:
        widths, batches = st.integers(1, 5), st.integers(1, 8)

    @st.composite
    def case(draw) -> Case:
        output, loss = draw(st.sampled_from(PAIRINGS))
        n_outputs = draw(widths.filter(lambda k: k > 1) if output == "softmax" else widths)
        hidden = draw(st.lists(widths, max_size=3))
        activation = draw(st.sampled_from(HIDDEN_ACTIVATIONS))
        arch = Architecture.build(draw(widths), n_outputs, hidden, activation, output, loss)
        labels = loss != "mse" and draw(st.booleans())
        return Case(arch, draw(batches), draw(st.integers(0, 2**32 - 1)), labels)

    return case()


@given(data=st.data())
def test_gradients_match_finite_differences(backend, data):
    case = data.draw(cases(backend), label="case")
    params, X, Y = case.problem()
    params_b, X_b, Y_b = on_backend(backend, params, X, Y)
    _, grads = equations.loss_and_gradients(params_b, X_b, Y_b, case.arch)
    # A central difference carries the rounding of two loss values, a few ulps
    # of the loss over 2 * EPS an entry (about 1e-9 * |loss|). A layer far from
    # the output can have gradients so small that this, not FD_RTOL, bounds them.
    entries = max(a.size for pair in params for a in pair)
    noise = 10 * np.finfo(np.float64).eps / EPS * max(1.0, abs(_loss(case.arch, params, X, Y))) * entries**0.5
    assert_grads_close(
        backend, grads, finite_difference_gradients(case.arch, params, X, Y), rtol=FD_RTOL, atol=noise,
        dtype="float64",
    )


@given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_batch_gradient_is_the_mean_of_the_one_sample_gradients(backend, data, dtype):
    case = data.draw(cases(backend), label="case")
    # The losses are means over the batch, so a sample's gradient as a batch of
    # one is n times its share of the batch's gradient.
    params, X, Y = case.problem()
    n = case.n_samples
    params_b, X_b, Y_b = on_backend(backend, params, X, Y, dtype=dtype)
    singles = []
    for i in range(n):
        _, X_i, Y_i = on_backend(backend, [], X[i:i + 1], Y[i:i + 1], dtype=dtype)
        singles.append(equations.loss_and_gradients(params_b, X_i, Y_i, case.arch))
    # One graph for all on dask, whose every compute costs milliseconds.
    (loss, grads), *singles = backend.evaluate(
        equations.loss_and_gradients(params_b, X_b, Y_b, case.arch), *singles
    )
    singles = [
        (float(loss_i), [[backend.to_numpy(g).astype(np.float64) for g in pair] for pair in grads_i])
        for loss_i, grads_i in singles
    ]
    rtol = RTOL[dtype]
    mean_loss = sum(loss_i for loss_i, _ in singles) / n
    assert abs(float(loss) - mean_loss) <= rtol * sum(abs(loss_i) for loss_i, _ in singles) / n
    for layer, pair in enumerate(grads):
        for which, (name, got) in enumerate(zip(("dW", "db"), pair)):
            terms = [grads_i[layer][which] for _, grads_i in singles]
            # Rounding scales with the terms summed, which may cancel.
            scale = sum(np.linalg.norm(t) for t in terms) / n
            try:
                assert_close(backend, got, sum(terms) / n, rtol=rtol, atol=rtol * scale, dtype=dtype,
                             computed=True)
            except AssertionError as exc:
                raise AssertionError(f"layer {layer} {name}: {exc}") from None


@given(data=st.data())
def test_every_backend_agrees_with_numpy(backend, data):
    not_numpy(backend)
    case = data.draw(cases(backend), label="case")
    params, X, Y = case.problem()
    expected_loss, expected = equations.loss_and_gradients(params, X, Y, case.arch)
    expected_output = equations.forward(params, X, case.arch)[-1]
    params_b, X_b, Y_b = on_backend(backend, params, X, Y)
    loss, grads = equations.loss_and_gradients(params_b, X_b, Y_b, case.arch)
    output = equations.forward(params_b, X_b, case.arch)[-1]
    rtol = RTOL["float64"]
    assert_grads_close(backend, grads, expected, rtol=rtol, atol=rtol * 1e-3, dtype="float64")
    assert_close(backend, output, expected_output, rtol=rtol, dtype="float64")
    assert_close(backend, loss, expected_loss, rtol=rtol, dtype="float64")
