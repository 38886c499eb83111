"""Zip archives by what they hold, not when or by which process they were written.

skops files are zips whose entries carry the time they were written, and whose schema and
array file names carry Python object ids (`id()`, different in every process): the same model
dumped twice gives different bytes. Canonical archives (fixed times, ids renumbered in order
of appearance) keep "same model, same content" true for determinism checks and registry
deduplication.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def _open(source: Path | bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)


def is_zip(source: Path | bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(source) if isinstance(source, bytes) else source)


def same_members(a: Path | bytes, b: Path | bytes) -> bool:
    """True when both archives hold the same content once made canonical."""
    try:
        return canonical(_read(a)) == canonical(_read(b))
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _read(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


def canonical(data: bytes) -> bytes:
    """The archive with fixed entry times and, for skops, object ids renumbered 1, 2, ...
    in the order the schema mentions them (array files renamed to match)."""
    with _open(data) as src:
        infos = src.infolist()
        members = {info.filename: src.read(info.filename) for info in infos}
        compress = {info.filename: info.compress_type for info in infos}
    renamed = {name: name for name in members}
    if "schema.json" in members:
        schema = json.loads(members["schema.json"])
        ids: dict[int, int] = {}
        files: dict[str, str] = {}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "__id__" and isinstance(value, int):
                        node[key] = ids.setdefault(value, len(ids) + 1)
                    elif key == "file" and isinstance(value, str) and value in members:
                        suffix = Path(value).suffix
                        node[key] = files.setdefault(value, f"{len(files) + 1}{suffix}")
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(schema)
        members["schema.json"] = json.dumps(schema, indent=2).encode()
        renamed.update(files)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for old in sorted(members, key=lambda n: renamed[n]):
            entry = zipfile.ZipInfo(renamed[old], date_time=_EPOCH)
            entry.compress_type = compress[old]
            out.writestr(entry, members[old])
    return buf.getvalue()


def normalize(path: Path) -> None:
    """Rewrite an archive in its canonical form, in place."""
    path.write_bytes(canonical(path.read_bytes()))
