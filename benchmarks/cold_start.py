"""Cold start: import time; the first training step of a small LSTM built from primitives; and
the demo's first training step (`tinygrad-seq demo`: the charlm LSTM, batch 32 x 64 steps,
hidden 256, through the fused layer's jitted loops), each with an empty numba cache (every
kernel compiles) and a warm one (kernels load from disk).

Each measurement is a fresh Python process; the caches live in a temporary NUMBA_CACHE_DIR.
"setup s" is the model, optimizer and first batch.

    python benchmarks/cold_start.py
"""
import os
import statistics
import subprocess
import sys
import tempfile

from common import machine

IMPORT = """
import time
start = time.perf_counter()
import tinygrad_seq
seconds = time.perf_counter() - start
import sys
print(seconds, "numba" in sys.modules)
"""

# an embedding, a one-layer LSTM written with primitive ops over 20 steps, a linear head,
# cross-entropy, backward and an SGD step through the kernels: every kernel the ops use
FIRST_STEP = """
import time
start = time.perf_counter()
import numpy as np
import tinygrad_seq as ts
import tinygrad_seq.nn.functional as F
from tinygrad_seq.kernels import backend
imported = time.perf_counter()

ts.manual_seed(0)
V, E, H, B, T = 50, 16, 32, 8, 20
params = [ts.randn(V, E, requires_grad=True), ts.randn(E, 4 * H, requires_grad=True),
          ts.randn(H, 4 * H, requires_grad=True), ts.zeros(4 * H, requires_grad=True),
          ts.randn(H, V, requires_grad=True), ts.zeros(V, requires_grad=True)]
emb, w_ih, w_hh, b, w_out, b_out = params
tokens = np.random.default_rng(0).integers(0, V, (T + 1, B))
x = F.embedding(ts.Tensor(tokens[:-1]), emb)
h = c = ts.zeros(B, H)
outputs = []
for t in range(T):
    i, f, g, o = (x[t] @ w_ih + h @ w_hh + b).chunk(4, dim=1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    outputs.append(h)
logits = ts.stack(outputs).reshape(T * B, H) @ w_out + b_out
loss = F.cross_entropy(logits, ts.Tensor(tokens[1:].reshape(-1)))
loss.backward()
for p in params:
    backend.sgd_update(p.array, p.grad.array, np.zeros_like(p.array), 0.1, 0.9)
done = time.perf_counter()
print(imported - start, done - imported, done - start)
"""


# the demo's model, optimizer and batch (training.build, training.train_step), one step
DEMO_STEP = """
import time
start = time.perf_counter()
import numpy as np
from tinygrad_seq import cli, training
imported = time.perf_counter()
config = dict(cli.DEMO, seed=0, tbptt=0)
task, model, opt = training.build(config, training.load_text(None))
x, y = task.batch(np.random.default_rng(0), config)
built = time.perf_counter()
training.train_step(task, model, opt, x, y, config)
done = time.perf_counter()
print(imported - start, built - imported, done - built, done - start)
"""


def run(code, cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return out


def main():
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as cache_dir:
        imports = [run(IMPORT, cache_dir) for _ in range(5)]
        seconds = statistics.median(float(s) for s, _ in imports)
        print(f"import tinygrad_seq: {seconds:.3f} s (median of 5; numba imported: "
              f"{imports[0][1]})")
        print(f"{'first training step':<28}{'import s':>10}{'step s':>10}{'total s':>10}")
        cold = run(FIRST_STEP, cache_dir)
        print(f"{'empty numba cache':<28}" + "".join(f"{float(s):>10.3f}" for s in cold))
        warm = [run(FIRST_STEP, cache_dir) for _ in range(5)]
        median = [statistics.median(float(w[k]) for w in warm) for k in range(3)]
        print(f"{'warm cache (median of 5)':<28}" + "".join(f"{s:>10.3f}" for s in median))
    with tempfile.TemporaryDirectory() as cache_dir:
        print(f"\n{'demo, first training step':<28}{'import s':>10}{'setup s':>10}"
              f"{'step s':>10}{'total s':>10}")
        cold = run(DEMO_STEP, cache_dir)
        print(f"{'empty numba cache':<28}" + "".join(f"{float(s):>10.3f}" for s in cold))
        warm = [run(DEMO_STEP, cache_dir) for _ in range(5)]
        median = [statistics.median(float(w[k]) for w in warm) for k in range(4)]
        print(f"{'warm cache (median of 5)':<28}" + "".join(f"{s:>10.3f}" for s in median))


if __name__ == "__main__":
    main()
