"""Threads: how many numpy's BLAS may use, and how many tinygrad_seq's own parallel work uses.

BLAS: one thread unless told otherwise. Recurrent networks run many small matrix products
with other work (numba kernels, Python) in between. Multi-threaded OpenBLAS keeps its idle
threads spinning between calls; on this project's 2-core machine a charlm training step took
75 ms with one BLAS thread and 0.2 s to 4 s with the default two, depending on what else was
running. So importing tinygrad_seq limits BLAS to one thread; the environment variable
TINYGRAD_SEQ_BLAS_THREADS (a number, or "default" to leave BLAS alone) or set_blas_threads(n)
chooses otherwise. The limit applies to the whole process.

Our own threads (`set_num_threads`, as torch.set_num_threads; TINYGRAD_SEQ_NUM_THREADS in the
environment; default: the cores this process may run on) are a team: the caller and n - 1
workers (`team(n)`, class Team). They run large matrix products, split into blocks of rows or
columns (`split_ways`, ops/matmul.py: one BLAS thread each, so no BLAS thread spins beside
them), and a fused recurrent layer in one of two ways (nn/fused.py chooses):
- lanes (`run_parallel`): a large batch is split into lanes of rows that run their whole
  sequence side by side, one thread each. Lanes share nothing until the end. While lanes
  run, BLAS is held to one thread per lane.
- parts (`team(n).run`): a small batch's hidden units are split into n parts whose jitted
  time loops run side by side and meet at a spin barrier once per time step
  (kernels/sync.py). A barrier waits for the slowest thread, so on a busy machine, where one
  thread of the team is often descheduled, the team would lose more than it gains: it watches
  the share of its loops' time spent waiting, and when that passes WAIT_LIMIT twice in a row
  it runs on one thread (every part in turn, the same numbers) for COOL runs, then tries n
  threads again; the cool-down doubles, up to COOL_MAX, while the machine stays busy.
  Without the JIT (NUMBA_DISABLE_JIT=1) a team always runs on one thread: nothing spins in
  Python. While a team runs on several threads, BLAS is held to one thread, as for lanes.
"""
import collections
import os
import threading

import numpy as np

_controller = None
_blas_threads = None    # what set_blas_threads last set (None: BLAS's own default)
_num_threads = None
WORKER_NAME = "tinygrad_seq"    # the name of every thread of ours (teams' workers)


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
    """[fn(item) for item in items]: the first item in this thread, each other one on a worker
    of the team of len(items) threads (callers keep to get_num_threads() items), or all of them
    in turn on this thread where the team runs one (no JIT, a busy machine, or another caller
    using it: see Team.run); BLAS is held to one thread while several run."""
    if len(items) == 1:
        return [fn(items[0])]
    results = [None] * len(items)

    def job(t, m, flags, stats):
        for i in range(t, len(items), m):
            results[i] = fn(items[i])
    team(len(items)).run(job)
    return results


def split_ways():
    """How many threads one large product may be split over (ops/matmul.py): our threads
    while BLAS is held to one (else BLAS splits it itself), 1 inside our own worker threads
    (whose team is busy with the job they are running)."""
    if _blas_threads != 1 or threading.current_thread().name.startswith(WORKER_NAME):
        return 1
    return _num_threads


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


# ---------------------------------------------------------------------------------------------
# teams: threads that meet at a barrier every time step
# ---------------------------------------------------------------------------------------------
WAIT_LIMIT = 0.25   # share of the loops' time spent at barriers that marks a busy machine
COOL, COOL_MAX = 8, 64   # runs on one thread after that, doubling while it stays busy
HANDOFF_SPIN = 2_500_000   # cycle-counter ticks a team's thread spins at a hand-off: 1 ms here
IDLE_TIMEOUT_NS = 100_000_000
_teams, _teams_lock = {}, threading.Lock()


