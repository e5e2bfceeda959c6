"""Diagnostic figures. Built on ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state),
so they are safe in workers without a display; callers save or log them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_SCATTER_POINTS = 20_000
TOP_FEATURES = 30


def _figure(width: float = 8.0, height: float = 5.0) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def importance_figure(importance: pd.DataFrame, title: str) -> Figure:
    """Horizontal bars of the ``gain`` column for the top features."""
    top = importance.nlargest(TOP_FEATURES, "gain").iloc[::-1]
    fig = _figure(height=max(3.0, 0.25 * len(top) + 1.0))
    ax = fig.add_subplot()
    ax.barh(top["feature"], top["gain"])
    ax.set(xlabel="gain", title=title)
    return fig


def predictions_figure(y: np.ndarray, pred: np.ndarray, title: str) -> Figure:
    """Predicted vs. actual return on the test set (evenly thinned to a readable size)."""
    step = max(1, len(y) // MAX_SCATTER_POINTS)
    fig = _figure(6.0, 6.0)
    ax = fig.add_subplot()
    ax.scatter(y[::step], pred[::step], s=3, alpha=0.3)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set(xlabel="actual return (bps)", ylabel="predicted return (bps)", title=title)
    return fig


def cumulative_figure(times: pd.Series, curves: pd.DataFrame, title: str) -> Figure:
    """Cumulative bps of the sign strategy vs. buy-and-hold over test time."""
    fig = _figure()
    ax = fig.add_subplot()
    for column in curves.columns:
        ax.plot(times.to_numpy(), curves[column].to_numpy(), lw=1, label=column)
    ax.set(xlabel="time (UTC)", ylabel="cumulative return (bps)", title=title)
    ax.legend()
    fig.autofmt_xdate()
    return fig
