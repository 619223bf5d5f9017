"""device, train, viz, checks and bench helpers."""

import json

import matplotlib.pyplot as plt
import pytest
import torch

from attnlib import bench
from attnlib.checks import attempt, check_close, check_shape, check_true
from attnlib.device import evaluating, get_device, seed_everything
from attnlib.train import History, cosine_schedule, fit
from attnlib.viz import (
    heads_grid,
    heatmap,
    widget_with_fallback,
    widgets_enabled,
)


def test_get_device_default_and_override(monkeypatch):
    monkeypatch.delenv("ATTNLIB_DEVICE", raising=False)
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert get_device().type == expected
    monkeypatch.setenv("ATTNLIB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")


def test_seed_everything_reproducible():
    g1 = seed_everything(3)
    a = torch.randn(4), torch.randint(0, 9, (3,), generator=g1)
    g2 = seed_everything(3)
    b = torch.randn(4), torch.randint(0, 9, (3,), generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(TypeError):
        seed_everything(1.5)


def _net(training: bool) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    return net.train(training)


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_restores_mode_after_normal_exit(training):
    net = _net(training)
    with evaluating(net) as inside:
        assert inside is net
        assert not any(m.training for m in net.modules())
    assert all(m.training == training for m in net.modules())


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_restores_mode_after_exception(training):
    net = _net(training)
    with pytest.raises(RuntimeError, match="boom"):
        with evaluating(net):
            assert not net.training
            raise RuntimeError("boom")
    assert all(m.training == training for m in net.modules())


def test_decoding_error_leaves_model_in_train_mode():
    from attnlib.models.seq2seq import Seq2Seq, Seq2SeqConfig

    model = Seq2Seq(Seq2SeqConfig(vocab_size=10, emb_dim=4, d_model=4))
    model.train()
    with pytest.raises(ValueError, match="outside"):
        model.generate(torch.tensor([[3, 99]]), 5)
    assert model.training


def test_fit_learns_linear_regression():
    seed_everything(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = torch.nn.Linear(3, 1)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]

    def loss_fn(m, batch):
        xb, yb = batch
        return torch.nn.functional.mse_loss(m(xb).squeeze(-1), yb)

    def eval_fn(m):
        return {"mse": loss_fn(m, (x, y)).item()}

    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    hist = fit(
        model,
        batches,
        loss_fn,
        steps=300,
        optimizer=opt,
        scheduler=cosine_schedule(opt, 300, 10),
        eval_fn=eval_fn,
        eval_every=100,
        clip_grad=5.0,
        show_progress=False,
    )
    assert isinstance(hist, History)
    assert len(hist.train_loss) == 300 and hist.eval_steps == [100, 200, 300]
    assert hist.last("mse") < 1e-3 < hist.train_loss[0]
    assert len(hist.smoothed_train_loss(10)) == 300
    assert not model.training


def test_fit_with_batch_function_and_errors():
    model = torch.nn.Linear(1, 1)
    hist = fit(
        model,
        lambda: torch.randn(8, 1),
        lambda m, b: m(b).pow(2).mean(),
        steps=5,
        show_progress=False,
    )
    assert len(hist.train_loss) == 5
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit(model, [torch.ones(1, 1)], lambda m, b: m(b).sum(), steps=0)
    with pytest.raises(ValueError, match="produced no batches"):
        fit(model, [], lambda m, b: m(b).sum(), steps=2, show_progress=False)
    with pytest.raises(FloatingPointError, match="loss became"):
        fit(
            model,
            [torch.ones(1, 1)],
            lambda m, b: m(b).sum() * float("nan"),
            steps=2,
            show_progress=False,
        )
    with pytest.raises(KeyError):
        hist.last("accuracy")


def test_heatmap_and_grid():
    w = torch.softmax(torch.randn(3, 4), -1)
    ax = heatmap(w, list("abcd"), list("xyz"), title="t", annotate=True)
    assert ax.get_xlabel() == "key position" and ax.get_title() == "t"
    with pytest.raises(ValueError, match="x_labels has 3 entries"):
        heatmap(w, list("abc"))
    with pytest.raises(ValueError, match="must be 2-D"):
        heatmap(torch.ones(2, 2, 2))
    fig = heads_grid(torch.rand(5, 3, 3), ncols=3)
    assert len(fig.axes) == 6
    fig = heads_grid(torch.rand(2, 3, 4, 4))
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="heads"):
        heads_grid(torch.rand(3, 3))
    plt.close("all")


