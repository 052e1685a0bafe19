"""A hostile-but-honest probe of the public API: `python scripts/probe_hostile.py [--quick]`.

Every public function and estimator method is called with one argument at a time replaced by
something a user might pass by mistake (empty, 0-d, NaN, inf, extreme magnitudes, complex,
strings, negative/huge/float/bool counts, 3-D arrays). Each call runs in a child process
watched by this one, so an abort, a panic or a hang is recorded instead of ending the probe.

Outcomes per call:
  ok           returned a value without NaN/inf (or the input had them)
  clean        raised a calipers error (a ValueError subclass) or TypeError naming an argument
  nan          returned NaN/inf from finite input without raising: a silent wrong answer
  unclear      raised something else (KeyError, ZeroDivisionError, OverflowError, ...)
  panic        a Rust panic reached Python (pyo3 PanicException)
  abort        the process died
  hang         no answer within the time limit (and Ctrl-C, sent first, did not stop it)

The summary lists every call that is not `ok` or `clean`; the exit status is 1 if any is.
This is a development tool (not run in CI): its findings become tests in the test files.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from queue import Empty, Queue

TIME_LIMIT = 20.0

# name -> (call template with {a} for the probed argument, baseline value of {a})
# The baseline makes a valid call; every hostile value then replaces it.
ARRAY_1D = "rng.random(50)"
ARRAY_2D = "rng.normal(size=(60, 3))"
BINARY = "(rng.random((20, 40)) < 0.5).astype(float)"

CASES: dict[str, tuple[str, str]] = {
    "ot.wasserstein.u": ("ot.wasserstein({a}, rng.random(40))", ARRAY_1D),
    "ot.wasserstein.p": ("ot.wasserstein(rng.random(40), rng.random(40), p={a})", "2.0"),
    "ot.quantile_function.q": ("ot.quantile_function(rng.random(40), {a})", "[0.1, 0.5]"),
    "ot.monotone_coupling.u": ("ot.monotone_coupling({a}, rng.random(30))", ARRAY_1D),
    "ot.aot_loss.chosen": (
        "ot.aot_loss({a}, rng.normal(size=50), rng.normal(size=50), rng.normal(size=50))",
        "rng.normal(size=50)",
    ),
    "ot.kmixup_match.x": ("ot.kmixup_match({a}, rng.normal(size=(60, 3)), 6)", ARRAY_2D),
    "ot.kmixup_match.k": (
        "ot.kmixup_match(rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), {a})",
        "6",
    ),
    "resample.bootstrap.scores": ("resample.bootstrap({a}, n_resamples=200, rng=0)", ARRAY_1D),
    "resample.bootstrap.n_resamples": (
        "resample.bootstrap(rng.random(50), n_resamples={a}, rng=0)",
        "200",
    ),
    "resample.bootstrap.confidence_level": (
        "resample.bootstrap(rng.random(50), n_resamples=200, confidence_level={a}, rng=0)",
        "0.9",
    ),
    "resample.pairwise_differences.scores": (
        "resample.pairwise_differences({a}, n_resamples=200, rng=0)",
        "rng.random((4, 50))",
    ),
    "resample.permutation_test.x": (
        "resample.permutation_test({a}, rng.random(50), n_resamples=200, rng=0)",
        ARRAY_1D,
    ),
    "resample.rank_distribution.scores": (
        "resample.rank_distribution({a}, n_resamples=200, rng=0)",
        "rng.random((4, 50))",
    ),
    "dominance.violation_ratio.x": ("dominance.violation_ratio({a}, rng.random(30))", ARRAY_1D),
    "dominance.absolute_test.x": (
        "dominance.absolute_test({a}, rng.random(30), n_resamples=200, rng=0)",
        ARRAY_1D,
    ),
    "dominance.compare.scores": (
        "dominance.compare({a}, n_resamples=200, rng=0)",
        "rng.random((4, 50))",
    ),
    "dominance.compare.n_resamples": (
        "dominance.compare(rng.random((4, 50)), n_resamples={a}, rng=0)",
        "200",
    ),
    "fairness.kneighbors_graph.X": ("fairness.kneighbors_graph({a}, 5)", ARRAY_2D),
    "fairness.kneighbors_graph.n_neighbors": (
        "fairness.kneighbors_graph(rng.normal(size=(60, 3)), {a})",
        "5",
    ),
    "fairness.radius_graph.tau": ("fairness.radius_graph(rng.normal(size=(60, 3)), {a})", "0.5"),
    "fairness.audit.ratios": ("fairness.audit({a})", "rng.random(50) + 1"),
    "fairness.GraphLaplacianIF.fit.X": (
        "fairness.GraphLaplacianIF().fit({a}, rng.random(60))",
        ARRAY_2D,
    ),
    "fairness.GraphLaplacianIF.fit.scores": (
        "fairness.GraphLaplacianIF().fit(rng.normal(size=(60, 3)), {a})",
        "rng.random(60)",
    ),
    "geometry.les_descriptor.X": ("geometry.les_descriptor({a}, n_eigs=10)", ARRAY_2D),
    "geometry.les_descriptor.n_eigs": (
        "geometry.les_descriptor(rng.normal(size=(60, 3)), n_eigs={a})",
        "10",
    ),
    "geometry.diffusion_spectrum.X": ("geometry.diffusion_spectrum({a}, n_eigs=10)", ARRAY_2D),
    "geometry.DiffusionMap.fit.X": ("geometry.DiffusionMap().fit({a})", ARRAY_2D),
    "geometry.DiffusionMap.n_components": (
        "geometry.DiffusionMap(n_components={a}).fit(rng.normal(size=(60, 3)))",
        "2",
    ),
    "irt.IRT.fit.Y": ("IRT().fit({a})", BINARY),
    "irt.IRT.dims": ("IRT(dims={a}).fit((rng.random((20, 40)) < 0.5).astype(float))", "1"),
    "irt.IRT.score_new.Y": (
        "IRT().fit((rng.random((20, 40)) < 0.5).astype(float)).score_new({a})",
        "(rng.random((3, 40)) < 0.5).astype(float)",
    ),
    "tiny.kmeans_anchors.x": ("tiny.kmeans_anchors({a}, 5, rng=0)", ARRAY_2D),
    "tiny.kmeans_anchors.k": ("tiny.kmeans_anchors(rng.normal(size=(60, 3)), {a}, rng=0)", "5"),
    "tiny.pirt_estimate.n_items": (
        "tiny.pirt_estimate(rng.random((2, 5)), np.ones(5), rng.random((2, 5)), np.ones(5), {a})",
        "10",
    ),
    "tiny.TinyBenchmark.fit.Y": (
        "tiny.TinyBenchmark(n_anchors=5, dims=(1,), random_state=0).fit({a})",
        "(rng.random((30, 60)) < 0.5).astype(float)",
    ),
    "weak.encode_patterns.L": ("weak.encode_patterns({a})", "rng.integers(-1, 2, size=(50, 3))"),
    "weak.frechet_bounds.yhat": (
        "weak.frechet_bounds({a}, np.arange(50) % 3, np.full((3, 2), 0.5))",
        "(rng.random(50) < 0.5).astype(int)",
    ),
    "weak.frechet_bounds.p_y_given_z": (
        "weak.frechet_bounds(np.arange(50) % 2, np.arange(50) % 2, {a})",
        "np.array([[0.3, 0.7], [0.6, 0.4]])",
    ),
    "weak.frechet_bounds.n_resamples": (
        "weak.frechet_bounds(np.arange(50) % 2, np.arange(50) % 2, np.full((2, 2), 0.5), "
        "n_resamples={a}, rng=0)",
        "100",
    ),
    "weak.frechet_bounds_general.G": (
        "weak.frechet_bounds_general({a}, np.arange(60) % 2, np.full((2, 3), 1 / 3))",
        ARRAY_2D,
    ),
    "weak.frechet_bounds_general.eps": (
        "weak.frechet_bounds_general(rng.normal(size=(60, 3)), np.arange(60) % 2, "
        "np.full((2, 3), 1 / 3), eps={a})",
        "0.01",
    ),
    "weak.dawid_skene.L": ("weak.dawid_skene({a}, 2)", "rng.integers(-1, 2, size=(50, 3))"),
    "judge.Bridge.fit.z": (
        "judge.Bridge().fit(np.arange(60) % 4, {a})",
        "rng.normal(size=60)",
    ),
    "judge.Bridge.fit.X": (
        "judge.Bridge().fit(np.arange(60) % 4, rng.normal(size=60), {a})",
        ARRAY_2D,
    ),
    "judge.Bridge.fit.y": ("judge.Bridge().fit({a}, rng.normal(size=50))", ARRAY_1D),
    "judge.judge_latent.probs": ("judge.judge_latent({a})", "np.full((10, 4), 0.25)"),
}

HOSTILE_ARRAYS = [
    "np.array([])",
    "np.float64(0.5)",
    "np.array([0.5])",
    "np.full((2, 2), np.nan)",
    "np.array([[np.inf, 1.0], [0.0, 1.0]])",
    "{base} * 1e300",
    "{base} * 1e-300",
    "-{base} * 1e308",
    "{base} + 1j",
    "np.array(['a', 'b'])",
    "np.ones((2, 2, 2))",
    "np.asfortranarray(np.atleast_2d({base}))[:, ::2]",
    "np.zeros_like({base})",
    "np.ones_like({base})",
    "np.asarray({base}, dtype=np.float32)",
    "({base} > 0.5)",
    "[[1, 2], [3]]",
    "None",
]
HOSTILE_SCALARS = [
    "0",
    "-1",
    "1",
    "10**12",
    "2**64",
    "10**30",
    "1.5",
    "np.nan",
    "np.inf",
    "-np.inf",
    "True",
    "'3'",
    "1e-300",
    "1e300",
    "None",
    "np.int64(3)",
    "[1, 2]",
]

CHILD = r"""
import sys, json, warnings
import numpy as np
warnings.simplefilter("ignore")
from calipers import dominance, fairness, geometry, judge, ot, resample, tiny, weak
from calipers.irt import IRT
from calipers.exceptions import CalipersError

