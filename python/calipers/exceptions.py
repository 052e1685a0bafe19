"""Exceptions and warnings raised by calipers.

Every input error is a subclass of :class:`ValueError`, so ``except ValueError`` keeps
working, while the specific classes let callers react to one kind of problem.
"""

from __future__ import annotations

__all__ = [
    "CalipersError",
    "ConvergenceWarning",
    "InvalidArgumentError",
    "MemoryBudgetError",
    "NonFiniteError",
    "NotFittedError",
    "NumericalError",
    "ShapeError",
]


class CalipersError(Exception):
    """Base class of every exception raised by calipers."""


class InvalidArgumentError(CalipersError, ValueError):
    """An argument has an invalid value; the message names it and the fix."""


class ShapeError(InvalidArgumentError):
    """Array shapes or lengths do not fit together, or an array is empty."""


class NonFiniteError(InvalidArgumentError):
    """NaN or infinite values where finite ones are required."""


class MemoryBudgetError(InvalidArgumentError, MemoryError):
    """The requested work would need more memory than calipers allows one call to take.

    The budget is the machine's physical memory, or ``CALIPERS_MAX_MEMORY`` (bytes, or with a
    K/M/G/T suffix) when set. The message names the argument that sized the allocation.
    """


class NumericalError(CalipersError, ArithmeticError):
    """The computation itself failed (singular system, breakdown of an iteration)."""


class NotFittedError(CalipersError, ValueError, AttributeError):
    """An estimator was used before ``fit`` was called (as in scikit-learn)."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance."""