def test_widget_static_fallback(monkeypatch):
    monkeypatch.setenv("ATTNLIB_STATIC", "1")
    assert not widgets_enabled()
    calls = []

    def plot(ax, tau, head=0):
        calls.append((tau, head))
        ax.plot([0, 1], [0, tau])

    fig = widget_with_fallback(
        plot, {"tau": [0.1, 0.5, 1.0, 2.0, 5.0], "head": [0, 1]}, ncols=3
    )
    assert calls == [(0.1, 0), (1.0, 0), (5.0, 0)]
    assert fig.axes[0].get_title() == "tau = 0.1, head = 0"
    with pytest.raises(ValueError, match="has no values"):
        widget_with_fallback(plot, {"tau": []})
    plt.close("all")


def test_checks_messages(capsys):
    check_close(torch.ones(2), torch.ones(2))
    with pytest.raises(
        AssertionError, match=r"x has shape \(3,\), expected \(2,\)"
    ):
        check_close(torch.ones(3), torch.ones(2), "x")
    with pytest.raises(
        AssertionError,
        match=r"differs at 1 of 2 entries; first at index \(1,\): got 3",
    ):
        check_close(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0]))
    with pytest.raises(AssertionError, match="contains NaN"):
        check_close(torch.tensor([float("nan")]), torch.tensor([1.0]))
    inf = float("inf")
    # a finite value where -inf is expected (a missing mask) is an error ...
    with pytest.raises(AssertionError, match=r"first at index \(1,\): got -5"):
        check_close(torch.tensor([0.0, -5.0]), torch.tensor([0.0, -inf]))
    with pytest.raises(AssertionError, match="got -inf, expected 2"):
        check_close(torch.tensor([-inf]), torch.tensor([2.0]))
    with pytest.raises(AssertionError, match="got inf, expected -inf"):
        check_close(torch.tensor([inf]), torch.tensor([-inf]))
    with pytest.raises(AssertionError, match="got 1, expected nan"):
        check_close(torch.tensor([1.0]), torch.tensor([float("nan")]))
    # ... while matching infinities and NaN pass, next to close finite values
    check_close(
        torch.tensor([-inf, inf, float("nan"), 1.0]),
        torch.tensor([-inf, inf, float("nan"), 1.0 + 1e-7]),
    )
    check_shape(torch.ones(2, 3), (2, 3))
    with pytest.raises(AssertionError, match="custom"):
        check_true(False, "custom")

    def not_done():
        raise NotImplementedError

    assert attempt("Ex 1", not_done) is False
    assert attempt("Ex 2", lambda: check_true(True, "")) is True
    out = capsys.readouterr().out
    assert "[not attempted] Ex 1" in out and "[passed] Ex 2" in out
    with pytest.raises(AssertionError):
        attempt("Ex 3", lambda: check_true(False, "wrong"))


def test_bench_report(tmp_path, monkeypatch):
    monkeypatch.delenv(bench.ENV_FILE, raising=False)
    bench.report(a=1.0)  # a no-op without the variable
    target = tmp_path / "m.json"
    monkeypatch.setenv(bench.ENV_FILE, str(target))
    bench.report(a=1, b=2.5)
    bench.report(c=0.25)
    assert json.loads(target.read_text()) == {"a": 1.0, "b": 2.5, "c": 0.25}
    with pytest.raises(TypeError, match="metric 'd' must be a number"):
        bench.report(d="x")


def test_interleaved_times_call_in_turn():
    calls = []
    fns = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    times = bench.interleaved_times(fns, rounds=3, warmup=1)
    assert calls == list("abc") * 4  # one warm-up round, then 3 rounds
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    with pytest.raises(ValueError, match="rounds must be"):
        bench.interleaved_times(fns, rounds=0)


