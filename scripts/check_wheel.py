"""Check the built wheel as a user would meet it: `python scripts/check_wheel.py dist`.

1. The wheel is one abi3 wheel (CPython >= 3.10), smaller than a size limit, with no test
   data, benches or caches inside.
2. It installs into a fresh virtual environment with no Rust toolchain on PATH, and a smoke
   script runs there: the import, one call per capability, and `calipers report --example`.
3. The bare install (no extra: numpy and scipy only) in another fresh environment: nothing
   optional came with it, `import calipers` is fast, each core capability runs, the features
   that need an extra say which one, and the core test files pass there (tests whose
   reference needs an optional package skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 15 * 2**20
FORBIDDEN_PARTS = ("tests/", "bench/", "__pycache__", ".hypothesis", "shared/data")
FORBIDDEN_SUFFIXES = (".npz", ".npy", ".csv", ".parquet", ".pyc")

# One call per core capability, shared by both smoke scripts ({calls} below).
CAPABILITY_CALLS = """
rng = np.random.default_rng(0)
Y = (rng.random((20, 60)) < 0.5).astype(np.uint8)
assert abs(ot.wasserstein([0.0, 1.0], [1.0, 2.0]) - 1.0) < 1e-12
assert resample.bootstrap(rng.random(50), n_resamples=200, rng=0).confidence_interval.low < 1
assert 0 <= dominance.violation_ratio(rng.random(30), rng.random(30)) <= 1
assert fairness.kneighbors_graph(rng.normal(size=(50, 3)), 5).nnz > 0
assert geometry.les_descriptor(rng.normal(size=(100, 3)), n_eigs=5).shape == (5,)
assert IRT(model="2pl").fit(Y).b_.shape == (60,)
assert tiny.kmeans_anchors(rng.normal(size=(60, 4)), 5, rng=0) is not None
assert io.EvalData(scores=Y.astype(float), models=[f"m{i}" for i in range(20)],
                   items=[f"i{j}" for j in range(60)]).shape == (20, 60)
from calipers import judge, prompts, route, weak
z = rng.normal(size=300)
assert judge.Bridge().fit(np.digitize(z + rng.normal(size=300), [-0.5, 0.5]), z).beta_ > 0
bounds = weak.frechet_bounds(rng.integers(0, 2, 200), rng.integers(0, 3, 200), np.full((3, 2), 0.5))
assert 0 <= bounds.lower <= bounds.upper <= 1
assert prompts.PromptEval().fit(Y[:10, :40].astype(float)).format_accuracy_.shape == (10,)
features, costs = rng.normal(size=(100, 4)), np.array([1.0, 2.0, 3.0])
router = route.CostAwareRouter(k=5).fit(features, (rng.random((100, 3)) < 0.5) * 1.0, costs)
assert router.route(features, 0.1).shape == (100,)
"""

SMOKE = """
import json, pathlib, subprocess, sys, tempfile
import numpy as np
import calipers
from calipers import dominance, fairness, geometry, io, ot, resample, tiny
from calipers.irt import IRT

{calls}out = pathlib.Path(tempfile.mkdtemp()) / "report"
subprocess.run([sys.executable, "-m", "calipers", "report", "--example", "--quiet",
                "--out", str(out)], check=True)
doc = json.loads((out / "report.json").read_text())
assert doc["sections"]
from calipers.report import SCHEMA_VERSION, report_schema  # the schema ships in the wheel
assert doc["schema_version"] == SCHEMA_VERSION and report_schema()["$defs"]
print("smoke: ok", calipers.__version__)
"""
SMOKE = SMOKE.replace("{calls}", CAPABILITY_CALLS)


BARE_SMOKE = """
import subprocess, sys, time
t0 = time.perf_counter()
import calipers
import_seconds = time.perf_counter() - t0
import importlib.util
import numpy as np
from calipers import dominance, fairness, geometry, io, ot, resample, tiny
from calipers.irt import IRT

optional = [m for m in ("pandas", "matplotlib", "sklearn", "tqdm", "pyarrow", "dask", "torch")
            if importlib.util.find_spec(m) is not None]
assert not optional, f"the bare install pulled in {optional}"
{calls}for feature, extra in ((lambda: io.read_results, "io"),
                       (lambda: __import__("calipers.report"), "report")):
    try:
        feature()
    except ImportError as exc:
        assert f"calipers[{extra}]" in str(exc), exc
    else:
        raise AssertionError(f"expected an ImportError naming calipers[{extra}]")
cli = subprocess.run([sys.executable, "-m", "calipers", "report", "--example"],
                     capture_output=True, text=True)
assert cli.returncode == 1 and "calipers[report]" in cli.stderr, (cli.returncode, cli.stderr)
# the import time is reported, not asserted (shared machines; the first import compiles .pyc)
print(f"bare smoke: ok (first import calipers {import_seconds * 1000:.0f} ms)")
"""
BARE_SMOKE = BARE_SMOKE.replace("{calls}", CAPABILITY_CALLS)

# The core test files, run against the bare install (their optional references skip).
BARE_TESTS = (
    "test_ot.py",
    "test_resample.py",
    "test_fairness.py",
    "test_weak.py",
    "test_judge.py",
    "test_infra.py",
    "test_tiny.py",
)
TEST_TOOLS = ("pytest>=8", "pytest-timeout>=2", "hypothesis>=6.80")


def check_contents(wheel: Path) -> None:
    size = wheel.stat().st_size
    assert "abi3" in wheel.name, f"{wheel.name}: not an abi3 wheel"
    assert size <= MAX_WHEEL_BYTES, f"{wheel.name}: {size} bytes, over {MAX_WHEEL_BYTES}"
    names = zipfile.ZipFile(wheel).namelist()
    bad = [
        n for n in names if any(p in n for p in FORBIDDEN_PARTS) or n.endswith(FORBIDDEN_SUFFIXES)
    ]
    assert not bad, f"{wheel.name}: holds files a user does not need: {bad[:5]}"
    print(f"wheel: {wheel.name}, {size / 2**20:.1f} MiB, {len(names)} files")


def path_without_rust() -> str:
    keep = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not (Path(d) / "cargo").exists() and not (Path(d) / "rustc").exists()
    ]
    return os.pathsep.join(keep)


def fresh_venv(tmp: str, *requirements: str) -> tuple[Path, dict[str, str]]:
    """A new virtual environment under ``tmp`` with ``requirements`` installed, no Rust on
    PATH; returns its python and the environment to run it with."""
    venv = Path(tmp) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = dict(os.environ, PATH=path_without_rust(), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("CARGO_HOME", None)
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements], check=True, env=env
    )
    return python, env


def smoke_in_fresh_venv(wheel: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        python, env = fresh_venv(tmp, f"{wheel}[report]")
        # Run from the temporary folder so the checkout's python/ cannot shadow the install.
        subprocess.run([str(python), "-c", SMOKE], check=True, env=env, cwd=tmp)


def bare_install_checks(wheel: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        python, env = fresh_venv(tmp, str(wheel))
        subprocess.run([str(python), "-c", BARE_SMOKE], check=True, env=env, cwd=tmp)
        # The test tools come after the check that the wheel alone brought nothing optional.
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *TEST_TOOLS], check=True, env=env
        )
        # A copy of the tests outside the checkout, so only the installed package is imported.
        tests = Path(tmp) / "tests"
        shutil.copytree(ROOT / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "Cargo.toml"):  # pytest settings; the version's source
            shutil.copy(ROOT / name, tmp)
        files = [str(tests / name) for name in BARE_TESTS]
        shared = ROOT.parent / "shared" / "data"
        if shared.is_dir():  # the real-data tests, as in the checkout
            env["CALIPERS_SHARED_DATA"] = str(shared)
        subprocess.run(
            [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
            check=True,
            env=env,
            cwd=tmp,
        )


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    wheels = sorted(dist.glob("calipers-*.whl"))
    if len(wheels) != 1:
        print(f"{dist}: expected one calipers wheel, found {[w.name for w in wheels]}")
        return 1
    check_contents(wheels[0])
    smoke_in_fresh_venv(wheels[0].resolve())
    bare_install_checks(wheels[0].resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
