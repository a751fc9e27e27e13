"""Data: where training data come from and how they are cut into minibatches.

- :mod:`deltaprop.data.batches`: which rows each step sees (minibatches, validation splits),
  and the runs of minibatches a data source hands to the training step;
- :mod:`deltaprop.data.arrays`: arrays in memory as a data source;
- :mod:`deltaprop.data.stream`: data larger than memory, streamed from files;
- :mod:`deltaprop.data.datasets`, :mod:`deltaprop.data.tables`, :mod:`deltaprop.data.readers`,
  :mod:`deltaprop.data.preprocessing`: built-in datasets, tables read from files, and their
  preprocessing.
"""
