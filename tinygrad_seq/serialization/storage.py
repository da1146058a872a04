"""The dtypes a PyTorch file can hold, and a storage read from one."""
import numpy as np

# torch's dtype names, the numpy dtype that holds each one's bytes, and the storage class a
# tensor of it is pickled with (None: an UntypedStorage plus the dtype, torch's _v3 form).
DTYPES = {
    "float64": ("float64", "DoubleStorage"), "float32": ("float32", "FloatStorage"),
    "float16": ("float16", "HalfStorage"), "bfloat16": ("uint16", "BFloat16Storage"),
    "int64": ("int64", "LongStorage"), "int32": ("int32", "IntStorage"),
    "int16": ("int16", "ShortStorage"), "int8": ("int8", "CharStorage"),
    "uint8": ("uint8", "ByteStorage"), "bool": ("bool", "BoolStorage"),
    "complex128": ("complex128", "ComplexDoubleStorage"),
    "complex64": ("complex64", "ComplexFloatStorage"),
    "uint16": ("uint16", None), "uint32": ("uint32", None), "uint64": ("uint64", None),
}
TORCH_NAME = {np.dtype(np_name): name for name, (np_name, _) in DTYPES.items()
              if name != "bfloat16"}


class Storage:
    """A storage read from the file: a flat array that the tensors on it view."""
    __slots__ = ("array", "dtype_name")

    def __init__(self, array, dtype_name):
        self.array, self.dtype_name = array, dtype_name
