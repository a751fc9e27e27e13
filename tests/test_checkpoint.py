"""Checkpoints and resume: a run stopped anywhere (an exception, Ctrl-C, SIGKILL, also in the
middle of writing its checkpoint) continues to the weights of the uninterrupted run, bit for
bit; the checkpoint on disk is never corrupt, and the state it saves is a copy that later
training leaves alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import deltaprop as dp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((120, 5))
Y = (X[:, 0] * X[:, 1] > 0).astype(int)
W = RNG.random(120) + 0.5

SETUPS = {
    "sgd-nesterov-cosine-batchnorm": dict(
        net=dict(batch_norm=True, dropout=0.1),
        fit=dict(optimizer=lambda: dp.SGD(0.05, momentum=0.9, nesterov=True, schedule="cosine"),
                 epochs=9, batch_size=16, l2=1e-3)),
    "adam-stepdecay-early-stopping-weights": dict(
        net=dict(activation="tanh"),
        fit=dict(optimizer=lambda: dp.Adam(0.02, schedule=dp.StepDecay(3, 0.5)), epochs=9,
                 batch_size=8, validation_fraction=0.25, early_stopping=3, sample_weight=W)),
    "random-sampling-full-batch-validation": dict(
        net=dict(),
        fit=dict(optimizer=lambda: dp.SGD(0.1), epochs=9, batch_size="full", sampling="random",
                 validation_data=(X[:20], Y[:20]))),
}


def network(setup):
    return dp.MLP([5, 12, 2], seed=7, **SETUPS[setup]["net"])


def options(setup):
    chosen = dict(SETUPS[setup]["fit"])
    chosen["optimizer"] = chosen["optimizer"]()
    return {"loss": "cross_entropy", "engine": "numpy", **chosen}  # CrashAt sees every step


class CrashAt(dp.Callback):
    """Raises in epoch ``epoch``, after its first step."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, trainer, step):
        if trainer.history.n_epochs + 1 == self.epoch and step == 1:
            raise RuntimeError("power cut")


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("crash_epoch", [1, 4, 8])
def test_a_crashed_run_resumes_to_the_uninterrupted_weights(setup, crash_epoch, tmp_path):
    whole = network(setup)
    whole_history = whole.fit(X, Y, **options(setup))
    path = tmp_path / "run.ckpt"
    cut = network(setup)
    crashes = crash_epoch <= whole_history.n_epochs  # early stopping may end the run before
    try:
        cut.fit(X, Y, checkpoint=path, callbacks=[CrashAt(crash_epoch)], **options(setup))
    except RuntimeError:
        assert crashes
    else:
        assert not crashes
    if crash_epoch == 1:
        assert not path.exists()  # nothing to resume: the run starts again
        return
    resume_options = {k: v for k, v in SETUPS[setup]["fit"].items()
                      if k in ("sample_weight", "validation_data")}
    net, history = dp.resume(path, X, Y, **resume_options)
    np.testing.assert_array_equal(net.theta, whole.theta)
    assert history.loss == whole_history.loss and history.val_loss == whole_history.val_loss
    assert history.stop_reason == whole_history.stop_reason
    assert net.rng.integers(2**62) == whole.rng.integers(2**62)


def test_a_finished_run_resumes_to_itself_and_can_be_extended(tmp_path):
    path = tmp_path / "run.ckpt"
    short = dp.MLP([5, 8, 2], seed=1)
    short.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.5), epochs=4,
              checkpoint=path, checkpoint_every=2)
    net, history = dp.resume(path, X, Y)
    np.testing.assert_array_equal(net.theta, short.theta)
    assert history.n_epochs == 4
    longer, _ = dp.resume(path, X, Y, epochs=7)
    straight = dp.MLP([5, 8, 2], seed=1)
    straight.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.5), epochs=7)
    np.testing.assert_array_equal(longer.theta, straight.theta)


def test_resuming_with_other_data_or_callbacks_is_refused(tmp_path):
    path = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError):
        dp.MLP([5, 8, 2], seed=1).fit(X, Y, loss="cross_entropy", epochs=5, checkpoint=path,
                                      early_stopping=dp.EarlyStopping(monitor="loss"),
                                      callbacks=[CrashAt(3)])
    with pytest.raises(ValueError, match="these data differ from the checkpointed run's"):
        dp.resume(path, X[:-1], Y[:-1])
    with pytest.raises(ValueError, match="holds the states of the callbacks"):
        dp.resume(path, X, Y, callbacks=[dp.EarlyStopping(monitor="loss")])  # one too many
    net, history = dp.resume(path, X, Y)
    assert history.n_epochs == 5


