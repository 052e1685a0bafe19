# Type stub of the Rust extension module `calipers._core` (checked by mypy.stubtest).
# Sections are grouped by capability, in the order of rust/calipers-py/src/lib.rs.
import numpy as np
import numpy.typing as npt

__version__: str

# --- threads ---
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def max_num_threads() -> int: ...
def memory_budget() -> int: ...
def raise_core_error(kind: str) -> None: ...

# --- ot ---
def wasserstein_pp(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    p: float,
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
) -> tuple[float, float]: ...
def wasserstein_pp_rows(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    p: float,
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def quantile_function(
    x: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]: ...
def quantile_function_rows(
    x: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]: ...
def monotone_coupling(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def aot_loss(
    chosen_logps: npt.NDArray[np.float64],
    rejected_logps: npt.NDArray[np.float64],
    ref_chosen_logps: npt.NDArray[np.float64],
    ref_rejected_logps: npt.NDArray[np.float64],
    beta: float,
    label_smoothing: float,
    relaxation: str,
    paired: bool,
) -> tuple[
    float,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def kmixup_match(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], k: int
) -> npt.NDArray[np.int64]: ...

# --- resample ---
from collections.abc import Callable, Sequence  # noqa: E402

def resample_chunking(n_resamples: int) -> tuple[int, int]: ...
def bootstrap_means(
    samples: Sequence[npt.NDArray[np.float64]],
    paired: bool,
    seed: int,
    n_resamples: int,
    chunk_start: int,
    chunk_end: int,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...
def bootstrap_indices(
    sizes: Sequence[int],
    seed: int,
    n_resamples: int,
    chunk_start: int,
    chunk_end: int,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.uint32]: ...
def permutation_null_paired(
    differences: npt.NDArray[np.float64],
    seed: int,
    n_resamples: int,
    chunk_start: int,
    chunk_end: int,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...
def permutation_null_unpaired(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    seed: int,
    n_resamples: int,
    chunk_start: int,
    chunk_end: int,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...
def pair_moments(
    replicates: npt.NDArray[np.float64],
    first: npt.NDArray[np.uint32],
    second: npt.NDArray[np.uint32],
    observed: npt.NDArray[np.float64],
    progress: Callable[[int, int], object] | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint32],
]: ...
def pair_quantiles(
    replicates: npt.NDArray[np.float64],
    first: npt.NDArray[np.uint32],
    second: npt.NDArray[np.uint32],
    low_q: npt.NDArray[np.float64],
    low_hint: npt.NDArray[np.float64],
    high_q: npt.NDArray[np.float64],
    high_hint: npt.NDArray[np.float64],
    progress: Callable[[int, int], object] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def rank_probabilities(
    replicates: npt.NDArray[np.float64],
    higher_is_better: bool,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...
def pair_acceleration(
    influence: Sequence[npt.NDArray[np.float64]],
    paired: bool,
    first: npt.NDArray[np.uint32],
    second: npt.NDArray[np.uint32],
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...

# --- dominance ---
def violation_ratio(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], order: int
) -> float: ...
def violation_ratio_matrix(
    samples: Sequence[npt.NDArray[np.float64]], order: int
) -> npt.NDArray[np.float64]: ...
def bootstrap_one_vs_all(
    samples: Sequence[npt.NDArray[np.float64]],
    paired: bool,
    order: int,
    seed: int,
    n_resamples: int,
    chunk_start: int,
    chunk_end: int,
    progress: Callable[[int, int], object] | None = None,
) -> npt.NDArray[np.float64]: ...

# --- fairness ---
def fairness_glif_solve(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    lam: float,
    variant: str,
    tol: float,
    max_iter: int,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64], float]: ...
def fairness_out_of_sample(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    fitted: npt.NDArray[np.float64],
    new_scores: npt.NDArray[np.float64],
    lam: float,
) -> npt.NDArray[np.float64]: ...

# --- irt ---
def irt_fit(
    y: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    method: str,
    model: str,
    dims: int,
    max_iter: int,
    tol: float,
    prior_sd_theta: float,
    prior_sd_a: float,
    prior_sd_b: float,
    positive: bool,
    seed: int,
    n_quad: int,
    progress: object | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    float,
    int,
    bool,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def irt_score(
    y: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    method: str,
    prior_sd: float,
    term_clip: float | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def irt_predict(
    theta: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    term_clip: float | None = None,
) -> npt.NDArray[np.float64]: ...

# --- geometry ---
def diffusion_spectrum(
    x: npt.NDArray[np.float64],
    n_eigs: int,
    sigma: float,
    method_name: str,
    tol: float,
    n_landmarks: int,
    median_pairs: int,
    seed: int,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.float64], float, int, float]: ...
def diffusion_spectra(
    xs: list[npt.NDArray[np.float64]],
    n_eigs: int,
    sigma: float,
    method_name: str,
    tol: float,
    n_landmarks: int,
    median_pairs: int,
    seed: int,
    progress: object | None = None,
) -> list[tuple[npt.NDArray[np.float64], float, int, float]]: ...
def diffusion_map(
    x: npt.NDArray[np.float64],
    n_components: int,
    k: int,
    alpha: float,
    epsilon: float | None,
    tol: float,
    seed: int,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float, bool]: ...
def lanczos_eigenvalues(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    nev: int,
    tol: float,
    seed: int,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.float64], bool]: ...

# --- tiny ---
def kmeans_anchors(
    x: npt.NDArray[np.float64],
    k: int,
    sample_weight: npt.NDArray[np.float64] | None = None,
    n_restarts: int = 5,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int = 0,
    n_local_trials: int = 0,
    progress: object | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    float,
    int,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
]: ...

# weak
def weak_entropic_upper(
    g: npt.NDArray[np.float64],
    z: npt.NDArray[np.int64],
    q: npt.NDArray[np.float64],
    eps: float,
    progress: object | None = None,
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64], bool, int]: ...

# --- knn (shared neighbour search) ---
def knn_search(
    z: npt.NDArray[np.float64],
    k: int,
    algorithm: str,
    n_trees: int,
    leaf_size: int,
    max_rounds: int,
    delta: float,
    seed: int,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], bool]: ...
def knn_query(
    reference: npt.NDArray[np.float64], queries: npt.NDArray[np.float64], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def knn_radius(
    reference: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    tau: float,
    same_set: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def knn_graph(
    indices: npt.NDArray[np.int64], sqdist: npt.NDArray[np.float64], theta: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

# --- route ---
_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]

def route_knn_cv(
    points: _F,
    targets: _F,
    folds: _I,
    n_folds: int,
    ks: list[int],
    progress: object | None = None,
) -> _F: ...
def route_knn_predict(
    reference: _F,
    targets: _F,
    queries: _F,
    ks: list[int],
    progress: object | None = None,
) -> _F: ...
def route_mu_path(
    predicted_scores: _F,
    predicted_costs: _F,
    from_minus_infinity: bool,
    progress: object | None = None,
) -> tuple[_I, _F, _I, _I, _I]: ...
def route_path_curve(
    path: tuple[_I, _F, _I, _I, _I],
    start_mu: float,
    scores: _F,
    costs: _F,
) -> tuple[_F, _F, _F]: ...
def route_hull(cost: _F, performance: _F) -> tuple[_F, _F]: ...
def route_auc(cost: _F, performance: _F, lo: float, hi: float, hull: bool) -> float: ...
def route_hull_at(cost: _F, performance: _F, at: _F) -> _F: ...
def route_bootstrap(
    paths: list[tuple[_I, _F, _I, _I, _I]],
    start_mus: list[float],
    scores: _F,
    costs: _F,
    lo: float,
    hi: float,
    grid: _F,
    zero_router: bool,
    n_resamples: int,
    seed: int,
    chunk_start: int,
    chunk_end: int,
    progress: object | None = None,
) -> _F: ...

# prompts
def prompts_fit(
    y: npt.NDArray[np.float32],
    x: npt.NDArray[np.float64] | None,
    z: npt.NDArray[np.float64] | None,
    onehot: bool,
    prior_sd: float,
    max_iter: int,
    tol: float,
    with_se: bool = True,
    progress: object | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.bool_],
]: ...
def prompts_accuracy_se(
    y: npt.NDArray[np.float32],
    x: npt.NDArray[np.float64] | None,
    z: npt.NDArray[np.float64] | None,
    onehot: bool,
    prior_sd: float,
    dense: npt.NDArray[np.float64],
    beta: npt.NDArray[np.float64],
    progress: object | None = None,
) -> npt.NDArray[np.float64]: ...
def prompts_bootstrap(
    y: npt.NDArray[np.float32],
    x: npt.NDArray[np.float64] | None,
    z: npt.NDArray[np.float64] | None,
    onehot: bool,
    prior_sd: float,
    dense: npt.NDArray[np.float64],
    beta: npt.NDArray[np.float64],
    n_resamples: int,
    seed: int,
    parametric: bool,
    max_iter: int,
    tol: float,
    progress: object | None = None,
) -> npt.NDArray[np.float64]: ...

# --- scaling (fixed effects) ---
def scaling_fixed_objective(
    *,
    x: npt.NDArray[np.float64],
    family: npt.NDArray[np.int64],
    n_families: int,
    y: npt.NDArray[np.float64],
    floor: npt.NDArray[np.float64],
    d: int,
    fix_loadings: bool,
    learn_floor: bool,
    theta: npt.NDArray[np.float64],
    delta: float,
) -> tuple[float, npt.NDArray[np.float64]]: ...
def scaling_fixed_fit(
    *,
    xs: list[npt.NDArray[np.float64]],
    families_list: list[npt.NDArray[np.int64]],
    n_families: list[int],
    ys: list[npt.NDArray[np.float64]],
    floors: list[npt.NDArray[np.float64]],
    starts: list[npt.NDArray[np.float64]],
    d: int,
    fix_loadings: bool,
    learn_floor: bool,
    deltas: list[float],
    max_iter: int,
    history: int,
    gtol: float,
    ftol: float,
    progress: object | None = None,
) -> list[
    tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.uint64],
        npt.NDArray[np.bool_],
    ]
]: ...

# judge
def judge_fit(
    y: npt.NDArray[np.uint32],
    w: npt.NDArray[np.float64],
    tmap: npt.NDArray[np.float64],
    n_categories: int,
    items: npt.NDArray[np.uint32] | None = None,
    n_items: int = 0,
) -> tuple[
    npt.NDArray[np.float64], float, int, npt.NDArray[np.float64], npt.NDArray[np.float64] | None
]: ...
def judge_derivatives(
    y: npt.NDArray[np.uint32],
    w: npt.NDArray[np.float64],
    tmap: npt.NDArray[np.float64],
    n_categories: int,
    theta: npt.NDArray[np.float64],
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None: ...
def judge_bootstrap(
    y: npt.NDArray[np.uint32],
    w: npt.NDArray[np.float64],
    tmap: npt.NDArray[np.float64],
    n_categories: int,
    items: npt.NDArray[np.uint32],
    n_items: int,
    n_resamples: int,
    seed: int,
    counts: npt.NDArray[np.uint32] | None = None,
    smoothing: float = 0.5,
    start: npt.NDArray[np.float64] | None = None,
    progress: object | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]: ...
def scaling_random_modes(
    *,
    y: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    family_ptr: npt.NDArray[np.int64],
    floor: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    n_skills: int,
    init: npt.NDArray[np.float64] | None = None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], bool, int
]: ...
def scaling_random_loglik(
    *,
    y: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    family_ptr: npt.NDArray[np.int64],
    floor: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    n_skills: int,
    nodes: npt.NDArray[np.float64],
    log_weights: npt.NDArray[np.float64],
    centre: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    log_det: npt.NDArray[np.float64],
    grad: bool = True,
    scores: bool = False,
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
