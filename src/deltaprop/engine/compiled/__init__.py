"""The compiled engine: the training step of :mod:`deltaprop.engine.step`, the same delta
recursion written by hand in loops and compiled by Numba, a whole run of minibatches per call.

Modules, in the order of the data flow: :mod:`.codes` (which activations, losses and optimizers
the kernels cover, as integer codes), :mod:`.activation`, :mod:`.dense`, :mod:`.loss`,
:mod:`.update` and :mod:`.run` (the kernels), :mod:`.engine` (the engine object the training
loop drives), :mod:`.choice` (which engine a run gets, and why). Only :mod:`.codes` and
:mod:`.choice` import without Numba; the core install stays NumPy-only.
"""
