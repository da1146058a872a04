"""How threads that run jitted code side by side wait for each other: the per-step barrier of
the fused layers' time loops, and the hand-offs of threads.Team (a job posted, its workers
done), all without the interpreter.

Why not threading.Barrier or Event: a crossing costs about 50 us here, and a time step of the
charlm LSTM is 100-200 us of work per thread; these cost 1-3 us. Each thread has a counter on
its own cache line, which only it writes (`post`), and others wait for it to reach a value
(`wait_for`): they spin (with the CPU's pause hint) for a while, counted in ticks of the
cycle counter (a pause lasts 9 ns on this machine's CPU, 50 on others), then sleep in
futex_wait on the counter, at most the flags' timeout at a time (a wake-up lost to a race
costs one timeout, never a hang); `post` wakes the sleepers. Where there is no futex (not
Linux) a waiting thread yields instead of sleeping.

    flags = new_flags(m)                  # m threads (timeout_ns=...: how long a sleep lasts)
    waited = barrier(flags, t, m)         # thread t: cycles spent waiting, -1 if aborted
    abort(flags)                          # from Python: every waiting thread returns -1
    post(flags, t, value)                 # thread t's counter = value (it only grows)
    waited = wait_for(flags, j, value, spin)   # until thread j's counter >= value
    waited = handoff(flags, t, value, spin)    # post(t, value), then wait_for(0, value + 1)

A barrier crossing posts one's own counter + 1 and waits for every other counter to reach it.
threads.Team's workers post the number of the job they have done and wait in one call for
thread 0 to post the next (`handoff`: the interpreter's lock is released in between, so the
caller, waiting for them, takes it back at once).

The layout of flags (int64): thread j's counter at j * LINE, the number of threads sleeping on
it at j * LINE + 1; the abort word at m * LINE; the futex timeout (a timespec) in the next line.
"""
import numba
import numpy as np

from . import cache
from .simd import (HAS_FUTEX, atomic_add, atomic_load_acquire, atomic_store_release,
                   cpu_pause, cycles, fence, futex_wait, futex_wake, sched_yield)

LINE = 16            # int64s apart: 128 bytes, two cache lines (no false sharing with prefetch)
SPIN = 50_000        # cycle-counter ticks spun at a barrier before sleeping: 20 us at 2.6 GHz
TIMEOUT_NS = 1_000_000


def new_flags(m, timeout_ns=TIMEOUT_NS):
    flags = np.zeros(LINE * (m + 2), np.int64)
    flags[LINE * (m + 1)] = timeout_ns // 1_000_000_000    # the timespec: seconds, nanoseconds
    flags[LINE * (m + 1) + 1] = timeout_ns % 1_000_000_000
    return flags


def abort(flags):
    """Release every thread waiting in `barrier` or `wait_for` (they return -1), for ever after."""
    m = len(flags) // LINE - 2
    flags[m * LINE] = 1


def post(flags, t, value):
    atomic_store_release(flags, t * LINE, value)
    fence()
    if HAS_FUTEX and atomic_load_acquire(flags, t * LINE + 1) > 0:
        futex_wake(flags, t * LINE)


def wait_for(flags, j, value, spin):
    m = len(flags) // LINE - 2
    timeout = flags[(m + 1) * LINE:]
    start = cycles()
    while True:
        seen = atomic_load_acquire(flags, j * LINE)
        if seen >= value:
            return cycles() - start
        if atomic_load_acquire(flags, m * LINE) != 0:
            return -1
        spun = cycles() - start
        if spun < SPIN:
            cpu_pause()
        elif spun < spin:
            sched_yield()   # a partner woken onto this CPU runs at once, not after the spin
        elif HAS_FUTEX:
            atomic_add(flags, j * LINE + 1, 1)
            if atomic_load_acquire(flags, j * LINE) == seen:
                futex_wait(flags, j * LINE, seen & 0xFFFFFFFF, timeout)
            atomic_add(flags, j * LINE + 1, -1)
        else:
            sched_yield()


def barrier(flags, t, m):
    generation = flags[t * LINE] + 1
    post(flags, t, generation)
    waited = 0
    for j in range(m):
        if j != t:
            w = wait_for(flags, j, generation, SPIN)
            if w < 0:
                return -1
            waited += w
    return waited


def handoff(flags, t, value, spin):
    post(flags, t, value)
    return wait_for(flags, 0, value + 1, spin)


if not numba.config.DISABLE_JIT:   # without the JIT, threads.Team runs one thread: no workers
    _jit = cache.njit(nogil=True)
    post, wait_for = _jit(post), _jit(wait_for)
    barrier, handoff = _jit(barrier), _jit(handoff)
