"""Settings found by measurement: the learning-rate range test (:func:`lr_find`) and an MLP
trained without hand tuning (:func:`auto_fit`)."""

from deltaprop.tuning.auto import LADDER, AutoReport, Trial, auto_fit
from deltaprop.tuning.lr_find import LRFindResult, lr_find, suggest_rate

__all__ = ["LADDER", "AutoReport", "LRFindResult", "Trial", "auto_fit", "lr_find", "suggest_rate"]
