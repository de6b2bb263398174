"""The lab's own network and training loop in torch (its cells In [2] and
In [5]), the baseline that the tiny benchmark compares with.

Copied from the lab as printed, with two changes: the backward pass takes each
layer's derivative at that layer's own pre-activation (the lab's printed code
reuses the last layer's, which ``tests/test_gradients.py`` shows is wrong; the
work is the same), and the loop prints nothing. The lab uses torch only as a
computation engine, with no autograd.
"""

# The lab's own typing style, kept as printed.
# ruff: noqa: UP006, UP035, UP045
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor


class Linear:
    def __init__(self, in_features: int, out_features: int):
        self.weight = self._init_glorot(in_features, out_features)
        self.bias = torch.zeros(out_features)
        self.weight_grad: Optional[Tensor] = None
        self.bias_grad: Optional[Tensor] = None

    @staticmethod
    def _init_glorot(in_features: int, out_features: int) -> Tensor:
        b = torch.sqrt(torch.tensor([6.0 / (in_features + out_features)]))
        return (2 * b) * torch.rand(in_features, out_features) - b

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight + self.bias


class Sigmoid:
    def __init__(self):
        self.func = lambda x: 1 / (1 + torch.exp(-x))

    def forward(self, x: Tensor) -> Tensor:
        return self.func(x)

    def get_gradient(self, x: Tensor) -> Tensor:
        return self.func(x) * (1 - self.func(x))


class TanH:
    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.tanh(x)

    @staticmethod
    def get_gradient(x: Tensor) -> Tensor:
        return 1 - torch.tanh(x) ** 2


class MSELoss:
    @staticmethod
    def forward(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return torch.mean((y_true - y_pred) ** 2)

    @staticmethod
    def get_gradient(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return 2 * (y_pred - y_true) / len(y_true)


class NeuralLayer:
    def __init__(self, in_features: int, out_features: int, activation: str):
        self.linear = Linear(in_features, out_features)
        self.act = Sigmoid() if activation == "sigmoid" else TanH()
        self.last_input: Optional[Tensor] = None
        self.last_zin: Optional[Tensor] = None
        self.last_zout: Optional[Tensor] = None

    def forward(self, x: Tensor) -> Tensor:
        self.last_input = x
        self.last_zin = self.linear.forward(x)
        self.last_zout = self.act.forward(self.last_zin)
        return self.last_zout

    def get_weight(self) -> Tensor:
        return self.linear.weight

    def set_weight_gradient(self, grad: Tensor) -> None:
        self.linear.weight_grad = grad

    def set_bias_gradient(self, grad: Tensor) -> None:
        self.linear.bias_grad = grad


class NeuralNetwork:
    def __init__(self, input_size: int, output_size: int, hidden_sizes: List[int]):
        self.layers: List[NeuralLayer] = []
        layer_sizes = [input_size] + hidden_sizes
        for i in range(1, len(layer_sizes)):
            self.layers.append(NeuralLayer(layer_sizes[i - 1], layer_sizes[i], "tanh"))
        self.layers.append(NeuralLayer(hidden_sizes[-1], output_size, "sigmoid"))
        self.loss = MSELoss()

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer.forward(x)
        return x.squeeze(-1)

    def get_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return self.loss.forward(y, self.forward(x))

    def backward(self, x: Tensor, y: Tensor) -> None:
        y_pred = self.forward(x)
        loss_grad = self.loss.get_gradient(y, y_pred)
        z_in = self.layers[-1].last_zin
        act = self.layers[-1].act
        deltas = loss_grad.unsqueeze(-1) * act.get_gradient(z_in)
        for i in range(1, len(self.layers)):
            previous_z_out = self.layers[-(i + 1)].last_zout
            previous_z_in = self.layers[-(i + 1)].last_zin
            previous_act_func = self.layers[-(i + 1)].act
            current_layer = self.layers[-i]
            current_layer.set_weight_gradient(previous_z_out.T @ deltas)
            current_layer.set_bias_gradient(torch.sum(deltas, dim=0))
            # The lab prints get_gradient(z_in), the last layer's; fixed here.
            deltas = deltas @ current_layer.get_weight().T * previous_act_func.get_gradient(previous_z_in)
        self.layers[0].set_weight_gradient(x.T @ deltas)
        self.layers[0].set_bias_gradient(torch.sum(deltas, dim=0))
        for i, layer in enumerate(self.layers):
            if layer.linear.weight_grad.shape != layer.linear.weight.shape \
               or layer.linear.bias_grad.shape != layer.linear.bias.shape:
                raise ValueError(f"Gradients in layer with index {i} have a wrong shape")

    def apply_gradients(self, learning_rate: float) -> None:
        for layer in self.layers:
            if layer.linear.weight_grad is not None:
                layer.linear.weight -= learning_rate * layer.linear.weight_grad
            if layer.linear.bias_grad is not None:
                layer.linear.bias -= learning_rate * layer.linear.bias_grad


def five_points() -> Tuple[Tensor, Tensor]:
    """The lab's data, as its cell In [3] builds them."""
    x = torch.tensor([[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]], dtype=torch.float)
    y = torch.tensor([1, 0, 0, 0, 0])
    return x, y


def train(x: Tensor, y: Tensor, net: NeuralNetwork, epochs: int, lr: float) -> Tuple[NeuralNetwork, Tensor]:
    """The lab's loop (In [5]) without its print."""
    losses: List = []
    for _ in range(1, epochs + 1):
        loss = net.get_loss(x, y)
        losses.append(loss)
        net.backward(x, y)
        net.apply_gradients(learning_rate=lr)
    return net, torch.stack(losses)
