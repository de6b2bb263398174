# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 4, backpropagation, on backprop_xp
#
# The lab derives backpropagation three times: one unit at a time, one sample
# at a time, and for a whole batch in matrices. It then builds a 2-5-3-1
# network (tanh hidden layers, a sigmoid output, mean squared error), trains
# it on five points, and ends by inviting you to vary depth, width, learning
# rate and initialisation. This notebook tells the same story on the
# `backprop_xp` package: every number below is computed by it.
#
# Kept in two forms that a test holds in step: `docs/lab.py` (a jupytext
# percent script, for review) and `docs/lab.ipynb` (with its outputs). A test
# executes it, so it cannot rot.

# %%
# %matplotlib inline
import numpy as np
from matplotlib.figure import Figure

import backprop_xp
from backprop_xp import NeuralNetwork, equations, five_points, train
from backprop_xp.gradcheck import gradient_check
from backprop_xp.plotting import plot_decision_boundary, plot_losses
from backprop_xp.reference import per_element_gradients, per_sample_gradients

np.set_printoptions(precision=4, suppress=True)
print("backprop_xp", backprop_xp.__version__, "on", backprop_xp.get_backend().name)

# %% [markdown]
# ## The data and the network
#
# Five points in the plane: the origin is class 1, its four neighbours class 0.
# The network is the lab's: 2 inputs, hidden layers of 5 and 3 tanh units, one
# sigmoid output. Weights are `(W, b)` pairs with `W` of shape `(n_in, n_out)`,
# so a layer is `Z = A @ W + b` on a batch of rows.

# %%
x, y = five_points()
print("x =\n", x, "\ny =", y)
net = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0)
print(net)
for layer, (W, b) in enumerate(net.params, start=1):
    print(f"layer {layer}: W {W.shape}, b {b.shape}")

# %% [markdown]
# ## Three derivations, one gradient
#
# Exercise 1.1 writes every derivative for one unit and one sample with
# scalars (`reference/per_element.py`); exercise 1.2 for one sample with
# vectors (`reference/per_sample.py`); the engine that trains does the whole
# batch at once in matrices (`equations.py`). They share no code, and they
# agree to rounding:

# %%
X, Y = net.as_arrays(x, y)  # float64 arrays, y as a column
params = net.host_params()
batched = equations.loss_and_gradients(params, X, Y, net.architecture)[1]
per_sample = per_sample_gradients(params, X, Y, net.architecture)
per_element = per_element_gradients(params, X, Y, net.architecture)
print(f"{'':8}{'batched':>12}{'per sample':>12}{'per element':>13}   (norm of each gradient)")
for layer, (g, s, e) in enumerate(zip(batched, per_sample, per_element), start=1):
    for which, name in enumerate(("W", "b")):
        print(f"d{name}{layer:<6}{np.linalg.norm(g[which]):12.6f}{np.linalg.norm(s[which]):12.6f}"
              f"{np.linalg.norm(e[which]):13.6f}")
        np.testing.assert_allclose(s[which], g[which], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(e[which], g[which], rtol=1e-10, atol=1e-14)
print("all three agree to 1e-10")

# %% [markdown]
# ## One step by hand
#
# The forward pass keeps every activation; the backward pass starts from the
# output's delta, `delta_3 = dL/dA_3 * sigmoid'(Z_3)` with
# `dL/dA_3 = 2 (A_3 - Y) / n` for the mean squared error and
# `sigmoid'(Z) = A (1 - A)`, and goes back one layer at a time:
# `dW_l = A_(l-1)^T delta_l`, `db_l = sum of delta_l over samples`,
# `delta_(l-1) = (delta_l W_l^T) * tanh'(Z_(l-1))` with `tanh'(Z) = 1 - A^2`.
# Each derivative is written from the layer's own output `A`.

# %%
(W1, b1), (W2, b2), (W3, b3) = params
A0 = X
A1 = np.tanh(A0 @ W1 + b1)
A2 = np.tanh(A1 @ W2 + b2)
A3 = 1 / (1 + np.exp(-(A2 @ W3 + b3)))
n = len(X)
loss = np.mean((A3 - Y) ** 2)
print("A3 (the outputs) =", A3.ravel(), f"  loss = {loss:.6f}")

delta3 = 2 * (A3 - Y) / n * A3 * (1 - A3)
delta2 = (delta3 @ W3.T) * (1 - A2**2)
delta1 = (delta2 @ W2.T) * (1 - A1**2)
print("delta3 =", delta3.ravel())
print("delta2 =\n", delta2)
print("delta1 =\n", delta1)

by_hand = [(A0.T @ delta1, delta1.sum(0)), (A1.T @ delta2, delta2.sum(0)), (A2.T @ delta3, delta3.sum(0))]
print("dW3 =", by_hand[2][0].ravel(), " db3 =", by_hand[2][1])
print("dW1 =\n", by_hand[0][0])
for (dW, db), (gW, gb) in zip(by_hand, net.backward(x, y)):
    np.testing.assert_allclose(dW, gW, rtol=1e-12)
    np.testing.assert_allclose(db, gb, rtol=1e-12)
print("the same as net.backward(x, y)")

# %% [markdown]
# One step of gradient descent, `W <- W - lr dW`, with the lab's lr 0.25,
# lowers the loss:

# %%
net.apply_gradients(learning_rate=0.25)
print(f"loss before {loss:.6f}, after one step {float(net.get_loss(x, y)):.6f}")

# %% [markdown]
# ## The lab's driver cells, In [3] to In [7]
#
# As the lab prints them, against the package. Two changes only: the data
# are NumPy arrays, not `torch.tensor`s (the package takes either; see the
# backend cell at the end), and `plot_decision_boundary` is the package's,
# whose pictures fix the colour scale to the output's range (0 to 1 for a
# sigmoid), always mark the 0.5 decision level, and give each class a marker
# shape and a legend.

# %%
# In [3]
x = np.array([
    [0, 0],
    [1, 0],
    [0, -1],
    [-1, 0],
    [0, 1]
], dtype=np.float32)
y = np.array([1, 0, 0, 0, 0])

network = NeuralNetwork(
    input_size=2,
    hidden_sizes=[5, 3],
    output_size=1
)

print(network.forward(x))
network.backward(x, y)

# %%
initial = network.host_params()  # not in the lab: kept to compare with the package's train below

# %%
# In [4]: the randomly initialised network's decision boundary
plot_decision_boundary(x, y, network).figure


# %%
# In [5]: the lab's training loop, written with the lab's four calls
def lab_train(x, y, net, epochs, lr):
    losses = []
    for ep in range(1, epochs + 1):
        loss = net.get_loss(x, y)  # the loss, for tracking
        losses.append(loss)
        net.backward(x, y)  # backpropagate gradients
        net.apply_gradients(learning_rate=lr)  # apply them
        if ep % 500 == 0:
            print('EPOCH: \t {:5} \t LOSS: \t {:.5f}'.format(ep, float(loss)))
    return net, np.stack(losses)


network, losses = lab_train(x, y, network, 2500, 0.25)

# %%
# In [6]: the loss after each update
plot_losses(losses).figure

# %%
# In [7]: the trained network's decision boundary
plot_decision_boundary(x, y, network).figure

# %% [markdown]
# The package's own `train(x, y, net, epochs, lr)` is the same loop (it
# returns `(net, losses)` as the lab's does), and from the same initial
# weights it gives the same losses:

# %%
again = NeuralNetwork(2, 1, [5, 3])
again.params = initial
again, package_losses = train(x, y, again, 2500, 0.25)
np.testing.assert_allclose(package_losses, losses, rtol=1e-5)
print(f"final loss {float(package_losses[-1]):.5f}, outputs {again.forward(x)}")

# %% [markdown]
# ## What goes wrong with the lab's printed backward
#
# The `backward` printed in the lab takes every layer's derivative at the
# *last* layer's pre-activation, instead of each layer's own. The shapes do
# not stop it: the output's `(5, 1)` pre-activation broadcasts against a
# hidden layer's `(5, 5)`. Below is that mistake, written as a pass of our
# own (every hidden layer's `tanh'` taken at `Z_3`), next to the right one.

# %%
def backward_at_last_z(params, X, Y):
    """The printed mistake: every layer's derivative at the output layer's Z (do not use)."""
    (W1, b1), (W2, b2), (W3, b3) = params
    A1 = np.tanh(X @ W1 + b1)
    A2 = np.tanh(A1 @ W2 + b2)
    Z3 = A2 @ W3 + b3
    A3 = 1 / (1 + np.exp(-Z3))
    wrong_tanh_slope = 1 - np.tanh(Z3) ** 2  # (n, 1): broadcasts over every hidden layer
    delta3 = 2 * (A3 - Y) / len(X) * A3 * (1 - A3)
    delta2 = (delta3 @ W3.T) * wrong_tanh_slope
    delta1 = (delta2 @ W2.T) * wrong_tanh_slope
    return [(X.T @ delta1, delta1.sum(0)), (A1.T @ delta2, delta2.sum(0)), (A2.T @ delta3, delta3.sum(0))]


def descend(gradients, seed, epochs=2500, lr=0.25):
    """Full-batch gradient descent with a given gradient function, from the package's initial weights."""
    start = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=seed)
    params, curve = start.host_params(), []
    X, Y = start.as_arrays(five_points()[0], five_points()[1])
    for _ in range(epochs):
        curve.append(float(equations.loss_and_gradients(params, X, Y, start.architecture)[0]))
        params = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, gradients(params, X, Y))]
    return np.array(curve)


