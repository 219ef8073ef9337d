"""Layout helpers for the apps: rows that wrap instead of cutting their labels."""

from __future__ import annotations

import ipywidgets as W


def row(*children: W.Widget) -> W.HBox:
    """A row of controls that wraps onto a new line when the page is narrow (labels never cut).

    Example:
        >>> len(row(W.Button(description="a"), W.Button(description="b")).children)
        2
    """
    return W.HBox(list(children), layout=W.Layout(flex_flow="row wrap", align_items="center"))
