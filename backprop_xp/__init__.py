"""backprop_xp: backpropagation for multilayer perceptrons, written once against
the Python Array API standard and run on NumPy, PyTorch, CuPy, JAX and
array-api-strict, chosen at run time.

Importing this package imports no array library beyond NumPy.
"""

from .architecture import Architecture
from .backends import Backend, BackendUnavailableError, get_backend
from .datasets import five_points
from .network import NeuralNetwork
from .optimizers import OPTIMIZERS, Optimizer
from .training import TrainingDiverged, train

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "Backend",
    "BackendUnavailableError",
    "NeuralNetwork",
    "OPTIMIZERS",
    "Optimizer",
    "TrainingDiverged",
    "five_points",
    "get_backend",
    "train",
]
