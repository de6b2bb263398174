"""backprop_xp: backpropagation for multilayer perceptrons, written once against
the Python Array API standard and run on NumPy, PyTorch, CuPy, JAX and
array-api-strict, chosen at run time.

Importing this package imports no array library beyond NumPy, and not
matplotlib until a figure is drawn.
"""

from . import errors
from .architecture import Architecture
from .backends import Backend, get_backend
from .checkpoints import load, save
from .datasets import five_points, load_dataset
from .errors import BackendUnavailableError, CheckpointError, InputError, TrainingDiverged
from .network import NeuralNetwork
from .optimizers import OPTIMIZERS, SGD, Adam, Momentum, Optimizer
from .plotting import plot_decision_boundary, plot_losses
from .training import StopTraining, TrainingState, train

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Architecture",
    "Backend",
    "BackendUnavailableError",
    "CheckpointError",
    "InputError",
    "Momentum",
    "NeuralNetwork",
    "Optimizer",
    "StopTraining",
    "TrainingDiverged",
    "TrainingState",
    "errors",
    "five_points",
    "get_backend",
    "load",
    "load_dataset",
    "plot_decision_boundary",
    "plot_losses",
    "save",
    "train",
]
