"""Inspect AI evaluation logs: ``.eval`` (zip) and ``.json`` files."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..exceptions import InvalidArgumentError
from ._common import (
    MetricChoice,
    choose_metric,
    expect_type,
    load_json_file,
    one_or_mapping,
    parse_json_text,
    score_matrix,
)
from .evaldata import EvalData

# The zip compression method number of Zstandard (APPNOTE 4.4.5).
_ZIP_ZSTANDARD = 93
# Inspect's letter grades and the numbers its default value_to_float gives them.
_GRADES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
_TRUE_WORDS = ("yes", "true")
_FALSE_WORDS = ("no", "false")
# Sample files inside a .eval archive: samples/<id>_epoch_<n>.json
_SAMPLE_ENTRY = re.compile(r"^samples/.+_epoch_\d+\.json$")
_RERUN = "re-run the evaluation or delete that log"
# Inspect names logs <ISO time>_<task>_<id>.json|.eval; other JSON files in a log folder (such
# as the viewer's logs.json listing) are not logs.
_LOG_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T.+_.+\.(json|eval)$")


@dataclasses.dataclass
class _Log:
    file: Path
    model: str
    task: str
    status: str
    created: str
    samples: list[dict[str, Any]]


def read_inspect(path: str | Path, *, scorer: MetricChoice = None) -> EvalData:
    """Read Inspect AI evaluation logs.

    Inspect writes one log per (task, model) run, as a ``.eval`` file (a zip archive holding
    ``header.json`` with the ``eval`` spec, and one ``samples/<id>_epoch_<n>.json`` per sample
    and epoch) or as a ``.json`` file (one EvalLog object with ``eval`` and a ``samples``
    list). From ``eval`` the reader takes ``model`` and ``task``; from each sample ``id``,
    ``epoch`` and ``scores`` (``{scorer name: {"value": ..., "answer": ..., ...}}``).

    Score values become numbers as Inspect's default ``value_to_float`` does: ``"C"``
    (correct) 1, ``"I"`` (incorrect) 0, ``"P"`` (partial) 0.5, ``"N"`` (no answer) 0;
    booleans 0/1; ``"yes"``/``"true"`` 1 and ``"no"``/``"false"`` 0; numbers and numeric
    strings as they are. A sample run for several epochs scores the mean over its epochs
    (Inspect's default ``mean`` reducer), so scores can be fractional.

    Parameters
    ----------
    path : str or Path
        A ``.eval`` or ``.json`` log, or a folder of logs (searched recursively; ``.json``
        files must carry Inspect's ``<time>_<task>_<id>`` names).
    scorer : str or sequence of str, optional
        The scorer whose values to read, when samples carry several (a sequence is an order of
        preference). Default: the first scorer of each task.

    Returns
    -------
    EvalData
        One row per ``eval.model``, items ``"<task>/<sample id>"``; ``scenario`` and
        ``subscenario`` are the task; ``metric`` the scorer (a mapping task -> scorer when tasks
        differ). When a folder holds several logs of one (model, task), a successful one is
        preferred, then the latest ``eval.created``. Samples without a value for the scorer
        (e.g. ones that errored) are NaN.

    Notes
    -----
    Inspect compresses ``.eval`` archives with Zstandard (older versions used deflate). Python
    reads those from version 3.14 on; before that, the optional ``zstandard`` package is used
    (``pip install zstandard``), or the log can be converted with
    ``inspect log convert --to json``.

    Scores whose value is a list or a dict (one scorer giving several numbers) are refused with
    an error, as are strings Inspect itself could not convert.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidArgumentError(f"path: {root} does not exist; check the path")
    files = _log_files(root)
    logs = _latest_per_run([_read_log(f) for f in files])
    cells: dict[str, dict[str, float]] = {}
    labels: dict[str, tuple[str, str]] = {}
    chosen: dict[str, str] = {}
    for log in logs:
        name = _choose_scorer(log, scorer)
        if log.task in chosen and chosen[log.task] != name:
            raise InvalidArgumentError(
                f"{log.file}: task {log.task!r} is scored by {name!r} here but by "
                f"{chosen[log.task]!r} in another log; pass scorer=... to choose one for all"
            )
        chosen[log.task] = name
        row = cells.setdefault(log.model, {})
        for sample_id, value in _sample_scores(log, name).items():
            item = f"{log.task}/{sample_id}"
            row[item] = value
            labels.setdefault(item, (log.task, log.task))
    return score_matrix(
        dict(sorted(cells.items())),
        labels,
        metric=one_or_mapping(chosen),
        source=str(root),
        empty_fix="the logs hold no scored samples (were they written with --no-log-samples?)",
    )


def _log_files(root: Path) -> list[Path]:
    if root.is_file():
        if root.suffix not in (".eval", ".json"):
            raise InvalidArgumentError(
                f"path: {root} is neither a .eval nor a .json Inspect log; pass a log file or "
                "the log folder (inspect eval --log-dir)"
            )
        return [root]
    files = sorted(
        f
        for f in root.rglob("*")
        if f.suffix == ".eval" or (f.suffix == ".json" and _LOG_NAME.match(f.name))
    )
    if not files:
        raise InvalidArgumentError(
            f"path: no Inspect logs (.eval, or <time>_<task>_<id>.json) in {root} or its "
            "sub-folders; pass the folder given to inspect eval --log-dir"
        )
    return files


def _read_log(file: Path) -> _Log:
    if file.suffix == ".eval":
        header, samples = _read_eval_archive(file)
    else:
        header = load_json_file(file, _RERUN)
        fix = "is this an Inspect EvalLog written with --log-format json?"
        expect_type(header, dict, str(file), "the content", fix)
        samples = header.get("samples")
        if samples is None:
            raise InvalidArgumentError(
                f"{file}: the log has no 'samples' (status {header.get('status')!r}); it was "
                "written without samples (--no-log-samples) or the run did not finish; " + _RERUN
            )
        expect_type(samples, list, str(file), "'samples'", fix)
    spec = expect_type(header.get("eval"), dict, str(file), "'eval'", _RERUN)
    model = expect_type(spec.get("model"), str, str(file), "'eval.model'", _RERUN)
    task = expect_type(spec.get("task"), str, str(file), "'eval.task'", _RERUN)
    return _Log(
        file=file,
        model=model,
        task=task,
        status=str(header.get("status", "")),
        created=str(spec.get("created", "")),
        samples=samples,
    )


def _read_eval_archive(file: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, samples) of a ``.eval`` zip. An unfinished run has no ``header.json`` yet; its
    ``_journal/start.json`` holds the same ``eval`` spec."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            header_name = next(
                (n for n in ("header.json", "_journal/start.json") if n in names), None
            )
            if header_name is None:
                raise InvalidArgumentError(
                    f"{file}: the archive has no header.json (nor _journal/start.json), so it "
                    f"names no model or task; it is not an Inspect .eval log, or a damaged "
                    f"one; {_RERUN}"
                )
            header = _archive_json(archive, header_name, file)
            expect_type(header, dict, f"{file}: {header_name}", "the content", _RERUN)
            samples = [
                _archive_json(archive, n, file) for n in sorted(names) if _SAMPLE_ENTRY.match(n)
            ]
    except zipfile.BadZipFile as exc:
        raise InvalidArgumentError(
            f"{file}: is not a readable zip archive ({exc}); a .eval log is a zip written by "
            f"Inspect, this one may be truncated; {_RERUN}"
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(f"{file}: could not be read ({exc})") from None
    return header, samples


def _archive_json(archive: zipfile.ZipFile, name: str, file: Path) -> Any:
    try:
        try:
            data = archive.read(name)
        except NotImplementedError:
            # zipfile reads zstd entries from Python 3.14 on only
            data = _read_zstd_entry(archive.getinfo(name), file)
        text = data.decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise InvalidArgumentError(
            f"{file}: entry {name} could not be read ({exc}); {_RERUN}"
        ) from None
    return parse_json_text(text, f"{file}: entry {name}", _RERUN)


def _read_zstd_entry(info: zipfile.ZipInfo, file: Path) -> bytes:
    """The content of a Zstandard-compressed archive entry (what Inspect writes since 2025),
    decompressed with the optional ``zstandard`` package."""
    if info.compress_type != _ZIP_ZSTANDARD:
        raise InvalidArgumentError(
            f"{file}: entry {info.filename} uses zip compression method {info.compress_type}, "
            "which Python cannot read; re-save the log with inspect log convert"
        )
    try:
        import zstandard
    except ImportError:
        raise InvalidArgumentError(
            f"{file}: the log is Zstandard-compressed (as Inspect writes .eval logs); reading it "
            "needs Python 3.14 or the zstandard package: pip install zstandard (or convert it "
            "with inspect log convert --to json)"
        ) from None
    with open(file, "rb") as fh:
        fh.seek(info.header_offset)
        local_header = fh.read(30)
        if local_header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header of entry {info.filename}")
        name_length, extra_length = struct.unpack("<HH", local_header[26:30])
        fh.seek(info.header_offset + 30 + name_length + extra_length)
        compressed = fh.read(info.compress_size)
    try:
        # Inspect writes large entries as several zstd frames.
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(compressed), read_across_frames=True
        )
        return reader.read()
    except zstandard.ZstdError as exc:
        raise zipfile.BadZipFile(f"entry {info.filename}: {exc}") from None


def _latest_per_run(logs: list[_Log]) -> list[_Log]:
    """One log per (model, task): a successful one first, then the latest created."""
    best: dict[tuple[str, str], _Log] = {}
    for log in logs:
        key = (log.model, log.task)
        current = best.get(key)
        if current is None or _rank(log) > _rank(current):
            best[key] = log
    return sorted(best.values(), key=lambda log: (log.task, log.model))


def _rank(log: _Log) -> tuple[bool, str]:
    return (log.status == "success", log.created)


def _samples_of(log: _Log) -> Iterator[tuple[int, dict[str, Any]]]:
    for k, sample in enumerate(log.samples):
        where = f"{log.file}: sample {k}"
        fix = "each sample needs 'id', 'epoch' and 'scores'; " + _RERUN
        expect_type(sample, dict, where, "the sample", fix)
        if "id" not in sample:
            raise InvalidArgumentError(f"{where} has no 'id'; {fix}")
        scores = sample.get("scores")
        if scores is not None:
            expect_type(scores, dict, f"{where} (id {sample['id']!r})", "'scores'", fix)
        yield k, sample


def _choose_scorer(log: _Log, scorer: MetricChoice) -> str:
    available: dict[str, None] = {}
    for _, sample in _samples_of(log):
        available.update(dict.fromkeys(sample.get("scores") or {}))
    return choose_metric(list(available), scorer, (), f"{log.file} (task {log.task!r})", "scorer")


def _sample_scores(log: _Log, scorer: str) -> dict[str, float]:
    """{sample id: mean over epochs of the scorer's value}."""
    per_sample: dict[str, dict[Any, float]] = {}
    for k, sample in _samples_of(log):
        epochs = per_sample.setdefault(str(sample["id"]), {})
        epoch = sample.get("epoch", 1)
        if epoch in epochs:
            raise InvalidArgumentError(
                f"{log.file}: sample {sample['id']!r} epoch {epoch} appears twice (sample {k}); "
                + _RERUN
            )
        score = (sample.get("scores") or {}).get(scorer)
        value = score.get("value") if isinstance(score, dict) else None
        epochs[epoch] = math.nan if score is None else _value_to_float(value, log, sample)
    return {
        sample_id: _mean_ignoring_nan(values.values()) for sample_id, values in per_sample.items()
    }


def _value_to_float(value: Any, log: _Log, sample: dict[str, Any]) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value in _GRADES:
            return _GRADES[value]
        if value.lower() in _TRUE_WORDS:
            return 1.0
        if value.lower() in _FALSE_WORDS:
            return 0.0
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise InvalidArgumentError(
        f"{log.file}: sample {sample.get('id')!r} epoch {sample.get('epoch', 1)}: score value "
        f"{str(value)[:40]!r} ({type(value).__name__}) is not a grade (C/I/P/N), a boolean or a "
        "number; calipers reads one number per sample, choose another scorer with scorer=..."
    )


def _mean_ignoring_nan(values: Any) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan
