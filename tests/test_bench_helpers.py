"""The benchmark suite's helpers, checked without timing anything: FLOP
counting, the peers computing the engine's gradients, every runner running,
and the report turning a small recorded JSON into tables and a figure.

The benchmarks themselves live in ``bench/`` and run only in the nox sessions
``bench`` and ``bench_gpu``; this keeps them from breaking unnoticed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_grads_close

from backprop_xp import BackendUnavailableError, equations, get_backend
from backprop_xp.backends import library_of, to_host
from backprop_xp.tree import flatten

BENCH = Path(__file__).resolve().parents[1] / "bench"
SAMPLE = Path(__file__).resolve().parent / "data" / "bench-sample.json"


@pytest.fixture(scope="module")
def wl():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        yield importlib.import_module("workloads")


@pytest.fixture(scope="module")
def report():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        yield importlib.import_module("report")


def _backend_or_skip(name):
    try:
        return get_backend(name)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def test_flops_count_every_product_of_the_step(wl):
    size = wl.Size("s", 8, (6, 5, 4, 3))
    assert wl.products(size, "forward") == [(8, 6, 5), (8, 5, 4), (8, 4, 3)]
    # dW for every layer, Delta @ W^T for every layer but the first.
    assert wl.products(size, "backward") == [(4, 8, 3), (8, 3, 4), (5, 8, 4), (8, 4, 5), (6, 8, 5)]
    assert wl.flops(size, "step") == wl.flops(size, "forward") + wl.flops(size, "backward")
    assert wl.flops(size, "forward") == 2 * 8 * (6 * 5 + 5 * 4 + 4 * 3)
    B, n = 4096, 1024
    assert wl.flops(wl.LARGE, "step") == 2 * B * (3 * n * n + n * 10) * 2 + 2 * B * (2 * n * n + 10 * n)


def test_sizes_are_the_issues(wl):
    assert (wl.TINY.batch, wl.TINY.sizes) == (5, (2, 5, 3, 1))
    assert (wl.MEDIUM.batch, wl.MEDIUM.width, len(wl.MEDIUM.sizes) - 1) == (1024, 256, 3)
    assert (wl.LARGE.batch, wl.LARGE.width, len(wl.LARGE.sizes) - 1) == (4096, 1024, 4)
    assert (wl.BIGGER.batch, wl.BIGGER.width, wl.BIGGER.gpu_only) == (16384, 4096, True)
    assert wl.size_named("sweep-b256-w512") == wl.sweep_size(256, 512)


@pytest.mark.parametrize("name, peer", [("torch", "autograd"), ("jax", "jax_grad")])
@pytest.mark.parametrize("config", ["softmax", "lab"])
def test_peers_compute_the_engines_gradients(wl, name, peer, config):
    backend = _backend_or_skip(name)
    size = wl.Size("s", 7, (6, 5, 4, 3)) if config == "softmax" else wl.TINY
    p = wl.make_problem(size, backend)
    _, ours = equations.loss_and_gradients(p.params, p.X, p.Y, p.arch, xp=backend.xp)
    if peer == "autograd":
        theirs = wl.autograd_gradients(wl.autograd_params(p), p)
    else:
        theirs = wl.jax_gradients(p)
    expected = [(backend.to_numpy(dW), backend.to_numpy(db)) for dW, db in theirs]
    assert_grads_close(backend, ours, expected, rtol=1e-5, dtype="float32")


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_every_runner_runs(wl, name, monkeypatch):
    backend = _backend_or_skip(name)
    monkeypatch.setattr(wl, "TINY_EPOCHS", 3)
    ran = 0
    for size in (wl.TINY, wl.Size("s", 7, (6, 5, 4, 3))):
        p = wl.make_problem(size, backend)
        for impl in wl.IMPLEMENTATIONS:
            for phase in wl.PHASES:
                if wl.supported(impl, backend.library, size, phase):
                    with pytest.raises(ValueError):
                        wl.runner(impl, phase, p)
                    continue
                r = wl.runner(impl, phase, p)
                _assert_computed(backend, r.run(*r.setup()), size is wl.TINY, wl.TINY_EPOCHS)
                ran += 1
    assert ran >= 4


def _assert_computed(backend, out, tiny, epochs):
    """What a runner returns: finite arrays of its backend (the lab's are torch's); a tiny run's losses fall."""
    leaves = [leaf for leaf in flatten(out)[0] if leaf is not None]
    assert leaves, f"the runner computed nothing: {out!r}"
    for leaf in leaves:
        assert library_of(leaf) == backend.library, type(leaf)
        host = np.asarray(to_host(leaf))
        assert host.size and np.isfinite(host).all(), host
    if tiny and len(leaves) == 1 and np.ndim(to_host(leaves[0])) == 1:  # a loss curve: train() and the lab's loop
        losses = np.asarray(to_host(leaves[0]))
        assert losses.shape == (epochs,) and losses[-1] < losses[0], losses


