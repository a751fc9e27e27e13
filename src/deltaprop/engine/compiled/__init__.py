"""The compiled engine: the training step of :mod:`deltaprop.engine.step`, the same delta
recursion written by hand in loops and compiled by Numba, a whole run of minibatches per call.

Modules, in the order of the data flow: :mod:`.codes` (which activations, losses and optimizers
the kernels cover, as integer codes), :mod:`.activation`, :mod:`.dense`, :mod:`.loss`,
:mod:`.update` and :mod:`.run` (the kernels), :mod:`.plan` (a run's rows, learning rates and
optimizer as the kernels take them), :mod:`.engine` (the engine object the training loop
drives), :mod:`.parts` and :mod:`.reduced` (under MPI: each step in parts around the
all-reduce), :mod:`.choice` (which engine a run gets, and why), with :mod:`.structure` (the
network as the kernels' chain of units), :mod:`.batchnorm` and :mod:`.dropout` (kernels),
:mod:`.borrow` (arrays passed without reference counts) and :mod:`.cache` (built, cached or
neither). :mod:`.codes`, :mod:`.structure` and :mod:`.choice` import without Numba; the core
install stays NumPy-only.
"""
