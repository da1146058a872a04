"""The gradient-flow report: for each recurrent layer and direction, how much of the gradient
gets back to the first step, how fast it decays, how far back it reaches, which steps vanished
or exploded and how saturated the gates were, with a verdict in plain words.

    loss.backward(retain_graph=True)   # retain_graph keeps the gate values (for saturation)
    ts.viz.report(loss)                # prints the report, returns it (a GradientReport)

The gradient flows against the order a layer ran in: from the last step run (t = T-1 forward,
t = 0 in reverse) back to the first. "Last" below means the latest step run that received any
gradient, which is where the gradient comes in.
"""
import math
from dataclasses import dataclass

import numpy as np

from .flow import SATURATED, layer_flows

HORIZON = 1e-3          # the gradient has "faded away" below this fraction of the last step's
SATURATION_NOTE = 0.5   # a gate saturated on more than this fraction of its values is named


@dataclass
class LayerReport:
    """The numbers of one layer and direction (times are time steps t).

    last, first     (t, ||dL/dh_t||) at the last step run that received gradient, and at the
                    first step run
    decay           geometric mean over consecutive steps of ||dL/dh_{t-1}|| / ||dL/dh_t||
                    (run order), from the last step back to the first; None for one step
    horizon         how many steps back from the last the norm first falls below 1e-3 of the
                    last's; None if it never does
    vanished, exploded  the steps with ||dL/dh_t|| below `vanishing` / above `exploding`
    saturation      {gate: (mean fraction below 0.01, mean fraction above 0.99, step with the
                    most saturated values, that fraction)}, or None
    kind            "no gradient", "vanishing", "exploding", "growing", "fading" or "healthy"
    verdict         one line in words
    """
    flow: object
    last: tuple
    first: tuple
    decay: object
    horizon: object
    vanished: list
    exploded: list
    saturation: object
    kind: str
    verdict: str


@dataclass
class GradientReport:
    layers: list
    verdict: str
    vanishing: float
    exploding: float

    def __str__(self):
        lines = ["Gradient flow: ||dL/dh_t|| by time step, from the last step run back to the "
                 "first"]
        for layer in self.layers:
            lines += [""] + _layer_lines(layer, self.vanishing, self.exploding)
            if len(self.layers) > 1:
                lines.append(f"  -> {layer.kind}: {layer.verdict}")
        lines += ["", f"Verdict: {self.verdict}"]
        return "\n".join(lines)

    def __repr__(self):
        kinds = ", ".join(f"{layer.flow.name}: {layer.kind}" for layer in self.layers)
        return f"<GradientReport {kinds or 'no recurrent layers'}>"


def report(output, *, vanishing=1e-6, exploding=1e3, show=True):
    """The gradient-flow report of the graph that produced `output` (after backward); printed
    unless show=False, and returned as a GradientReport (str() gives the text)."""
    flows = layer_flows(output)
    if not flows:
        made = GradientReport([], "no recurrent layer found in this graph (the report reads "
                                  "the time steps that RNN, LSTM and GRU layers record)",
                              vanishing, exploding)
    else:
        if all(np.isnan(flow.h).all() for flow in flows):
            raise ValueError("report: this graph has not been through backward(); call "
                             "loss.backward(retain_graph=True) first")
        layers = [_layer_report(flow, vanishing, exploding) for flow in flows]
        made = GradientReport(layers, _overall(layers), vanishing, exploding)
    if show:
        print(made)
    return made


def _layer_report(flow, vanishing, exploding):
    order = flow.run_order()
    norms = [float(flow.h[t]) for t in order]            # in run order
    reached = [s for s, g in enumerate(norms) if g > 0 and not math.isnan(g)]
    last_s = reached[-1] if reached else len(order) - 1
    last, first = (order[last_s], norms[last_s]), (order[0], norms[0])
    decay = _decay(norms[:last_s + 1])
    horizon = next((last_s - s for s in range(last_s, -1, -1) if norms[s] < HORIZON * last[1]),
                   None) if last[1] > 0 else None
    vanished = [t for t in range(flow.steps) if flow.h[t] < vanishing]
    exploded = [t for t in range(flow.steps) if flow.h[t] > exploding]
    saturation = None
    if flow.saturation:
        saturation = {}
        for gate, fractions in flow.saturation.items():
            total = fractions.sum(axis=1)
            worst = int(np.nanargmax(total)) if not np.isnan(total).all() else 0
            saturation[gate] = (float(np.nanmean(fractions[:, 0])),
                                float(np.nanmean(fractions[:, 1])), worst, float(total[worst]))
    kind, verdict = _verdict(flow, last, first, decay, horizon, exploded, saturation, last_s)
    return LayerReport(flow, last, first, decay, horizon, vanished, exploded, saturation, kind,
                       verdict)


