"""Importing tinygrad_seq keeps freed memory for reuse (malloc.py): no page faults when a
step allocates again what the previous one freed."""
import os
import platform
import subprocess
import sys

import pytest

FAULTS = """
import resource
import numpy as np
import tinygrad_seq

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def step():   # 50 arrays of 1 MB, as a training step's gates and states, then all freed
    arrays = [np.ones(1 << 18, np.float32) for _ in range(50)]
    del arrays

step()
before = faults()
for _ in range(5):
    step()
print((faults() - before) // 5)
"""


def faults_per_step(setting):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["TINYGRAD_SEQ_MALLOC"] = setting
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_freed_memory_is_reused_without_page_faults():
    # glibc alone returns the 50 MB to the system and faults it back in: ~12,800 faults of 4 kB
    assert faults_per_step("default") > 1000
    assert faults_per_step("keep") < 100


def test_bad_setting_is_refused():
    done = subprocess.run([sys.executable, "-c", "import tinygrad_seq"], capture_output=True,
                          text=True, env=dict(os.environ, TINYGRAD_SEQ_MALLOC="sometimes"))
    assert done.returncode != 0 and "TINYGRAD_SEQ_MALLOC must be" in done.stderr
