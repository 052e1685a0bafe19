"""Guarantees that hold across every capability (README, "Guarantees"): no input aborts the
process, panics, hangs or returns a silently wrong number.

- extreme magnitudes (1e-300 … 1e300) give the answer the scale-equivariance of each statistic
  predicts, or a clear error, never inf/NaN;
- allocations sized by an argument are checked against the memory budget first;
- every long call stops within 2 s of SIGINT (Ctrl-C);
- the command line prints one-line errors, never a traceback;
- ``import calipers`` stays light, and seeds, thread counts and complex input are validated.

Per-capability edge cases live in each capability's own test file; this file holds what is
common to all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers import dominance, fairness, geometry, ot, resample
from calipers.exceptions import CalipersError, InvalidArgumentError, MemoryBudgetError

_R = np.random.default_rng(0)
SCALES = [1e-300, 1e-150, 1e-20, 1.0, 1e20, 1e150, 1e300]

# ------------------------------------------------------------------ import and process settings


def test_import_calipers_loads_no_heavy_module():
    code = (
        "import sys, calipers; "
        "print(','.join(m for m in ('pandas', 'scipy.stats', 'matplotlib', 'sklearn', 'tqdm', "
        "'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_capabilities_import_without_the_optional_packages():
    """What a bare install (numpy and scipy) can use loads no optional package, so it runs
    there; scripts/check_wheel.py runs the same modules in a real bare environment."""
    code = (
        "import sys; from calipers import dominance, fairness, geometry, io, irt, judge, ot, "
        "resample, tiny, weak; io.EvalData; "
        "print(','.join(m for m in ('pandas', 'matplotlib', 'sklearn', 'tqdm', 'pyarrow', "
        "'polars', 'dask', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_submodules_load_on_first_use():
    assert "resample" in dir(calipers)
    assert calipers.resample.bootstrap is resample.bootstrap
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = calipers.nope


def test_thread_count_is_capped():
    from calipers import _core

    cap = _core.max_num_threads()
    with pytest.raises(InvalidArgumentError, match=f"n: must be <= {cap}"):
        calipers.set_num_threads(10**6)
    with pytest.raises(InvalidArgumentError, match="n: must be <="):
        calipers.set_num_threads(10**30)


def test_environment_thread_count_is_capped():
    env = dict(os.environ, CALIPERS_NUM_THREADS="1000000")
    code = "import calipers; from calipers import _core; print(calipers.get_num_threads(), _core.max_num_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    got, cap = map(int, out.stdout.split())
    assert got == cap


@pytest.mark.parametrize("seed", [2**64, -1, 2**200])
def test_seeds_outside_64_bits_are_refused(seed):
    with pytest.raises(InvalidArgumentError, match=r"rng: seed must be in \[0, 2\*\*64\)"):
        resample.bootstrap(np.arange(10.0), n_resamples=100, rng=seed)


def test_largest_seed_differs_from_zero():
    x = np.random.default_rng(0).random(20)
    a = resample.bootstrap(x, n_resamples=200, rng=0).bootstrap_distribution
    b = resample.bootstrap(x, n_resamples=200, rng=2**64 - 1).bootstrap_distribution
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "call",
    [
        lambda z: ot.wasserstein(z, z + 1),
        lambda z: resample.bootstrap(z, n_resamples=100, rng=0),
        lambda z: dominance.violation_ratio(z, z + 1),
        lambda z: fairness.audit(z + 2),
    ],
)
def test_complex_input_is_refused(call):
    z = np.arange(1.0, 6.0) + 1j
    with pytest.raises(InvalidArgumentError, match="complex"):
        call(z)


def test_memory_budget_refuses_before_allocating(monkeypatch):
    monkeypatch.setenv("CALIPERS_MAX_MEMORY", "1M")
    from calipers import _core

    assert _core.memory_budget() == 2**20
    with pytest.raises(MemoryBudgetError, match="would need") as info:
        resample.bootstrap(np.arange(100.0), n_resamples=10**6, rng=0)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    monkeypatch.delenv("CALIPERS_MAX_MEMORY")
    assert _core.memory_budget() > 2**20


@pytest.mark.parametrize(
    "call",
    [
        lambda: resample.bootstrap(_R.random(30), n_resamples=10**12),
        lambda: resample.permutation_test(_R.random(30), _R.random(30), n_resamples=10**12),
        lambda: dominance.absolute_test(_R.random(30), _R.random(30), n_resamples=10**12),
        lambda: dominance.compare(_R.random((3, 30)), n_resamples=10**12),
        lambda: ot.kmixup_match(np.zeros((100_000, 1)), np.zeros((100_000, 1)), 100_000),
        lambda: fairness.radius_graph(_R.normal(size=(100_000, 2)), 1e300),
        lambda: calipers.irt.IRT(dims=10**12).fit(np.eye(3)),
    ],
    ids=["bootstrap", "permutation", "absolute", "compare", "kmixup", "radius", "irt-dims"],
)
def test_absurd_sizes_raise_instead_of_aborting(call):
    # Each of these used to abort the process ("memory allocation of ... bytes failed").
    with pytest.raises(CalipersError):
        call()


# ------------------------------------------------------------------ extreme magnitudes


def _sample(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 3.0, n)


@pytest.mark.parametrize("scale", SCALES)
def test_wasserstein_is_scale_equivariant(scale):
    u, v = _sample(40, 1), _sample(30, 2)
    for p in (1.0, 2.0, 7.5):
        base = ot.wasserstein(u, v, p=p)
        got = ot.wasserstein(u * scale, v * scale, p=p)
        assert np.isfinite(got)
        assert got == pytest.approx(base * scale, rel=1e-9)


def test_wasserstein_of_opposite_huge_points():
    assert ot.wasserstein([1e200], [-1e200], p=2) == pytest.approx(2e200, rel=1e-12)
    u, v = _sample(50, 3), _sample(50, 4)
    # p -> infinity: the largest gap of the monotone coupling.
    assert ot.wasserstein(u, v, p=1e6) == pytest.approx(
        np.max(np.abs(np.sort(u) - np.sort(v))), rel=1e-4
    )


@pytest.mark.parametrize("scale", SCALES)
def test_violation_ratio_is_scale_invariant(scale):
    x, y = _sample(25, 5), _sample(35, 6)
    for order in (1, 2):
        base = dominance.violation_ratio(x, y, order=order)
        got = dominance.violation_ratio(x * scale, y * scale, order=order)
        assert got == pytest.approx(base, rel=1e-9, abs=1e-12)


def test_violation_ratio_reproducers():
    assert dominance.violation_ratio([1e-200, 2e-200], [0, 1.5e-200]) == pytest.approx(
        dominance.violation_ratio([1, 2], [0, 1.5])
    )
    assert dominance.violation_ratio([1e160, 2e160], [0, 3e160]) == pytest.approx(
        dominance.violation_ratio([1, 2], [0, 3])
    )


def test_identical_models_are_not_nan():
    res = dominance.absolute_test(np.ones(10), np.ones(10), n_resamples=200, rng=0)
    assert res.pvalue == 0.5 or not np.isnan(res.pvalue)
    out = dominance.compare(np.ones((3, 20)), n_resamples=200, rng=0)
    assert not np.isnan(out.pvalue).any()


@pytest.mark.parametrize("scale", SCALES)
def test_bootstrap_mean_is_scale_equivariant(scale):
    x = _sample(60, 7)
    base = resample.bootstrap(x, n_resamples=500, rng=1)
    got = resample.bootstrap(x * scale, n_resamples=500, rng=1)
    assert np.isfinite(got.statistic) and np.isfinite(got.confidence_interval.low)
    assert got.statistic == pytest.approx(base.statistic * scale, rel=1e-9)
    assert got.confidence_interval.high == pytest.approx(
        base.confidence_interval.high * scale, rel=1e-6
    )


@pytest.mark.parametrize("scale", SCALES)
def test_permutation_pvalue_is_scale_invariant(scale):
    x, y = _sample(30, 8), _sample(30, 9) + 0.2
    base = resample.permutation_test(x, y, n_resamples=500, rng=2).pvalue
    got = resample.permutation_test(x * scale, y * scale, n_resamples=500, rng=2).pvalue
    assert got == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize("scale", SCALES)
def test_knn_graph_weights_are_scale_invariant(scale):
    X = np.random.default_rng(10).normal(size=(200, 3))
    base = fairness.kneighbors_graph(X, 5)
    got = fairness.kneighbors_graph(X * scale, 5)
    assert np.isfinite(got.data).all()
    np.testing.assert_array_equal(got.indices, base.indices)
    np.testing.assert_allclose(got.data, base.data, rtol=1e-9)


@pytest.mark.parametrize("scale", SCALES)
def test_kmixup_match_is_scale_invariant(scale):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(24, 2)), rng.normal(size=(24, 2))
    base = ot.kmixup_match(x, y, 8)
    np.testing.assert_array_equal(ot.kmixup_match(x * scale, y * scale, 8), base)


def test_kmixup_match_reproducer_does_not_panic():
    perm = ot.kmixup_match(np.array([[1e200], [0.0]]), np.array([[-1e200], [1.0]]), 2)
    np.testing.assert_array_equal(np.sort(perm), [0, 1])


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150, 1e300])
def test_les_descriptor_is_scale_invariant(scale):
    X = np.random.default_rng(12).normal(size=(300, 3))
    base = geometry.les_descriptor(X, n_eigs=20)
    np.testing.assert_allclose(geometry.les_descriptor(X * scale, n_eigs=20), base, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    exponent=st.integers(-300, 300),
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=20),
)
def test_audit_never_returns_silent_nan(exponent, values):
    ratios = np.asarray(values) * 10.0**exponent
    try:
        res = fairness.audit(ratios)
    except CalipersError:
        return
    assert not np.isnan(res.lower_bound) and not np.isnan(res.mean)


# ------------------------------------------------------------------ Ctrl-C

# (set-up, call): the data are built before the child says "ready", so SIGINT lands in the
# call itself; each call runs far longer than the test waits, and must stop within 2 s.
LONG_CALLS = {
    "bootstrap": ("x = rng.random(100_000)", "resample.bootstrap(x, n_resamples=2_000_000, rng=0)"),
    "dominance": (
        "x = rng.random((30, 20_000))",
        "dominance.compare(x, n_resamples=100_000, rng=0)",
    ),
    "irt-fit": (
        "Y = (rng.random((2000, 20_000)) < 0.5).astype(np.uint8)",
        "IRT(model='2pl', max_iter=100_000, tol=1e-15).fit(Y)",
    ),
    "irt-eap": (
        "m = IRT(model='2pl').fit((rng.random((40, 200)) < 0.5).astype(np.uint8)); "
        "Y = (rng.random((1_000_000, 200)) < 0.5).astype(np.uint8)",
        "m.score_new(Y, method='eap')",
    ),
    "diffusion-map": ("X = rng.normal(size=(300_000, 8))", "geometry.DiffusionMap().fit(X)"),
    "les": ("X = rng.normal(size=(30_000, 16))", "geometry.les_descriptor(X)"),
    "knn-graph": ("X = rng.normal(size=(400_000, 32))", "fairness.kneighbors_graph(X, 10)"),
    "kmeans": (
        "X = rng.normal(size=(20_000, 50))",
        "tiny.kmeans_anchors(X, 100, n_restarts=10_000, rng=0)",
    ),
    "kmixup": (
        "x, y = rng.normal(size=(6000, 4)), rng.normal(size=(6000, 4))",
        "ot.kmixup_match(x, y, 6000)",
    ),
    "scaling-fit": (
        "import calipers.scaling as sc; X = rng.normal(size=(3000, 3)); "
        "fam = rng.integers(0, 50, 3000); Y = rng.random((3000, 12))",
        "sc.SkillScalingLaw(3, n_starts=400, max_iter=1_000_000, random_state=0).fit(X, fam, Y)",
    ),
    "judge-bootstrap": (
        "items = np.repeat(np.arange(20_000), 3); z = rng.normal(size=60_000); "
        "y = (z + rng.logistic(size=60_000) > 0).astype(int); "
        "br = judge.Bridge().fit(y, z, items=items)",
        "br.bootstrap(y, z, items=items, n_resamples=1_000_000, random_state=0)",
    ),
    # 3,000 templates without covariates: a dense 3,000 x 3,000 Newton system per iteration.
    "prompts-fit": (
        "from calipers import prompts; "
        "Y = np.where(rng.random((3000, 2000)) < 0.1, rng.random((3000, 2000)) < 0.5, np.nan)",
        "prompts.PromptEval().fit(Y)",
    ),
    "prompts-quantiles": (
        "from calipers import prompts; "
        "Y = np.where(rng.random((100, 200)) < 0.3, rng.random((100, 200)) < 0.5, np.nan); "
        "pe = prompts.PromptEval(random_state=0).fit(Y)",
        "pe.quantiles(n_resamples=200_000)",
    ),
}

_CHILD = """
import sys, numpy as np
from calipers import dominance, fairness, geometry, judge, ot, resample, tiny
from calipers.irt import IRT
rng = np.random.default_rng(0)
{setup}
print("ready", flush=True)
try:
    {call}
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("name", sorted(LONG_CALLS))
def test_long_call_stops_on_sigint(name):
    setup, call = LONG_CALLS[name]
    code = textwrap.dedent(_CHILD).format(setup=setup, call=call)
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline().strip()
        assert ready == "ready", child.stderr.read() if child.stderr else ""
        time.sleep(1.0)  # well into the long call
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = child.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        child.kill()
    assert "finished" not in out, f"{name} finished before SIGINT: make the case longer"
    assert child.returncode == 3, f"{name}: exit {child.returncode}, stderr: {err[-2000:]}"
    assert took < 2.0, f"{name} took {took:.1f} s to stop after SIGINT"


