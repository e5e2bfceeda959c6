"""Synthetic SPX500_USD M1 candles: price process, planted news drift, OANDA v20 NDJSON files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from src_clean.sample_data.session import activity, chicago_clock

INSTRUMENT = "SPX500_USD"
GRANULARITY = "M1"
START_PRICE = 4700.0
BPS = 1e-4
MINUTE_NS = 60 * 10**9
BASE_VOL_BPS = 1.5  # per-minute log-return vol at activity 1 (1.5-3 bps over the day)
TAIL_DOF = 5  # Student-t degrees of freedom of the minute shocks (fat tails)
GAP_VOL_BPS = 0.8  # per sqrt(minute) of closed market: ~6 bps over the daily break
WICK_SCALE = 0.6  # high/low wick beyond the candle body, in units of the minute vol
VOLUME_SCALE = 40.0  # median ticks per minute at activity 1 (x8 at the US open)
VOLUME_NOISE = 0.35  # log-normal sigma of the tick volume
MISSING_RATE = 0.002  # chance a run of missing minutes starts at a bar (at activity 1)
MAX_MISSING_RUN = 3
EFFECT_MINUTES = (30, 60)  # a planted news drift lasts D minutes, D uniform in this range


def effect_start_minutes(published_at: pd.Series, start: dt.date) -> np.ndarray:
    """Grid minute of the first bar whose open is >= ``published_at`` rounded up to a minute."""
    elapsed = published_at - pd.Timestamp(start.isoformat(), tz="UTC")
    nanoseconds = elapsed.to_numpy().astype("timedelta64[ns]").astype(np.int64)
    return -(-nanoseconds // MINUTE_NS)


def planted_drift(
    n_minutes: int,
    trading: np.ndarray,
    sentiment: np.ndarray,
    start_minute: np.ndarray,
    duration: np.ndarray,
    effect_bps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per trading minute log drift from news, and which articles planted one.

    An article with sentiment s whose start minute is a trading minute adds s * effect_bps
    spread evenly over the ``duration`` calendar minutes from its start; minutes of a break
    inside that window carry nothing (that part of the effect is lost).
    """
    is_trading = np.zeros(n_minutes + 1, dtype=bool)
    is_trading[trading] = True
    active = (sentiment != 0) & (effect_bps != 0) & is_trading[np.minimum(start_minute, n_minutes)]
    rate = sentiment[active] * effect_bps * BPS / duration[active]
    begin = start_minute[active]
    end = np.minimum(begin + duration[active], n_minutes)
    change = np.bincount(begin, rate, n_minutes + 1) - np.bincount(end, rate, n_minutes + 1)
    return np.cumsum(change)[trading], active


def simulate_candles(
    rng: np.random.Generator, start: dt.date, trading: np.ndarray, drift: np.ndarray
) -> pd.DataFrame:
    """Candles (time, open, high, low, close, volume, complete) on the observed trading minutes.

    Log returns are Student-t shocks scaled by the intraday activity plus ``drift``; a bar
    after a market closure opens with a gap; prices have a 0.1 tick; a few short runs of
    minutes are missing; the last candle is incomplete.
    """
    n = len(trading)
    level = activity(chicago_clock(start, trading)[0])
    sigma = BASE_VOL_BPS * BPS * level
    shocks = rng.standard_t(TAIL_DOF, n) * np.sqrt((TAIL_DOF - 2) / TAIL_DOF)
    gaps = _closure_gaps(rng, trading)
    close = START_PRICE * np.exp(np.cumsum(gaps + sigma * shocks + drift))
    open_ = np.concatenate(([START_PRICE], close[:-1])) * np.exp(gaps)
    high = np.maximum(open_, close) * np.exp(WICK_SCALE * sigma * np.abs(rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-WICK_SCALE * sigma * np.abs(rng.standard_normal(n)))
    volume = VOLUME_SCALE * level**3 * rng.lognormal(0.0, VOLUME_NOISE, n)
    observed = _observed(rng, level)
    origin = pd.Timestamp(start.isoformat(), tz="UTC")
    candles = pd.DataFrame(
        {
            "time": origin + pd.to_timedelta(trading, unit="min"),
            "open": _to_tick(open_),
            "high": _to_tick(high),
            "low": _to_tick(low),
            "close": _to_tick(close),
            "volume": np.maximum(1, np.rint(volume)).astype(np.int64),
        }
    )[observed].reset_index(drop=True)
    candles["complete"] = np.arange(len(candles)) < len(candles) - 1
    return candles


def _closure_gaps(rng: np.random.Generator, trading: np.ndarray) -> np.ndarray:
    """Log gap at each bar that follows a closure, scaled by sqrt of the closed minutes."""
    closed = np.diff(trading, prepend=trading[:1] - 1) - 1
    return GAP_VOL_BPS * BPS * np.sqrt(closed) * rng.standard_normal(len(trading))


def _observed(rng: np.random.Generator, level: np.ndarray) -> np.ndarray:
    """Mask of bars that get a candle: runs of 1-3 minutes are missing, more often when quiet."""
    n = len(level)
    run_start = np.flatnonzero(rng.random(n) < MISSING_RATE / level**2)
    run_length = rng.integers(1, MAX_MISSING_RUN + 1, len(run_start))
    first = np.repeat(np.cumsum(run_length) - run_length, run_length)
    missing = np.repeat(run_start, run_length) + np.arange(run_length.sum()) - first
    observed = np.ones(n, dtype=bool)
    observed[missing[missing < n]] = False
    return observed


def _to_tick(price: np.ndarray) -> np.ndarray:
    """Round to the 0.1 price tick (monotone, so OHLC ordering survives)."""
    return np.rint(price * 10) / 10


def candle_lines(candles: pd.DataFrame) -> pa.StringArray:
    """One OANDA v20 NDJSON line (with trailing newline) per candle, built vectorized."""
    minutes = candles["time"].dt.tz_localize(None).to_numpy().astype("datetime64[m]")
    return pc.binary_join_element_wise(
        '{"complete": ',
        pc.cast(pa.array(candles["complete"].to_numpy()), pa.string()),
        ', "volume": ',
        pc.cast(pa.array(candles["volume"].to_numpy()), pa.string()),
        ', "time": "',
        pa.array(np.datetime_as_string(minutes, unit="m")),
        ':00.000000000Z", "mid": {"o": "',
        _price_strings(candles["open"]),
        '", "h": "',
        _price_strings(candles["high"]),
        '", "l": "',
        _price_strings(candles["low"]),
        '", "c": "',
        _price_strings(candles["close"]),
        '"}}\n',
        "",
    )


def _price_strings(price: pd.Series) -> pa.StringArray:
    """Prices with exactly one decimal, like OANDA ("4701.2")."""
    tenths = np.rint(price.to_numpy() * 10).astype(np.int64)
    whole = pc.cast(pa.array(tenths // 10), pa.string())
    return pc.binary_join_element_wise(whole, pc.cast(pa.array(tenths % 10), pa.string()), ".")


def write_candle_files(candles: pd.DataFrame, directory: Path) -> list[Path]:
    """Write ``<INSTRUMENT>_M1_<YYYY-MM-DD>.ndjson`` per UTC date; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = candle_lines(candles)
    day = candles["time"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    edges = np.concatenate(([0], np.flatnonzero(day[1:] != day[:-1]) + 1, [len(day)]))
    paths = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        path = directory / f"{INSTRUMENT}_{GRANULARITY}_{day[lo]}.ndjson"
        text = "".join(lines.slice(lo, hi - lo).to_pylist())
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths
