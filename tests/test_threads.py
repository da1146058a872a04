"""Threads: importing tinygrad_seq limits BLAS to one thread unless told otherwise; lanes."""
import os
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_makes_its_own_team():
    """The parent's workers do not exist in a forked child: a job posted to them would hang."""
    ts.threads.run_parallel(lambda k: k, [0, 1])          # the parent's team and its worker
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: run on a team again, report, and leave without cleanups
        try:
            os.write(write, repr(ts.threads.run_parallel(lambda k: k * 10, [1, 2])).encode())
        finally:
            os._exit(0)
    os.close(write)
    for _ in range(300):              # up to 30 s, then the child is taken to hang
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's run_parallel hung")
    assert os.read(read, 100) == b"[10, 20]" and status == 0


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
    jit = os.environ.get("NUMBA_DISABLE_JIT") != "1"
    try:
        ts.set_blas_threads(2)
        inside = ts.threads.run_parallel(lambda _: blas_threads(), [0, 1])
        # without the JIT the team runs one thread: the items in turn, BLAS as it was set
        assert inside == ([{1}, {1}] if jit else [{2}, {2}]) and blas_threads() == {2}
    finally:
        ts.set_blas_threads(1)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="without the JIT a team runs on one thread, no workers")
def test_run_parallel_runs_on_the_teams_worker_which_sleeps_when_idle():
    me = threading.get_ident()
    first = ts.threads.run_parallel(lambda _: threading.get_ident(), [0, 1])
    assert first[0] == me and first[1] != me
    time.sleep(0.01)      # past the hand-off's spin: the worker sleeps, and wakes when posted
    assert ts.threads.run_parallel(lambda k: (k, threading.get_ident()), [0, 1]) == \
        [(0, me), (1, first[1])]
    cpu = time.process_time()
    time.sleep(0.5)       # an idle team: its worker sleeps (and wakes ten times a second)
    assert time.process_time() - cpu < 0.1


# ------------------------------------------------------------------------------ teams
def _barrier_loop():
    """A jitted job: each thread adds its number into a shared row, one barrier per round,
    and checks after each barrier that every thread's addition of the round is there."""
    import numba
    from tinygrad_seq.kernels.sync import barrier

    @numba.njit(nogil=True)
    def loop(t, m, flags, stats, seen, rounds):
        for r in range(rounds):
            seen[r, t] = t + 1
            if m > 1:
                waited = barrier(flags, t, m)
                if waited < 0:
                    return
                stats[t, 0] += waited
            for j in range(m):
                if seen[r, j] != j + 1:
                    seen[r, t] = -1   # a partner's write was not visible after the barrier
        stats[t, 1] += 1
    return loop


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="without the JIT a team runs on one thread (tested below)")
def test_a_team_runs_its_threads_side_by_side_through_barriers():
    loop = _barrier_loop()
    team = ts.threads.Team(2)
    team.adaptive = False
    seen = np.zeros((500, 2), np.int64)
    team.run(lambda t, m, flags, stats: loop(t, m, flags, stats, seen, 500))
    assert team.history[-1][0] == 2 and (seen == [1, 2]).all()


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="without the JIT a team runs on one thread, no workers")
def test_a_team_keeps_nothing_of_a_job_once_it_has_run():
    """The fused layers' workspace pool reuses an array only when nothing else refers to it: a
    team that kept its last job (and so the layer's arrays) alive doubled a step's memory."""
    team = ts.threads.Team(2)
    team.adaptive = False

    def job(t, m, flags, stats):
        pass
    held = weakref.ref(job)
    team.run(job)
    assert team.history[-1][0] == 2
    del job
    assert held() is None


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="needs the JIT")
def test_an_error_in_a_worker_releases_the_barrier_and_reaches_the_caller():
    loop = _barrier_loop()
    team = ts.threads.Team(2)
    team.adaptive = False

    def job(t, m, flags, stats):
        if t == 1:
            raise KeyError("worker failed")
        loop(t, m, flags, stats, np.zeros((10, 2), np.int64), 10)   # would wait for ever
    with pytest.raises(KeyError, match="worker failed"):
        team.run(job)
    seen = np.zeros((5, 2), np.int64)     # the team still works afterwards
    team.run(lambda t, m, flags, stats: loop(t, m, flags, stats, seen, 5))
    assert (seen == [1, 2]).all()


def test_a_busy_team_runs_another_callers_job_on_one_thread():
    team = ts.threads.Team(2)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow(t, m, flags, stats):
        if t == 0:
            started.set()
            release.wait(10)
    user = threading.Thread(target=team.run, args=(slow,))
    user.start()
    started.wait(10)
    team.run(lambda t, m, flags, stats: calls.append((t, m)))   # must not wait for the team
    release.set()
    user.join(10)
    assert calls == [(0, 1)]


