"""deltaprop: multilayer perceptrons trained by backpropagation, written by hand in NumPy.

The public API, in the order data flows through it: networks and layers, activations and
initializers, losses, optimizers and schedules, training (fit, callbacks, History), the
gradient checker, and the classic single-layer rules.
"""

from deltaprop import plot, stream, tuning  # modules: dp.datasets.load, dp.plot.loss, dp.stream
from deltaprop._version import __version__
from deltaprop.activations import ACTIVATIONS, Activation, get_activation
from deltaprop.callbacks.base import Callback
from deltaprop.callbacks.checkpoint import Checkpoint
from deltaprop.callbacks.progress import ProgressPrinter
from deltaprop.callbacks.stopping import EarlyStopping, GradientTolerance, TimeLimit
from deltaprop.classic import DeltaRule, Perceptron
from deltaprop.data import datasets
from deltaprop.doctor import Diagnosis, Finding, diagnose
from deltaprop.evaluation import evaluate
from deltaprop.files.errors import ModelFileError
from deltaprop.files.load import load, save
from deltaprop.files.model import Model
from deltaprop.files.onnx import export_onnx
from deltaprop.gradcheck import GradcheckReport, gradcheck
from deltaprop.history import History
from deltaprop.initializers import INITIALIZERS
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from deltaprop.losses import LOSSES, Loss, get_loss
from deltaprop.mlp import MLP
from deltaprop.network import Network
from deltaprop.optim import LBFGS, SGD, Adam, Constant, Cosine, InverseScaling, Optimizer, Schedule, StepDecay
from deltaprop.targets import one_hot
from deltaprop.training.fit import fit
from deltaprop.training.options import FitOptions
from deltaprop.training.resume import resume
from deltaprop.training.stepper import BatchStepper, StepResult
from deltaprop.tuning import AutoReport, LRFindResult, auto_fit, lr_find
from deltaprop.tuning.sweep import SweepResult, SweepTrial, sweep

__all__ = [
    "MLP", "Network", "Layer", "Dense", "BatchNorm", "Dropout", "ActivationLayer",
    "Activation", "ACTIVATIONS", "get_activation", "INITIALIZERS",
    "Loss", "LOSSES", "get_loss", "one_hot",
    "Optimizer", "SGD", "Adam", "LBFGS", "Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine",
    "fit", "FitOptions", "BatchStepper", "StepResult", "evaluate", "diagnose", "Diagnosis", "Finding",
    "lr_find", "LRFindResult", "auto_fit", "AutoReport", "tuning", "sweep", "SweepResult", "SweepTrial",
    "History", "Callback", "EarlyStopping",
    "GradientTolerance", "TimeLimit",
    "ProgressPrinter", "gradcheck", "GradcheckReport", "Perceptron", "DeltaRule",
    "save", "load", "ModelFileError", "Model", "Checkpoint", "resume", "export_onnx", "plot", "datasets",
    "stream",
    "__version__",
]
