"""The run directory's files on a local disk or on cloud storage (``gs://...``) alike.

Every file goes through etils ``epath``. Cloud objects cannot be appended to or renamed: a JSON
file is replaced whole (locally through a temporary file and a rename, so a kill leaves the old
file or the new one), an append rewrites the object, and text written all through a run (the
log, the metrics) is kept in memory by :class:`TextSink` and uploaded now and then.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from etils import epath

__all__ = [
    "TMP_SUFFIX",
    "TextSink",
    "append_text",
    "is_remote",
    "parse_jsonl",
    "read_json",
    "read_jsonl",
    "write_json",
]

TMP_SUFFIX = ".tmp"
"""How the name of every temporary file written here ends (a kill may leave one behind)."""


def is_remote(path: str | os.PathLike) -> bool:
    """A cloud path (``gs://``, ``s3://`` ...) rather than a local one."""
    return "://" in os.fspath(path)


def _tmp_name(path: epath.Path) -> epath.Path:
    """A temporary name per process: several processes may write the same file."""
    return path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")


def _replace_text(path: epath.Path, text: str) -> None:
    if is_remote(path):
        path.write_text(text)  # one upload replaces the object whole
        return
    tmp = _tmp_name(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: epath.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON, whole or not at all."""
    _replace_text(epath.Path(path), json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: epath.PathLike) -> Any:
    return json.loads(epath.Path(path).read_text())


def append_text(path: epath.PathLike, text: str) -> None:
    """Append ``text`` (locally an append, which a kill can only truncate; a cloud object is
    rewritten with it)."""
    path = epath.Path(path)
    if is_remote(path):
        path.write_text((path.read_text() if path.exists() else "") + text)
        return
    with open(path, "a") as f:
        f.write(text)


def parse_jsonl(text: str) -> list[Any]:
    """The records of JSON lines (a truncated line, from a kill, is skipped)."""
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def read_jsonl(path: epath.PathLike) -> list[Any]:
    """:func:`parse_jsonl` of the file at ``path`` (none: no records)."""
    path = epath.Path(path)
    return parse_jsonl(path.read_text()) if path.exists() else []


class TextSink:
    """Append-only text at ``path`` (the log, the metrics): a local file opened for appending,
    or a cloud object kept in memory and rewritten whole at most every ``flush_s`` seconds and
    on :meth:`close`."""

    def __init__(self, path: epath.PathLike, *, flush_s: float = 30.0):
        self.path = epath.Path(path)
        self.remote = is_remote(self.path)
        self.flush_s = flush_s
        self._text = ""
        self._dirty = False
        self._last = time.monotonic()
        self._file: Any = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.remote:
            self._text = self.path.read_text() if self.path.exists() else ""
        else:
            self._file = open(self.path, "a")  # noqa: SIM115 - kept open for the run

    def write(self, text: str) -> None:
        if self._file is not None:
            self._file.write(text)
            self._file.flush()
            return
        self._text += text
        self._dirty = True
        self.flush()

    def read(self) -> str:
        """Everything written so far (uploaded or not)."""
        return self._text if self._file is None else self.path.read_text()

    def flush(self, force: bool = False) -> None:
        """Upload a cloud object if ``flush_s`` has passed since the last upload (or ``force``)."""
        if self._dirty and (force or time.monotonic() - self._last >= self.flush_s):
            self.path.write_text(self._text)
            self._dirty, self._last = False, time.monotonic()

    def replace(self, text: str) -> None:
        """Replace the whole content with ``text``."""
        if self._file is None:
            self._text, self._dirty = text, True
            self.flush(force=True)
            return
        self._file.close()
        _replace_text(self.path, text)
        self._file = open(self.path, "a")  # noqa: SIM115

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.flush(force=True)