def test_the_team_drops_to_one_thread_while_barriers_wait_and_probes_again(monkeypatch):
    team = ts.threads.Team(2)
    team.jit, team.threads = True, 2   # the policy alone (also without the JIT)
    busy = [True]

    def job(t, m, flags, stats):
        stats[t, :2] = (60, 100) if busy[0] and m > 1 else (0, 100)   # cycles waited, in loops
    monkeypatch.setattr(team, "_run_threads", lambda job, m: [job(t, m, None, team.stats)
                                                              for t in range(m)])
    runs = []
    for _ in range(2 + ts.threads.COOL + 1 + 2 * ts.threads.COOL):
        team.run(job)
        runs.append(team.history[-1][0])
    # two bad runs, COOL runs on one thread, a probe (still bad), twice as long on one thread
    assert runs == [2, 2] + [1] * ts.threads.COOL + [2] + [1] * (2 * ts.threads.COOL)
    busy[0] = False
    team.run(job)
    assert team.threads == 2 and team.history[-1][0] == 2     # the probe found it quiet
    team.run(job)
    assert team.history[-1] == (2, 0.0)


def test_without_the_jit_a_team_never_spins():
    code = ("import tinygrad_seq as ts; t = ts.threads.Team(2); "
            "t.run(lambda t, m, flags, stats: print(t, m)); print(t.threads)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_DISABLE_JIT="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "1"]


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="without the JIT a team runs on one thread, BLAS as set")
def test_a_team_holds_blas_to_one_thread_while_it_runs():
    team = ts.threads.Team(2)
    team.adaptive, team.threads = False, 2
    seen = []
    try:
        ts.set_blas_threads(2)
        team.run(lambda t, m, flags, stats: seen.append(blas_threads()) if t == 0 else None)
        assert seen == [{1}] and blas_threads() == {2}
    finally:
        ts.set_blas_threads(1)


# ------------------------------------------------------------------------------ split products
@pytest.mark.parametrize("M, K, N", [(2048, 256, 65), (65, 2048, 256), (333, 517, 129),
                                     (129, 700, 1001)])
@pytest.mark.parametrize("n", [2, 3])
def test_split_product_equals_one_product(M, K, N, n):
    from tinygrad_seq.ops.matmul import _split_product
    rng = np.random.default_rng(M + N)
    for dtype, rtol in ((np.float64, 1e-13), (np.float32, 1e-5)):
        a, b = (rng.standard_normal(s).astype(dtype) for s in ((M, K), (K, N)))
        for a_, b_ in ((a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)),
                       (a, b[:, ::-1])):
            out = _split_product(a_, b_, n)
            assert out.dtype == dtype and out.flags.c_contiguous
            np.testing.assert_allclose(out, a_ @ b_, rtol=rtol, atol=rtol * np.sqrt(K))


def test_large_products_split_over_our_threads_only_where_blas_is_one_thread(monkeypatch):
    calls = []
    real = ts.threads.run_parallel
    monkeypatch.setattr(ts.threads, "run_parallel",
                        lambda fn, items: calls.append(len(items)) or real(fn, items))
    before = ts.get_num_threads()
    rng = np.random.default_rng(0)
    x_np, g_np = rng.standard_normal((2048, 256)), rng.standard_normal((2048, 65))
    x = ts.tensor(x_np, requires_grad=True)
    layer = ts.nn.Linear(256, 65).double()
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    try:
        ts.set_num_threads(2)
        y = layer(x)                     # x W^T, then dx = g W and dW = g^T x: 68 MFLOP each
        y.backward(ts.tensor(g_np))
        assert calls == [2, 2, 2]
        np.testing.assert_allclose(y.detach().numpy(), x_np @ w.T + b, rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), g_np @ w, rtol=1e-12)
        # dW's sum over the 2048 rows runs in two blocks added at the end: other roundings,
        # a few units in the last place of the sums (which reach ~100)
        np.testing.assert_allclose(layer.weight.grad.numpy(), g_np.T @ x_np, rtol=1e-12,
                                   atol=1e-12)
        calls.clear()
        layer(ts.tensor(x_np[:64]))      # 2 M K N below SPLIT_FLOPS: one call
        ts.set_num_threads(1)
        layer(x)                         # one thread of ours: one call
        ts.set_num_threads(2)
        ts.set_blas_threads(2)           # BLAS splits it itself
        layer(x)
        ts.set_blas_threads(1)
        inside = real(lambda _: ts.threads.split_ways(), [0, 1])   # a worker: no nesting
        jit = os.environ.get("NUMBA_DISABLE_JIT") != "1"   # (else both run on this thread)
        assert calls == [] and inside == ([2, 1] if jit else [2, 2])
    finally:
        ts.set_blas_threads(1)
        ts.set_num_threads(before)
