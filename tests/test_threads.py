"""Importing tinygrad_seq limits BLAS to one thread unless told otherwise."""
import os
import subprocess
import sys

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
