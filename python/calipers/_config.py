"""Process-wide settings."""

from __future__ import annotations

from . import _core
from ._validation import check_scalar


def set_num_threads(n: int) -> None:
    """Set the number of worker threads used by all later calipers calls.

    The default is the ``CALIPERS_NUM_THREADS`` environment variable, else every core.
    Results never depend on this number: seeded computations are bit-identical for any
    thread count. At most ``8 * cores`` (at least 64) threads are allowed; a larger
    ``CALIPERS_NUM_THREADS`` is capped there.
    """
    _core.set_num_threads(check_scalar(n, "n", kind=int, low=1, high=_core.max_num_threads()))


def get_num_threads() -> int:
    """The number of worker threads calipers uses."""
    return int(_core.get_num_threads())
