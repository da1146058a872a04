"""Pictures of computation graphs, drawn from the tape, with gradient flow after backward.

    loss.backward()
    graph = ts.viz.draw(loss, view="cell")     # a graphviz.Digraph
    ts.viz.save(graph, "lstm.svg")             # or .png, .pdf, .dot

`python -m tinygrad_seq.viz --help` draws an RNN, LSTM or GRU from the command line.
"""
import os

import graphviz

from .draw import PALETTE, VIEWS, draw

__all__ = ["draw", "save", "VIEWS", "PALETTE"]

INSTALL_HINT = ("Graphviz's `dot` program is needed to render pictures: install it with "
                "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS) or from https://graphviz.org/download/. The DOT source is still "
                "available as graph.source, and saving to a .dot file needs no Graphviz.")


def save(graph, path):
    """Write `graph` to path; the extension picks the format (.svg, .png, .pdf or .dot).

    The file is replaced only once rendering has succeeded.
    """
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in ("svg", "png", "pdf", "dot", "gv"):
        raise ValueError(f"save: unknown picture format {ext!r}; use .svg, .png, .pdf or .dot")
    if ext in ("dot", "gv"):
        data = graph.source.encode()
    else:
        try:
            data = graph.pipe(format=ext)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(INSTALL_HINT) from None
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return str(path)
