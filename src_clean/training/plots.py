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


def fold_uplift_figure(folds: list[dict], pooled: dict | None) -> Figure:
    """Per-fold daily-IC uplift with its 95% session-bootstrap interval, and the pooled one."""
    rows = [(f["fold"], f["uplift_ic"]) for f in folds if "uplift_ic" in f]
    if pooled is not None:
        rows.append(("pooled", pooled))
    fig = _figure()
    ax = fig.add_subplot()
    for i, (name, ci) in enumerate(rows):
        ax.errorbar(
            [i],
            [ci["estimate"]],
            yerr=[[max(0.0, ci["estimate"] - ci["low"])], [max(0.0, ci["high"] - ci["estimate"])]],
            fmt="o",
            capsize=4,
            color="black" if name == "pooled" else "tab:blue",
        )
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(rows)), [name for name, _ in rows])
    ax.set(ylabel="daily IC uplift (with_news - market_only)", title="walk-forward uplift, 95% CI")
    return fig


def null_figure(null: dict) -> Figure:
    """The shuffled-news null distribution with the observed uplift marked."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(null["uplift_ic"], bins=max(5, len(null["uplift_ic"]) // 2), color="tab:grey")
    ax.axvline(null["observed_uplift_ic"], color="tab:red", lw=2, label="observed")
    ax.set(
        xlabel="daily IC uplift",
        ylabel="permutations",
        title=f"shuffled-news null (p = {null['p_value']:.3f}, n = {null['permutations']})",
    )
    ax.legend()
    return fig


def equity_figure(times: pd.Series, curves: dict[str, np.ndarray], spread_points: float) -> Figure:
    """Net-of-cost cumulative bps of the sign strategies against buy-and-hold."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in curves.items():
        ax.plot(times.to_numpy(), curve, lw=1, label=name)
    ax.set(
        xlabel="time (UTC)",
        ylabel="cumulative net return (bps)",
        title=f"walk-forward test folds, non-overlapping trades, {spread_points:g}-point "
        "round-trip spread",
    )
    ax.legend()
    fig.autofmt_xdate()
    return fig


def lag_figure(curve: list[dict]) -> Figure:
    """Daily-IC uplift as a function of an extra news delay."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.plot([c["lag_minutes"] for c in curve], [c["uplift_ic"] for c in curve], marker="o")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(xlabel="news delay (minutes)", ylabel="daily IC uplift", title="uplift vs news lag")
    return fig