def test_what_cannot_be_checkpointed_is_named(tmp_path):
    with pytest.raises(ValueError, match="checkpoints do not cover restarts"):
        dp.MLP([5, 2]).fit(X, Y, loss="cross_entropy", restarts=2, checkpoint=tmp_path / "c")
    dp.save(dp.MLP([5, 2]), tmp_path / "model.dp")
    with pytest.raises(dp.ModelFileError, match="not a checkpoint"):
        dp.resume(tmp_path / "model.dp", X, Y)
    with pytest.raises(ValueError, match="checkpoint_every must be"):
        dp.MLP([5, 2]).fit(X, Y, loss="cross_entropy", checkpoint=tmp_path / "c", checkpoint_every=0)


def test_saved_optimizer_and_batchnorm_states_are_copies_untouched_by_later_training(rng):
    """What a checkpoint saves (the optimizer's state_dict, BatchNorm's running statistics) is
    a copy: training on does not change a state taken earlier."""
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    net = dp.MLP([3, 4, 1], batch_norm=True, seed=0)
    optimizer = dp.Adam()
    net.fit(X, y, optimizer=optimizer, epochs=1)
    saved, stats = optimizer.state_dict(), net.layers[1].state()
    m, mean = saved["m"].copy(), stats["running_mean"].copy()
    net.fit(X, y, optimizer=optimizer, epochs=1)
    np.testing.assert_array_equal(saved["m"], m)
    np.testing.assert_array_equal(stats["running_mean"], mean)


def test_ctrl_c_stops_after_the_batch_keeps_the_best_and_the_last_checkpoint(tmp_path):
    class CtrlCAt(dp.Callback):
        def on_batch_end(self, trainer, step):
            if trainer.history.n_epochs == 5 and step == 2:
                os.kill(os.getpid(), signal.SIGINT)

    def fit(net, **extra):
        return net.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.3), epochs=12,
                       batch_size=8, validation_fraction=0.25, early_stopping=20, **extra)

    path = tmp_path / "run.ckpt"
    net = dp.MLP([5, 12, 2], seed=3)
    history = fit(net, checkpoint=path, callbacks=[CtrlCAt()])
    assert history.stop_reason == "interrupted" and history.n_epochs == 6  # epoch 6, 2 steps
    assert "interrupted (Ctrl-C) in epoch 6" in history.stop_message
    best = int(np.argmin(history.val_loss)) + 1
    assert history.best_epoch == best
    assert best == 6 or f"the weights of epoch {best} (the best) were kept" in history.stop_message
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    whole = dp.MLP([5, 12, 2], seed=3)
    fit(whole)
    resumed, _ = dp.resume(path, X, Y)  # from the end of epoch 5, the last whole one
    np.testing.assert_array_equal(resumed.theta, whole.theta)


CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import deltaprop as dp
    from deltaprop.files import container as modelfile

    path, slow = sys.argv[1], sys.argv[2] == "slow"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 20))
    Y = (X[:, 0] * X[:, 1] > 0).astype(int)
    if slow:  # a slow disk: the checkpoint is complete in its temporary file, not yet renamed
        replace = os.replace
        def slow_replace(source, target):
            print("WRITING", flush=True)
            time.sleep(0.5)
            replace(source, target)
        modelfile.os.replace = slow_replace
    if os.path.exists(path):
        dp.resume(path, X, Y)
    else:
        net = dp.MLP([20, 64, 64, 2], seed=5, batch_norm=True)
        net.fit(X, Y, loss="cross_entropy", optimizer=dp.Adam(0.01), epochs=EPOCHS, batch_size=16,
                checkpoint=path)
    print("DONE", flush=True)
