"""Callbacks: everything optional in a run (early stopping, convergence, a time budget, progress,
checkpoints) hooks into the one loop through :class:`~deltaprop.callbacks.base.Callback`."""
