"""Gradient flow over time as matplotlib figures: heatmaps and comparisons of models.

    fig = ts.viz.heatmap(loss)        # ||dL/dh_t|| over time x (layer, direction), and gates
    ts.viz.save(fig, "heatmap.png")   # or fig.savefig(...); a Figure shows itself in Jupyter
    ts.viz.compare({"tanh RNN": loss_rnn, "LSTM": loss_lstm, "GRU": loss_gru})

Gradient norms use the same colour map as the graph pictures (colors.py), on a log scale
from the figure's smallest to its largest norm; steps with no gradient at all are left white.
The figures are made without pyplot, so nothing stays open after they are saved.
"""
import numpy as np

from . import colors
from .flow import SATURATED, layer_flows

NO_SATURATION = ("gate saturation: not known (backward freed the gate values; call "
                 "loss.backward(retain_graph=True) to keep them)")


STYLES = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."), ("v", "-"), ("P", "--")]


def _matplotlib():
    from matplotlib.colors import LinearSegmentedColormap, LogNorm
    from matplotlib.figure import Figure
    cmap = LinearSegmentedColormap.from_list("tinygrad_seq_gradient", colors.COLORMAP)
    return Figure, LogNorm, cmap.with_extremes(bad="white")


def _time_axis(ax):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_colorbar(fig, image, ax, label):
    """A colour bar labelled at powers of ten only (minor labels crowd a short bar)."""
    from matplotlib.ticker import NullFormatter
    bar = fig.colorbar(image, ax=ax, label=label, pad=0.01)
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return bar


def _flows_of(output):
    flows = layer_flows(output)
    if not flows:
        raise ValueError("no recurrent layer found in this graph (the figures read the time "
                         "steps that RNN, LSTM and GRU layers record)")
    if all(np.isnan(flow.h).all() for flow in flows):
        raise ValueError("this graph has not been through backward(): call loss.backward() "
                         "first")
    return flows


def _log_range(rows):
    values = np.concatenate([r[np.isfinite(r) & (r > 0)] for r in rows])
    if values.size == 0:
        return 1e-12, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo / 10, hi * 10)


def _label(flow):
    return f"{flow.path} ({'rev' if flow.direction == 'reverse' else 'fwd'})"


def heatmap(output, *, title=None, figsize=None):
    """||dL/dh_t|| over time (x) for each layer and direction (a row each), log colour scale;
    below it, when the forward values are still there, the fraction of each sigmoid gate's
    values (i, f, o; r, z) below 0.01 or above 0.99 at each step. Returns a matplotlib Figure."""
    Figure, LogNorm, cmap = _matplotlib()
    flows = _flows_of(output)
    gated = [f for f in flows if f.saturation]
    gate_rows = [(f, g) for f in gated for g in f.saturation]
    steps = max(f.steps for f in flows)
    heights = [max(len(flows), 1.5)] + ([max(len(gate_rows), 1.5)] if gate_rows else [])
    fig = Figure(figsize=figsize or (min(14, 4 + steps * 0.12), 1.6 + 0.35 * sum(heights)),
                 layout="constrained")
    axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
    grads = np.full((len(flows), steps), np.nan)
    for i, flow in enumerate(flows):
        grads[i, :flow.steps] = np.where(flow.h > 0, flow.h, np.nan)
    lo, hi = _log_range(list(grads))
    image = axes[0].imshow(grads, aspect="auto", cmap=cmap, norm=LogNorm(lo, hi),
                           interpolation="nearest")
    axes[0].set_yticks(range(len(flows)), [f"{f.cell} {_label(f)}" for f in flows])
    axes[0].set_title("gradient reaching each step, ||dL/dh_t|| (white: none)", fontsize=10)
    _log_colorbar(fig, image, axes[0], "||dL/dh_t|| (log)")
    if gate_rows:
        fractions = np.full((len(gate_rows), steps), np.nan)
        for i, (flow, gate) in enumerate(gate_rows):
            fractions[i, :flow.steps] = flow.saturation[gate].sum(axis=1)
        image = axes[1].imshow(fractions, aspect="auto", cmap="Blues", vmin=0, vmax=1,
                               interpolation="nearest")
        axes[1].set_yticks(range(len(gate_rows)), [f"{g} gate, {_label(f)}"
                                                   for f, g in gate_rows])
        axes[1].set_title(f"gate saturation: fraction of values below {SATURATED[0]} or above "
                          f"{SATURATED[1]}", fontsize=10)
        fig.colorbar(image, ax=axes[1], label="fraction saturated", pad=0.01)
    unknown = not gate_rows and any(f.cell in ("LSTM", "GRU") for f in flows)
    axes[-1].set_xlabel("time step t" + ("\n" + NO_SATURATION if unknown else ""))
    for ax in axes:
        _time_axis(ax)
    if title:
        fig.suptitle(title)
    return fig


def compare(outputs, *, relative=True, title=None, figsize=None):
    """The gradient reaching each step for several models on one figure: `outputs` maps a
    name to a loss after backward. Curves of ||dL/dh_t|| over t (divided by the norm at the
    last step run when relative=True, so models with different losses compare), and the same
    numbers as a heatmap, a row per model (and layer, direction). Returns a matplotlib Figure."""
    Figure, LogNorm, cmap = _matplotlib()
    if not outputs:
        raise ValueError("compare: expected a dict {name: loss} with at least one model")
    rows = []
    for name, output in outputs.items():
        try:
            flows = _flows_of(output)
        except ValueError as e:
            raise ValueError(f"compare: {name!r}: {e}") from None
        for flow in flows:
            norms = flow.h.copy()
            if relative:
                reached = [t for t in flow.run_order() if norms[t] > 0]
                norms = norms / norms[reached[-1]] if reached else norms
            label = name if len(flows) == 1 else f"{name}: {_label(flow)}"
            rows.append((label, norms))
    steps = max(len(n) for _, n in rows)
    fig = Figure(figsize=figsize or (9, 4.2 + 0.3 * len(rows)), layout="constrained")
    curves, grid = fig.subplots(2, 1, height_ratios=[3, max(1.2, 0.35 * len(rows))])
    for k, (label, norms) in enumerate(rows):   # marker and line tell models apart, not only hue
        marker, line = STYLES[k % len(STYLES)]
        curves.semilogy(range(len(norms)), np.where(norms > 0, norms, np.nan), marker=marker,
                        linestyle=line, markersize=4, label=label)
    what = "||dL/dh_t|| / ||dL/dh_T||" if relative else "||dL/dh_t||"
    curves.set_ylabel(what + " (log)")
    curves.set_xlim(-0.5, steps - 0.5)
    curves.grid(True, which="major", alpha=0.3)
    curves.legend(fontsize=9)
    curves.set_title(f"gradient reaching each step, {what}", fontsize=10)
    matrix = np.full((len(rows), steps), np.nan)
    for i, (_, norms) in enumerate(rows):
        matrix[i, :len(norms)] = np.where(norms > 0, norms, np.nan)
    lo, hi = _log_range(list(matrix))
    image = grid.imshow(matrix, aspect="auto", cmap=cmap, norm=LogNorm(lo, hi),
                        interpolation="nearest")
    grid.set_yticks(range(len(rows)), [label for label, _ in rows])
    grid.set_xlabel("time step t")
    _time_axis(curves)
    _time_axis(grid)
    _log_colorbar(fig, image, grid, what)
    if title:
        fig.suptitle(title)
    return fig
