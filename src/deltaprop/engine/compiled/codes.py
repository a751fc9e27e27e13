"""What the compiled kernels cover, as the integer codes they branch on.

Pure Python (no Numba): :mod:`deltaprop.engine.compiled.choice` reads these tables to decide
whether a model can run compiled, and the kernels use the same numbers.
"""

from __future__ import annotations

# activations: f(z) and delta = g * f'(z) (softmax: the Jacobian of its row)
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, SIGN, STEP, SOFTMAX, EXP = range(11)
ACTIVATION_CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
                    "leaky_relu": LEAKY_RELU, "elu": ELU, "softplus": SOFTPLUS, "sign": SIGN,
                    "step": STEP, "softmax": SOFTMAX, "exp": EXP}
# the one parameter of an activation (the slope of leaky ReLU, alpha of ELU), by name
ACTIVATION_PARAMETER = {"leaky_relu": "slope", "elu": "alpha"}

# losses: the output delta and each sample's loss
SQUARED_ERROR, MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY, POISSON = range(5)
LOSS_CODES = {"squared_error": SQUARED_ERROR, "mse": MSE, "cross_entropy": CROSS_ENTROPY,
              "binary_cross_entropy": BINARY_CROSS_ENTROPY, "poisson": POISSON}

# optimizers: the update of theta from grad (0 is no optimizer's: the gradient check calls the
# gradient kernel, which takes no step)
SGD, MOMENTUM, NESTEROV, ADAM = range(1, 5)

# the status a run kernel returns
RAN, DIVERGED = 0, 1

# columns of the layer table handed to the kernels, one row per dense layer (BLAS_ROWS: the
# minibatch size from which the layer's products go to BLAS; NORMALIZED: 1 when a BatchNorm sits
# between the layer and its activation, whose gamma and beta are at GAMMA_OFFSET in theta and
# whose running mean and variance at STATS_OFFSET in the flat statistics)
(W_OFFSET, B_OFFSET, N_IN, N_OUT, ACTIVATION, WORK_OFFSET, BLAS_ROWS, NORMALIZED, GAMMA_OFFSET,
 STATS_OFFSET, DROPPED, MASK_OFFSET) = range(12)
# columns of the parameter table, one row per dense layer: the activation's parameter, the
# BatchNorm's eps and momentum, and the Dropout's p and 1 / (1 - p) (DROPPED: a Dropout after
# the activation, whose draws are at MASK_OFFSET * B in a step's block)
ACTIVATION_PARAMETER_COLUMN, EPS, MOMENTUM, DROP_P, DROP_SCALE = range(5)