def test_ratio_spread_is_per_round():
    # a load drift that doubles both sides of round 3 cancels in the ratio
    spread = bench.ratio_spread([1.0, 1.1, 2.4, 1.2], [1.0, 1.0, 2.0, 1.0])
    assert spread["rounds"] == 4
    assert spread["min"] == 1.0 and spread["max"] == 1.2
    assert abs(spread["median"] - 1.15) < 1e-9
    assert spread["q1"] <= spread["median"] <= spread["q3"]
    assert "1.15 (IQR" in bench.format_spread(spread)
    with pytest.raises(ValueError, match="one time per round"):
        bench.ratio_spread([1.0], [1.0, 2.0])


def test_bench_kernel_rows_small():
    rows = bench.mha_kernel_rows(batch=1, n=16, d=32, heads=4, repeat=3)
    assert [r["name"] for r in rows] == [
        "attnlib_mha",
        "attnlib_mha_weights",
        "torch_nn_mha",
        "sdpa",
    ]
    assert all(r["ms"] > 0 and r["n"] == 16 for r in rows)
    assert all(len(r["rounds_ms"]) == 3 for r in rows)
    assert "vs_sdpa" not in rows[-1]
    assert rows[0]["vs_sdpa"]["rounds"] == 3


def test_bench_machine_info_and_load(tmp_path):
    info = bench.machine_info()
    assert {
        "cpu",
        "cores",
        "torch",
        "torch_threads",
        "device",
        "attnlib",
    } <= set(info)
    with pytest.raises(FileNotFoundError, match="run `make bench`"):
        bench.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"machine": {}}')
    with pytest.raises(ValueError, match="lacks"):
        bench.load(bad)


def test_bench_main_skips_report_page_and_writes_snapshot(
    tmp_path, monkeypatch
):
    nbformat = pytest.importorskip("nbformat")
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    code = "from attnlib.bench import report\nreport(answer=42)"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]),
        chapters / "01_a.ipynb",
    )
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("raise SystemExit")]
        ),
        chapters / bench.REPORT_PAGE,
    )
    monkeypatch.chdir(tmp_path)
    assert (
        bench.main(
            [
                "--no-kernels",
                "--out",
                "out/b.json",
                "--snapshot",
                "snap/latest.json",
            ]
        )
        == 0
    )
    result = bench.load(tmp_path / "snap" / "latest.json")
    assert result == bench.load(tmp_path / "out" / "b.json")
    assert list(result["chapters"]) == [
        "chapters/01_a.ipynb"
    ]  # the report page is not run
    assert result["chapters"]["chapters/01_a.ipynb"]["metrics"] == {
        "answer": 42.0
    }
    assert result["date"].endswith("Z")


def test_progress_live_and_static(monkeypatch, capsys):
    from attnlib.progress import progress, static_mode

    monkeypatch.delenv("ATTNLIB_STATIC", raising=False)
    assert not static_mode()
    assert list(progress(range(3), desc="x")) == [0, 1, 2]
    monkeypatch.setenv("ATTNLIB_STATIC", "1")
    assert static_mode()
    assert list(progress(range(4), desc="loop")) == [0, 1, 2, 3]
    with progress(total=5, desc="training", unit="steps") as bar:
        bar.update(5)
        bar.set_postfix(loss="0.5")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("loop: 4/4 it in ") and out[1].startswith(
        "training: 5/5 steps in "
    )
    assert out[1].endswith("(loss=0.5)")
    hist = fit(
        torch.nn.Linear(1, 1),
        lambda: torch.randn(4, 1),
        lambda m, b: m(b).pow(2).mean(),
        steps=3,
    )
    assert (
        len(hist.train_loss) == 3
        and "training: 3/3 steps" in capsys.readouterr().out
    )


def test_show_source_renders_a_highlighted_listing():
    from attnlib.models.recsys import SASRec
    from attnlib.viz import show_source

    md = show_source(SASRec)
    assert md.data.startswith("`attnlib.models.recsys.SASRec`")
    assert "```python\nclass SASRec(" in md.data
    assert md.data.rstrip().endswith("```")
    with pytest.raises(TypeError, match="class or function"):
        show_source(3)
