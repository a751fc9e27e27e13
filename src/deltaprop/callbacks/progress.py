"""Progress of a training run: a live bar on a terminal, a few lines anywhere else.

On a terminal (the stream is a TTY) and with tqdm installed (the ``cli`` extra), a bar counts
the epochs, with the batches of the current epoch, the loss, the validation metric and the
time left. Off a terminal (CI logs, pipes, files) the bar would print control characters, so
plain lines are written instead (:class:`~deltaprop.callbacks.progress.ProgressPrinter`), and
only a few of them: a log of 200 lines for a 200-epoch run buries the summary after it.
A streamed run counts rows rather than epochs (:class:`RowProgress`), alike.
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
    if _draws_bar(stream or sys.stderr):
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


class RowProgress(Callback):
    """Progress of a streamed run (:func:`~deltaprop.training.fit.fit_stream`) in rows,
    ``rows 120,000/1,000,000  epoch 1/3  loss 0.4123  12.30s``: on a terminal with tqdm a bar
    over the run's rows; anywhere else about ``lines`` lines a run, one each time another
    ``1/lines`` of its rows is trained on (as :class:`ProgressPrinter` keeps logs short), and
    where the run stopped if it stopped early.

    The count is ``steps * batch_size`` within an epoch (the last batch may be short).

    Parameters
    ----------
    n_rows, batch_size, epochs : int
        The stream's rows, the minibatch size and the epochs of the run.
    stream : text stream, optional
        Where to print (default: ``sys.stderr``).
    lines : int
        Lines a run off a terminal.
    """

    needs_every_step = False  # the count of steps is enough (the compiled engine may run)

    def __init__(self, n_rows: int, batch_size: int, epochs: int, stream: TextIO | None = None,
                 lines: int = LOG_LINES) -> None:
        self.n_rows = check_positive("n_rows", n_rows, integer=True)
        self.batch_size = check_positive("batch_size", batch_size, integer=True)
        self.epochs = check_positive("epochs", epochs, integer=True)
        self.lines = check_positive("lines", lines, integer=True)
        self._stream = _check_stream(stream)
        self.total = self.n_rows * self.epochs

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def on_train_begin(self, trainer: RunView) -> None:
        self.epoch, self.shown, self.next_line, self.loss = 1, 0, 1, math.nan
        self.start = time.perf_counter()
        self.bar: Any = None
        if _draws_bar(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, file=self.stream, unit="rows", unit_scale=True,
                            dynamic_ncols=True)

    def on_batch_end(self, trainer: RunView, step: int) -> None:
        if step * self.batch_size < self.n_rows:  # the epoch's end is shown with its loss
            self._show((self.epoch - 1) * self.n_rows + step * self.batch_size)

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        self.loss, self.epoch = logs["loss"], epoch + 1
        self._show(epoch * self.n_rows)

    def on_train_end(self, trainer: RunView) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.shown and self.next_line <= self.lines:  # stopped early: where it stopped
            self._print(self.shown)

    def _show(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.shown)
            self.bar.set_postfix_str(self._status(), refresh=False)
        elif done * self.lines >= self.next_line * self.total:  # another 1/lines of the rows
            self._print(done)
            self.next_line = done * self.lines // self.total + 1
        self.shown = done

    def _status(self) -> str:
        loss = "" if math.isnan(self.loss) else f"  loss {self.loss:.5g}"
        return f"epoch {min(self.epoch, self.epochs)}/{self.epochs}{loss}"

    def _print(self, done: int) -> None:
        seconds = time.perf_counter() - self.start
        print(f"rows {done:,}/{self.total:,}  {self._status()}  {seconds:.2f}s", file=self.stream,
              flush=True)


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


def _draws_bar(stream: TextIO) -> bool:
    """Whether progress on ``stream`` is a bar: a terminal, and tqdm installed (the ``cli``
    extra); else plain lines."""
    if not _is_terminal(stream):
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True
