"""Pictures of computation graphs and of gradient flow, drawn from the tape.

    loss.backward(retain_graph=True)           # retain_graph keeps gate values for saturation
    graph = ts.viz.draw(loss, view="cell")     # a graphviz.Digraph: steps coloured by gradient
    ts.viz.save(graph, "lstm.svg")             # or .png, .pdf, .dot
    ts.viz.report(loss)                        # the gradient-flow report, with a verdict
    ts.viz.save(ts.viz.heatmap(loss), "heatmap.png")        # matplotlib Figures
    ts.viz.compare({"tanh RNN": loss_a, "LSTM": loss_b})
    ts.viz.explore(loss, "explore.html")       # a page to step through forward and backward
    ts.viz.attention_heatmap(weights, source, target)        # attention.py: where a decoder
    ts.viz.gradient_paths(seq2seq, src, tgt_in, tgt)         # looks, and the gradient's paths

`python -m tinygrad_seq.viz --help` draws an RNN, LSTM or GRU from the command line.
"""
import os

import graphviz

from .attention import attention_heatmap, gradient_path_figure, gradient_paths
from .draw import VIEWS, draw
from .explore import explore
from .plots import compare, heatmap
from .report import report

__all__ = ["draw", "save", "report", "heatmap", "compare", "explore", "VIEWS",
           "attention_heatmap", "gradient_paths", "gradient_path_figure"]

INSTALL_HINT = ("Graphviz's `dot` program is needed to render pictures: install it with "
                "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS) or from https://graphviz.org/download/. The DOT source is still "
                "available as graph.source, and saving to a .dot file needs no Graphviz.")
FIGURE_FORMATS = ("png", "svg", "pdf")


def save(picture, path):
    """Write a picture to path; the extension picks the format: a graph from draw() as .svg,
    .png, .pdf or .dot, a figure from heatmap() or compare() as .png, .svg or .pdf.

    The file is replaced only once rendering has succeeded.
    """
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    tmp = f"{path}.tmp"
    if not isinstance(picture, graphviz.Digraph):      # a matplotlib Figure
        if ext not in FIGURE_FORMATS:
            raise ValueError(f"save: a figure is saved as .png, .svg or .pdf, not {ext!r}")
        picture.savefig(tmp, format=ext, dpi=110)
        os.replace(tmp, path)
        return str(path)
    if ext not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"save: unknown picture format {ext!r}; use .svg, .png, .pdf or .dot")
    if ext in ("dot", "gv"):
        data = picture.source.encode()
    else:
        try:
            data = picture.pipe(format=ext)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(INSTALL_HINT) from None
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return str(path)