# ------------------------------------------------------------------ command line


@pytest.fixture
def small_table(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["model,item,score"] + [
        f"m{i},it{j},{float(rng.random() < 0.5)}" for i in range(4) for j in range(30)
    ]
    path = tmp_path / "ok.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "calipers", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-resamples", "1000000000000"], "n_resamples"),
        (["--dominance-resamples", "1000000000000"], "resamples"),
        (["--alpha", "2"], "alpha"),
        (["--seed", "-1"], "seed"),
    ],
)
def test_report_cli_refuses_absurd_options_without_traceback(small_table, tmp_path, args, message):
    out = _cli("report", str(small_table), "--out", "o", "--quiet", *args, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "panicked" not in out.stderr
    assert out.stderr.startswith("calipers: error:") and message in out.stderr


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 10, b"model,item,score\n"])
def test_report_cli_on_garbage_files(tmp_path, content):
    (tmp_path / "bad.csv").write_bytes(content)
    out = _cli("report", "bad.csv", "--quiet", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and out.stderr.startswith("calipers: error:")


def test_report_refuses_scores_outside_the_unit_interval(tmp_path):
    (tmp_path / "pct.csv").write_text("model,item,score\na,x,85\na,y,90\nb,x,70\nb,y,60\n")
    out = _cli("report", "pct.csv", "--quiet", cwd=tmp_path)
    assert out.returncode == 1
    assert "outside [0, 1]" in out.stderr and "'a'" in out.stderr and "divide" in out.stderr


def test_report_keeps_labels_as_written(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "model,item,score\nNA,007,1\nNA,1.50,0\nNA,x,1\nnull,007,0\nnull,1.50,1\nnull,x,1\n"
    )
    out = _cli("report", "labels.csv", "--quiet", "--out", "o", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["sections"]["items"]["items"] == ["007", "1.50", "x"]


def test_item_subset_ids_round_trip(tmp_path):
    from calipers.io import read_item_subset, write_item_subset

    ids = ["007", "1.50", "NA", "null", "1e3"]
    for suffix in ("csv", "tsv", "json"):
        path = write_item_subset(tmp_path / f"s.{suffix}", ids, weights=[1, 2, 3, 4, 5])
        assert read_item_subset(path)["item"].tolist() == ids


def test_unexpected_errors_in_the_cli_are_one_line(monkeypatch, capsys):
    from calipers import cli

    def boom(args):
        raise KeyError("internal")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(handler=boom)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calipers: internal error:") and "Traceback" not in err


@pytest.mark.parametrize(
    "call",
    [
        lambda r: ot.wasserstein(r, [1.0]),
        lambda r: dominance.absolute_test(r, _R.random(30), n_resamples=100, rng=0),
        lambda r: ot.kmixup_match(r, np.zeros((2, 2)), 2),
        lambda r: calipers.irt.IRT().fit(r),
    ],
)
def test_ragged_input_is_a_clear_error(call):
    with pytest.raises(InvalidArgumentError, match="ragged"):
        call([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("count", [2**63, 2**64, 10**30])
def test_counts_beyond_64_bits_are_refused_by_name(count):
    with pytest.raises(InvalidArgumentError, match=r"^k: must be <="):
        ot.kmixup_match(np.zeros((4, 1)), np.zeros((4, 1)), count)
    with pytest.raises(InvalidArgumentError, match=r"^n_resamples: must be <="):
        resample.bootstrap(np.arange(5.0), n_resamples=count)


def test_hostile_probe_finds_no_abort_panic_hang_or_unclear_error():
    """The development probe (scripts/probe_hostile.py) over every public function: each
    call runs in a watched child process, so an abort or a hang is recorded, not fatal."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "probe_hostile.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    bad = [
        line
        for line in out.stdout.splitlines()
        if line.strip().startswith(("abort", "panic", "hang", "unclear"))
    ]
    assert not bad, "\n".join(bad)
    assert "probes:" in out.stdout
