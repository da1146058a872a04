"""gradcheck: analytic gradients against central finite differences, in float64."""
import numpy as np

from .autograd import Tape, no_grad
from .tensor import Tensor, float64


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check d fn(*inputs) / d input for every float64 input that requires grad, every element.

    A non-scalar output is reduced with a fixed random weighting w, so the check compares
    J^T w (one backward) with (f(x + eps e_i) - f(x - eps e_i)) . w / (2 eps) for each element
    i: equal for random w only if the Jacobians are equal. Returns True or raises
    GradcheckError naming the input, the element, both values and the ops in the graph.
    """
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i, t in enumerate(checked):
        if t.dtype != float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; finite differences need float64 "
                            f"inputs (set_default_dtype(float64) or .double())")
    for t in checked:
        t.grad = None
    with Tape() as tape:
        out = fn(*inputs)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that "
                             "requires grad")
    out.backward(Tensor(weights, dtype=out.dtype))
    ops_used = ", ".join(dict.fromkeys(node.op for node in tape)) or "none"

    def weighted_output():
        with no_grad():
            return float(np.sum(fn(*inputs).array * weights))

    for i, t in enumerate(checked):
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.array
        original = t.array
        t.array = original.copy()   # C-ordered and of the same shape (0-d too); put back below
        try:
            flat = t.array.reshape(-1)  # a view: perturbing it perturbs the input
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                plus = weighted_output()
                flat[j] = orig - eps
                minus = weighted_output()
                flat[j] = orig
                numeric = (plus - minus) / (2 * eps)
                a = analytic.reshape(-1)[j]
                if not abs(a - numeric) <= atol + rtol * abs(numeric):
                    where = np.unravel_index(j, t.shape) if t.shape else ()
                    raise GradcheckError(
                        f"gradcheck: input {i} (shape {t.shape}), element "
                        f"{tuple(map(int, where))}: analytic gradient {a:.10g}, numerical "
                        f"{numeric:.10g} (ops in the graph: {ops_used})")
        finally:
            t.array = original
    return True
