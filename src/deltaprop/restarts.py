"""Restarts: the notes' answer to local minima. Train from several random initializations and
keep the parameters with the lowest final loss."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.evaluation import evaluate_arrays
from deltaprop.history import History
from deltaprop.network import Network

Array = np.ndarray


def fit_restarts(net: Network, make_trainer: Any, restarts: int,
                  train: tuple[Array, Array, Array | None],
                  validation: tuple[Array, Array, Array | None] | None, l2: float, l1: float) -> History:
    """Run ``restarts`` trainings from different initializations; keep the best parameters.

    Runs are scored by the final validation loss if there is validation data, else by the final
    training loss (with weight decay) over all training data in evaluation mode (both weighted
    by the sample weights, the third member of ``train`` and ``validation``, if any); a non-finite
    score counts as infinitely bad. Run 0 trains from the network's own initial parameters;
    the seeds of the others are drawn from the network's generator afterwards, so repeated
    calls explore new starting points, reproducibly.
    """
    assert net.loss is not None
    runs: list[dict[str, Any]] = []
    best, best_score, best_state = 0, math.inf, None
    child_seeds: list[np.random.SeedSequence] = []
    for r in range(restarts):
        if r == 1:
            child_seeds = np.random.SeedSequence(int(net.rng.integers(2**63))).spawn(restarts - 1)
        if r > 0:
            init_seed, train_seed = child_seeds[r - 1].spawn(2)
            net.initialize(np.random.default_rng(init_seed))
            net.set_rng(np.random.default_rng(train_seed))
        trainer = make_trainer(r)
        trainer.optimizer.reset()
        history = trainer.run()
        train_loss = evaluate_arrays(net, net.loss, *train)[0] + net.weight_penalty(l2, l1)
        val_loss = evaluate_arrays(net, net.loss, *validation)[0] if validation is not None else None
        runs.append({"run": r, "loss": train_loss, "val_loss": val_loss, "epochs": history.n_epochs,
                     "stop_reason": history.stop_reason, "history": history})
        score = val_loss if val_loss is not None else train_loss
        score = score if math.isfinite(score) else math.inf
        if best_state is None or score < best_score:
            best, best_score, best_state = r, score, trainer.snapshot()
        if history.stop_reason == "time_limit":  # the budget covers all runs
            break
    assert best_state is not None
    net.restore(best_state)
    history = runs[best]["history"]
    history.restarts, history.best_restart = runs, best
    return history
