"""The verdict: purged walk-forward of with_news against market_only, several seeds, a
shuffled-news null, a news-lag curve and the final holdout, read once at the end.

Per fold and feature set, the hyperparameters are chosen from ``GRID`` on the fold's own
validation sessions (validation IC, first seed), then every seed is fitted with them: both
feature sets get the same search. Models fit and validate on every ``fit_stride_minutes``-th
bar (overlapping labels carry little more); every test bar is scored. Shared work: the
feature matrix is built once for the whole run; each fold's training and validation
matrices are binned once (XGBoost ``QuantileDMatrix``, validation binned with the training
cuts) and reused by every grid point and seed; the null's and the lag curve's training
matrices are binned with those cuts, and their refits take the real model's rounds (no
early stopping, no validation pass).

The headline statistic is the mean over test sessions of the daily IC difference (Spearman
within a session, with_news minus market_only, each averaged over seeds), with a 95%
moving-block bootstrap interval over whole sessions. The null re-fits with_news (first
seed, the fold's chosen hyperparameters and rounds) on news features whose sessions are
shuffled: a session's intraday news takes another session's, minute by minute, so the
news keeps its own shape but loses its timing. ``p = (1 + #null >= observed) / (1 + N)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from src_clean.training import costs
from src_clean.training.baselines import compute_baselines, ridge_forecast
from src_clean.training.config import TrainConfig
from src_clean.training.factor_test import factor_ic, holm, ic_summary, permutation_p, primary_test
from src_clean.training.folds import Fold, FoldPlan, sessions_of
from src_clean.training.metrics import (
    DailyIC,
    Forecast,
    daily_ic,
    evaluate,
    information_coefficient,
    session_bootstrap,
)

log = logging.getLogger(__name__)

WITH_NEWS = "with_news"
MARKET_ONLY = "market_only"
# the bounded hyperparameter search both feature sets get (on validation sessions)
GRID: tuple[dict[str, float], ...] = (
    {"max_depth": 2, "min_child_weight": 50.0},
    {"max_depth": 4, "min_child_weight": 10.0},
    {"max_depth": 6, "min_child_weight": 100.0},
)
ALPHA = 0.05  # news is claimed at this family-wise level only (see ``claim``)
PROGRESS_S = 10.0  # at most one progress line this often on a long null
_MINUTE = 60_000_000_000
IC_HORIZONS = (5, 15, 30, 60)  # minutes: the primary factor's IC by horizon


@dataclass(frozen=True)
class Data:
    """The run's rows, built once: features (market columns first), target, times, the
    session of each row, entry costs (bps) and the value of each news column at a bar
    without news."""

    x: np.ndarray
    y: np.ndarray
    times: pd.Series
    features: list[str]
    n_market: int
    horizon: int
    cost_bps: np.ndarray
    empty_news: np.ndarray
    fit_mask: np.ndarray  # the bars models fit and validate on (``fit_stride_minutes``)
    dropped: dict[str, str] = field(default_factory=dict)  # irrelevant columns, and why
    prices: np.ndarray | None = None  # each bar's close: forward returns at other horizons
    sessions: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", sessions_of(self.times))

    def fit_rows(self, part: slice) -> np.ndarray:
        """The positions in ``part`` that models fit or validate on."""
        return np.flatnonzero(self.fit_mask[part]) + part.start

    def columns(self, feature_set: str) -> slice:
        return slice(0, len(self.features) if feature_set == WITH_NEWS else self.n_market)

    @property
    def feature_sets(self) -> tuple[str, ...]:
        has_news = len(self.features) > self.n_market
        return (WITH_NEWS, MARKET_ONLY) if has_news else (MARKET_ONLY,)


@dataclass
class Fitted:
    """One fitted booster and how it was chosen."""

    booster: Any
    params: dict[str, float]
    best_iteration: int
    val_ic: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(x, iteration_range=(0, self.best_iteration + 1))


def xgb_params(config: TrainConfig, grid_point: dict[str, float], seed: int) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror",
        "eta": config.learning_rate,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "tree_method": config.tree_method,
        "nthread": config.n_jobs,
        "seed": seed,
        "eval_metric": "rmse",
        **grid_point,
    }


class FoldMatrices:
    """One fold's binned training and validation matrices per feature set (built once),
    on the fold's fit rows (``Data.fit_mask``)."""

    def __init__(self, data: Data, fold: Fold) -> None:
        self.data, self.fold = data, fold
        self.train, self.val = data.fit_rows(fold.train), data.fit_rows(fold.val)
        self._cache: dict[str, tuple[Any, Any]] = {}

    def get(self, feature_set: str) -> tuple[Any, Any]:
        """(train, val) matrices, the validation binned with the training cuts."""
        import xgboost as xgb

        if feature_set not in self._cache:
            dtrain = self.train_matrix(feature_set, self.data.x)
            cols = self.data.columns(feature_set)
            dval = xgb.QuantileDMatrix(
                self.data.x[self.val, cols],
                self.data.y[self.val],
                ref=dtrain,
                feature_names=self.data.features[cols],
            )
            self._cache[feature_set] = (dtrain, dval)
        return self._cache[feature_set]

    def train_matrix(self, feature_set: str, x: np.ndarray) -> Any:
        """The training matrix of features ``x``; replaced features (the null's shuffled or
        the lag curve's delayed news) keep their values, so they reuse the real cuts."""
        import xgboost as xgb

        cols = self.data.columns(feature_set)
        ref = None if x is self.data.x else self.get(feature_set)[0]
        return xgb.QuantileDMatrix(
            x[self.train, cols],
            self.data.y[self.train],
            ref=ref,
            feature_names=self.data.features[cols],
        )