def has_bad(x, seen=0):
    if seen > 3:
        return False
    if isinstance(x, (float, np.floating)):
        return not np.isfinite(x)
    if isinstance(x, np.ndarray) and x.dtype.kind in "fc":
        return not np.isfinite(x).all()
    if hasattr(x, "data") and isinstance(getattr(x, "data"), np.ndarray) and hasattr(x, "nnz"):
        return not np.isfinite(x.data).all()
    if hasattr(x, "__dataclass_fields__"):
        return any(has_bad(getattr(x, f), seen + 1) for f in x.__dataclass_fields__)
    if isinstance(x, (tuple, list)):
        return any(has_bad(v, seen + 1) for v in x)
    return False

for line in sys.stdin:
    job = json.loads(line)
    print(json.dumps({"start": job["id"]}), flush=True)
    rng = np.random.default_rng(0)
    outcome, detail = "ok", ""
    try:
        arg = eval(job["arg"], {"np": np, "rng": rng})
        try:
            as_array = np.asarray(arg)
            input_bad = as_array.dtype.kind in "fc" and has_bad(as_array)
        except ValueError:  # ragged input: whatever the call does with it is the finding
            input_bad = False
        res = eval(job["call"], {"np": np, "rng": rng, "a": arg, "ot": ot, "resample": resample,
                                 "dominance": dominance, "fairness": fairness,
                                 "geometry": geometry, "tiny": tiny, "IRT": IRT,
                                 "weak": weak, "judge": judge})
        if not input_bad and has_bad(res):
            outcome, detail = "nan", type(res).__name__
    except (CalipersError, TypeError) as exc:
        outcome, detail = "clean", f"{type(exc).__name__}: {exc}"[:200]
    except Exception as exc:
        outcome, detail = "unclear", f"{type(exc).__name__}: {exc}"[:200]
    except BaseException as exc:
        name = type(exc).__name__
        outcome = "panic" if name == "PanicException" else "unclear"
        detail = f"{name}: {exc}"[:200]
    print(json.dumps({"end": job["id"], "outcome": outcome, "detail": detail}), flush=True)
