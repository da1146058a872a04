"""How many threads numpy's BLAS may use: one, unless told otherwise.

Recurrent networks run many small matrix products with other work (numba kernels, Python)
in between. Multi-threaded OpenBLAS keeps its idle threads spinning between calls; on this
project's 2-core machine a charlm training step took 75 ms with one BLAS thread and 0.2 s to
4 s with the default two, depending on what else was running. So importing tinygrad_seq limits
BLAS to one thread; the environment variable TINYGRAD_SEQ_BLAS_THREADS (a number, or "default"
to leave BLAS alone) or set_blas_threads(n) chooses otherwise. The limit applies to the whole
process, as torch.set_num_threads does for PyTorch.
"""
import os

_controller = None


def set_blas_threads(n):
    """Let BLAS use n threads (None: its own default, as before tinygrad_seq was imported)."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_blas_threads: expected a positive number of threads or None, "
                         f"got {n!r}")
    if _controller is None:
        _controller = ThreadpoolController()
    _controller.limit(limits=n, user_api="blas")


def _from_environment():
    setting = os.environ.get("TINYGRAD_SEQ_BLAS_THREADS", "1").strip().lower()
    if setting == "default":
        return
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(f"TINYGRAD_SEQ_BLAS_THREADS must be a positive number or 'default', "
                         f"got {setting!r}")
    set_blas_threads(int(setting))
