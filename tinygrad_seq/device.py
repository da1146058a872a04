"""Devices: tinygrad_seq computes on the CPU, with numpy.

Device-agnostic PyTorch code runs unchanged: `ts.device("cpu")`, `device=` arguments,
`.to("cpu")` and `.cpu()` are accepted, and `ts.cuda.is_available()` is False, so the usual
`device = "cuda" if torch.cuda.is_available() else "cpu"` picks the CPU. Naming any other
device where a tensor is made or moved is refused with a clear message (as PyTorch refuses a
device it was not built for), never silently ignored.
"""


class device:
    """A device name as in PyTorch: `device("cpu")`, `device("cuda", 0)`, `device("cuda:1")`.

    Any PyTorch device type may be named (code often builds one before checking it exists);
    only "cpu" can hold tensors here.
    """

    TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if name not in self.TYPES or (number and not number.isdigit()):
            raise RuntimeError(f"device: expected one of {', '.join(self.TYPES)} (optionally "
                               f"with ':index'), got {type!r}")
        self.type = name
        self.index = int(number) if number else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


CPU = device("cpu")


def is_device(value):
    """Does `value` name a device (a device, or a string such as "cpu" or "cuda:0")?"""
    return isinstance(value, device) or (isinstance(value, str) and
                                         value.partition(":")[0] in device.TYPES)


def check(value, what):
    """None or a CPU device passes; any other device is refused, naming `what` asked for it."""
    if value is None:
        return CPU
    dev = device(value) if not isinstance(value, device) else value
    if dev.type != "cpu":
        raise RuntimeError(f"{what}: tinygrad_seq computes on the CPU only, so device "
                           f"{str(dev)!r} is not available (ts.cuda.is_available() is False); "
                           f"use 'cpu', or pick the device with "
                           f"'cuda' if ts.cuda.is_available() else 'cpu'")
    return CPU
