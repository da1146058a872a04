"""A barrier for threads that run jitted loops side by side (threads.Team), called from inside
those loops once per time step.

Why not threading.Barrier: it costs about 50 us a crossing here, and a time step of the charlm
LSTM is 100-200 us of work per thread; this one costs 1-3 us. Each thread has a counter on its
own cache line; crossing the barrier adds one to one's own counter and waits until every other
counter has reached it. A waiting thread spins (with the CPU's pause hint) for about SPIN
pauses, then sleeps in futex_wait on the counter it waits for, at most a millisecond at a time
(a wake-up lost to a race costs a millisecond, never a hang); one that arrives wakes the
sleepers on its counter. Where there is no futex (not Linux) a waiting thread yields instead of
sleeping.

    flags = new_flags(m)                          # m threads
    waited = barrier(flags, t, m)                 # thread t: cycles spent waiting, -1 if aborted
    abort(flags)                                  # from Python: every waiting thread returns -1

The layout of flags (int64): thread j's counter at j * LINE, the number of threads sleeping on
it at j * LINE + 1; the abort word at m * LINE; the futex timeout (a timespec) in the next line.
"""
import numba
import numpy as np

from .simd import (HAS_FUTEX, atomic_add, atomic_load_acquire, atomic_store_release,
                   cpu_pause, cycles, fence, futex_wait, futex_wake, sched_yield)

LINE = 16            # int64s apart: 128 bytes, two cache lines (no false sharing with prefetch)
SPIN = 2000          # pauses before sleeping: about 50 us on this machine's CPU
TIMEOUT_NS = 1_000_000


def new_flags(m):
    flags = np.zeros(LINE * (m + 2), np.int64)
    flags[LINE * (m + 1) + 1] = TIMEOUT_NS    # the timespec: 0 s, TIMEOUT_NS ns
    return flags


def abort(flags):
    """Release every thread waiting in `barrier` (it returns -1), for ever after."""
    m = len(flags) // LINE - 2
    flags[m * LINE] = 1


def barrier(flags, t, m):
    me = t * LINE
    generation = flags[me] + 1
    atomic_store_release(flags, me, generation)
    fence()
    if HAS_FUTEX and atomic_load_acquire(flags, me + 1) > 0:
        futex_wake(flags, me)
    start = cycles()
    timeout = flags[(m + 1) * LINE:]
    for j in range(m):
        if j == t:
            continue
        spins = 0
        while True:
            seen = atomic_load_acquire(flags, j * LINE)
            if seen >= generation:
                break
            if atomic_load_acquire(flags, m * LINE) != 0:
                return -1
            if spins < SPIN:
                cpu_pause()
                spins += 1
            elif HAS_FUTEX:
                atomic_add(flags, j * LINE + 1, 1)
                if atomic_load_acquire(flags, j * LINE) == seen:
                    futex_wait(flags, j * LINE, seen & 0xFFFFFFFF, timeout)
                atomic_add(flags, j * LINE + 1, -1)
            else:
                sched_yield()
    return cycles() - start


if not numba.config.DISABLE_JIT:   # without the JIT, threads.Team runs one thread: no barrier
    barrier = numba.njit(cache=True, nogil=True)(barrier)