"""


def jobs(quick: bool) -> list[dict[str, str]]:
    out = []
    for name, (call, base) in CASES.items():
        scalar = not base.startswith(("rng", "(", "[", "np."))
        values = HOSTILE_SCALARS if scalar else HOSTILE_ARRAYS
        if quick:
            values = values[::3]
        for value in values:
            arg = value.replace("{base}", f"({base})")
            out.append({"id": f"{name} <- {value}", "call": call.replace("{a}", "a"), "arg": arg})
    return out


def _feed(stream, text: str) -> None:
    try:
        stream.write(text)
        stream.close()
    except (BrokenPipeError, OSError):  # the child died: the watcher reports it
        pass


def _lines(stream, queue: Queue) -> None:
    for line in stream:
        queue.put(line)
    queue.put(None)


def run(all_jobs: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    pending = list(all_jobs)
    while pending:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        queue: Queue = Queue()
        # Read and write on their own threads: the job list and the answers both outgrow a
        # pipe's buffer, and writing all jobs before reading would deadlock.
        threading.Thread(target=_lines, args=(child.stdout, queue), daemon=True).start()
        jobs_text = "".join(json.dumps(job) + "\n" for job in pending)
        threading.Thread(target=_feed, args=(child.stdin, jobs_text), daemon=True).start()
        current = None
        while True:
            try:
                line = queue.get(timeout=TIME_LIMIT)
            except Empty:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=3)
                    results[current or "?"] = ("hang", f"no answer in {TIME_LIMIT:.0f} s")
                except subprocess.TimeoutExpired:
                    child.kill()
                    results[current or "?"] = ("hang", "ignored Ctrl-C too")
                current = None
                break
            if line is None:
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
            else:
                results[msg["end"]] = (msg["outcome"], msg["detail"])
                current = None
        child.wait()
        if current is not None:
            results[current] = ("abort", f"exit status {child.returncode}")
        pending = [j for j in pending if j["id"] not in results]
    return results


def main() -> int:
    quick = "--quick" in sys.argv
    all_jobs = jobs(quick)
    results = run(all_jobs)
    counts = Counter(outcome for outcome, _ in results.values())
    print(f"{len(results)} probes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    bad = {k: v for k, v in results.items() if v[0] not in ("ok", "clean")}
    for key, (outcome, detail) in sorted(bad.items()):
        print(f"  {outcome:8} {key}: {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
