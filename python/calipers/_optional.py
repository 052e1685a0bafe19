"""Optional dependencies: `pip install calipers` needs numpy and scipy only.

Each feature that needs more names its extra: `calipers[io]` (pandas, pyarrow),
`calipers[report]` (matplotlib, pandas, tqdm, scikit-learn for the example),
`calipers[sklearn]`, `calipers[dask]`, `calipers[torch]`; `calipers[all]` is all but torch.
A missing one raises an ImportError that says which extra installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# The extra that installs each optional module (its top-level import name).
EXTRA_OF = {
    "pandas": "io",
    "pyarrow": "io",
    "polars": "io",
    "matplotlib": "report",
    "tqdm": "report",
    "sklearn": "report",
    "dask": "dask",
    "torch": "torch",
}


def require(module: str, feature: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"pandas"`` or ``"matplotlib.figure"``) for ``feature``, or
    raise an ImportError naming the extra that provides it (``extra``, else the module's
    default extra in ``EXTRA_OF``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        extra = extra or EXTRA_OF.get(top, "all")
        raise ImportError(
            f"{feature} needs {top}, which is not installed: pip install 'calipers[{extra}]' "
            f"(or 'calipers[all]')"
        ) from exc
