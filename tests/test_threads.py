"""Threads: importing tinygrad_seq limits BLAS to one thread unless told otherwise; lanes."""
import os
import subprocess
import sys
import threading

import pytest
from threadpoolctl import threadpool_info

import tinygrad_seq as ts


def blas_threads():
    """Threads of numpy's BLAS (not of libraries loaded later, as PyTorch's by other tests)."""
    return {i["num_threads"] for i in threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]}


def test_one_blas_thread_after_import_and_set_blas_threads():
    assert blas_threads() == {1}
    try:
        ts.set_blas_threads(2)
        assert blas_threads() == {2}
    finally:
        ts.set_blas_threads(1)
    with pytest.raises(ValueError, match="positive number of threads"):
        ts.set_blas_threads(0)


def blas_threads_in_subprocess(module, setting):
    code = (f"import {module}; from threadpoolctl import threadpool_info; "
            "print(sorted({i['num_threads'] for i in threadpool_info() "
            "if i['user_api'] == 'blas'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, TINYGRAD_SEQ_BLAS_THREADS=setting), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_environment_variable():
    assert blas_threads_in_subprocess("tinygrad_seq", "3") == "[3]"
    # "default" leaves BLAS as numpy alone would have it
    assert blas_threads_in_subprocess("tinygrad_seq", "default") == \
        blas_threads_in_subprocess("numpy", "default")
    bad = subprocess.run([sys.executable, "-c", "import tinygrad_seq"], capture_output=True,
                         text=True, env=dict(os.environ, TINYGRAD_SEQ_BLAS_THREADS="many"))
    assert bad.returncode != 0 and "TINYGRAD_SEQ_BLAS_THREADS must be" in bad.stderr


def test_num_threads_defaults_to_the_cores_and_follows_the_environment():
    code = "import tinygrad_seq as ts; print(ts.get_num_threads())"

    def num_threads(setting):
        env = dict(os.environ)
        env.pop("TINYGRAD_SEQ_NUM_THREADS", None)
        if setting is not None:
            env["TINYGRAD_SEQ_NUM_THREADS"] = setting
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=120)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert num_threads(None).stdout.strip() == str(cores)
    assert num_threads("3").stdout.strip() == "3"
    bad = num_threads("0")
    assert bad.returncode != 0 and "TINYGRAD_SEQ_NUM_THREADS must be" in bad.stderr


def test_set_num_threads_and_run_parallel():
    before = ts.get_num_threads()
    try:
        ts.set_num_threads(2)
        assert ts.get_num_threads() == 2
        # results in order; several items run on other threads, one item in this one
        assert ts.threads.run_parallel(lambda k: k * k, [1, 2, 3]) == [1, 4, 9]
        assert ts.threads.run_parallel(lambda _: threading.get_ident(), [0]) == \
            [threading.get_ident()]
        with pytest.raises(ValueError, match="set_num_threads: expected a positive number"):
            ts.set_num_threads(0)
    finally:
        ts.set_num_threads(before)


def test_run_parallel_holds_blas_to_one_thread_while_lanes_run():
    try:
        ts.set_blas_threads(2)
        inside = ts.threads.run_parallel(lambda _: blas_threads(), [0, 1])
        assert inside == [{1}, {1}] and blas_threads() == {2}
    finally:
        ts.set_blas_threads(1)
