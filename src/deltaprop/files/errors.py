"""The error of a model file that cannot be read: its own module, below every reader of model
files, so that each can raise it."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A file that is not a readable deltaprop model (truncated, corrupted, foreign, newer), or
    that holds another kind of payload than the one asked for."""
