"""The LSTMCell + LBFGS sine-wave example (tests/ports/time_sequence_prediction.py), run as
written for tinygrad_seq and, with its three import lines changed back, in PyTorch.

`python tests/golden_port_time_sequence.py` (with PyTorch installed) writes
tests/golden/port_time_sequence.npz: PyTorch's initial weights, the loss at every closure
call, the test loss after every step and the last prediction. The test starts our run from
those weights and compares without PyTorch, and against PyTorch itself when it is importable.
"""
import os

import numpy as np

from porting import load_port

FIXTURES = os.path.join(os.path.dirname(__file__), "golden", "port_time_sequence.npz")
PORT = os.path.join(os.path.dirname(__file__), "ports", "time_sequence_prediction.py")
SIZES = dict(T=20, L=40, N=5)        # 2 training and 3 test waves of 39 steps (PyTorch's: 97, 3, 999)
STEPS, FUTURE = 2, 20                # (PyTorch's: 15, 1000)
def run(lib_name, initial_weights=None):
    """{"losses", "test_losses", "prediction", "weights"} of a run (PyTorch: one BLAS thread,
    as ours, so that a loaded machine does not slow it tenfold)."""
    if lib_name == "torch":
        import torch
        torch.set_num_threads(1)
    port = load_port(PORT, lib_name)
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