def _decay(norms):
    """Geometric mean of norm[s-1] / norm[s] over the steps (run order); 0 if the gradient
    stops dead somewhere on the way."""
    ratios = [a / b for a, b in zip(norms, norms[1:]) if b > 0 and not math.isnan(a)]
    if not ratios:
        return None
    if min(ratios) == 0:
        return 0.0
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def _verdict(flow, last, first, decay, horizon, exploded, saturation, last_s):
    (t_last, g_last), (t_first, g_first) = last, first
    if not g_last > 0:
        return "no gradient", "no gradient reached this layer"
    if last_s == 0:
        return "healthy", (f"the gradient comes in only at t={t_last}, the first step this "
                           f"direction ran, so it has no earlier step to flow back to")
    ratio = g_first / g_last
    gates = _gate_words(flow.cell, saturation)
    if exploded or ratio > 1e3:
        advice = "clip gradients (nn.utils.clip_grad_norm_), lower the learning rate"
        if flow.cell == "RNN":
            advice += ", or try orthogonal init (init='orthogonal')"
        return "exploding", (f"the gradient at t={t_first} is {ratio:.0e} times the last step's "
                             f"(t={t_last}): exploding; {advice}{gates}")
    if ratio < HORIZON:
        advice = {"RNN": "consider an LSTM or GRU, orthogonal init (init='orthogonal'), or a "
                         "shorter window (truncated BPTT)",
                  "LSTM": "consider forget_bias=1.0 (a forget gate that starts open), or a "
                          "shorter window (truncated BPTT)",
                  "GRU": "consider orthogonal init (init='orthogonal'), or a shorter window "
                         "(truncated BPTT)"}.get(flow.cell, "consider a gated cell (LSTM, GRU)")
        return "vanishing", (f"the gradient reaching t={t_first} is {ratio:.0e} of the last "
                             f"step's (t={t_last}): vanishing, it fades below {HORIZON:.0e} "
                             f"within {horizon} steps; {advice}{gates}")
    if ratio > 10:
        return "growing", (f"the gradient grows going back ({decay:.2f} per step; t={t_first} "
                           f"gets {ratio:.0f} times the last step's): watch for exploding "
                           f"gradients, clip them (nn.utils.clip_grad_norm_){gates}")
    if ratio < 0.1:
        return "fading", (f"the gradient reaching t={t_first} is {ratio:.1e} of the last "
                          f"step's: it fades ({decay:.2f} per step) but reaches every step"
                          f"{gates}")
    return "healthy", (f"the gradient reaching t={t_first} is {ratio:.2f} of the last step's: "
                       f"it flows back through all {last_s + 1} steps{gates}")


def _gate_words(cell, saturation):
    """A note on gates saturated most of the time, or ""."""
    if not saturation:
        return ""
    notes = []
    for gate, (low, high, _, _) in saturation.items():
        if cell == "LSTM" and gate == "f" and low > SATURATION_NOTE:
            notes.append(f"the forget gate is shut (below {SATURATED[0]}) on {low:.0%} of its "
                         f"values: the cell forgets at every step")
        elif low + high > SATURATION_NOTE:
            notes.append(f"gate {gate} is saturated on {low + high:.0%} of its values (its "
                         f"slope, and so its gradient, is nearly zero there)")
    return "; " + "; ".join(notes) if notes else ""


SEVERITY = ["no gradient", "healthy", "fading", "growing", "vanishing", "exploding"]


def _overall(layers):
    worst = max(layers, key=lambda layer: SEVERITY.index(layer.kind))
    if len(layers) == 1:
        return worst.verdict
    return f"{worst.flow.name} ({worst.flow.direction}): {worst.verdict}"


def _steps_text(times):
    """[0, 1, 2, 5] -> "t=0..2, 5"."""
    if not times:
        return "none"
    runs, start = [], times[0]
    for a, b in zip(times, times[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}..{a}")
            start = b
    return "t=" + ", ".join(runs)


def _layer_lines(layer, vanishing, exploding):
    flow = layer.flow
    (t_last, g_last), (t_first, g_first) = layer.last, layer.first
    lines = [f"{flow.name} ({flow.direction}, {flow.steps} steps"
             f"{', fused' if flow.fused else ''})",
             f"  last step   t={t_last:<4d} {g_last:.2e}",
             f"  first step  t={t_first:<4d} {g_first:.2e}" + (
                 f"   ({g_first / g_last:.1e} of the last)" if g_last > 0 else "")]
    if layer.decay is not None:
        lines.append(f"  decay per step  {layer.decay:.3f}  (geometric mean of "
                     f"||dL/dh_t-1|| / ||dL/dh_t||)")
    if g_last > 0:
        lines.append(f"  horizon     " + (
            f"{layer.horizon} steps back the norm falls below {HORIZON:.0e} of the last's"
            if layer.horizon is not None else
            f"beyond the sequence: every step keeps more than {HORIZON:.0e} of the last's"))
    lines.append(f"  vanished (below {vanishing:.0e}): {_steps_text(layer.vanished)}; "
                 f"exploded (above {exploding:.0e}): {_steps_text(layer.exploded)}")
    if layer.saturation:
        parts = [f"{gate} {low + high:.0%}" + (
            f" ({low:.0%} below, {high:.0%} above; at most {most:.0%}, t={worst})"
            if most > 0 else "") for gate, (low, high, worst, most) in layer.saturation.items()]
        lines.append(f"  gates saturated (below {SATURATED[0]} or above {SATURATED[1]}), mean "
                     f"over steps: " + ", ".join(parts))
    elif flow.cell in ("LSTM", "GRU"):
        lines.append("  gates saturated: not known (backward freed the gate values; call "
                     "loss.backward(retain_graph=True) to keep them for the report)")
    return lines
