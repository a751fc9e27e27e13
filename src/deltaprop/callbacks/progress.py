"""Progress of a training run: a live bar on a terminal, a few lines anywhere else.

On a terminal (the stream is a TTY) and with tqdm installed (the ``cli`` extra), a bar counts
the epochs, with the batches of the current epoch, the loss, the validation metric and the
time left. Off a terminal (CI logs, pipes, files) the bar would print control characters, so
plain lines are written instead (:class:`~deltaprop.callbacks.progress.ProgressPrinter`), and
only a few of them: a log of 200 lines for a 200-epoch run buries the summary after it.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from deltaprop._validation import check_positive
from deltaprop.callbacks.base import Callback, RunView

REFRESH_SECONDS = 0.1  # the bar is redrawn at most this often within an epoch
# Off a terminal: about this many epoch lines a run, whatever its length (the shape of the
# loss curve shows; the summary after them stays in view) ...
LOG_LINES = 10
# ... and a line at least this often (seconds of training) when epochs are slow, so that a
# long run's log shows it is alive. Counted on the run's own clock (the logs' time), not the
# wall clock: a test can state exactly which lines a run prints.
HEARTBEAT_SECONDS = 30.0


class ProgressPrinter(Callback):
    """Lines of progress: epoch, loss, validation loss and metric, learning rate, seconds since
    the start of the run.

    What logs and ``verbose=True`` get (on a terminal the command line draws a bar instead,
    :class:`ProgressBar`). On a terminal a line is printed every ``every`` epochs. Anywhere
    else (a pipe, a file, a CI log) every ``log_every`` epochs (default: about ``LOG_LINES``
    lines a run, ``max(every, ceil(epochs / LOG_LINES))`` epochs apart), plus the first and
    the last epoch, any epoch that ends the run, and an epoch at least ``HEARTBEAT_SECONDS``
    after the last line printed.

    Parameters
    ----------
    stream : text stream, optional
        Where to print (default: ``sys.stderr`` of the process that prints, workers too).
    every : int
        Epochs between lines on a terminal.
    log_every : int, optional
        Epochs between lines off a terminal (``1``: every epoch, as on a terminal).
    """

    def __init__(self, stream: TextIO | None = None, every: int = 1, *,
                 log_every: int | None = None) -> None:
        self._stream = _check_stream(stream)  # None: sys.stderr of the process that prints (workers too)
        self.every = check_positive("every", every, integer=True)
        self.log_every = None if log_every is None else check_positive("log_every", log_every,
                                                                       integer=True)
        self._last_line: float | None = None  # the run's time at the last line (None: none yet)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __getstate__(self) -> dict[str, Any]:
        """The standard streams are not sent to other processes (``n_jobs``): each prints to
        its own stderr."""
        state = dict(self.__dict__)
        if state["_stream"] in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
            state["_stream"] = None
        return state

    def on_train_begin(self, trainer: RunView) -> None:
        self._last_line = None  # each run (restart) has its own log

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        if not self._prints(trainer, epoch, logs["time"]):
            return
        self._last_line = logs["time"]
        parts = [f"epoch {epoch}", f"loss {logs['loss']:.5g}"]
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.5g}")
            parts.append(f"val_{logs['metric_name']} {logs['val_metric']:.4f}")
        if logs["lr"] == logs["lr"]:  # (NaN for L-BFGS, which has no learning rate)
            parts.append(f"lr {logs['lr']:.3g}")
        parts.append(f"{logs['time']:.2f}s")
        print("  ".join(parts), file=self.stream, flush=True)

    def _prints(self, trainer: RunView, epoch: int, seconds: float) -> bool:
        """Whether epoch ``epoch``, ending ``seconds`` into the run, gets a line."""
        if trainer.stop_reason is not None:  # the run ends here: its last state is shown
            return True
        if _is_terminal(self.stream):
            return epoch % self.every == 0
        epochs = getattr(trainer, "epochs", epoch)
        every = self.log_every or max(self.every, math.ceil(epochs / LOG_LINES))
        slow = self._last_line is not None and seconds - self._last_line >= HEARTBEAT_SECONDS
        return self._last_line is None or epoch % every == 0 or epoch >= epochs or slow


def progress_callback(epochs: int, stream: TextIO | None = None) -> Callback:
    """A :class:`ProgressBar` on a terminal with tqdm, else a :class:`ProgressPrinter`."""
    if _is_terminal(stream or sys.stderr):
        try:
            import tqdm  # noqa: F401
        except ImportError:
            pass
        else:
            return ProgressBar(epochs, stream)
    # None: whatever sys.stderr is when it prints (workers too); a few lines off a terminal
    return ProgressPrinter(stream)


class ProgressBar(Callback):
    """A tqdm bar over epochs: ``epoch 12/30 |####  | loss 0.031 val_accuracy 0.973 [00:03<00:05]``,
    and within an epoch the batches done, refreshed every ``REFRESH_SECONDS``."""

    needs_every_step = False  # a redraw between chunks of steps will do (compiled engine)

    def __init__(self, epochs: int, stream: TextIO | None = None) -> None:
        self.epochs = check_positive("epochs", epochs, integer=True)
        self._stream = _check_stream(stream)
        self.bar: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Runs handed to other processes (``n_jobs``) draw no bar: it would garble the
        terminal; the streams and the bar stay here."""
        return {"epochs": self.epochs, "_stream": None, "bar": None}

    def on_train_begin(self, trainer: RunView) -> None:
        from tqdm import tqdm

        if self.bar is not None:  # a restart: one bar per run
            self.bar.close()
        self.n_batches = trainer.batches_per_epoch
        self.epoch, self.last_draw = 1, 0.0
        if trainer.in_worker:
            self.bar = _NoBar()
            return
        run = f"run {trainer.run_index + 1} " if trainer.run_index else ""
        self.bar = tqdm(total=self.epochs, file=self._stream or sys.stderr, desc=f"{run}epochs", unit="epoch",
                        dynamic_ncols=True, leave=True)

    def on_batch_end(self, trainer: RunView, step: int) -> None:
        now = time.monotonic()
        if now - self.last_draw >= REFRESH_SECONDS:  # a redraw costs far more than a step
            self.last_draw = now
            self.bar.set_description_str(f"epoch {self.epoch} batch {step}/{self.n_batches}",
                                         refresh=True)

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        self.epoch = epoch + 1
        postfix = {"loss": f"{logs['loss']:.4g}"}
        if "val_loss" in logs:
            postfix[f"val_{logs['metric_name']}"] = f"{logs['val_metric']:.4f}"
        self.bar.set_description_str(f"epoch {epoch}", refresh=False)
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer: RunView) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _NoBar:
    """Stands in for the bar in worker processes."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _check_stream(stream: Any) -> TextIO | None:
    """``stream`` if it can be written to (or None, for sys.stderr), checked before the run
    rather than at its first epoch's end."""
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise TypeError(f"stream must be a text stream (with write) or None, got {stream!r}")
    return stream


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
