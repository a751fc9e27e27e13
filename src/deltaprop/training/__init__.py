"""Training runs: options -> data -> callbacks -> loop.

- :mod:`deltaprop.training.fit`: :func:`~deltaprop.training.fit.fit` and the run it shares with
  streams and resumed runs (:func:`~deltaprop.training.fit.train`);
- :mod:`deltaprop.training.options`: the validated, JSON-ready options of a run;
- :mod:`deltaprop.training.loop`: the epoch loop and its callbacks;
- :mod:`deltaprop.training.restarts`, :mod:`deltaprop.training.resume`,
  :mod:`deltaprop.training.parallel`: several initializations, a checkpointed run continued,
  data-parallel training over MPI;
- :mod:`deltaprop.training.stepper`: the loop opened up one minibatch at a time (the
  playground's).
"""
