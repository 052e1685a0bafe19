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