def fit(
    matrices: tuple[Any, Any],
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    grid_point: dict[str, float],
    seed: int,
) -> Fitted:
    """Early stopping on the validation matrix; the validation IC of the stopped model."""
    import xgboost as xgb

    dtrain, dval = matrices
    booster = xgb.train(
        xgb_params(config, grid_point, seed),
        dtrain,
        num_boost_round=config.n_estimators,
        evals=[(dval, "val")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    fitted = Fitted(booster, dict(grid_point), int(booster.best_iteration), 0.0)
    fitted.val_ic = information_coefficient(y_val, fitted.predict(x_val))
    return fitted


def refit(dtrain: Any, like: Fitted, config: TrainConfig, seed: int) -> Fitted:
    """``like``'s hyperparameters and number of rounds on other training data: no early
    stopping, so the null and the lags get exactly the real model's capacity."""
    import xgboost as xgb

    rounds = like.best_iteration + 1
    booster = xgb.train(xgb_params(config, like.params, seed), dtrain, num_boost_round=rounds)
    return Fitted(booster, dict(like.params), like.best_iteration, float("nan"))


def search_and_fit(
    data: Data, matrices: FoldMatrices, feature_set: str, config: TrainConfig
) -> list[Fitted]:
    """The grid on the fold's validation sessions (first seed), then every seed."""
    cols = data.columns(feature_set)
    x_val, y_val = data.x[matrices.val, cols], data.y[matrices.val]
    pair = matrices.get(feature_set)
    seeds = config.seed_list
    tried = [fit(pair, x_val, y_val, config, point, seeds[0]) for point in GRID]
    # ties (e.g. constant predictions) go to the simpler model: fewer rounds, shallower
    best = max(tried, key=lambda f: (f.val_ic, -f.best_iteration, -f.params["max_depth"]))
    return [best] + [fit(pair, x_val, y_val, config, best.params, s) for s in seeds[1:]]


def is_degenerate(fitted: list[Fitted], predictions: np.ndarray) -> bool:
    """A model that stopped at its first tree or predicts (nearly) one value."""
    return all(f.best_iteration == 0 for f in fitted) or float(np.std(predictions)) < 1e-9


# -- per fold ---------------------------------------------------------------------------


@dataclass
class FoldResult:
    """What one fold produced: test predictions per feature set and seed, scores."""

    fold: Fold
    fitted: dict[str, list[Fitted]]
    predictions: dict[str, np.ndarray]  # feature set -> (seeds, test rows)
    scores: dict[str, dict[str, Any]]
    daily: pd.DataFrame  # session -> daily IC per feature set (seed-mean of each seed's)


def _model_scores(data: Data, fold: Fold, forecast: Forecast, train_mean: float) -> dict[str, Any]:
    y = data.y[fold.test]
    scores: dict[str, Any] = evaluate(y, forecast, train_mean)
    scores["daily_ic"] = float(daily_ic(data.sessions[fold.test], y, forecast.value).mean())
    slots = costs.trade_slots(data.times.iloc[fold.test], data.horizon)
    pnl = costs.strategies(y[slots], forecast.value[slots], data.cost_bps[fold.test][slots])
    scores["pnl"] = costs.without_curves(pnl)
    return scores


def run_fold(data: Data, fold: Fold, config: TrainConfig) -> tuple[FoldResult, FoldMatrices]:
    """Fit both feature sets (grid + seeds) and score them and the baselines on the test."""
    matrices = FoldMatrices(data, fold)
    y_train, y_test = data.y[fold.train], data.y[fold.test]
    train_mean = float(y_train.mean())
    fitted, predictions, scores = {}, {}, {}
    daily = {}
    for name in data.feature_sets:
        cols = data.columns(name)
        fitted[name] = search_and_fit(data, matrices, name, config)
        preds = np.stack([f.predict(data.x[fold.test, cols]) for f in fitted[name]])
        predictions[name] = preds
        mean = preds.mean(axis=0)
        scores[name] = _model_scores(data, fold, Forecast.from_values(mean), train_mean)
        scores[name] |= {
            "best_iteration": [f.best_iteration for f in fitted[name]],
            "params": fitted[name][0].params,
            "degenerate": is_degenerate(fitted[name], mean),
        }
        sessions = data.sessions[fold.test]
        daily[name] = np.mean([daily_ic(sessions, y_test, p) for p in preds], axis=0)
    market = pd.DataFrame(data.x[:, : data.n_market], columns=data.features[: data.n_market])
    baselines = compute_baselines(market.iloc[fold.test], y_train, data.horizon)
    cols = data.columns(MARKET_ONLY)
    baselines["ridge"] = ridge_forecast(
        data.x[matrices.train, cols].astype(np.float64),
        data.y[matrices.train],
        data.x[matrices.val, cols].astype(np.float64),
        data.y[matrices.val],
        data.x[fold.test, cols].astype(np.float64),
    )
    for name, forecast in baselines.items():
        scores[f"baseline:{name}"] = _model_scores(data, fold, forecast, train_mean)
    index = np.unique(data.sessions[fold.test])
    return FoldResult(fold, fitted, predictions, scores, pd.DataFrame(daily, index=index)), matrices


# -- the null and the lag curve ---------------------------------------------------------


class NewsShuffler:
    """The null's permutation: each session takes a random other session's news at the same
    minute of day (the empty-window values where that session has no bar at that minute).
    The session/minute lookup is built once for all permutations."""

    def __init__(self, data: Data, rows: int) -> None:
        self.data, self.rows = data, rows
        days, self.day_index = np.unique(data.sessions[:rows], return_inverse=True)
        minutes = pd.DatetimeIndex(data.times.iloc[:rows]).as_unit("ns").asi8 // _MINUTE
        self.minute = minutes % 1440
        self.lookup = np.full((len(days), 1440), -1, dtype=np.int64)
        self.lookup[self.day_index, self.minute] = np.arange(rows)
        self.n_days = len(days)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One permutation: the source row of every row's news (-1: none at that minute)."""
        return self.lookup[rng.permutation(self.n_days)[self.day_index], self.minute]

    def news(self, source: np.ndarray) -> np.ndarray:
        """A copy of ``x`` (first ``rows`` rows) with its news columns moved by ``source``."""
        data = self.data
        x = data.x[: self.rows].copy()
        news = slice(data.n_market, len(data.features))
        found = source >= 0
        x[found, news] = data.x[source[found], news]
        x[~found, news] = data.empty_news
        return x

    def column(self, source: np.ndarray, col: int, rows: np.ndarray) -> np.ndarray:
        """News column ``col`` of ``rows`` moved by ``source``: ``news(source)[rows, col]``
        without copying the matrix."""
        data = self.data
        picked = source[rows]
        found = picked >= 0
        out = np.full(len(rows), data.empty_news[col - data.n_market], dtype=data.x.dtype)
        out[found] = data.x[picked[found], col]
        return out


def lagged_news(data: Data, rows: int, lag_minutes: int) -> np.ndarray:
    """A copy of ``x`` whose news columns are those of the bar ``lag_minutes`` earlier
    (a news delay of that much; empty-window values where that bar does not exist)."""
    x = data.x[:rows].copy()
    values = pd.DatetimeIndex(data.times.iloc[:rows]).as_unit("ns").asi8
    wanted = values - lag_minutes * _MINUTE
    position = np.searchsorted(values, wanted)
    found = (position < rows) & (values[np.minimum(position, rows - 1)] == wanted)
    news = slice(data.n_market, len(data.features))
    x[found, news] = data.x[position[found], news]
    x[~found, news] = data.empty_news
    return x


def refit_with_news(
    data: Data,
    results: list[FoldResult],
    matrices: list[FoldMatrices],
    x: np.ndarray,
    config: TrainConfig,
) -> float:
    """The pooled daily-IC uplift of with_news re-fitted on ``x`` (first seed, each fold's
    chosen hyperparameters and rounds) over the real market_only."""
    treated = []
    for result, fold_matrices in zip(results, matrices, strict=True):
        dtrain = fold_matrices.train_matrix(WITH_NEWS, x)
        fitted = refit(dtrain, result.fitted[WITH_NEWS][0], config, config.seed_list[0])
        treated.append(fitted.predict(x[result.fold.test]))
    return pooled_uplift(data, results, treated)


def pooled_uplift(data: Data, results: list[FoldResult], treated: list[np.ndarray]) -> float:
    """The mean over every fold's test sessions of the daily IC of the ``treated``
    predictions (one array per fold) minus the real market_only's."""
    diffs = []
    for result, predictions in zip(results, treated, strict=True):
        fold = result.fold
        ic = daily_ic(data.sessions[fold.test], data.y[fold.test], predictions).to_numpy()
        diffs.append(ic - result.daily[MARKET_ONLY].to_numpy())
    return float(np.concatenate(diffs).mean())


# -- the whole verdict ------------------------------------------------------------------


@dataclass
class Verdict:
    """The walk-forward section of the training summary, and what plots need."""

    summary: dict[str, Any]
    results: list[FoldResult]
    curves: dict[str, np.ndarray]
    curve_times: pd.Series


def pooled(results: list[FoldResult], config: TrainConfig) -> dict[str, Any]:
    daily = pd.concat([r.daily for r in results])
    out: dict[str, Any] = {"sessions": len(daily), "block_sessions": config.block_sessions}
    for name in daily.columns:
        out[f"{name}_daily_ic"] = session_bootstrap(
            daily[name].to_numpy(), config.block_sessions, config.bootstrap, config.seed
        )
    if WITH_NEWS in daily:
        diff = (daily[WITH_NEWS] - daily[MARKET_ONLY]).to_numpy()
        out["uplift_ic"] = session_bootstrap(
            diff, config.block_sessions, config.bootstrap, config.seed
        )
    return out


def _seed_uplifts(results: list[FoldResult], data: Data) -> list[float]:
    """The pooled daily-IC uplift of each seed alone (is the verdict one seed's luck?)."""
    per_seed = []
    for seed in range(len(results[0].predictions[WITH_NEWS])):
        diffs = []
        for r in results:
            s, y = data.sessions[r.fold.test], data.y[r.fold.test]
            treated = daily_ic(s, y, r.predictions[WITH_NEWS][seed])
            diffs.append((treated - daily_ic(s, y, r.predictions[MARKET_ONLY][seed])).to_numpy())
        per_seed.append(float(np.concatenate(diffs).mean()))
    return per_seed


def test_rows(results: list[FoldResult]) -> np.ndarray:
    """Row positions of every fold's test block, in order (they follow one another)."""
    return np.concatenate([np.arange(r.fold.test.start, r.fold.test.stop) for r in results])


def _pooled_pnl(data: Data, results: list[FoldResult]) -> tuple[dict[str, Any], dict, pd.Series]:
    """Sign/threshold P&L of each feature set over all test folds, and the equity curves."""
    test = test_rows(results)
    times = data.times.iloc[test].reset_index(drop=True)
    slots = costs.trade_slots(times, data.horizon)
    rows = test[slots]
    out: dict[str, Any] = {}
    curves: dict[str, np.ndarray] = {}
    for name in data.feature_sets:
        forecast = np.concatenate([r.predictions[name].mean(axis=0) for r in results])[slots]
        result = costs.strategies(data.y[rows], forecast, data.cost_bps[rows])
        out[name] = costs.without_curves(result)
        curves[f"{name} sign"] = result["sign"]["equity_bps"]
    curves["buy_and_hold"] = result["buy_and_hold"]["equity_bps"]  # the same for every model
    out["mean_cost_bps"] = float(data.cost_bps[rows].mean()) if len(rows) else float("nan")
    return out, curves, times.iloc[slots].reset_index(drop=True)


def walk_forward(data: Data, plan: FoldPlan, config: TrainConfig) -> Verdict:
    """Every fold, the pooled statistics, the null and the lag curve (pre-holdout rows
    only: the holdout is never read here)."""
    pre = plan.pre_holdout_rows
    limited = Data(
        data.x[:pre],
        data.y[:pre],
        data.times.iloc[:pre].reset_index(drop=True),
        data.features,
        data.n_market,
        data.horizon,
        data.cost_bps[:pre],
        data.empty_news,
        data.fit_mask[:pre],
        data.dropped,
        None if data.prices is None else data.prices[:pre],
    )
    results, matrices, seconds = [], [], []
    for fold in plan.folds:
        began = time.perf_counter()
        result, fold_matrices = run_fold(limited, fold, config)
        results.append(result)
        matrices.append(fold_matrices)
        seconds.append(time.perf_counter() - began)
        log.info("%s: %.1f s %s", fold.name, seconds[-1], _fold_line(result))
    summary: dict[str, Any] = {
        "folds": [_fold_summary(r, limited.times, config) for r in results],
        "pooled": pooled(results, config),  # the bootstrap runs once; the null reuses it
        "seeds": list(config.seed_list),
        "embargo_minutes": int(plan.embargo / pd.Timedelta(minutes=1)),
        "grid": list(GRID),
        "dropped_features": dict(limited.dropped),
        "degenerate": {
            name: sum(bool(r.scores[name]["degenerate"]) for r in results)
            for name in limited.feature_sets
        },
        "seconds": {"folds": seconds},
    }
    pnl, curves, curve_times = _pooled_pnl(limited, results)
    summary["pnl"] = pnl | {"spread_points": config.spread_points}
    if WITH_NEWS in limited.feature_sets:
        summary["per_seed_uplift_ic"] = _seed_uplifts(results, limited)
        began = time.perf_counter()
        null = _null(limited, results, matrices, config)
        summary["null"] = null
        summary["seconds"]["null"] = time.perf_counter() - began
        log.info(
            "null: %.1f s (%d permutations, %d refits)",
            summary["seconds"]["null"],
            null["permutations"],
            null["refits"],
        )
        test = test_rows(results)
        factor = primary_column(limited, config)
        summary["primary"] = (
            primary_test(
                config.primary_factor,
                limited.sessions[test],
                limited.y[test],
                limited.x[test, factor],
                null["primary_ic"],
            )
            if factor is not None
            else {
                "factor": config.primary_factor,
                "p_value": None,
                "ic": float("nan"),
                "sessions": len(np.unique(limited.sessions[test])),
                "reason": "not a news feature of this run"
                + (
                    f" ({limited.dropped[config.primary_factor]})"
                    if config.primary_factor in limited.dropped
                    else ""
                ),
            }
        )
        if factor is not None and limited.prices is not None:
            summary["primary"]["ic_by_horizon"] = ic_by_horizon(
                limited.times, limited.prices, limited.sessions, limited.x[:, factor], test
            )
        summary["secondary"] = secondary_test(limited, results, matrices, config, null["uplift_ic"])
        summary["null"]["p_value"] = summary["secondary"]["p_value"]
        summary["null"]["observed_uplift_ic"] = summary["secondary"]["estimate"]
        began = time.perf_counter()
        summary["lag_curve"] = _lag_curve(
            limited, results, matrices, config, summary["secondary"]["estimate"]
        )
        summary["seconds"]["lag_curve"] = time.perf_counter() - began
        log.info("lag_curve: %.1f s", summary["seconds"]["lag_curve"])
        summary["claim"] = claim(summary["primary"], summary["secondary"])
        summary["significant"] = summary["claim"]["significant"]
    return Verdict(summary, results, curves, curve_times)


def _null(
    data: Data,
    results: list[FoldResult],
    matrices: list[FoldMatrices],
    config: TrainConfig,
) -> dict[str, Any]:
    """The shuffled-news null of both tests, each permutation scored like the observed
    value: the primary factor's IC on the same test rows, and with_news refitted (first
    seed, each fold's chosen hyperparameters and rounds) against the real market_only."""
    rng = np.random.default_rng(config.seed)
    test = test_rows(results)
    factor = primary_column(data, config)
    shuffler = NewsShuffler(data, len(data.y))
    scorer = DailyIC(data.sessions[test], data.y[test])  # the test rows' ranks, once
    total = config.null_permutations
    refits = total if config.null_refits is None else config.null_refits
    primary, secondary = [], []
    began = last = time.perf_counter()
    for n in range(total):
        source = shuffler.draw(rng)
        if factor is not None:
            shuffled = shuffler.column(source, factor, test)
            primary.append(ic_summary(scorer(shuffled).to_numpy())["ic"])
        if n < refits:  # the first ``refits`` permutations also serve the secondary test
            x = shuffler.news(source)
            secondary.append(refit_with_news(data, results, matrices, x, config))
        now = time.perf_counter()
        if now - last >= PROGRESS_S and n + 1 < refits:
            last = now
            log.info(
                "null: %d/%d refits, about %.0f s left",
                n + 1,
                refits,
                (now - began) / (n + 1) * (refits - n - 1),
            )
    return {
        "permutations": config.null_permutations,
        "refits": len(secondary),
        "primary_ic": primary,
        "uplift_ic": secondary,
        "method": "news shuffled across whole trading sessions (minute of day kept); the "
        "factor scored again on the same test rows, and with_news re-fitted with the first "
        "seed and each fold's chosen hyperparameters and rounds, as the observed value is",
    }


def forward_returns(times: pd.Series, prices: np.ndarray, minutes: int) -> np.ndarray:
    """Return (bps) from each bar's close to the close ``minutes`` later; NaN where that
    bar is not among the rows (a gap, or past the last row: nothing beyond is read)."""
    values = pd.DatetimeIndex(times).as_unit("ns").asi8
    wanted = values + minutes * _MINUTE
    position = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
    found = values[position] == wanted
    out = np.full(len(values), np.nan)
    out[found] = (prices[position[found]] / prices[found] - 1.0) * 1e4
    return out


def ic_by_horizon(
    times: pd.Series,
    prices: np.ndarray,
    sessions: np.ndarray,
    factor: np.ndarray,
    rows: np.ndarray,
) -> list[dict[str, float]]:
    """The primary factor's mean daily IC on the test ``rows`` against the forward return
    at each of ``IC_HORIZONS`` minutes (where does the news factor's power peak?)."""
    out = []
    for minutes in IC_HORIZONS:
        returns = forward_returns(times, prices, minutes)[rows]
        known = np.isfinite(returns)
        ic = factor_ic(sessions[rows][known], returns[known], factor[rows][known])
        out.append({"minutes": minutes, "ic": ic["ic"], "t": ic["t"]})
    return out


def primary_column(data: Data, config: TrainConfig) -> int | None:
    """The primary factor's column, when it is one of the run's news features (the null
    shuffles news columns only); None otherwise (dropped as irrelevant, or not news)."""
    name = config.primary_factor
    if name not in data.features or data.features.index(name) < data.n_market:
        return None
    return data.features.index(name)


def secondary_test(
    data: Data,
    results: list[FoldResult],
    matrices: list[FoldMatrices],
    config: TrainConfig,
    null: list[float],
) -> dict[str, Any]:
    """The model uplift (with_news over market_only, daily IC): the observed value by the
    null's recipe, its permutation p, and a fold-level interval (each fold's mean uplift
    is one replicate of the whole refit: between-fold spread, t with K - 1 degrees).

    The null's recipe on the real news (``refit_with_news(..., data.x, ...)``) is the
    first seed's walk-forward model itself: the same matrix, seed and parameters, trained
    for its chosen rounds (early stopping only trained on past them), so its predictions
    are reused, bit for bit, instead of refitted (a test holds them equal)."""
    observed = pooled_uplift(data, results, [r.predictions[WITH_NEWS][0] for r in results])
    fold_means = np.array(
        [float((r.daily[WITH_NEWS] - r.daily[MARKET_ONLY]).mean()) for r in results]
    )
    return {
        "estimate": observed,
        **fold_interval(fold_means),
        "fold_uplift_ic": fold_means.tolist(),
        "p_value": permutation_p(observed, null),
        "permutations": len(null),
    }


def fold_interval(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean of per-fold values with a t interval over folds (``low``, ``high``)."""
    from scipy.stats import t as student

    k = len(values)
    mean = float(values.mean()) if k else float("nan")
    if k < 2:
        return {"fold_mean": mean, "low": float("nan"), "high": float("nan")}
    half = float(student.ppf(0.5 + level / 2, k - 1) * values.std(ddof=1) / np.sqrt(k))
    return {"fold_mean": mean, "low": mean - half, "high": mean + half}


def claim(primary: dict[str, Any], secondary: dict[str, Any]) -> dict[str, Any]:
    """The claim rule: Holm's step-down test over the primary (the factor) and the
    secondary (the model uplift) at family-wise level ``ALPHA``; news is significant when
    either is rejected."""
    rejected = holm({"primary": primary["p_value"], "secondary": secondary["p_value"]}, ALPHA)
    return {
        "alpha": ALPHA,
        "rule": "Holm over the primary and secondary permutation p-values",
        "rejected": rejected,
        "significant": any(rejected.values()),
    }


def _lag_curve(
    data: Data,
    results: list[FoldResult],
    matrices: list[FoldMatrices],
    config: TrainConfig,
    observed: float,
) -> list[dict[str, float]]:
    rows = len(data.y)
    curve = []
    for lag in config.news_lags:
        value = (
            observed
            if lag == 0
            else refit_with_news(data, results, matrices, lagged_news(data, rows, lag), config)
        )
        curve.append({"lag_minutes": lag, "uplift_ic": value})
    return curve


def _fold_summary(result: FoldResult, times: pd.Series, config: TrainConfig) -> dict[str, Any]:
    fold = result.fold
    sizes = {f"n_{part}": n for part, n in fold.sizes().items()}
    out: dict[str, Any] = {"fold": fold.name, **sizes, **fold.time_ranges(times)}
    out["models"] = result.scores
    if WITH_NEWS in result.daily:
        diff = (result.daily[WITH_NEWS] - result.daily[MARKET_ONLY]).to_numpy()
        out["uplift_ic"] = session_bootstrap(
            diff, config.block_sessions, config.bootstrap, config.seed
        )
    return out


def _fold_line(result: FoldResult) -> str:
    return " ".join(
        f"{name}: daily_ic={scores['daily_ic']:+.4f}"
        for name, scores in result.scores.items()
        if not name.startswith("baseline:")
    )


def holdout(data: Data, plan: FoldPlan, config: TrainConfig) -> tuple[dict[str, Any], FoldResult]:
    """The final models (trained on every pre-holdout session) scored once on the holdout."""
    began = time.perf_counter()
    result, _ = run_fold(data, plan.holdout, config)
    summary = _fold_summary(result, data.times, config)
    summary["sessions"] = len(result.daily)
    summary["seconds"] = time.perf_counter() - began
    return summary, result
