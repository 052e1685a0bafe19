"""Tests of calipers.geometry against plain dense numpy/scipy formulas and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from scipy.spatial.distance import pdist, squareform
from sklearn.neighbors import NearestNeighbors

from calipers import geometry
from calipers.exceptions import (
    InvalidArgumentError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
)
from conftest import num_threads

# ---------------------------------------------------------------- data


def torus2(n: int, rng: np.random.Generator, c: float = 1.0) -> np.ndarray:
    """2-torus in R^3 (radii 10, 3, scaled by c) with 0.01 noise, as in the LES tori experiment."""
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    big, small = 10 * c, 3 * c
    pts = np.c_[
        (big + small * np.cos(v)) * np.cos(u),
        (big + small * np.cos(v)) * np.sin(u),
        small * np.sin(v),
    ]
    return pts + 0.01 * rng.normal(size=pts.shape)


def torus3(n: int, rng: np.random.Generator, c: float = 1.0) -> np.ndarray:
    """3-torus in R^4 (radii 10, 3, 1, scaled by c) with 0.01 noise."""
    u, v, w = rng.uniform(0, 2 * np.pi, (3, n))
    r1, r2, r3 = 10 * c, 3 * c, 1 * c
    inner = r2 + r3 * np.cos(w)
    pts = np.c_[
        (r1 + inner * np.cos(v)) * np.cos(u),
        (r1 + inner * np.cos(v)) * np.sin(u),
        inner * np.sin(v),
        r3 * np.sin(w),
    ]
    return pts + 0.01 * rng.normal(size=pts.shape)


def sphere(n: int, rng: np.random.Generator, radius: float = 5.0) -> np.ndarray:
    pts = rng.normal(size=(n, 3))
    pts *= radius / np.linalg.norm(pts, axis=1, keepdims=True)
    return pts + 0.01 * rng.normal(size=pts.shape)


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------- the paper's formula, plainly


def dense_les_spectrum(x: np.ndarray, n_eigs: int, sigma: float = 2.0) -> np.ndarray:
    """The LES operator written from the paper/reference code, eigenvalues by dense eigh."""
    d2 = squareform(pdist(x)) ** 2
    k = np.exp(-d2 / (sigma * np.median(d2)))
    q = k.sum(axis=1)
    ka = k / np.outer(q, q)
    p = ka.sum(axis=1)
    a = ka / np.sqrt(np.outer(p, p))
    lam = scipy.linalg.eigh(a, eigvals_only=True)[::-1][:n_eigs]
    return np.maximum(lam, 0.0)


@pytest.mark.parametrize("n", [300, 1000])
def test_exact_mode_matches_dense_eigh(n):
    rng = np.random.default_rng(n)
    x = torus3(n, rng)
    want = dense_les_spectrum(x, 200)
    got = geometry.diffusion_spectrum(x, 200)
    assert got[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(geometry.les_descriptor(x), np.log(want + 1e-8), rtol=0, atol=1e-6)


def test_exact_mode_slow_decay_uses_dense_fallback_and_matches():
    # 64-d data: the spectrum decays slowly, so the pivoted-Cholesky route hands over to a full
    # eigendecomposition; both must agree with plain eigh.
    rng = np.random.default_rng(1)
    x = np.tanh(rng.normal(size=(700, 8)) @ rng.normal(size=(8, 64)) / 3) + 0.05 * rng.normal(
        size=(700, 64)
    )
    want = dense_les_spectrum(x, 200)
    got = geometry.diffusion_spectrum(x, 200)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert (want > 1e-8).all()  # really a slowly decaying spectrum


def embedding_like(n: int, d: int, rng: np.random.Generator, rank: int = 12) -> np.ndarray:
    """Random low-rank signal plus isotropic noise, like sentence embeddings."""
    signal = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) / np.sqrt(rank)
    return signal + 0.3 * rng.normal(size=(n, d))


@pytest.mark.parametrize("d", [3, 16, 64])
def test_exact_mode_matches_dense_eigh_on_gaussian_clouds(d):
    # N(0, I_d): for d >= 8 the spectrum decays slowly (the top 200 sit inside clusters of
    # hundreds of near-equal eigenvalues), so the block Krylov route runs, not pivoted Cholesky.
    x = np.random.default_rng(d).normal(size=(1500, d))
    want = dense_les_spectrum(x, 200)
    got = geometry.diffusion_spectrum(x, 200)
    np.testing.assert_allclose(np.log(got + 1e-8), np.log(want + 1e-8), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_gram_distance_path_with_a_large_offset_matches_dense_eigh(offset):
    # d >= 8 builds the stored operator from a Gram product of the centred points; a large
    # common offset must not cost accuracy (the reference uses direct differences, pdist).
    x = np.random.default_rng(31).normal(size=(1000, 16))
    want = dense_les_spectrum(x, 200)
    got = geometry.diffusion_spectrum(x + offset, 200)
    np.testing.assert_allclose(np.log(got + 1e-8), np.log(want + 1e-8), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_far_points_in_high_dimension_use_direct_differences_and_match():
    # Two points 1e4 away make the Gram product's rounding bound too large: the operator falls
    # back to direct differences and still equals the plain formula.
    x = np.random.default_rng(32).normal(size=(800, 16))
    x[:2] += 1e4
    want = dense_les_spectrum(x, 100)
    np.testing.assert_allclose(geometry.diffusion_spectrum(x, 100), want, rtol=0, atol=1e-10)


def test_exact_mode_matches_dense_eigh_on_embedding_like_data():
    x = embedding_like(1200, 384, np.random.default_rng(5))
    want = dense_les_spectrum(x, 200)
    desc = geometry.les_descriptor(x)
    np.testing.assert_allclose(desc, np.log(want + 1e-8), rtol=0, atol=1e-6)


def test_descriptor_is_log_of_spectrum_decreasing():
    x = sphere(400, np.random.default_rng(2))
    lam = geometry.diffusion_spectrum(x, 50)
    desc = geometry.les_descriptor(x, n_eigs=50, gamma=1e-6)
    np.testing.assert_allclose(desc, np.log(lam + 1e-6))
    assert np.all(np.diff(lam) <= 0)
    assert np.all((lam >= 0) & (lam <= 1 + 1e-12))


# ---------------------------------------------------------------- LES on shapes


def _shapes(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"torus2": torus2(n, rng), "torus3": torus3(n, rng), "sphere": sphere(n, rng)}


def _check_shape_separation(n: int) -> float:
    a, b = _shapes(n, 10), _shapes(n, 11)
    names = list(a)
    dist = geometry.les_distances([a[k] for k in names] + [b[k] for k in names])
    m = len(names)
    same = max(dist[i, i + m] for i in range(m))
    different = min(dist[i, j] for i in range(m) for j in range(m) if i != j)
    assert np.allclose(dist, dist.T)
    assert np.all(np.diag(dist) == 0)
    return different / same


def test_same_shape_much_closer_than_different_shapes():
    # Measured at n = 800: smallest different-shape LES 7.6 (2-torus vs sphere; 25-30 for the
    # other pairs), largest same-shape LES 0.57: ratio ≈ 13.
    ratio = _check_shape_separation(800)
    assert ratio > 5, ratio


@pytest.mark.slow
def test_same_shape_much_closer_than_different_shapes_n3000():
    # Measured at n = 3,000: same shape ≤ 0.32 LES units, different ≥ 8.5 (2-torus vs sphere;
    # 25-30 otherwise): ratio ≈ 27.
    ratio = _check_shape_separation(3000)
    assert ratio > 10, ratio


def test_les_distance_is_symmetric_and_zero_on_identical_inputs():
    rng = np.random.default_rng(3)
    x, y = torus2(500, rng), torus3(450, rng)
    assert geometry.les_distance(x, x) == 0.0
    assert geometry.les_distance(x, y) == geometry.les_distance(y, x)
    assert geometry.les_distance(x, y) > 1.0


def test_les_distance_invariances():
    rng = np.random.default_rng(4)
    x, y = torus3(600, rng), sphere(500, rng)
    base = geometry.les_distance(x, y)
    moved = x @ random_rotation(4, rng).T + rng.normal(size=4) * 50
    permuted = moved[rng.permutation(len(moved))]
    assert geometry.les_distance(permuted, y) == pytest.approx(base, abs=1e-6)
    np.testing.assert_allclose(
        geometry.les_descriptor(permuted), geometry.les_descriptor(x), rtol=0, atol=1e-5
    )
    # The bandwidth is relative to the median distance: uniform scaling changes nothing.
    assert geometry.les_distance(3.5 * x, y) == pytest.approx(base, abs=1e-6)


def test_different_sizes_and_dimensions():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 3)), rng.normal(size=(300, 17))
    d = geometry.les_distance(x, y, n_eigs=100)
    want = np.linalg.norm(
        np.log(dense_les_spectrum(x, 100) + 1e-8) - np.log(dense_les_spectrum(y, 100) + 1e-8)
    )
    assert d == pytest.approx(want, abs=1e-5)


def test_les_distances_matrix_matches_pairs():
    rng = np.random.default_rng(6)
    data = [torus2(300, rng), torus3(350, rng), sphere(320, rng)]
    dist, desc = geometry.les_distances(data, n_eigs=100, return_descriptors=True)
    assert desc.shape == (3, 100)
    for i in range(3):
        for j in range(3):
            assert dist[i, j] == pytest.approx(
                geometry.les_distance(data[i], data[j], n_eigs=100), abs=1e-12
            )


# ---------------------------------------------------------------- Nyström


def test_nystrom_with_all_points_as_landmarks_equals_exact():
    x = torus2(600, np.random.default_rng(7))
    exact = geometry.les_descriptor(x, n_eigs=100)
    nys = geometry.les_descriptor(x, n_eigs=100, method="nystrom", n_landmarks=600, rng=0)
    assert np.linalg.norm(nys - exact) < 1e-2


def test_nystrom_close_to_exact_on_tori():
    rng = np.random.default_rng(8)
    for x in (torus2(2000, rng), torus3(2000, rng)):
        exact = geometry.les_descriptor(x)
        # All 2M pairs give the exact median: only the landmark factorisation differs.
        nys = geometry.les_descriptor(x, method="nystrom", n_landmarks=500, rng=1)
        assert np.linalg.norm(nys - exact) <= 0.05
        # A sampled median adds the bandwidth's sampling error.
        sampled = geometry.les_descriptor(
            x, method="nystrom", n_landmarks=500, median_pairs=500_000, rng=1
        )
        assert np.linalg.norm(sampled - exact) <= 0.5


@pytest.mark.slow
def test_nystrom_within_half_a_unit_of_exact_at_n5000():
    # Measured: 0.006 LES units on both tori (1,000 landmarks, median from 4M sampled pairs).
    rng = np.random.default_rng(9)
    for x in (torus2(5000, rng), torus3(5000, rng)):
        exact = geometry.les_descriptor(x)
        nys = geometry.les_descriptor(x, method="nystrom", rng=2)
        assert np.linalg.norm(nys - exact) <= 0.5


def test_nystrom_is_seeded():
    x = torus3(1500, np.random.default_rng(10))
    a = geometry.les_descriptor(x, method="nystrom", n_landmarks=300, median_pairs=100_000, rng=5)
    b = geometry.les_descriptor(x, method="nystrom", n_landmarks=300, median_pairs=100_000, rng=5)
    c = geometry.les_descriptor(x, method="nystrom", n_landmarks=300, median_pairs=100_000, rng=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------- determinism across threads


def test_same_bits_at_1_2_4_threads():
    rng = np.random.default_rng(11)
    x = torus3(900, rng)
    z = rng.normal(size=(700, 10))
    results = []
    for t in (1, 2, 4):
        with num_threads(t):
            results.append(
                (
                    geometry.les_descriptor(x),
                    geometry.les_descriptor(x, method="nystrom", n_landmarks=300, rng=3),
                    geometry.DiffusionMap(5, k=10, random_state=4).fit_transform(z),
                    geometry.les_distances([x, z], n_eigs=50),
                )
            )
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_block_krylov_route_same_bits_at_1_and_2_threads():
    x = np.random.default_rng(21).normal(size=(1100, 16))
    results = []
    for t in (1, 2):
        with num_threads(t):
            results.append(geometry.diffusion_spectrum(x, 150))
    np.testing.assert_array_equal(results[0], results[1])


# ---------------------------------------------------------------- bad input


def test_bad_input_errors():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(100, 3))
    with pytest.raises(InvalidArgumentError, match="n_eigs"):
        geometry.les_descriptor(x)  # n = 100 < n_eigs = 200
    with pytest.raises(InvalidArgumentError, match="n_eigs"):
        geometry.les_distance(x, rng.normal(size=(300, 3)))
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(NonFiniteError, match="X"):
        geometry.les_descriptor(bad, n_eigs=10)
    with pytest.raises(ShapeError, match="zero features"):
        geometry.les_descriptor(np.empty((50, 0)), n_eigs=10)
    with pytest.raises(ShapeError):
        geometry.les_descriptor(np.ones(10), n_eigs=1)
    with pytest.raises(InvalidArgumentError, match="duplicate"):
        geometry.les_descriptor(np.ones((50, 2)), n_eigs=5)
    with pytest.raises(InvalidArgumentError, match="method"):
        geometry.les_descriptor(x, n_eigs=5, method="sketch")
    with pytest.raises(InvalidArgumentError, match="gamma"):
        geometry.les_descriptor(x, n_eigs=5, gamma=0.0)
    with pytest.raises(InvalidArgumentError, match="k"):
        geometry.DiffusionMap(2, k=100).fit(x)


def test_some_duplicate_points_are_fine():
    # Duplicates only add (near-)zero eigenvalues; the result equals the dense formula.
    rng = np.random.default_rng(13)
    x = rng.normal(size=(300, 3))
    x = np.vstack([x, x[:50]])
    np.testing.assert_allclose(
        geometry.diffusion_spectrum(x, 100), dense_les_spectrum(x, 100), rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------- diffusion maps


def dense_diffusion_map(x: np.ndarray, k: int, n_eig: int, alpha: float = 1.0):
    """The kNN operator built plainly with sklearn + scipy.sparse; eigenpairs by dense eigh."""
    n = len(x)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    dist, idx = dist[:, 1:] ** 2, idx[:, 1:]
    eps = np.median(dist)
    w = scipy.sparse.csr_matrix(
        (np.exp(-dist.ravel() / eps), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n)
    ).toarray()
    w = np.maximum(w, w.T) + np.eye(n)
    q = w.sum(axis=1) ** -alpha
    ka = w * np.outer(q, q)
    p = ka.sum(axis=1)
    a = ka / np.sqrt(np.outer(p, p))
    lam, u = np.linalg.eigh(a)
    lam, u = lam[::-1][:n_eig], u[:, ::-1][:, :n_eig]
    return lam, u / np.sqrt(p)[:, None], p


def test_diffusion_map_matches_dense_reference():
    rng = np.random.default_rng(14)
    x = torus2(500, rng)
    dm = geometry.DiffusionMap(n_components=6, k=12, t=2, random_state=0).fit(x)
    lam, psi, p = dense_diffusion_map(x, 12, 7)
    np.testing.assert_allclose(dm.eigenvalues_, lam[1:], rtol=0, atol=1e-8)
    # Eigenvectors up to sign; ψ orthonormal in the stationary measure π ∝ p.
    pi = p / p.sum()
    ours = dm.eigenvectors_
    np.testing.assert_allclose(ours.T @ (pi[:, None] * ours), np.eye(6), atol=1e-8)
    for c in range(6):
        ref = psi[:, c + 1] / np.sqrt(pi @ psi[:, c + 1] ** 2)
        assert abs(abs(ref @ (pi * ours[:, c])) - 1) < 1e-6
    np.testing.assert_allclose(dm.embedding_, ours * lam[1:] ** 2, atol=1e-8)
    assert dm.converged_


def test_diffusion_map_estimator_api():
    dm = geometry.DiffusionMap(3, k=5)
    assert dm.get_params()["k"] == 5
    assert dm.set_params(k=7) is dm and dm.k == 7
    with pytest.raises(InvalidArgumentError):
        dm.set_params(bogus=1)
    emb = dm.fit_transform(np.random.default_rng(15).normal(size=(200, 4)))
    assert emb.shape == (200, 3)
    assert np.all(np.diff(dm.eigenvalues_) <= 0)


# ---------------------------------------------------------------- heat trace


def test_heat_trace_from_spectrum_and_deterministic():
    rng = np.random.default_rng(16)
    x, y = torus2(400, rng), sphere(400, rng)
    t = np.array([0.5, 1.0, 4.0])
    lam = geometry.diffusion_spectrum(x, 100)
    np.testing.assert_allclose(
        geometry.heat_trace(x, t, n_eigs=100), [np.sum(lam**s) for s in t], rtol=1e-12
    )
    assert geometry.heat_trace_distance(x, x, n_eigs=100) == 0.0
    d1 = geometry.heat_trace_distance(x, y, n_eigs=100, method="nystrom", rng=1)
    d2 = geometry.heat_trace_distance(x, y, n_eigs=100, method="nystrom", rng=1)
    assert d1 == d2 > 0


# ---------------------------------------------------------------- robustness (issue 20)


def test_dense_route_refused_beyond_memory_budget(monkeypatch):
    x = np.random.default_rng(22).normal(size=(1200, 16))
    monkeypatch.setenv("CALIPERS_MAX_MEMORY", "4M")
    with pytest.raises(MemoryBudgetError, match=r"X: would need .*nystrom"):
        geometry.diffusion_spectrum(x, 100)


def test_long_exact_route_ticks_progress_and_can_be_interrupted():
    x = np.random.default_rng(23).normal(size=(1200, 16))
    calls = []
    geometry.diffusion_spectrum(x, 100, progress=lambda done, total: calls.append(done))
    assert len(calls) >= 8  # pivots, then every Krylov block

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        geometry.diffusion_spectrum(x, 100, progress=stop)


def test_diffusion_map_knn_step_ticks_progress_and_can_be_interrupted():
    x = np.random.default_rng(24).normal(size=(3000, 8))
    calls = []
    geometry.DiffusionMap(2, k=10, random_state=0).fit(
        x, progress=lambda d, t: calls.append((d, t))
    )
    # The kNN search ticks between batches of query blocks, before the (1, 3) phase tick.
    assert calls.index((1, 3)) >= 1
    seen = []

    def stop(done, total):
        seen.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        geometry.DiffusionMap(2, k=10, random_state=0).fit(x, progress=stop)
    assert seen[0] != (1, 3)  # stopped inside the kNN search


@pytest.mark.parametrize("factor", [1e200, 1e154, 1e-160, 1e-200])
def test_extreme_magnitudes_give_the_unscaled_answer(factor):
    x = torus2(300, np.random.default_rng(25))
    want = geometry.les_descriptor(x, n_eigs=20)
    np.testing.assert_allclose(geometry.les_descriptor(x * factor, n_eigs=20), want, atol=1e-9)
    nys = geometry.les_descriptor(x, n_eigs=20, method="nystrom", rng=0)
    got = geometry.les_descriptor(x * factor, n_eigs=20, method="nystrom", rng=0)
    np.testing.assert_allclose(got, nys, atol=1e-9)
    dm = geometry.DiffusionMap(3, k=8, random_state=0).fit(x)
    dm_scaled = geometry.DiffusionMap(3, k=8, random_state=0).fit(x * factor)
    np.testing.assert_allclose(dm_scaled.eigenvalues_, dm.eigenvalues_, atol=1e-9)
    with np.errstate(over="ignore"):  # 1e400 is past the float range: epsilon_ is then inf
        expected = dm.epsilon_ * np.float64(factor) ** 2
    assert dm_scaled.epsilon_ == pytest.approx(expected, rel=1e-9)


def test_far_outliers_are_isolated_like_the_dense_formula():
    rng = np.random.default_rng(26)
    x = rng.normal(size=(200, 3))
    x[:3] *= 1e200  # their distances overflow: kernel weight exp(-inf) = 0, the exact limit
    with np.errstate(over="ignore", invalid="ignore"):
        want = dense_les_spectrum(x, 10)
    np.testing.assert_allclose(geometry.diffusion_spectrum(x, 10), want, atol=1e-12)
    assert np.allclose(want[:4], 1.0)


@pytest.mark.parametrize("n", [2, 3])
def test_tiny_inputs_and_one_feature_match_the_dense_formula(n):
    rng = np.random.default_rng(27)
    x = rng.normal(size=(n, 2))
    np.testing.assert_allclose(
        geometry.diffusion_spectrum(x, n), dense_les_spectrum(x, n), atol=1e-12
    )
    line = rng.normal(size=(150, 1))
    np.testing.assert_allclose(
        geometry.diffusion_spectrum(line, 150), dense_les_spectrum(line, 150), atol=1e-12
    )


def test_hostile_arguments_name_the_argument():
    x = np.random.default_rng(28).normal(size=(100, 3))
    with pytest.raises(InvalidArgumentError, match="alpha"):
        geometry.DiffusionMap(2, k=5, alpha=1e10).fit(x)
    with pytest.raises(InvalidArgumentError, match="sigma"):
        geometry.diffusion_spectrum(x, 5, sigma=1e308)
    with pytest.raises(InvalidArgumentError, match="n_components"):
        geometry.DiffusionMap(10**12, k=5).fit(x)
    with pytest.raises(InvalidArgumentError, match="k"):
        geometry.DiffusionMap(2, k=10**12).fit(x)
    with pytest.raises(InvalidArgumentError, match="n_eigs"):
        geometry.diffusion_spectrum(x, 10**15)
    with pytest.raises(InvalidArgumentError, match="complex"):
        geometry.les_descriptor(x.astype(complex), n_eigs=5)
    with pytest.raises(ShapeError, match="2-D"):
        geometry.les_descriptor(np.float64(3.0), n_eigs=1)
    with pytest.raises(ShapeError, match="two rows"):
        geometry.les_descriptor(x[:1], n_eigs=1)
    bad = x.copy()
    bad[3, 0] = np.inf
    with pytest.raises(NonFiniteError, match="X"):
        geometry.DiffusionMap(2, k=5).fit(bad)
    # Huge landmark counts are capped at n (no allocation by the argument).
    np.testing.assert_allclose(
        geometry.diffusion_spectrum(x, 5, method="nystrom", n_landmarks=10**15, rng=0),
        geometry.diffusion_spectrum(x, 5, method="nystrom", n_landmarks=100, rng=0),
    )


def _sparse_symmetric(n: int, density: float, seed: int) -> scipy.sparse.csr_matrix:
    """A random symmetric non-negative sparse matrix (sorted CSR) with a positive diagonal."""
    r = scipy.sparse.random(n, n, density=density, random_state=seed, format="csr")
    a = (r + r.T + scipy.sparse.identity(n)).tocsr()
    a.sort_indices()
    return a


@pytest.mark.parametrize("n, nev", [(300, 10), (2000, 25)])
def test_lanczos_matches_scipy_eigsh_on_the_same_csr(n, nev):
    from calipers import _core

    a = _sparse_symmetric(n, 5.0 / n, seed=n)
    args = {
        "indptr": a.indptr.astype(np.int64),
        "indices": a.indices.astype(np.int64),
        "values": a.data,
    }
    values, converged = _core.lanczos_eigenvalues(**args, nev=nev, tol=1e-10, seed=0)
    want = scipy.sparse.linalg.eigsh(a, k=nev, which="LA", tol=1e-12)[0][::-1]
    assert converged
    np.testing.assert_allclose(values, want, rtol=0, atol=1e-8)
    assert np.all(np.diff(values) <= 0)
    with num_threads(1):
        one = _core.lanczos_eigenvalues(**args, nev=nev, tol=1e-10, seed=0)[0]
    with num_threads(2):
        two = _core.lanczos_eigenvalues(**args, nev=nev, tol=1e-10, seed=0)[0]
    np.testing.assert_array_equal(one, two)


def test_lanczos_refuses_a_malformed_or_asymmetric_matrix():
    from calipers import _core

    a = _sparse_symmetric(50, 0.1, seed=1)
    ok = {"indptr": a.indptr.astype(np.int64), "values": a.data, "tol": 1e-8, "seed": 0}
    bad_idx = a.indices.astype(np.int64)
    bad_idx[0] = 50
    with pytest.raises(ShapeError, match="graph"):
        _core.lanczos_eigenvalues(indices=bad_idx, nev=3, **ok)
    asym = a.data.copy()
    rows = np.repeat(np.arange(50), np.diff(a.indptr))
    asym[np.flatnonzero(rows != a.indices)[0]] *= 2  # one off-diagonal entry
    with pytest.raises(InvalidArgumentError, match="symmetric"):
        _core.lanczos_eigenvalues(
            indptr=ok["indptr"],
            indices=a.indices.astype(np.int64),
            values=asym,
            nev=3,
            tol=1e-8,
            seed=0,
        )
    with pytest.raises(InvalidArgumentError, match="n_eigs"):
        _core.lanczos_eigenvalues(indices=a.indices.astype(np.int64), nev=51, **ok)
