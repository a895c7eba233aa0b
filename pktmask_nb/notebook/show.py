"""Display helpers shared by the widgets: figures as PNG, DataFrames and images into Output widgets."""

from __future__ import annotations

import io
import time

from IPython.display import Image, clear_output, display
from matplotlib.figure import Figure

PNG_DPI = 90


def figure_png(fig: Figure) -> bytes:
    """Render a matplotlib figure to PNG bytes (no pyplot, no GUI backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def show(out, *objects) -> None:
    """Replace what the Output widget `out` shows with `objects` (DataFrames, images, text)."""
    with out:
        clear_output(wait=True)
        for obj in objects:
            display(obj)


def show_figure(out, fig: Figure) -> None:
    """Show a figure in `out` as a PNG image."""
    show(out, Image(data=figure_png(fig), format="png"))


class Throttle:
    """Says when a costly refresh is due: at most once per `interval` seconds, and never so
    often that refreshing takes more than about 1/`share` of the time.

    The first call passes, unless `wait_first`: then the first refresh is due `interval`
    seconds after the throttle was made (a short run then draws only its final state).
    Call `done` after each refresh so its cost is known.
    """

    def __init__(self, interval: float, share: float = 5.0, *, wait_first: bool = False):
        self.interval = interval
        self.share = share
        self.next = time.monotonic() + interval if wait_first else None
        self.started = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.next is not None and now < self.next:
            return False
        self.started = now
        self.next = now + self.interval
        return True

    def done(self) -> None:
        """The refresh that was due has finished: wait at least `share` times its cost."""
        now = time.monotonic()
        self.next = max(self.next, now + (now - self.started) * self.share)
