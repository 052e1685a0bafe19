# Type stub of the Rust extension module `calipers._core` (checked by mypy.stubtest).
# Sections are grouped by capability, in the order of rust/calipers-py/src/lib.rs.
import numpy as np
import numpy.typing as npt

__version__: str

# --- threads ---
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- ot ---
def wasserstein_pp(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    p: float,
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
) -> float: ...
def wasserstein_pp_rows(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    p: float,
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
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

# --- tiny ---
def kmeans_anchors(
    x: npt.NDArray[np.float64],
    k: int,
    sample_weight: npt.NDArray[np.float64] | None = None,
    n_init: int = 5,
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
