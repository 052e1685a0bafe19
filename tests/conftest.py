"""Shared test fixtures: real data from ../shared/data, thread-count helpers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import calipers

# CALIPERS_SHARED_DATA points elsewhere (e.g. from a worktree not beside shared/).
SHARED_DATA = Path(
    os.environ.get("CALIPERS_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder; tests using it skip when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the project)")
    return SHARED_DATA


@contextlib.contextmanager
def num_threads(n: int):
    """Run a block with calipers using ``n`` threads, restoring the previous count after."""
    before = calipers.get_num_threads()
    calipers.set_num_threads(n)
    try:
        yield
    finally:
        calipers.set_num_threads(before)