def test_report_pools_passes_and_computes_ratios(report):
    rows = report.summarise(report.load(SAMPLE)["benchmarks"])
    ours = rows[("large", "step", "numpy", "ours")]
    assert ours["pooled_rounds"] == 3 and ours["pooled_median_s"] == 0.52
    # The floor ran in pass 0 only: the ratio is that pass's, not the pooled one.
    assert ours["ratio_to_floor"] == pytest.approx(0.525 / 0.50)
    assert "ratio_to_autodiff" not in ours
    torch_ours = rows[("large", "step", "torch", "ours")]
    assert torch_ours["ratio_to_autodiff"] == pytest.approx(0.60 / 0.56)
    assert torch_ours["tflops"] == pytest.approx(68_971_134_976 / 0.60 / 1e12)
    assert rows[("tiny", "step", "numpy", "ours")]["ratio_to_lab"] == pytest.approx(0.255 / 1.35)


def test_report_tables_and_targets(report):
    rows = report.summarise(report.load(SAMPLE)["benchmarks"])
    table = report.table(rows)
    assert len(table.splitlines()) == 2 + 8 and "| large | step | torch | autograd |" in table
    targets = report.targets(rows)
    assert "| CPU large step <= 1.10x bare matmuls (NumPy) | numpy | 1.05 | yes |" in targets
    assert "| CPU large step <= 1.0x torch autograd | torch | 1.07 | no |" in targets
    assert "| GPU large step < 1.0x torch autograd | torch:cuda | not measured | |" in targets


def _gpu_result(size, impl, backend, seconds, run=0, **extra):
    info = dict(size=size, phase="step", impl=impl, backend=backend, device="Test GPU", flops=10**12, run=run,
                samples_s=list(seconds), **extra)
    return {"name": f"test_bench[{size}-step-{backend}-{impl}-p{run}]", "extra_info": info}


