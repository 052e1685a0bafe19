"""calipers: statistically sound, high-throughput evaluation of ML and LLM models.

Capabilities live in submodules (``calipers.ot``, ...); the numerical work runs in a Rust
core (``calipers._core``) with the GIL released. Submodules are imported on first use
(``calipers.resample`` or ``import calipers.resample``), so ``import calipers`` stays fast
and pulls in neither scipy.stats nor pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import exceptions
from ._config import get_num_threads, set_num_threads
from ._core import __version__

if TYPE_CHECKING:
    from . import dominance, fairness, geometry, io, irt, judge, ot, resample, scaling, tiny, weak

_LAZY_SUBMODULES = frozenset(
    {
        "dominance",
        "fairness",
        "geometry",
        "io",
        "irt",
        "judge",
        "ot",
        "resample",
        "tiny",
        "weak",
        "route",
        "prompts",
        "scaling",
    }
)

__all__ = [
    "__version__",
    "dominance",
    "exceptions",
    "fairness",
    "geometry",
    "get_num_threads",
    "io",
    "irt",
    "judge",
    "ot",
    "resample",
    "set_num_threads",
    "tiny",
    "weak",
    "route",
    "prompts",
    "scaling",
]


def __getattr__(name: str) -> Any:
    # PEP 562: import a capability the first time it is used.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)
