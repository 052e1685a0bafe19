"""The container every reader returns: :class:`EvalData`, a models x items score matrix."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._optional import require
from ..exceptions import InvalidArgumentError, ShapeError

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True, repr=False)
class EvalData:
    """A models x items score matrix with names and item labels.

    Attributes
    ----------
    scores : ndarray of shape (n_models, n_items)
        float64 scores (0/1 correctness or fractional scores); NaN marks a missing response.
    models : list of str
        Row names.
    items : list of str
        Column names (unique item ids).
    scenario : ndarray of str of shape (n_items,) or None
        Benchmark / scenario of each item (e.g. ``mmlu``).
    subscenario : ndarray of str of shape (n_items,) or None
        Sub-scenario of each item (e.g. ``mmlu_anatomy``).
    metric : str, dict or None
        The metric the scores measure: one name, or a mapping scenario -> metric name.
    source : str or None
        Where the data was read from.
    """

    scores: np.ndarray
    models: list[str]
    items: list[str]
    scenario: np.ndarray | None = None
    subscenario: np.ndarray | None = None
    metric: str | dict[str, str] | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        n_models, n_items = self.scores.shape
        if len(self.models) != n_models or len(self.items) != n_items:
            raise ShapeError(
                f"EvalData: scores has shape {self.scores.shape} but {len(self.models)} model "
                f"names and {len(self.items)} item names were given; pass one name per row/column"
            )
        for name in ("scenario", "subscenario"):
            labels = getattr(self, name)
            if labels is not None and len(labels) != n_items:
                raise ShapeError(
                    f"EvalData: {name} has {len(labels)} labels for {n_items} items; "
                    "pass one label per item"
                )
        _check_unique(self.models, "models", "model names")
        _check_unique(self.items, "items", "item ids")

    @property
    def shape(self) -> tuple[int, int]:
        """(n_models, n_items)."""
        return self.scores.shape  # type: ignore[return-value]

    @property
    def scenarios(self) -> list[str]:
        """Scenario names in order of first appearance (empty when there are no labels)."""
        if self.scenario is None:
            return []
        return list(dict.fromkeys(self.scenario.tolist()))

    def select(
        self, models: Sequence[str] | None = None, items: Sequence[str] | None = None
    ) -> EvalData:
        """A copy restricted to (and ordered by) the given model names and item ids."""
        rows = _positions(self.models, models, "models") if models is not None else None
        cols = _positions(self.items, items, "items") if items is not None else None
        scores = self.scores if rows is None else self.scores[rows]
        scores = scores if cols is None else scores[:, cols]

        def pick(labels: np.ndarray | None) -> np.ndarray | None:
            return None if labels is None or cols is None else labels[cols]

        return dataclasses.replace(
            self,
            scores=np.ascontiguousarray(scores),
            models=list(self.models) if models is None else list(models),
            items=list(self.items) if items is None else list(items),
            scenario=self.scenario if cols is None else pick(self.scenario),
            subscenario=self.subscenario if cols is None else pick(self.subscenario),
        )

    def to_wide(self) -> pd.DataFrame:
        """The matrix as a DataFrame (index = models, columns = items)."""
        pd = require("pandas", "EvalData.to_wide")
        frame = pd.DataFrame(self.scores, index=pd.Index(self.models, name="model"))
        frame.columns = pd.Index(self.items, name="item")
        return frame

    def to_long(self) -> pd.DataFrame:
        """One row per observed (model, item) with scenario labels where known."""
        pd = require("pandas", "EvalData.to_long")
        rows, cols = np.nonzero(~np.isnan(self.scores))
        frame = pd.DataFrame(
            {
                "model": np.asarray(self.models, dtype=object)[rows],
                "item": np.asarray(self.items, dtype=object)[cols],
                "score": self.scores[rows, cols],
            }
        )
        if self.scenario is not None:
            frame["scenario"] = self.scenario[cols]
        if self.subscenario is not None:
            frame["subscenario"] = self.subscenario[cols]
        return frame

    def to_frame(self, kind: str = "long", backend: str = "pandas") -> Any:
        """The data as a table of the chosen kind and library.

        Parameters
        ----------
        kind : {"long", "wide"}, default "long"
            ``"long"``: one row per observed (model, item) with columns ``model``, ``item``,
            ``score`` and ``scenario`` / ``subscenario`` where known (:meth:`to_long`).
            ``"wide"``: one row per model, one column per item (:meth:`to_wide`); with polars,
            which has no index, the model names are a first column ``model``.
        backend : {"pandas", "polars"}, default "pandas"
            The table library; polars is optional and imported only here.

        Returns
        -------
        pandas.DataFrame or polars.DataFrame
            Either reads back with :func:`calipers.io.read_results`.
        """
        if kind not in ("long", "wide"):
            raise InvalidArgumentError(f"kind: must be 'long' or 'wide', got {kind!r}")
        if backend not in ("pandas", "polars"):
            raise InvalidArgumentError(f"backend: must be 'pandas' or 'polars', got {backend!r}")
        frame = self.to_long() if kind == "long" else self.to_wide()
        if backend == "pandas":
            return frame
        try:
            import polars as pl
        except ImportError:
            raise InvalidArgumentError(
                "backend: 'polars' needs the polars package; pip install polars, or use "
                "backend='pandas'"
            ) from None
        if kind == "wide":
            frame = frame.reset_index()
            frame.columns = [str(c) for c in frame.columns]
        return pl.from_pandas(frame)

    def __repr__(self) -> str:
        n_missing = int(np.isnan(self.scores).sum())
        parts = [f"{self.shape[0]} models x {self.shape[1]} items", f"{n_missing} missing"]
        if self.scenario is not None:
            parts.append(f"{len(self.scenarios)} scenarios")
        if self.metric is not None:
            parts.append(f"metric={self.metric!r}")
        if self.source is not None:
            parts.append(f"source={self.source!r}")
        return f"EvalData({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Small helpers


def _check_unique(names: Sequence[str], where: str, what: str) -> None:
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise InvalidArgumentError(f"{where}: {what} must be unique; {dup!r} appears twice")


def _positions(names: Sequence[str], wanted: Sequence[str], what: str) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise InvalidArgumentError(
            f"{what}: {len(missing)} unknown name(s), e.g. {list(missing[:3])}; use names from "
            f"EvalData.{what}"
        )
    return np.asarray([index[w] for w in wanted], dtype=np.intp)


# --------------------------------------------------------------------------------------------
# Tables from other libraries

# Libraries whose tables are accepted wherever a pandas DataFrame is; each is converted with its
# own to_pandas(), so one parser reads them all. Neither is imported unless such a table is
# passed.
_TABLE_LIBRARIES = ("polars", "pyarrow")


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is a pandas, polars or pyarrow table (none of them is imported)."""
    # By the class's module, so that none of the libraries is imported; the MRO walk keeps
    # DataFrame subclasses (geopandas and the like) tables too.
    if any(_is_pandas_frame_class(cls) for cls in type(obj).__mro__):
        return True
    library = type(obj).__module__.split(".", 1)[0]
    return library in _TABLE_LIBRARIES and type(obj).__name__ in (
        "DataFrame",
        "LazyFrame",
        "Table",
        "RecordBatch",
    )


def _is_pandas_frame_class(cls: type) -> bool:
    return cls.__name__ == "DataFrame" and cls.__module__.split(".", 1)[0] == "pandas"


def as_pandas(obj: Any) -> pd.DataFrame:
    """A pandas DataFrame from a pandas, polars (eager or lazy) or pyarrow table."""
    pd = require("pandas", f"reading a {type(obj).__name__}")
    if isinstance(obj, pd.DataFrame):
        return obj
    if type(obj).__name__ == "LazyFrame":
        obj = obj.collect()
    try:
        return obj.to_pandas()
    except ImportError as exc:
        # polars converts through pyarrow
        raise InvalidArgumentError(
            f"source: converting a {type(obj).__name__} to pandas needs pyarrow ({exc}); "
            "pip install pyarrow"
        ) from None
