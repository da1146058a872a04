"""Running a port (a PyTorch program in tests/ports/ with only its imports changed) under
either library: as written, or with its import lines pointed back at torch."""
import importlib.util
import types

HAS_TORCH = importlib.util.find_spec("torch") is not None


def load_port(path, lib_name):
    """The port at `path` as a module: its source as written (lib_name "ours"), or for "torch"
    with "tinygrad_seq" in its import lines changed to "torch". No other line may name
    tinygrad_seq: that is what "only the imports changed" means."""
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(("import ", "from ")):
            if lib_name == "torch":
                lines[i] = line.replace("tinygrad_seq", "torch")
        elif "tinygrad_seq" in line:
            raise AssertionError(f"{path}:{i + 1} names tinygrad_seq outside the imports: {line}")
    module = types.ModuleType(f"port_{lib_name}")
    module.__file__ = path
    exec(compile("".join(lines), path, "exec"), module.__dict__)
    return module