""")
EPOCHS, N = 60, 2000  # about 1.5 seconds of training in all


def _child_data():
    rng = np.random.default_rng(0)
    X_child = rng.standard_normal((N, 20))
    return X_child, (X_child[:, 0] * X_child[:, 1] > 0).astype(int)


def test_sigkill_at_random_moments_never_corrupts_and_resumes_exactly(tmp_path):
    """Kill the training process (SIGKILL) at random moments and twice while a checkpoint is
    being written (complete in its temporary file, not yet renamed); after every kill the
    checkpoint loads, or does not exist yet; each new process resumes from it; the final
    weights equal those of the run never killed."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace("EPOCHS", str(EPOCHS)).replace("(N, 20)", f"({N}, 20)"))
    path = tmp_path / "run.ckpt"
    pauses = np.random.default_rng(11).uniform(0.0, 0.3, size=2)
    schedule = ["slow", pauses[0], "slow", pauses[1], None]  # None: run to the end
    epochs_seen = []
    for killed, kill in enumerate(schedule, start=1):
        child = subprocess.Popen([sys.executable, str(script), str(path),
                                  "slow" if kill == "slow" else "fast"],
                                 stdout=subprocess.PIPE, text=True)
        if kill == "slow":
            assert child.stdout.readline().strip() == "WRITING"
            child.kill()
        elif kill is not None:  # a random moment once training is under way
            deadline = time.monotonic() + 60
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(kill)
            child.kill()
        out, _ = child.communicate(timeout=300)
        assert ("DONE" in out) == (kill is None)
        # each writer has its own temporary file (racing writers never share one); a killed
        # writer cannot remove its own, so at most one per kill is left
        assert len([n for n in os.listdir(tmp_path) if n.endswith(".part")]) <= killed
        if path.exists():
            epochs_seen.append(dp.load(path).history.n_epochs)  # never corrupt
    assert len(epochs_seen) == 4 and epochs_seen[-1] == EPOCHS  # no file before the first kill
    assert epochs_seen == sorted(epochs_seen) and epochs_seen[0] < EPOCHS  # killed mid-run
    X_child, Y_child = _child_data()
    whole = dp.MLP([20, 64, 64, 2], seed=5, batch_norm=True)
    whole.fit(X_child, Y_child, loss="cross_entropy", optimizer=dp.Adam(0.01), epochs=EPOCHS,
              batch_size=16)
    np.testing.assert_array_equal(dp.load(path).theta, whole.theta)


def test_extending_a_run_that_restored_its_best_epoch_continues_from_its_last(tmp_path):
    path = tmp_path / "run.ckpt"

    def run(epochs, **extra):
        net = dp.MLP([5, 12, 2], seed=3)
        net.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.3), epochs=epochs, batch_size=8,
                validation_fraction=0.3, early_stopping=dp.EarlyStopping(50), **extra)
        return net

    short = run(10, checkpoint=path)
    assert short.history.kept_epoch < 10  # the best epoch was restored: not the last one
    extended, history = dp.resume(path, X, Y, epochs=20)
    np.testing.assert_array_equal(extended.theta, run(20).theta)
    assert history.n_epochs == 20


def test_a_time_limit_stops_mid_epoch_and_resume_goes_on_exactly(tmp_path):
    path = tmp_path / "run.ckpt"

    class SlowSteps(dp.Callback):  # makes the 0.05 s budget end inside epoch 3 or later
        def on_batch_end(self, trainer, step):
            time.sleep(0.002)

    net = dp.MLP([5, 8, 2], seed=2)
    first = net.fit(X, Y, loss="cross_entropy", epochs=30, batch_size=8, time_limit=0.25,
                    checkpoint=path, callbacks=[SlowSteps()])
    assert first.stop_reason == "time_limit" and 1 < first.n_epochs < 30
    saved = dp.load(path).history.n_epochs
    assert saved == first.n_epochs - 1  # the epoch cut short is not checkpointed
    resumed, history = dp.resume(path, X, Y, callbacks=[SlowSteps()])
    while history.stop_reason == "time_limit":  # one budget per session
        resumed, history = dp.resume(path, X, Y, callbacks=[SlowSteps()])
    whole = dp.MLP([5, 8, 2], seed=2)
    whole.fit(X, Y, loss="cross_entropy", epochs=30, batch_size=8)
    np.testing.assert_array_equal(resumed.theta, whole.theta)


def test_resume_needs_the_same_validation_data(tmp_path):
    path = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError):
        dp.MLP([5, 8, 2], seed=1).fit(X, Y, loss="cross_entropy", epochs=6, early_stopping=3,
                                      validation_data=(X[:10], Y[:10]), checkpoint=path,
                                      callbacks=[CrashAt(4)])
    with pytest.raises(ValueError, match="these data differ"):
        dp.resume(path, X, Y)
    with pytest.raises(ValueError, match="these data differ"):
        dp.resume(path, X, Y, validation_data=(X[10:20], Y[10:20]))
    _, history = dp.resume(path, X, Y, validation_data=(X[:10], Y[:10]))
    assert len(history.val_loss) == history.n_epochs


