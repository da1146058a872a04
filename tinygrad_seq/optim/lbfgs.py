"""L-BFGS with an optional strong-Wolfe line search: PyTorch's algorithm (torch.optim.LBFGS,
itself after minFunc), step for step, so that iterates agree with PyTorch's to rounding.

All parameters are handled as one flat vector (their arrays raveled and joined in order). The
arithmetic runs on numpy scalars of the parameters' dtype where PyTorch uses 0-d tensors, so a
float32 problem compares and steps in float32 as it does in PyTorch.
"""
import numpy as np

from ..autograd import enable_grad, no_grad
from . import Optimizer


class LBFGS(Optimizer):
    """Limited-memory BFGS. `step(closure)` runs up to max_iter iterations (max_eval closure
    calls): each builds a direction from the last history_size steps and gradient changes
    (two-loop recursion), then moves along it by lr (the first iteration ever by
    min(1, 1 / |g|_1) * lr), or by a step that satisfies the strong Wolfe conditions.
    It stops early when max |g| <= tolerance_grad, or when the loss or the step changes by
    less than tolerance_change.

    Only one parameter group, as in PyTorch. The closure must zero the gradients, compute the
    loss, call backward and return the loss; it is called with gradients recorded.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ---------------------------------------------------------------- the flat vector
    def _flat_grad(self):
        return np.concatenate([np.zeros(p.numel(), p.dtype) if p.grad is None
                               else p.grad.array.ravel() for p in self.param_groups[0]["params"]])

    def _add_to_params(self, step, direction):
        """params += step * direction, in place."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            n = p.numel()
            p.array += step * direction[offset:offset + n].reshape(p.shape)
            p._version_counter().writes += 1
            offset += n

    def _set_params(self, arrays):
        for p, a in zip(self.param_groups[0]["params"], arrays):
            np.copyto(p.array, a)
            p._version_counter().writes += 1

    def _evaluate(self, closure):
        with enable_grad():
            loss = closure()
        return float(loss), self._flat_grad()

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to x after."""
        self._add_to_params(t, d)
        loss, flat_grad = self._evaluate(closure)
        self._set_params(x)
        return loss, flat_grad

    # ---------------------------------------------------------------- the step
    def step(self, closure):
        """Run up to max_iter L-BFGS iterations; returns the loss at the start (closure()'s)."""
        if closure is None:
            raise TypeError("LBFGS.step needs a closure: a function that zeroes the gradients, "
                            "computes the loss, calls loss.backward() and returns the loss")
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        # the state is global, but kept under the first parameter as in PyTorch
        state = self.state.setdefault(id(group["params"][0]), {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        # the last steps' history: lists while running, arrays of rows in between (see below)
        d, t, H_diag = state.get("d"), state.get("t"), state.get("H_diag")
        old_dirs, old_stps = list(state.get("old_dirs", ())), list(state.get("old_stps", ()))
        ro, prev_flat_grad = list(state.get("ro", ())), state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- the direction: steepest descent at first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad       # change of gradient
                s = d * t                            # change of parameters
                ys = y.dot(s)
                if ys > 1e-10:                       # keep only pairs with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)           # scale of the initial inverse Hessian
                al = [None] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)                   # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p.array.copy() for p in group["params"]]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # not re-evaluated after the last iteration: the next step does that
                    loss, flat_grad = self._evaluate(closure)
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stop?
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:        # the step is too small
                break
            if abs(loss - prev_loss) < tolerance_change:      # the loss no longer changes
                break

        # kept as arrays and Python numbers, so that a checkpoint (nn.utils.save) can hold them;
        # a float32 number is exact as a Python float and acts the same on float32 arrays
        state.update(d=d, t=float(t), H_diag=float(H_diag), prev_flat_grad=prev_flat_grad,
                     prev_loss=prev_loss, old_dirs=_rows(old_dirs, d), old_stps=_rows(old_stps, d),
                     ro=np.array(ro, dtype=d.dtype))
        return orig_loss

    def _checked_param_state(self, i, p, saved, group):
        """LBFGS's state is the history of one flat vector (all the parameters), not shaped
        like a parameter."""
        params = self.param_groups[0]["params"]
        n, k = sum(q.numel() for q in params), len(saved.get("ro", ()))
        shapes = {"d": (n,), "prev_flat_grad": (n,), "old_dirs": (k, n), "old_stps": (k, n),
                  "ro": (k,)}
        for key, shape in shapes.items():
            if key in saved and np.shape(saved[key]) != shape:
                raise ValueError(f"LBFGS.load_state_dict: {key} has shape "
                                 f"{np.shape(saved[key])}, expected {shape} (the parameters as "
                                 f"one vector of {n}, {k} steps of history)")
        dtype = np.result_type(*(q.dtype for q in params))
        return {key: np.array(value, dtype=dtype) if key in shapes else value
                for key, value in saved.items()}


def _rows(vectors, like):
    """A list of vectors as the rows of one array (none: 0 rows of like's length)."""
    return np.stack(vectors) if vectors else np.zeros((0, like.size), like.dtype)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped
    to bounds (default: between x1 and x2); their midpoint if the cubic has no minimum."""
    xmin_bound, xmax_bound = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step t along d with sufficient decrease, f(x + t d) <= f + c1 t gtd, and small slope,
    |g(x + t d) . d| <= c2 |gtd|: bracket such a step, then zoom in on it by cubic
    interpolation. Returns (loss, flat gradient, t, closure calls)."""
    d_norm = np.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracketing: grow t until an interval must contain a point meeting the conditions
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point meets the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a point too close to an end of the bracket, twice running or at the end itself,
        # is moved to 0.1 of the bracket's width from that end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not a sufficient decrease, or not below the low end: the new high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