def right(params, X, Y):
    return equations.loss_and_gradients(params, X, Y, net.architecture)[1]


print(f"{'seed':>4} {'right backward':>15} {'printed backward':>17}   (loss after 2500 epochs)")
curves = {}
for seed in range(4):
    curves[seed] = descend(right, seed), descend(backward_at_last_z, seed)
    print(f"{seed:4d} {curves[seed][0][-1]:15.5f} {curves[seed][1][-1]:17.5f}")

ax = plot_losses(curves[0][0], label="each layer's own Z (right)", title="seed 0, lr 0.25")
plot_losses(curves[0][1], ax, label="the last layer's Z (the printed backward)")
ax.legend()
ax.figure

# %% [markdown]
# Finite differences tell the two apart at once, in the layers the mistake
# touches: `gradient_check` confirms the package's backward (relative error
# about 1e-9), and the printed one is off by tens of per cent in every hidden
# layer, while the output layer's gradient, which uses no hidden derivative,
# is right.

# %%
start = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0)
X, Y = start.as_arrays(*five_points())
printed, engine = backward_at_last_z(start.host_params(), X, Y), right(start.host_params(), X, Y)
print(f"{'':6}{'backprop vs finite differences':>32}{'printed vs backprop':>22}")
for check in gradient_check(start, *five_points(), max_entries=None):
    which = 0 if check.name == "W" else 1
    p, e = printed[check.layer - 1][which], engine[check.layer - 1][which]
    off = np.linalg.norm(p - e) / np.linalg.norm(e)
    print(f"{check.name}{check.layer:<5}{check.relative_error:32.1e}{off:22.1e}")

# %% [markdown]
# ## Depth, width, learning rate and initialisation
#
# The lab's closing invitation. Each panel is one network trained for 2500
# epochs from seed 0; the title names it and its final loss.

# %%
x, y = five_points()
variants = [
    ("hidden 5-3 (the lab's)", dict(hidden_sizes=[5, 3]), 0.25),
    ("hidden 3", dict(hidden_sizes=[3]), 0.25),
    ("hidden 10-10", dict(hidden_sizes=[10, 10]), 0.25),
    ("hidden 5-5-5", dict(hidden_sizes=[5, 5, 5]), 0.25),
    ("lr 0.05", dict(hidden_sizes=[5, 3]), 0.05),
    ("lr 2", dict(hidden_sizes=[5, 3]), 2.0),
    ("N(0, 1) weights", dict(hidden_sizes=[5, 3], init="normal:1"), 0.25),
    ("zero weights", dict(hidden_sizes=[5, 3], init="zeros"), 0.25),
]
figure = Figure(figsize=(13, 6.4), layout="constrained")
axes = figure.subplots(2, 4).ravel()
loss_figure = Figure(figsize=(7, 4), layout="constrained")
loss_ax = loss_figure.add_subplot()
for ax, (name, shape, lr) in zip(axes, variants):
    trained, curve = train(x, y, NeuralNetwork(2, 1, seed=0, **shape), 2500, lr)
    final = float(curve[-1])
    plot_decision_boundary(x, y, trained, ax, resolution=80, colorbar=False, legend=False,
                           title=f"{name}\nfinal loss {final:.3g}")
    plot_losses(curve, loss_ax, label=name, title="training loss, seed 0")
    print(f"{name:24} final loss {final:.5f}")
loss_ax.legend(fontsize=7, ncol=2)
figure

# %%
loss_figure

# %% [markdown]
# Zero weights cannot break the symmetry: every hidden unit computes the same
# thing and gets the same gradient, so only the output bias learns, and the
# picture says so (the output is constant). A learning rate of 0.05 is still
# on its way down after 2500 epochs; one of 2 gets there in fewer.
#
# ## The same numbers on another backend
#
# The backend is chosen by name (here, or with `BACKPROP_XP_BACKEND`, or
# `--backend` on the command line); the code does not change. Every backend
# installed here trains the same network from the same seed:

# %%
from backprop_xp.backends import installed_libraries

reference = None
for name in ("numpy", "torch", "jax", "array_api_strict"):
    if name not in installed_libraries():
        print(f"{name:18} not installed here")
        continue
    trained, curve = train(x, y, NeuralNetwork(2, 1, [5, 3], seed=0, backend=name), 300, 0.25)
    curve = trained.backend.to_numpy(curve)
    reference = curve if reference is None else reference
    print(f"{name:18} loss after 300 epochs {curve[-1]:.6f}  (largest difference from numpy's curve "
          f"{np.abs(curve - reference).max():.1e})")
    np.testing.assert_allclose(curve, reference, rtol=1e-4)