def test_numpy_numbers_as_options_are_stored_as_numbers(tmp_path):
    net = dp.MLP([5, 8, 2], seed=1)
    net.fit(X, Y, loss="cross_entropy", epochs=np.int64(3), batch_size=np.int64(16),
            validation_fraction=np.float32(0.25), tol=np.float32(1e-9), checkpoint=tmp_path / "c")
    assert dp.resume(tmp_path / "c", X, Y)[1].n_epochs == 3


def test_after_divergence_resume_continues_with_a_smaller_rate(tmp_path):
    path = tmp_path / "run.ckpt"
    net = dp.MLP([5, 8, 2], seed=1)
    history = net.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(1e-3), epochs=3, checkpoint=path)
    assert history.stop_reason == "epochs"
    hot = dp.MLP([5, 8, 2], seed=1)
    hot.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(1e-3), epochs=2, checkpoint=path,
            checkpoint_every=1)
    _, diverged = dp.resume(path, X, Y, optimizer=dp.SGD(1e12), epochs=6)
    assert diverged.stop_reason == "diverged" and "smaller learning rate" in diverged.stop_message
    assert dp.load(path).history.stop_reason != "diverged"  # the last good checkpoint stands
    net, calm = dp.resume(path, X, Y, optimizer=dp.SGD(1e-3), epochs=6)
    assert calm.stop_reason == "epochs" and calm.n_epochs == 6 and np.isfinite(calm.loss).all()


def test_ctrl_c_ends_restarts_too():
    class CtrlCInRunOne(dp.Callback):
        def on_batch_end(self, trainer, step):
            if trainer.run_index == 1 and trainer.history.n_epochs == 2 and step == 1:
                os.kill(os.getpid(), signal.SIGINT)

    history = dp.MLP([5, 8, 2], seed=1).fit(X, Y, loss="cross_entropy", epochs=5, restarts=4,
                                            n_jobs=1, callbacks=[CtrlCInRunOne()])
    assert [r["run"] for r in history.restarts] == [0, 1]
    assert history.stop_reason == "interrupted" and "interrupted (Ctrl-C) in run 1" in history.stop_message


def test_the_message_names_the_weights_really_kept():
    def fit(stopper):
        return dp.MLP([5, 8, 2], seed=3).fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.5),
                                             epochs=300, validation_fraction=0.3,
                                             early_stopping=stopper)
    kept_best = fit(dp.EarlyStopping(2))
    kept_last = fit(dp.EarlyStopping(2, restore_best=False))
    assert kept_best.stop_reason == kept_last.stop_reason == "early_stopping"
    assert f"the weights of epoch {kept_best.best_epoch} (the best) were kept" in kept_best.stop_message
    assert kept_last.kept_epoch == kept_last.n_epochs
    assert "the last weights were kept" in kept_last.stop_message


def _unwritable(tmp_path):
    """A folder where no file can be created, even by root (a file stands in its path)."""
    (tmp_path / "notes.txt").write_text("mine")
    return tmp_path / "notes.txt" / "run.ckpt"


@pytest.mark.parametrize("where, error, message", [
    (lambda t: t / "missing" / "run.ckpt", ValueError, "the folder .*missing does not exist; create it"),
    (lambda t: _unwritable(t), ValueError, "notes.txt is a file, not a folder"),
    (lambda t: t, ValueError, "is a folder; name a file to write, not a folder"),
    (lambda t: "", ValueError, "checkpoint is empty; name a file to write"),
    (lambda t: str(t) + os.sep, ValueError, "is a folder; name a file to write"),
    (lambda t: "/dev/null", ValueError, "/dev/null is not a regular file"),
    (lambda t: 3, TypeError, "checkpoint must be a file path"),
    (lambda t: t / "run\0.ckpt", ValueError, "holds a NUL character"),
    (lambda t: t / ("r" * 250 + ".ckpt"), ValueError, "cannot write in the folder .*too long"),
])
def test_a_checkpoint_that_cannot_be_written_is_refused_before_the_first_epoch(where, error, message,
                                                                              tmp_path):
    """Not after the first epoch has already changed the weights: the network is left as it
    was (its output activation too), and nothing is written."""
    net = dp.MLP([5, 8, 2], seed=1)
    before, output = net.theta.copy(), net.output_layer.activation
    with pytest.raises(error, match=message):
        net.fit(X, Y, loss="cross_entropy", epochs=2, checkpoint=where(tmp_path))
    np.testing.assert_array_equal(net.theta, before)
    assert net.output_layer.activation is output and net.history is None
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["notes.txt"])


