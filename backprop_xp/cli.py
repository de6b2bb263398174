"""The ``backprop-xp`` command (also ``python -m backprop_xp``).

``backprop-xp backends`` tells which backends run here; ``backprop-xp train``
trains the lab's network (2-5-3-1, tanh/sigmoid, MSE, lr 0.25, 2500 epochs) on
the five-point data and prints the loss as it falls. With a softmax output the
network gets one output unit per class (two) and one-hot targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .architecture import DTYPES
from .backends import ENV_VAR, NAME_FORMS, BackendUnavailableError, describe_backends
from .datasets import five_points
from .initializers import INITIALIZERS
from .losses import LOSSES
from .network import NeuralNetwork, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backprop-xp", description="Backpropagation written once, run on many array libraries."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("backends", help="list the backends, whether they run here, and their devices")

    t = commands.add_parser("train", help="train the lab's network on the five-point data")
    t.add_argument(
        "--backend", default=None,
        help=f"one of {', '.join(NAME_FORMS)} (default: ${ENV_VAR}, else numpy)",
    )
    t.add_argument("--hidden", type=int, nargs="*", default=[5, 3], metavar="N", help="hidden layer widths (default: 5 3)")
    t.add_argument("--hidden-activation", choices=HIDDEN_ACTIVATIONS, default="tanh")
    t.add_argument("--output-activation", choices=OUTPUT_ACTIVATIONS, default="sigmoid")
    t.add_argument("--loss", choices=tuple(LOSSES), default="mse")
    t.add_argument(
        "--init", default="glorot_uniform", metavar="NAME",
        help=f"one of {', '.join(INITIALIZERS)}, or normal:STD (default: glorot_uniform)",
    )
    t.add_argument("--dtype", choices=DTYPES, default="float32")
    t.add_argument("--lr", type=float, default=0.25, help="learning rate (default: 0.25)")
    t.add_argument("--epochs", type=int, default=2500, help="number of epochs (default: 2500)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default: 0)")
    t.add_argument("--print-every", type=int, default=250, metavar="N", help="print the loss every N epochs")
    return parser


def _backends() -> int:
    rows = describe_backends()
    columns = ("backend", "version", "devices", "names", "status")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())
    return 0


def _train(args: argparse.Namespace) -> int:
    x, y = five_points()
    # A softmax output needs a unit per class: two classes, one-hot targets.
    classes = args.output_activation == "softmax"
    if classes:
        y = np.eye(2)[y]
    net = NeuralNetwork(
        x.shape[1], 2 if classes else 1, args.hidden,
        hidden_activation=args.hidden_activation, output_activation=args.output_activation,
        loss=args.loss, init=args.init, dtype=args.dtype, seed=args.seed, backend=args.backend,
    )
    every = max(1, args.print_every)

    def report(epoch: int, loss) -> None:
        if epoch == 1:  # printed here, once train() has accepted every setting
            print(f"{net}, lr {args.lr}, {args.epochs} epochs, seed {args.seed}, device {net.backend.device}")
        if epoch == 1 or epoch % every == 0 or epoch == args.epochs:
            print(f"epoch {epoch:6d}  loss {float(loss):.6f}", flush=True)

    start = time.perf_counter()
    _, losses = train(x, y, net, args.epochs, args.lr, callback=report)
    seconds = time.perf_counter() - start
    print(f"final loss {float(losses[-1]):.6f} after {args.epochs} epochs in {seconds:.2f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _backends() if args.command == "backends" else _train(args)
    except (ValueError, TypeError, BackendUnavailableError) as exc:
        print(f"backprop-xp: error: {exc}", file=sys.stderr)
        return 2
