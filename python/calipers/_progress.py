"""The one progress convention of calipers: ``progress=False | True | callable(done, total)``.

``False`` (or None) reports nothing; ``True`` shows a tqdm bar (the ``[report]`` extra); a
callable is called between batches of the work with the amount done and the total. Raising in
the callable (or pressing Ctrl-C) stops the computation; the exception propagates unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .exceptions import InvalidArgumentError

Progress = bool | Callable[[int, int], Any] | None
Callback = Callable[[int, int], Any]


@contextlib.contextmanager
def progress_callback(
    progress: Progress, desc: str, unit: str = "step"
) -> Iterator[Callback | None]:
    """Yield the ``(done, total)`` callback for ``progress`` (None when it is off); a bar
    opened for ``True`` is closed when the block ends, also on error."""
    if progress is None or progress is False:
        yield None
        return
    if progress is True:
        from ._optional import require

        tqdm = require("tqdm.auto", "progress=True").tqdm
        bar = tqdm(total=1, desc=desc, unit=unit)

        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            yield update
        finally:
            bar.close()
        return
    if callable(progress):
        yield progress
        return
    raise InvalidArgumentError(
        f"progress: expected False, True or a callable(done, total), got {type(progress).__name__}"
    )
