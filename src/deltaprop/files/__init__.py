"""Files and export: everything deltaprop writes to disk and reads back.

- :mod:`~deltaprop.files.container`: the model file, one container with a typed payload
  (``network``, ``model``, ``estimator``, ``checkpoint``); the archive, its checks, atomic writes;
- :mod:`~deltaprop.files.codec`: a network as JSON and arrays (each layer's own config);
- :mod:`~deltaprop.files.networks`: networks rebuilt from model files;
- :mod:`~deltaprop.files.model`: the model object, a network with its preprocessing;
- :mod:`~deltaprop.files.load`: ``deltaprop.save`` and ``deltaprop.load``;
- :mod:`~deltaprop.files.onnx`: ONNX export.

Nothing is imported here: the container is written by the checkpoint callback, inside the
training loop, and must stay importable without the network.
"""