def test_report_reads_gpu_results_under_their_canonical_names(report):
    # Results carry torch:cuda:0 and cupy:0, the targets name torch:cuda and cupy (issue 13).
    benchmarks = [
        _gpu_result("large", "ours", "torch:cuda:0", [1.02], peak_bytes=850),
        _gpu_result("large", "matmul", "torch:cuda:0", [1.0]),
        _gpu_result("large", "autograd", "torch:cuda:0", [1.1], peak_bytes=1000),
        _gpu_result("large", "ours", "cupy:0", [1.2]),
        _gpu_result("large", "matmul", "cupy:0", [1.0]),
        _gpu_result("large", "ours", "jax:gpu", [1.04]),
        _gpu_result("large", "matmul", "jax:gpu", [1.0]),
        _gpu_result("tiny", "ours_compiled", "torch:cuda:0", [0.05], epochs=2500),
        _gpu_result("tiny", "ours", "torch:cuda:0", [0.5], epochs=2500),
        _gpu_result("tiny", "lab", "torch:cuda:0", [1.0], epochs=2500),
        _gpu_result("tiny", "ours_compiled", "jax:gpu", [0.1], epochs=2500),
        _gpu_result("tiny", "lab", "torch", [2.0], epochs=2500),
    ]
    rows = report.summarise(benchmarks)
    assert rows[("tiny", "step", "torch:cuda:0", "ours")]["ratio_to_lab"] == pytest.approx(0.5)  # the GPU's lab
    assert rows[("tiny", "step", "jax:gpu", "ours_compiled")]["ratio_to_lab"] == pytest.approx(0.1)
    targets = report.targets(rows).splitlines()
    expected = [
        "| GPU large step <= 1.05x fp32 bare matmuls | torch:cuda:0 | 1.02 | yes |",
        "| GPU large step <= 1.05x fp32 bare matmuls | cupy:0 | 1.20 | no |",
        "| GPU large step <= 1.05x fp32 bare matmuls | jax:gpu | 1.04 | yes |",
        "| GPU large step < 1.0x torch autograd | torch:cuda:0 | 0.93 | yes |",
        "| GPU bigger step <= 1.05x fp32 bare matmuls | torch:cuda | not measured | |",
        "| GPU tiny (lab, 2500 epochs) compiled <= 25 us/epoch | torch:cuda:0 | 20.00 | yes |",
        "| GPU tiny (lab, 2500 epochs) compiled <= 25 us/epoch | jax:gpu | 40.00 | no |",
        "| GPU large step peak memory <= 0.9x torch autograd's | torch:cuda:0 | 0.85 | yes |",
    ]
    for line in expected:
        assert line in targets, (line, targets)
    assert not any("not measured" in line and "large" in line for line in targets if "GPU" in line)
    assert report.matches("torch:cuda", "torch:cuda:1") and not report.matches("torch", "torch:cuda:0")


def test_report_draws_the_scaling_figure(report, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "scaling.png"
    report.main([str(SAMPLE), "--figure", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### Targets" in capsys.readouterr().out


def test_benchmarks_stay_out_of_the_test_run():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((BENCH.parent / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_the_bench_order_interleaves_peers_and_rotates_them_from_pass_to_pass(wl):
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("bench_conftest", BENCH / "conftest.py")
    bench_conftest = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        spec.loader.exec_module(bench_conftest)

    def item(impl, run):
        case = SimpleNamespace(impl=impl, run=run, size="large", phase="step", backend_index=0)
        return SimpleNamespace(callspec=SimpleNamespace(params={"case": case}), name=f"{impl}-{run}")

    items = [item(impl, run) for run in range(3) for impl in wl.IMPLEMENTATIONS]
    items.sort(key=bench_conftest._order)
    runs = [[i.name.rsplit("-", 1)[0] for i in items if i.name.endswith(f"-{run}")] for run in range(3)]
    assert [i.name[-1] for i in items] == sorted(i.name[-1] for i in items)  # one pass after another
    assert len({order[0] for order in runs}) == 3, runs  # a different peer first in each pass
    assert all(sorted(order) == sorted(wl.IMPLEMENTATIONS) for order in runs)


def test_the_labs_loop_runs_on_the_backends_device(wl, monkeypatch):
    # torch's "meta" device stands in for a GPU: a tensor left on the CPU would show (issue 13).
    torch = pytest.importorskip("torch")
    import dataclasses

    monkeypatch.setattr(wl, "TINY_EPOCHS", 2)
    backend = _backend_or_skip("torch")
    p = wl.make_problem(wl.TINY, dataclasses.replace(backend, device=torch.device("meta")))
    r = wl.runner("lab", "step", p)
    net, x, y = r.setup()
    assert {x.device.type, y.device.type, net.layers[0].get_weight().device.type} == {"meta"}
    losses = r.run(net, x, y)  # the lab's losses, computed where its tensors are
    assert losses.device.type == "meta" and tuple(losses.shape) == (2,)
