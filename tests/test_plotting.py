"""The lab's pictures: drawn from any backend, into given or new axes, never
through pyplot (so never blocking), with clear errors for what cannot be drawn."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, five_points, train
from backprop_xp.plotting import (
    colour_limits,
    constant_output_note,
    decision_level,
    new_axes,
    output_range,
    plot_decision_boundary,
    plot_losses,
    save_figure,
)
from conftest import assert_image


def test_both_pictures_from_any_backend(backend, tmp_path):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    _, losses = train(x, y, net, 300, 0.25)
    ax = plot_losses(losses)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), backend.to_numpy(losses))
    assert list(line.get_xdata()[[0, -1]]) == [1, 300] and ax.get_yscale() == "log"
    save_figure(ax.figure, tmp_path / "loss.png")
    assert_image(tmp_path / "loss.png", (500, 400))

    X = backend.from_numpy(x)  # arrays of the backend are brought to the host for drawing
    ax = plot_decision_boundary(X, y, net)
    assert ax.collections, "nothing drawn"
    save_figure(ax.figure, tmp_path / "boundary.png")
    assert_image(tmp_path / "boundary.png", (500, 400))


def test_the_boundary_separates_what_the_network_learnt():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    train(x, y, net, 2500, 0.25)
    ax = plot_decision_boundary(x, y, net, resolution=51)
    filled, boundary, *points = ax.collections
    # The filled contour is the network's output over the grid, which is above
    # 0.5 at the origin and below it at the four neighbours...
    assert list(boundary.levels) == [0.5]
    grid_x, grid_y = np.meshgrid(np.linspace(-1.5, 1.5, 51), np.linspace(-1.5, 1.5, 51))
    output = np.asarray(net.forward(np.stack([grid_x.ravel(), grid_y.ravel()], 1).astype(np.float32))).reshape(51, 51)
    centre, neighbours = output[25, 25], [output[25, 0 + 50], output[25, 0], output[0, 25], output[50, 25]]
    assert centre > 0.5 and all(v < 0.5 for v in neighbours)
    assert filled.levels.min() <= output.min() and filled.levels.max() >= output.max()
    # ... with the 0.5 line drawn around the origin, and the points coloured by label on top.
    vertices = np.concatenate([path.vertices for path in boundary.get_paths()])
    assert vertices.size and np.abs(vertices).max() <= 1.5
    # One marker set per class, in the class order, with a legend naming them.
    assert [len(p.get_offsets()) for p in points] == [4, 1]
    np.testing.assert_array_equal(points[1].get_offsets(), x[y == 1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]
    assert "2-5-3-1 tanh/sigmoid" in ax.get_title() and "numpy" in ax.get_title()


def test_several_outputs_draw_class_regions_into_the_given_axes():
    x, y = five_points()
    net = NeuralNetwork(2, 2, [4], output_activation="softmax", loss="categorical_crossentropy", seed=0)
    train(x, y, net, 200, 0.5)
    ax = new_axes()
    assert plot_decision_boundary(x, np.eye(2)[y], net, ax) is ax
    assert len(ax.figure.axes) == 2  # the class key beside the regions
    assert ax.get_legend() is not None


def test_the_colour_scale_is_the_outputs_range_not_the_values():
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0)
    train(x, y, net, 300, 100.0)  # saturates: every output about 1e-26
    ax = plot_decision_boundary(x, y, net, resolution=31)
    filled = ax.collections[0]
    assert filled.levels[0] == 0 and filled.levels[-1] == 1
    assert ax.figure.axes[1].get_ylim() == (0.0, 1.0)  # the colour bar reads 0 to 1
    notes = [t.get_text() for t in ax.texts]
    assert len(notes) == 1 and notes[0].startswith("constant output:") and "below 0.5" in notes[0], notes
    # The decision level is on the colour bar even where no contour crosses it.
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ax.figure.axes[1].get_lines())


@pytest.mark.parametrize(
    "activation, values, limits",
    [("sigmoid", [3e-26, 4e-26], (0, 1)), ("softmax", None, (0, 1)), ("tanh", [0.2], (-1, 1)),
     ("identity", [-3.0, 0.4], (-3, 1)), ("relu", [0.0, 7.0], (0, 7))],
)
def test_colour_limits_and_decision_level(activation, values, limits):
    assert colour_limits(activation, values) == limits
    assert output_range("sigmoid") == (0, 1) and output_range("relu") is None
    assert decision_level(1) == 0.5 and decision_level(3) is None


def test_constant_output_note():
    assert constant_output_note(np.full((3, 3), 2.7e-26), (0, 1)) == "constant output: 2.70e-26 everywhere, below 0.5"
    assert constant_output_note(np.linspace(0.6, 0.9, 9), (0, 1)) == "output above 0.5 everywhere (0.6 to 0.9)"
    assert constant_output_note(np.linspace(0.1, 0.9, 9), (0, 1)) is None


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda net: plot_decision_boundary(np.ones((4, 3)), np.zeros(4), NeuralNetwork(3, 1, [2])), ValueError,
         "the network needs 2 inputs; it has 3"),
        (lambda net: plot_decision_boundary(np.ones((4, 3)), np.zeros(4), net), ValueError,
         r"x must have shape \(n_samples, 2\)"),
        (lambda net: plot_decision_boundary(np.ones((4, 2)), np.zeros(3), net), ValueError,
         r"y must hold one label per row of x \(4\); received 3"),
        (lambda net: plot_decision_boundary(np.ones((4, 2)), np.zeros(4), "net"), TypeError,
         "net must be a NeuralNetwork"),
        (lambda net: plot_losses(np.ones((2, 2))), ValueError, "losses must be a non-empty 1-D array"),
        (lambda net: plot_losses([]), ValueError, "losses must be a non-empty 1-D array"),
    ],
)
def test_what_cannot_be_drawn_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(NeuralNetwork(2, 1, [3]))


def test_drawing_never_touches_pyplot():
    code = textwrap.dedent("""
        import sys
        from backprop_xp import NeuralNetwork, five_points
        from backprop_xp.plotting import plot_decision_boundary, plot_losses
        x, y = five_points()
        plot_decision_boundary(x, y, NeuralNetwork(2, 1, [3]))
        plot_losses([1.0, 0.5])
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        import backprop_xp
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    check = "import sys, backprop_xp; assert 'matplotlib' not in sys.modules, 'imported on import'"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=300)
