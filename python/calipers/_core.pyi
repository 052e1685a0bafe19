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
