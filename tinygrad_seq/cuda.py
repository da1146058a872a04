"""torch.cuda's questions with the CPU's answers, so device-agnostic code runs: there is no GPU.

The seeding functions do nothing, as PyTorch's do when it finds no GPU.
"""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Nothing to seed: there is no GPU (ts.manual_seed seeds everything there is)."""


def manual_seed_all(seed):
    """Nothing to seed: there is no GPU (ts.manual_seed seeds everything there is)."""
