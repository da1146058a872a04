"""Pictures of attention: where a decoder looks, and why that helps the gradient.

    fig = ts.viz.attention_heatmap(weights, source="3 March 2021", target="2021-03-03")
    paths = ts.viz.gradient_paths(model, src, tgt_in, tgt)    # an nn.Seq2Seq, after training
    print(paths)                                               # the gradient-path report
    ts.viz.save(ts.viz.gradient_path_figure({"with attention": paths, ...}), "paths.png")

The gradient path: for decoder step t and encoder step s, ||dL_t/dh_s|| is the norm of the
gradient of step t's loss reaching the encoder's state h_s. Without attention it can only come
through the recurrent chain, h_s -> h_{s+1} -> ... -> h_{S-1} -> the decoder's states up to
step t, S - s + t steps, each multiplying it by a Jacobian; with attention it also comes in
one hop, from step t's context vector straight to h_s. The figure and the report show the two
apart: the whole gradient, the part that comes through the recurrent chain alone (attention's
inputs detached) and the part attention hands h_s directly.
"""
from dataclasses import dataclass

import numpy as np

from ..functions import stack
from ..nn import functional as F
from ..tensor import Tensor
from .plots import _log_colorbar, _log_range, _matplotlib, _time_axis


# ---------------------------------------------------------------------------------------------
# attention weights
# ---------------------------------------------------------------------------------------------
def attention_heatmap(weights, source, target, *, expected=None, title=None, figsize=None):
    """The attention weights of one decoded example, (target steps T, source steps S), as a
    heatmap: a row per output symbol, a column per input symbol, darker for more weight.
    `source` and `target` label the columns and rows (strings: one character each, or lists
    of labels); with `expected` (the right output, labelled the same way) the output symbols
    that are wrong are drawn in red and struck through. Returns a matplotlib Figure."""
    Figure, _, cmap = _matplotlib()
    weights = np.asarray(weights.numpy() if isinstance(weights, Tensor) else weights, float)
    source, target = list(source), list(target)
    if weights.ndim != 2 or weights.shape != (len(target), len(source)):
        raise ValueError(f"attention_heatmap: expected weights (len(target), len(source)) = "
                         f"({len(target)}, {len(source)}), got {weights.shape}")
    T, S = weights.shape
    if expected is not None and len(list(expected)) != T:
        raise ValueError(f"attention_heatmap: expected has {len(list(expected))} labels, the "
                         f"target {T}")
    fig = Figure(figsize=figsize or (min(18, 3.4 + 0.24 * S), min(14, 1.8 + 0.24 * T)),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(weights, cmap=cmap, vmin=0, vmax=1, aspect="equal",
                      interpolation="nearest")
    ax.set_xticks(range(S), [_shown(c) for c in source], fontsize=8, family="monospace")
    ax.set_yticks(range(T), [_shown(c) for c in target], fontsize=8, family="monospace")
    if expected is not None:
        for label, got, right in zip(ax.get_yticklabels(), target, expected):
            if got != right:
                label.set_color("#c0392b")
                label.set_fontweight("bold")
    ax.set_xlabel("source (encoder steps)")
    ax.set_ylabel("output (decoder steps)")
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.xaxis.set_label_position("top")
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8, pad=0.03)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _shown(label):
    return "\u2423" if label == " " else str(label)      # a visible space


# ---------------------------------------------------------------------------------------------
# the gradient path
# ---------------------------------------------------------------------------------------------
@dataclass
class GradientPaths:
    """||dL_t/dh_s|| for decoder steps t (rows) and encoder steps s (columns):

    total       through every path
    chain       through the recurrent chain alone (attention's inputs detached); for a model
                without attention the same as total
    direct      handed to h_s by attention in one hop (None without attention)
    """
    name: str
    total: np.ndarray
    chain: np.ndarray
    direct: object

    @property
    def attention(self):
        return self.direct is not None

    def __str__(self):
        return path_report(self)


def gradient_paths(model, src, tgt_in, tgt, src_key_padding_mask=None, name=None):
    """The gradient paths (GradientPaths) of an nn.Seq2Seq on one batch: src (S, N), tgt_in and
    tgt (T, N) ids; L_t is the cross-entropy of decoder step t, averaged over the batch.

    Each (t, kind) is its own forward and backward through the encoder run step by step
    (Seq2Seq.encode_steps, the very tensors the chain passes on), so nothing is mixed up
    between them; the parameters' gradients are cleared at the end."""
    S, T = src.shape[0], tgt_in.shape[0]
    kinds = ("total", "chain", "direct") if model.attention is not None else ("total",)
    found = {kind: np.zeros((T, S)) for kind in kinds}
    for t in range(T):
        for kind in kinds:
            states, start = model.encode_steps(src)
            for h in states:
                h.retain_grad()
            memory = stack(states)
            if kind != "total":
                memory = memory.detach().requires_grad_(kind == "direct")
            logits, _ = model.decode(tgt_in[:t + 1], start, memory, src_key_padding_mask)
            F.cross_entropy(logits[t], tgt[t]).backward()
            grads = memory.grad.numpy() if kind == "direct" else \
                np.stack([np.zeros(h.shape) if h.grad is None else h.grad.numpy()
                          for h in states])
            found[kind][t] = np.sqrt((grads.astype(float) ** 2).sum(axis=(1, 2)))
    model.zero_grad()
    return GradientPaths(name or ("with attention" if model.attention is not None
                                  else "without attention"),
                         found["total"], found.get("chain", found["total"]), found.get("direct"))


