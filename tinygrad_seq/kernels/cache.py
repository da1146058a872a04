"""numba's disk cache for the kernels, keyed by the source of every kernel file.

numba keys a cached function by its own file's time stamp, but the compiled code of a jitted
function includes the jitted functions it calls, from whichever file: after an edit of
loops.py alone (a `git pull` in an editable install), recurrent.py's cached time loops would
go on running the old cell kernels. So the kernels cache in a directory named by a hash of
all of kernels/*.py, and an edit of any of them starts a fresh cache:
kernels/__pycache__/numba-<hash> (other hashes' directories there are removed), or
<NUMBA_CACHE_DIR>/tinygrad_seq/numba-<hash> when NUMBA_CACHE_DIR is set, or the user's
~/.cache/tinygrad_seq/numba-<hash> when the package's directory is read-only.

    njit(**options)          numba.njit(cache=True, **options), caching in DIRECTORY
"""
import glob
import hashlib
import os
import shutil

import numba

_HERE = os.path.dirname(os.path.abspath(__file__))


def sources_digest(paths):
    """A short hash of the files' contents, in the order given."""
    h = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _directory():
    name = "numba-" + sources_digest(sorted(glob.glob(os.path.join(_HERE, "*.py"))))
    if numba.config.CACHE_DIR:
        return os.path.join(numba.config.CACHE_DIR, "tinygrad_seq", name)
    tree = os.path.join(_HERE, "__pycache__")
    if os.access(_HERE, os.W_OK) and (not os.path.isdir(tree) or os.access(tree, os.W_OK)):
        for old in glob.glob(os.path.join(tree, "numba-*")) + glob.glob(
                os.path.join(tree, "*.nb[ic]")):   # other sources' caches, older layouts'
            if os.path.basename(old) == name:
                continue
            try:
                shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)
            except OSError:   # another process removed it first
                pass
        return os.path.join(tree, name)
    return os.path.join(os.path.expanduser("~"), ".cache", "tinygrad_seq", name)


DIRECTORY = _directory()


def njit(**options):
    """numba.njit(cache=True, **options), its cache in DIRECTORY: numba picks a function's
    cache directory when it is decorated, from numba.config.CACHE_DIR, set here for that
    moment only (the user's own jitted functions keep theirs)."""
    def decorate(fn):
        saved, numba.config.CACHE_DIR = numba.config.CACHE_DIR, DIRECTORY
        try:
            return numba.njit(cache=True, **options)(fn)
        finally:
            numba.config.CACHE_DIR = saved
    return decorate
