"""One log colour scale per picture: gradient norms -> colours, widths and a legend.

The map is matplotlib's magma (van der Walt & Smith), reversed and cut short of its ends: pale
cream for the smallest gradient in the picture, through orange and red, to deep purple for the
largest. Its lightness falls steadily along the scale, so it reads the same with the common
colour-vision deficiencies and in greyscale ("darker = more gradient"); hue is never the only
cue.
"""
import math

# magma sampled at 0.92, 0.838, ..., 0.10 (matplotlib.colormaps["magma"]), pale to dark
COLORMAP = ["#fed89a", "#feb27a", "#fc8a62", "#f2645c", "#db476a", "#ba3878", "#982d80",
            "#762181", "#56147d", "#331067", "#140e36"]


def colour(position):
    """The colour at position 0 (pale) .. 1 (dark) of the map, interpolated between samples."""
    x = min(1.0, max(0.0, position)) * (len(COLORMAP) - 1)
    i = min(int(x), len(COLORMAP) - 2)
    a, b = _rgb(COLORMAP[i]), _rgb(COLORMAP[i + 1])
    return "#" + "".join(f"{round(p + (x - i) * (q - p)):02x}" for p, q in zip(a, b))


def luminance(hex_colour):
    """Relative luminance (WCAG) of "#rrggbb": 0 black .. 1 white."""
    def linear(v):
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(v) for v in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(fill):
    """Black or white, whichever reads better on `fill`."""
    return "black" if luminance(fill) > 0.18 else "white"


def _rgb(hex_colour):
    return tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))


def on_scale(norm):
    """Can this norm be placed on a log scale? (zero, inf and nan are marked, not coloured)"""
    return norm is not None and 0 < norm < math.inf


class Scale:
    """The log scale of one picture: from the smallest to the largest of the norms it colours."""

    def __init__(self, norms):
        logs = [math.log10(n) for n in norms if on_scale(n)]
        self.lo, self.hi = (min(logs), max(logs)) if logs else (0.0, 0.0)
        self.empty = not logs

    @property
    def range(self):
        """(smallest, largest) norm on the scale."""
        return 10 ** self.lo, 10 ** self.hi

    def position(self, norm):
        """0 (the smallest norm in the picture) .. 1 (the largest)."""
        if self.hi == self.lo:
            return 1.0
        return min(1.0, max(0.0, (math.log10(norm) - self.lo) / (self.hi - self.lo)))

    def colour(self, norm):
        return colour(self.position(norm))

    def width(self, norm):
        """Pen width of an edge carrying this norm: 0.6 (smallest) .. 4 (largest)."""
        return 0.6 + 3.4 * self.position(norm)

    def at(self, position):
        """The norm at position 0 (the smallest) .. 1 (the largest) of the scale."""
        return 10 ** (self.lo + position * (self.hi - self.lo))