def test_a_folder_that_refuses_files_is_found_before_training(tmp_path, monkeypatch):
    """Where the folder exists but a file cannot be created there (read-only file system,
    permissions), a Checkpoint made earlier, and resume, refuse before any step."""
    import tempfile

    path = tmp_path / "run.ckpt"
    writer = dp.Checkpoint(path)
    with pytest.raises(RuntimeError):
        dp.MLP([5, 8, 2], seed=1).fit(X, Y, loss="cross_entropy", epochs=3, checkpoint=path,
                                      callbacks=[CrashAt(2)])
    saved = path.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    net = dp.MLP([5, 8, 2], seed=1)
    before = net.theta.copy()
    with pytest.raises(ValueError, match="cannot write in the folder .*Permission denied"):
        net.fit(X, Y, loss="cross_entropy", epochs=2, checkpoint=writer)
    np.testing.assert_array_equal(net.theta, before)
    with pytest.raises(ValueError, match="cannot write in the folder"):
        dp.resume(path, X, Y)
    assert path.read_bytes() == saved


def test_bad_arguments_of_resume_and_checkpoint_are_named(tmp_path):
    path = tmp_path / "run.ckpt"
    dp.MLP([5, 8, 2], seed=1).fit(X, Y, loss="cross_entropy", epochs=3, checkpoint=path)
    saved = path.read_bytes()
    with pytest.raises(TypeError, match="optimizer must be an Optimizer object .* got 'sgd'"):
        dp.resume(path, X, Y, optimizer="sgd", epochs=4)
    with pytest.raises(ValueError, match="epochs=2 is fewer than the 3 the checkpointed run has done"):
        dp.resume(path, X, Y, epochs=2)
    with pytest.raises(TypeError, match="epochs must be an integer > 0, got True"):
        dp.resume(path, X, Y, epochs=True)
    with pytest.raises(TypeError, match=r"callbacks\[0\] is None"):
        dp.resume(path, X, Y, epochs=4, callbacks=[None])
    assert path.read_bytes() == saved
    # metadata the file cannot hold is refused when the Checkpoint is made, not at its first write
    with pytest.raises(TypeError, match="metadata must be a dict"):
        dp.Checkpoint(tmp_path / "other.ckpt", metadata=[("run", 1)])
    with pytest.raises(TypeError, match="metadata must hold only what JSON can"):
        dp.Checkpoint(tmp_path / "other.ckpt", metadata={"when": object()})


@pytest.mark.parametrize("victim", ["data.csv", "model.dp", "notes.ckpt"])
def test_a_checkpoint_never_replaces_a_file_that_is_not_a_checkpoint(tmp_path, victim):
    """fit(checkpoint=path) replaces the previous checkpoint of a run, never a data file or a
    model of the user's: both are refused, byte for byte untouched, before the first step."""
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2
    net = dp.MLP([3, 4, 2], seed=0)
    path = tmp_path / victim
    if victim == "model.dp":
        dp.save(net, path)
    else:
        path.write_text("a,b,y\n1,2,0\n")
    before, start = path.read_bytes(), net.theta.copy()
    refusal = (r"checkpoint .*: there is (a model file holding a network .*|a file that is not a "
               r"checkpoint \(not a deltaprop model file.*\)), which a checkpoint would replace")
    with pytest.raises(ValueError, match=refusal):
        net.fit(X, y, loss="cross_entropy", epochs=2, checkpoint=path)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(net.theta, start)
    # A checkpoint is replaced by the next one: that is what it is for.
    ckpt = tmp_path / "run.ckpt"
    net.fit(X, y, loss="cross_entropy", epochs=1, checkpoint=ckpt)
    net.fit(X, y, loss="cross_entropy", epochs=1, checkpoint=ckpt)


def test_checkpoint_every_without_a_checkpoint_is_refused():
    with pytest.raises(ValueError, match="checkpoint_every=5 needs a checkpoint path"):
        dp.FitOptions(checkpoint_every=5)