class Team:
    """n threads, the caller and n - 1 workers started on first use, for jobs that call
    `job(t, m, flags, stats)` for t in range(m) side by side: thread t of m, the barrier's
    flags (kernels/sync.py) and stats (m, 4) int64 that the job adds cycles to: [waited at
    barriers, in the loops, ...] (kernels/recurrent.py). m is n, or 1 while the machine looks
    busy (see the module's docstring). `history` keeps (m, share of time waited) of the last
    runs.

    Hand-offs: the caller posts job number g on its counter of `signals` (sync.post) and,
    once its own share is done, waits for every worker's counter to reach g (sync.wait_for);
    a worker posts g when done and waits for g + 1 (sync.handoff). Both wait about a
    millisecond (HANDOFF_SPIN) before they sleep, spinning the first 20 us and then yielding
    the CPU between looks: a training step hands work over several times (the layer's
    forward, the head's split products, the layer's backward) with less than that in between,
    and a sleeping worker takes 50-100 us to wake here. (Yielding, because a worker woken
    after a long sleep often lands on the caller's CPU: a caller spinning there held it off
    for the whole spin.) With Python's Events instead, the caller returned 170 us after its
    last worker's end (the charlm LSTM's forward); with these, about 45."""

    def __init__(self, n):
        import numba
        from .kernels import sync
        self.n, self._sync = n, sync
        self.jit = not numba.config.DISABLE_JIT
        self.flags, self.stats = sync.new_flags(n), np.zeros((n, 4), np.int64)
        # sleeping workers wake once a tenth of a second, not every millisecond
        self.signals = sync.new_flags(n, timeout_ns=IDLE_TIMEOUT_NS)
        self.threads = n if self.jit else 1   # m for the next run
        self.adaptive = True                  # False: keep self.threads
        self._bad = self._cool = 0
        self._cool_len, self._probing = COOL, False
        self.history = collections.deque(maxlen=64)
        self._lock = threading.Lock()
        self._workers, self._posted = [], 0
        self._job = None
        self._errors = []

    def run(self, job):
        """Run the job on the team's threads; if another thread is using the team, on this
        thread alone (m = 1: no barrier, so it can never wait for a busy team)."""
        if not self._lock.acquire(blocking=False):
            job(0, 1, self._sync.new_flags(1), np.zeros((1, 4), np.int64))
            return
        try:
            m = self.threads if self.jit else 1   # (no hand-offs without the JIT)
            self.flags[:] = self._sync.new_flags(self.n)
            self.stats[:] = 0
            if m == 1:
                job(0, 1, self.flags, self.stats)
            elif _blas_threads == 1:
                self._run_threads(job, m)
            else:   # no idle BLAS thread spinning beside the team (see run_parallel)
                with _blas().limit(limits=1, user_api="blas"):
                    self._run_threads(job, m)
            self._adapt(m)
        finally:
            self._lock.release()

    def _run_threads(self, job, m):
        for t in range(len(self._workers) + 1, self.n):   # every worker, before any post
            worker = threading.Thread(target=self._work, args=(t,), daemon=True,
                                      name=f"{WORKER_NAME}-team")
            self._workers.append(worker)
            worker.start()
        self._job, self._errors = (job, m), []
        self._posted += 1
        self._sync.post(self.signals, 0, self._posted)
        try:
            job(0, m, self.flags, self.stats)
        except BaseException:
            self._sync.abort(self.flags)   # partners waiting at a barrier return
            raise
        finally:
            for t in range(1, self.n):
                self._sync.wait_for(self.signals, t, self._posted, HANDOFF_SPIN)
            # the job holds the layer's arrays, which the workspace pool hands out again
            # only once nothing else refers to them (fused/common.workspace)
            self._job = None
        if self._errors:
            raise self._errors[0]

    def _work(self, t):
        done = 0
        while True:
            self._sync.handoff(self.signals, t, done, HANDOFF_SPIN)   # done; wait for the next
            done += 1
            job, m = self._job
            if t < m:
                try:
                    job(t, m, self.flags, self.stats)
                except BaseException as e:   # handed to the caller, which re-raises it
                    self._errors.append(e)
                    self._sync.abort(self.flags)
            job = None   # not kept alive while waiting (see _run_threads)

    def _adapt(self, m):
        """The policy of the module's docstring, after a run on m threads."""
        waited, total = self.stats[:m, :2].sum(axis=0)
        share = float(waited) / float(total) if total > 0 else 0.0
        self.history.append((m, share))
        if not (self.adaptive and self.jit) or self.n == 1 or total <= 0:
            return   # (total 0: a job that does not count its time, as run_parallel's)
        if m > 1:
            self._bad = self._bad + 1 if share > WAIT_LIMIT else 0
            if self._probing:            # one run on n threads decides
                self._probing = False
                if self._bad:
                    self._cool_len = min(2 * self._cool_len, COOL_MAX)
                    self.threads, self._cool, self._bad = 1, self._cool_len, 0
                else:
                    self._cool_len = COOL
            elif self._bad >= 2:
                self.threads, self._cool, self._bad = 1, self._cool_len, 0
        else:
            self._cool -= 1
            if self._cool <= 0:
                self.threads, self._probing = self.n, True


def team(n):
    """The process's team of n threads (made on first use)."""
    with _teams_lock:
        if n not in _teams:
            _teams[n] = Team(n)
        return _teams[n]


def _forget_teams():
    """In a forked child: the parent's teams' workers did not come along (a job posted to
    them would wait for ever), so the child makes its own on first use."""
    global _teams_lock
    _teams.clear()
    _teams_lock = threading.Lock()   # the parent may have held it while forking


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_teams)
