"""The engines that take training steps, behind one boundary (:mod:`deltaprop.engine.step`).

- :mod:`deltaprop.engine.step`: the training step and the boundary, with the NumPy engine (the
  reference, readable against the notes);
- :mod:`deltaprop.engine.reduction`: how a minibatch's gradient is assembled (locally, or over
  MPI ranks);
- :mod:`deltaprop.engine.epoch_loss`: the epoch's loss, kept step by step;
- :mod:`deltaprop.engine.threads`: how many BLAS threads the steps use.
"""
