"""Every threshold the doctor uses, in one place, each with the measurement that chose it.

The measurement (December 2026, deltaprop 0.x, float32, this repository's NumPy engine):

* **healthy runs**: 216 runs = 6 data sets (digits, iris, wine, moons, breast_cancer, circles;
  features standardized) x 3 seeds x 3 activations (relu, tanh, sigmoid) x 2 optimizers
  (Adam lr 0.01, SGD lr 0.1) x 2 depths (one or two hidden layers of 32); 40 epochs, batch 32,
  a 25% validation split with early stopping (patience 10). Each statistic below is quoted as
  its largest (or smallest) value over the 216: the threshold sits beyond it with a margin.
* **planted runs**: each pathology made on purpose (the same cases as tests/test_doctor.py):
  zero initialization, 8 and 5 hidden sigmoid layers, Adam at 10x its rate (0.1), SGD at
  1e-4, raw (unstandardized) data, biases of -100, tanh weights x100, 40 training rows for a
  256-unit network over 100 epochs, weights drawn at 1e-3 (a saddle), a BatchNorm network's
  first layer scaled by 1e-4, SGD at 0.5 on a regression.

A statistic's healthy range and its planted value are given beside each threshold.
"""

from __future__ import annotations

# Rows examined: the statistics below are fractions and medians over rows, stable at 2000 (the
# largest data set of the measurement, digits, has 1797: every row).
SAMPLE_ROWS = 2000

# -- units -------------------------------------------------------------------------------------
# dead_units: the fraction of a layer's ReLU units with z <= 0 on every row. Healthy: at most
# 0.28 (iris, two layers, Adam), median 0 (trained ReLU networks lose a few units: an info
# finding). Planted: 1.0 (biases of -100; zero init). A warning from half the layer.
DEAD_FAMILY = ("relu", "leaky_relu", "elu")
DEAD_FRACTION = 0.5

# saturated_units: a unit is saturated when f'(z) < 1% of f'(0) (|z| > 3.0 for tanh, > 6.0 for
# sigmoid) on at least 90% of the rows; a layer is reported when half its units are. Healthy:
# the fraction of saturated units was 0 in all 216 runs. Planted: 0.88 (tanh weights x100), 1.0
# (tanh on raw wine, |z| ~ 190).
SATURATING = ("sigmoid", "tanh")
SATURATED_SLOPE = 0.01
SATURATED_ROWS = 0.9
SATURATED_FRACTION = 0.5

# symmetric_units: two units are twins when their rows (W_j, b_j) differ by less than 1e-3 of
# the layer's RMS row norm. Healthy: no unit had a twin in any run (random draws never come
# that close). Planted: every unit (zero init; the rows stay equal under gradient descent).
# Reported from a tenth of the layer; the pairwise distances are computed on the first 2048
# units of a layer (a 2048 x 2048 matrix).
TWIN_DISTANCE = 1e-3
TWIN_FRACTION = 0.1
MAX_TWIN_UNITS = 2048

# -- gradients ---------------------------------------------------------------------------------
# The ratio of a layer's gradient norm to the output layer's (geometric mean over the epochs).
# Healthy: from 0.044 (circles, two sigmoid layers, SGD) to 3.1 (breast_cancer, two tanh
# layers). Planted vanishing: 1.4e-3 (5 sigmoid layers), 3.6e-5 (8 sigmoid layers), below
# 1e-20 (zero init: no gradient at all). Planted exploding: 2.3e3 (BatchNorm, first layer's
# weights x 1e-4: its gradient scales as 1/||W||), 4.5e2 (SGD at 0.5 on a regression).
VANISHING_RATIO = 1e-2
EXPLODING_RATIO = 1e2
# Growth: a layer's largest gradient norm over the epochs against the largest of any layer in
# the first epoch (against its own first norm, a deep sigmoid layer that starts vanishing and
# recovers under Adam "grew" 4.7e3-fold: not an explosion). Healthy: at most 2.5. Planted:
# 6e12 (SGD at 0.5 on a regression, three epochs before it diverged).
EXPLODING_GROWTH = 1e3

