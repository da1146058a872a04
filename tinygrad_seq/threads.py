"""Threads: how many numpy's BLAS may use, and how many tinygrad_seq's own parallel work uses.

BLAS: one thread unless told otherwise. Recurrent networks run many small matrix products
with other work (numba kernels, Python) in between. Multi-threaded OpenBLAS keeps its idle
threads spinning between calls; on this project's 2-core machine a charlm training step took
75 ms with one BLAS thread and 0.2 s to 4 s with the default two, depending on what else was
running. So importing tinygrad_seq limits BLAS to one thread; the environment variable
TINYGRAD_SEQ_BLAS_THREADS (a number, or "default" to leave BLAS alone) or set_blas_threads(n)
chooses otherwise. The limit applies to the whole process.

Our own threads (`set_num_threads`, as torch.set_num_threads; TINYGRAD_SEQ_NUM_THREADS in the
environment; default: the cores this process may run on): a fused recurrent layer splits a
large batch into lanes of rows that run their whole sequence side by side, one thread each
(nn/fused.py). Lanes share nothing until the end, and a waiting thread sleeps rather than
spins, so they cost nothing when the machine is busy. While lanes run, BLAS is held to one
thread per lane.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_controller = None
_blas_threads = None    # what set_blas_threads last set (None: BLAS's own default)
_num_threads = None
_pool, _pool_size = None, 0
_pool_lock = threading.Lock()   # user threads may run fused layers at the same time


def _positive(n, what):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{what}: expected a positive number of threads, got {n!r}")


def _blas():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    return _controller


def set_blas_threads(n):
    """Let BLAS use n threads (None: its own default, as before tinygrad_seq was imported)."""
    global _blas_threads
    if n is not None:
        _positive(n, "set_blas_threads")
    _blas().limit(limits=n, user_api="blas")
    _blas_threads = n


def set_num_threads(n):
    """Run at most n of tinygrad_seq's own threads (the fused layers' batch lanes)."""
    global _num_threads
    _positive(n, "set_num_threads")
    _num_threads = n


def get_num_threads():
    """How many threads tinygrad_seq's own parallel work may use."""
    return _num_threads


def run_parallel(fn, items):
    """[fn(item) for item in items], one pool thread per item when there are several (callers
    keep to get_num_threads() items), in this thread when there is one; BLAS is held to one
    thread meanwhile (by threadpoolctl, which lets only one Python thread set OpenBLAS's
    threads: the one that first did, the importing thread; from others this is a no-op)."""
    global _pool, _pool_size
    if len(items) == 1:
        return [fn(items[0])]
    with _pool_lock:
        if _pool_size < len(items):
            # a bigger pool; the old one is not shut down, as another thread may be using it:
            # its idle workers exit once nothing refers to it
            _pool_size = max(len(items), _num_threads)
            _pool = ThreadPoolExecutor(_pool_size, "tinygrad_seq")
        pool = _pool
    if _blas_threads == 1:
        return list(pool.map(fn, items))
    with _blas().limit(limits=1, user_api="blas"):
        return list(pool.map(fn, items))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def _setting(name, default):
    """A positive number from the environment variable `name` (None for "default")."""
    setting = os.environ.get(name, default).strip().lower()
    if setting == "default":
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(f"{name} must be a positive number or 'default', got {setting!r}")
    return int(setting)


def _from_environment():
    blas = _setting("TINYGRAD_SEQ_BLAS_THREADS", "1")
    if blas is not None:
        set_blas_threads(blas)
    set_num_threads(_setting("TINYGRAD_SEQ_NUM_THREADS", "default") or _cores())
