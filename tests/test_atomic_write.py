"""Atomic writes (:func:`deltaprop.files.atomic.atomic_write`): each writer has a temporary file
of its own, so writers racing to one path never mix their files and a reader always sees a
whole file; a writer that fails (an exception, Ctrl-C, a full disk, a file-size limit) leaves
the old file byte for byte and no debris, and says which file it could not write and why."""

from __future__ import annotations

import errno
import multiprocessing
import os
import resource
import stat

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.files import atomic
from deltaprop.files.atomic import atomic_write, check_writable

N_WRITERS, ROUNDS, WIDTH = 2, 10, 400  # each file ~640 kB: a write takes a moment
pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="the racing writers are forked")


def _network(code: float) -> dp.Network:
    """A network whose every parameter is ``code``: which write a file came from, at a glance."""
    net = dp.Network([dp.Dense(WIDTH, WIDTH)], seed=0)
    net.theta[...] = code
    return net


def _code(writer: int, round_: int) -> float:
    return float(1 + writer * ROUNDS + round_)


def _writer(path: str, writer: int) -> None:
    net = _network(0.0)
    for round_ in range(ROUNDS):
        net.theta[...] = _code(writer, round_)
        dp.save(net, path)


def test_racing_writers_never_mix_and_a_reader_always_sees_a_whole_file(tmp_path):
    path = str(tmp_path / "model.dp")
    dp.save(_network(0.0), path)
    written = {0.0} | {_code(w, r) for w in range(N_WRITERS) for r in range(ROUNDS)}
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_writer, args=(path, w)) for w in range(N_WRITERS)]
    for process in writers:
        process.start()
    seen = []
    while any(process.is_alive() for process in writers) or not seen:
        theta = dp.load(path).theta  # raises on a partial or mixed file
        assert theta[0] in written and np.all(theta == theta[0]), "a mix of two writes"
        seen.append(float(theta[0]))
    for process in writers:
        process.join()
        assert process.exitcode == 0, "a writer failed"
    final = dp.load(path).theta
    assert final[0] in {_code(w, ROUNDS - 1) for w in range(N_WRITERS)} and np.all(final == final[0])
    assert os.listdir(tmp_path) == ["model.dp"]  # no .part debris


class _Stop(Exception):
    pass


@pytest.mark.parametrize("failure", [_Stop, KeyboardInterrupt])
def test_a_write_failing_half_way_leaves_the_old_file_and_no_debris(tmp_path, failure):
    path = tmp_path / "model.dp"
    path.write_bytes(b"the old model")

    def write(stream):
        stream.write(b"x" * 100_000)
        stream.flush()
        assert len(os.listdir(tmp_path)) == 2  # its temporary file, beside the old one
        raise failure("half-way")

    with pytest.raises(failure, match="half-way"):  # not wrapped: only OSErrors are
        atomic_write(path, write)
    assert path.read_bytes() == b"the old model" and os.listdir(tmp_path) == ["model.dp"]


def test_a_full_disk_names_the_file_and_the_reason_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.dp"
    dp.save(_network(1.0), path)
    before = path.read_bytes()

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as caught:
        dp.save(_network(2.0), path)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.strerror == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.dp"]


def _limited_save(path: str, connection) -> None:
    """dp.save under a file-size limit far below the file's size (Python ignores SIGXFSZ, so
    the write fails with EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        dp.save(_network(2.0), path)
    except OSError as error:
        connection.send((type(error).__name__, error.errno, error.strerror))
    else:
        connection.send(None)


def test_a_file_size_limit_names_the_file_and_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "model.dp")
    dp.save(_network(1.0), path)
    with open(path, "rb") as stream:
        before = stream.read()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_limited_save, args=(path, sender))
    process.start()
    outcome = receiver.recv()
    process.join()
    assert outcome == ("OSError", errno.EFBIG, f"cannot write {path}: File too large")
    with open(path, "rb") as stream:
        assert stream.read() == before
    assert os.listdir(tmp_path) == ["model.dp"]


def test_each_write_has_its_own_temporary_file(tmp_path):
    seen = []

    def write(stream):
        seen.extend(name for name in os.listdir(tmp_path) if name.endswith(".part"))
        stream.write(b"new")

    for _ in range(2):
        atomic_write(tmp_path / "model.dp", write)
    assert len(set(seen)) == 2 and all(name.startswith(".model.dp.") for name in seen)
    assert (tmp_path / "model.dp").read_bytes() == b"new" and os.listdir(tmp_path) == ["model.dp"]


def test_a_device_or_a_pipe_is_never_replaced_by_a_save(tmp_path):
    """A rename over a FIFO (or, for root, over /dev/null) would replace it with a model file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match="not a regular file"):
        dp.save(_network(1.0), pipe)
    with pytest.raises(ValueError, match="--out .*pipe is not a regular file"):
        check_writable(pipe, "--out")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and os.listdir(tmp_path) == ["pipe"]