# -- the loss curve ----------------------------------------------------------------------------
# Epochs a curve needs before its shape (slow, flat, overfitting) is read.
MIN_EPOCHS = 5
# lr_too_high. rise: how far the last epoch's loss sits above the lowest, in units of the
# progress made (first - lowest, at least RISE_FLOOR of the first loss). Healthy: at most 0.24
# (digits, two ReLU layers, Adam 0.01: one late spike). Planted (Adam 0.1 on digits): 0.47.
# climb: the sum of the epoch-to-epoch increases larger than JUMP of the loss, in the same
# units. Healthy: at most 0.38. Planted: 0.85. Divergence (NaN or infinite loss) is an error
# whatever the numbers. At 10x the healthy rates (the 216 runs again), 43 were flagged: many
# small problems still train at 10x the rate, and then nothing is wrong.
RISE = 0.3
RISE_FLOOR = 0.1
JUMP = 0.05
CLIMB = 0.5
# lr_too_low: the loss fell in at least 80% of the epochs (STEADY; healthy median 0.97, so
# this alone says little), its fall over the last quarter is at least half its average fall
# (STILL_FALLING: no bend towards convergence; healthy median 0.06), it lost less than half of
# its first value (SLOW_DROP; healthy median 0.93), and the gradient is not tiny. Planted (SGD
# at 1e-4 on digits, 10 epochs): steady 1.0, late/average 0.95, drop 0.04. Of the 216 healthy
# runs 7 were flagged, all SGD on two sigmoid or tanh layers, still falling in a straight line
# at epoch 40 (not converged: a larger rate is the right advice there).
STEADY = 0.8
STILL_FALLING = 0.5
SLOW_DROP = 0.5
# plateau: the loss is at least 90% of the best constant prediction's (HIGH; healthy median
# 0.07), moved less than 1% over the last quarter of the epochs (FLAT), and ||gradient|| /
# sqrt(loss) is below 0.02 (TINY_GRADIENT; the square root keeps it free of the targets'
# units). Networks as high but not stuck: untrained ones and ones 5 epochs into SGD at 1e-4
# (6 data sets x 3 activations x 3 seeds: 108): at least 0.27. Planted: 0.005 (three tanh
# layers drawn at 1e-3: the saddle at the origin), and about 1e-7 with every ReLU dead. (The
# converged healthy runs reach 0.02 too, far below HIGH: a minimum, not a plateau.)
HIGH = 0.9
FLAT = 0.01
TINY_GRADIENT = 0.02
# overfitting: the median validation loss of the last quarter of the epochs is 10% above the
# lowest, and the training loss fell after that epoch. Planted (a 256-unit network on 30, 40
# or 60 training rows of digits, Adam 0.01, 100-150 epochs): +118%, +21%, +16%; the
# validation cross-entropy of a memorizing network climbs slowly, so the threshold sits low.
# The healthy runs that went on past their best epoch reached up to +109% during their
# patience: a run that keeps training after its validation loss turned overfits, by the
# definition, and is reported; with early stopping restoring the best epoch (as in the healthy
# runs) the finding is an info. Borderline: `deltaprop train --data iris --lr 0.01` (38
# held-out rows watched) rises 12% and is reported; at the default rate it stays clean.
OVERFIT_RISE = 0.1

# -- inputs ------------------------------------------------------------------------------------
# The root mean square of the columns (what a first-layer weight multiplies). Standardized
# (healthy): overall 0.97 to 1.01, the largest column at most 47 times the smallest non-zero
# one (a column nearly constant on the training split). Raw: digits 7.8 (spread 545), iris 4.0
# (4.2; trains well as it is), wine 227 (2.1e3), breast_cancer 237 (2.3e5), linnerud 104,
# diabetes 0.048 (scikit-learn scales each column to unit norm: tiny inputs, tiny first-layer
# gradients). A typical size above 5 makes Glorot's z of 64 inputs about 9 wide: tanh
# saturated.
LARGE_INPUTS = 5.0
SMALL_INPUTS = 0.1
SCALE_SPREAD = 200.0
