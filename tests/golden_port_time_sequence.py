"""The LSTMCell + LBFGS sine-wave example (tests/ports/time_sequence_prediction.py), run as
written for tinygrad_seq and, with its three import lines changed back, in PyTorch.

`python tests/golden_port_time_sequence.py` (with PyTorch installed) writes
tests/golden/port_time_sequence.npz: PyTorch's initial weights, the loss at every closure
call, the test loss after every step and the last prediction. The test starts our run from
those weights and compares without PyTorch, and against PyTorch itself when it is importable.
"""
import os
import sys

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "port_time_sequence.npz")
PORT = os.path.join(os.path.dirname(__file__), "ports", "time_sequence_prediction.py")
SIZES = dict(T=20, L=40, N=5)        # 2 training and 3 test waves of 39 steps (PyTorch's: 97, 3, 999)
STEPS, FUTURE = 2, 20                # (PyTorch's: 15, 1000)
OUR_IMPORTS = ("import tinygrad_seq as torch", "import tinygrad_seq.nn as nn",
               "import tinygrad_seq.optim as optim")
TORCH_IMPORTS = ("import torch", "import torch.nn as nn", "import torch.optim as optim")


def load_port(lib_name):
    """The port as a module; for "torch" its source with only the import lines changed."""
    with open(PORT) as f:
        source = f.read()
    if lib_name == "torch":
        for ours, theirs in zip(OUR_IMPORTS, TORCH_IMPORTS):
            assert source.count(ours + "\n") == 1, ours
            source = source.replace(ours + "\n", theirs + "\n")
    module = type(sys)(f"time_sequence_prediction_{lib_name}")
    exec(compile(source, PORT, "exec"), module.__dict__)
    return module


def run(lib_name, initial_weights=None):
    """{"losses", "test_losses", "prediction", "weights"} of a run (PyTorch: one BLAS thread,
    as ours, so that a loaded machine does not slow it tenfold)."""
    if lib_name == "torch":
        import torch
        torch.set_num_threads(1)
    port = load_port(lib_name)
    data = port.generate_sine_wave(**SIZES)
    losses, test_losses, prediction, weights = port.train(data, STEPS, FUTURE, initial_weights)
    return {"losses": np.array(losses), "test_losses": np.array(test_losses),
            "prediction": prediction,
            "weights": {k: v.numpy() if hasattr(v, "numpy") else v for k, v in weights.items()}}


def main():
    import torch
    result = run("torch")
    stored = {f"weight/{k}": v for k, v in result.pop("weights").items()}
    stored.update(result)
    np.savez_compressed(FIXTURES, torch_version=np.array(torch.__version__), **stored)
    print(f"wrote {FIXTURES} (torch {torch.__version__}): {len(result['losses'])} closure calls, "
          f"loss {result['losses'][0]:.4f} -> {result['losses'][-1]:.6f}")


if __name__ == "__main__":
    main()
