"""The one base class of calipers' estimators: the scikit-learn protocol written once.

Parameters are the ``__init__`` arguments, stored unchanged under their own names (the
scikit-learn rule that makes ``get_params``, ``set_params`` and ``sklearn.base.clone`` work);
learned attributes end in ``_``. This module needs no scikit-learn: the protocol is duck-typed,
so ``clone`` works on these estimators and calipers does not depend on scikit-learn for it.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, TypeVar

from .exceptions import InvalidArgumentError, NotFittedError

Self = TypeVar("Self", bound="Estimator")


class Estimator:
    """``get_params``/``set_params``/``__repr__``/``_check_fitted`` for every estimator.

    A subclass sets ``_fitted_attribute`` to an attribute that ``fit`` creates (used by
    ``_check_fitted``). A keyword renamed for consistency is taken through ``**renamed`` in
    the subclass's ``__init__`` and :func:`renamed_keyword` (it is not a parameter).
    """

    _fitted_attribute: str = ""
    _fit_hint: str = "call fit(...) first"

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn protocol); nested estimators' parameters
        appear as ``name__param`` when ``deep``."""
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    for sub, sub_value in value.get_params(deep=True).items():
                        params[f"{name}__{sub}"] = sub_value
        return params

    def set_params(self: Self, **params: Any) -> Self:
        """Set constructor arguments (``name`` or ``name__param`` for nested estimators);
        returns self."""
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise InvalidArgumentError(
                    f"{key}: not a parameter of {type(self).__name__}; valid ones are "
                    f"{sorted(valid)}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not self._fitted_attribute or not hasattr(self, self._fitted_attribute):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; {self._fit_hint}")


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value is default or value == default)
    except (ValueError, TypeError):  # arrays compare elementwise
        return False


def renamed_keyword(
    owner: str, renamed: dict[str, Any], old: str, new: str, value: Any, default: Any = None
) -> Any:
    """The value of keyword ``new``, taking the deprecated ``old`` from ``renamed`` (with a
    FutureWarning) when given; any other leftover keyword is an error naming it. Both names at
    once is an error, detectable when ``new`` differs from its ``default``."""
    unknown = sorted(set(renamed) - {old})
    if unknown:
        raise TypeError(f"{owner}() got an unexpected keyword argument {unknown[0]!r}")
    if old not in renamed:
        return value
    if not _same(value, default):
        raise InvalidArgumentError(f"{old}: is the old name of {new}; pass only {new}")
    warnings.warn(
        f"{owner}({old}=...) is deprecated; use {new}=... (scikit-learn's name for an "
        "estimator's seed). The old name will be removed in a future release.",
        FutureWarning,
        stacklevel=3,
    )
    return renamed[old]
