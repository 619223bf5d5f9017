"""Tests for attnlib.data.series and attnlib.models.timeseries."""

import numpy as np
import pytest
import torch

from attnlib.data import series as ts
from attnlib.models.timeseries import ForecasterConfig, TransformerForecaster


def test_make_windows_hand_computed():
    X, y = ts.make_windows([0.0, 1, 2, 3, 4, 5], context=3)
    assert X.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert y.tolist() == [3, 4, 5]
    X, y = ts.make_windows(np.arange(6.0), context=2, start=4)
    assert X.tolist() == [[2, 3], [3, 4]] and y.tolist() == [4, 5]


@pytest.mark.parametrize(
    "values, context, match",
    [
        ([1.0, np.nan, 3.0, 4.0], 2, "missing"),
        ([1.0, 2.0, 3.0], 3, "too short"),
        ([[1.0, 2.0], [3.0, 4.0]], 1, "1-D"),
        ([1.0, 2.0, 3.0], 0, "context"),
    ],
)
def test_make_windows_bad_input(values, context, match):
    with pytest.raises(ValueError, match=match):
        ts.make_windows(values, context)


def test_make_windows_bad_start():
    with pytest.raises(ValueError, match="start"):
        ts.make_windows(np.arange(10.0), 3, start=2)


def test_split_tail():
    train, test = ts.split_tail(np.arange(10.0), 3)
    assert train.tolist() == list(range(7)) and test.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="n_test"):
        ts.split_tail(np.arange(5.0), 5)


def test_naive_and_seasonal_naive():
    v = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    assert ts.naive_forecast(v, 5).tolist() == [5, 6, 7]
    assert ts.seasonal_naive_forecast(v, 4, 5).tolist() == [2, 3, 4]
    # mean change over one period in the first 6 values: (5-1 + 6-2) / 2 = 4
    assert ts.seasonal_naive_forecast(v, 4, 6, drift_from=6).tolist() == [7, 8]
    with pytest.raises(ValueError, match="start"):
        ts.seasonal_naive_forecast(v, 4, 2)
    with pytest.raises(ValueError, match="period"):
        ts.seasonal_naive_forecast(v, 0, 2)


def test_mae_mase():
    assert ts.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    # in-sample seasonal-naive (m=1) MAE of [0, 2, 4] is 2
    assert ts.mase([1, 2], [2, 4], [0, 2, 4], 1) == pytest.approx(1.5 / 2)
    with pytest.raises(ValueError):
        ts.mae([1, 2], [1])
    with pytest.raises(ValueError, match="constant"):
        ts.mase([1], [1], [3, 3, 3], 1)


def test_load_series_all():
    for name in ts.SERIES:
        s = ts.load_series(name)
        assert (
            s.values.ndim == 1
            and np.isfinite(s.values).all()
            and len(s.values) > 100
        )
        assert s.licence and s.source and len(s.times) == len(s.values)
    co2 = ts.load_series("co2")
    assert (
        len(co2.values) == 526
        and co2.period == 12
        and 310 < co2.values[0] < 320
    )
    with pytest.raises(ValueError, match="name"):
        ts.load_series("nile")


def test_forecaster_shapes_weights_and_equivariance():
    torch.manual_seed(0)
    cfg = ForecasterConfig(max_len=8, d_model=16, num_heads=2, num_layers=2)
    model = TransformerForecaster(cfg).eval()
    x = torch.randn(5, 8).cumsum(1)
    pred, w = model(x, need_weights=True)
    assert pred.shape == (5,) and len(w) == 2 and w[0].shape == (5, 2, 8, 8)
    torch.testing.assert_close(w[-1].sum(-1), torch.ones(5, 2, 8))
    # instance normalisation: shifting and scaling a window shifts and scales
    # the forecast
    torch.testing.assert_close(
        model(3 * x + 100), 3 * pred + 100, atol=1e-3, rtol=1e-4
    )


def test_forecaster_bad_input():
    model = TransformerForecaster(
        ForecasterConfig(max_len=4, d_model=8, num_heads=2, num_layers=1)
    )
    with pytest.raises(ValueError, match="max_len=4"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="missing"):
        model(torch.tensor([[1.0, float("nan"), 2.0, 3.0]]))
    with pytest.raises(TypeError):
        model(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="y must"):
        model.loss(torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="num_heads"):
        ForecasterConfig(max_len=4, d_model=10, num_heads=3)


def test_forecaster_learns_a_sine():
    torch.manual_seed(0)
    t = np.arange(120)
    X, y = ts.make_windows(np.sin(2 * np.pi * t / 20), 20)
    X, y = (
        torch.tensor(X, dtype=torch.float32),
        torch.tensor(y, dtype=torch.float32),
    )
    model = TransformerForecaster(
        ForecasterConfig(
            max_len=20, d_model=16, num_heads=2, num_layers=1, scale=0.3
        ),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = model.loss(X, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    naive = (y - X[:, -1]).abs().mean()
    with torch.no_grad():
        assert (model(X) - y).abs().mean() < 0.3 * naive
