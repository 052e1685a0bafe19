"""calipers: statistically sound, high-throughput evaluation of ML and LLM models.

Capabilities live in submodules (``calipers.ot``, ...); the numerical work runs in a Rust
core (``calipers._core``) with the GIL released.
"""

from __future__ import annotations

from . import dominance, exceptions, io, irt, ot, resample, tiny
from ._config import get_num_threads, set_num_threads
from ._core import __version__

__all__ = [
    "__version__",
    "dominance",
    "exceptions",
    "get_num_threads",
    "io",
    "irt",
    "ot",
    "resample",
    "set_num_threads",
    "tiny",
]