def path_report(paths, step=None, columns=6):
    """The gradient-path section of the gradient-flow report: for decoder step `step` (default
    the last), the gradient reaching a few encoder steps through each path, and in words how
    far back the chain alone reaches against attention's one hop."""
    T, S = paths.total.shape
    t = T - 1 if step is None else step
    shown = sorted({round(k * (S - 1) / (columns - 1)) for k in range(columns)}) if S > 1 else [0]
    rows = [("all paths", paths.total)]
    if paths.attention:
        rows += [("recurrent chain alone", paths.chain), ("attention, one hop", paths.direct)]
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"Gradient paths, {paths.name}: ||dL_t/dh_s||, the gradient of decoder step t's "
             f"loss reaching encoder step s",
             f"  decoder step t = {t} ({'the last' if t == T - 1 else f'of {T}'}); through the "
             f"recurrent chain, encoder step s is {S + t} - s steps away, through attention 1",
             "  " + "encoder step s".ljust(width) + "".join(f"{s:>10d}" for s in shown)]
    for label, values in rows:
        lines.append("  " + label.ljust(width) + "".join(f"{values[t, s]:>10.2e}" for s in shown))
    first, last = paths.chain[t, 0], paths.chain[t, S - 1]
    lines.append(f"  -> through the recurrent chain alone, encoder step 0 gets "
                 f"{_ratio(first, last)} what step {S - 1} gets")
    if paths.attention:
        lines.append(f"  -> at encoder step 0, attention's one hop carries "
                     f"{_ratio(paths.direct[t, 0], first)} the gradient of the chain alone")
        most = int(np.argmax(paths.direct[t]))
        if most != 0:
            lines.append(f"  -> attention's one hop is largest at encoder step {most}: "
                         f"{_ratio(paths.direct[t, most], paths.chain[t, most])} the chain "
                         f"alone there")
    return "\n".join(lines)


def _ratio(a, b):
    if b == 0:
        return "some gradient where the other gets none" if a > 0 else "none, as does the other"
    return f"{a / b:.2g} times"


def gradient_path_figure(paths, *, step=None, relative=True, title=None, figsize=None):
    """Several models' gradient paths on one figure: `paths` maps a name to GradientPaths (or
    is a list of them). Above, for decoder step `step` (default the last), ||dL_t/dh_s|| over
    encoder steps s: every path (solid), the recurrent chain alone (dashed) and attention's one
    hop (dotted). Below, a heatmap per model of every (t, s) through all paths, on one log
    scale. With relative=True (the default) each decoder step's numbers are divided by its
    largest through all paths, so that the shapes compare: models with different losses send
    back gradients of different sizes, and where the gradient goes is what the picture is
    about. Returns a matplotlib Figure."""
    Figure, LogNorm, cmap = _matplotlib()
    models = list(paths.values()) if isinstance(paths, dict) else list(paths)
    if not models:
        raise ValueError("gradient_path_figure: expected at least one GradientPaths")
    fig = Figure(figsize=figsize or (10, 4 + 2.2 * len(models)), layout="constrained")
    axes = fig.subplots(1 + len(models), 1, height_ratios=[3] + [2] * len(models))
    curves = axes[0]
    styles = iter(["o", "s", "^", "D", "v", "P"] * 3)
    def scaled(p, values):
        if not relative:
            return values
        top = p.total.max(axis=1, keepdims=True)
        return values / np.where(top > 0, top, 1)

    for p in models:
        T, S = p.total.shape
        t = T - 1 if step is None else step
        marker = next(styles)
        lines = [("every path", p.total, "-")]
        if p.attention:
            lines += [("recurrent chain alone", p.chain, "--"), ("attention, one hop", p.direct,
                                                                 ":")]
        for label, values, style in lines:
            row = scaled(p, values)[t]
            curves.semilogy(range(S), np.where(row > 0, row, np.nan), marker=marker,
                            linestyle=style, markersize=4, label=f"{p.name}: {label}")
    curves.set_xlabel("encoder step s")
    what = "||dL_t/dh_s|| / max_s" if relative else "||dL_t/dh_s||"
    curves.set_ylabel(what + " (log)")
    curves.grid(True, which="major", alpha=0.3)
    curves.legend(fontsize=8)
    t_shown = models[0].total.shape[0] - 1 if step is None else step
    curves.set_title(f"gradient of decoder step t = {t_shown}'s loss reaching each encoder step",
                     fontsize=10)
    _time_axis(curves)
    grids = [scaled(p, p.total) for p in models]
    lo, hi = _log_range([g.ravel() for g in grids])
    for ax, p, grid in zip(axes[1:], models, grids):
        image = ax.imshow(np.where(grid > 0, grid, np.nan), aspect="auto", cmap=cmap,
                          norm=LogNorm(lo, hi), interpolation="nearest")
        ax.set_ylabel("decoder step t")
        ax.set_title(f"{p.name}: every path, {what}" + (" (each row by its largest)"
                                                        if relative else ""), fontsize=10)
        _time_axis(ax)
        _log_colorbar(fig, image, ax, what + " (log)")
    axes[-1].set_xlabel("encoder step s")
    if title:
        fig.suptitle(title)
    return fig

