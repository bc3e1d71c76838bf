"""One writer per run folder: the lock names its holder, dies with its process, and a failed
command leaves no empty folder behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from workbench.rundir import RunFolderBusy, run_lock

HOLD = """
import sys, time
from workbench.rundir import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_lock(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_with_the_folder_and_the_holders_pid(tmp_path):
    proc = hold_lock(tmp_path / "run")
    try:
        with pytest.raises(RunFolderBusy, match=rf"{tmp_path / 'run'} is being written by .*pid {proc.pid}"):
            with run_lock(tmp_path / "run"):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    proc = hold_lock(tmp_path / "run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "run" / ".lock").exists()  # the dead holder's file is still there
    with run_lock(tmp_path / "run"):
        assert f"pid {os.getpid()}" in (tmp_path / "run" / ".lock").read_text()
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_failure_removes_the_folder_it_created_but_never_one_that_was_there(tmp_path):
    with pytest.raises(ValueError):
        with run_lock(tmp_path / "new" / "run"):
            raise ValueError("bad input")
    assert not (tmp_path / "new" / "run").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(ValueError):
        with run_lock(tmp_path / "old"):
            raise ValueError("bad input")
    assert (tmp_path / "old").is_dir()
    with pytest.raises(ValueError):
        with run_lock(tmp_path / "wrote"):
            (tmp_path / "wrote" / "config.json").write_text("{}")
            raise ValueError("late failure")
    assert (tmp_path / "wrote" / "config.json").exists()  # what a run wrote is kept


def test_lock_is_released_when_the_block_ends(tmp_path):
    with run_lock(tmp_path / "run"):
        pass
    t0 = time.time()
    with run_lock(tmp_path / "run"):
        pass
    assert time.time() - t0 < 5
