"""Writing a version's exact files out of the store, verified, for tools that want a folder."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlcd.data.manifest import DatasetVersion, FileEntry
from mlcd.errors import BackendError, IntegrityError, NotFoundError, SourceError
from mlcd.store import ObjectStore


def materialize(version: DatasetVersion, store: ObjectStore, dest: Path, workers: int = 8) -> int:
    """Write every file of `version` under `dest` at its original relative path; returns bytes.

    `dest` must be new or empty, so that the folder holds exactly the version afterwards. The
    files are written into a hidden sibling folder that is renamed to `dest` once all of them
    are verified, so a failure (a damaged blob, a full disk, Ctrl-C) leaves nothing behind. A
    mount point (Docker's `-v host:/data`), or a folder that only itself can be written, cannot
    be replaced by a rename: it is filled in place and emptied again on failure.
    """
    if dest.is_symlink():  # a link to an empty folder: the folder is replaced, not the link
        dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise _not_empty(dest)
    made = _missing_parents(dest)
    root = None
    try:
        root = _writable_root(dest)
        _write_files(version, store, root, workers)
        if root != dest:
            _move_into_place(root, dest)
    except BaseException:
        if root == dest:
            _empty(dest)
        elif root is not None:
            shutil.rmtree(root, ignore_errors=True)
        for folder in made:  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return sum(f.size for f in version.files)


def _writable_root(dest: Path) -> Path:
    """A new hidden folder beside `dest`; `dest` itself if it is a mount point or only it is
    writable."""
    if dest.is_dir() and os.path.ismount(dest):  # also true when its device is not its parent's
        return dest
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        return tmp
    except PermissionError as exc:
        if dest.is_dir() and os.access(dest, os.W_OK | os.X_OK):
            return dest
        raise _unwritable(dest, exc) from exc
    except OSError as exc:
        raise _unwritable(dest, exc) from exc


def _write_files(version: DatasetVersion, store: ObjectStore, root: Path, workers: int) -> None:
    root = root.resolve()
    targets = []
    for f in version.files:
        target = (root / f.path).resolve()
        if not target.is_relative_to(root):  # a manifest path must never escape dest
            raise SourceError(f"{version.ref} holds an unsafe path {f.path!r}")
        targets.append((f, target))

    def fetch(item: tuple[FileEntry, Path]) -> None:
        f, target = item
        try:
            store.get_file(f.blob, target)
        except (IntegrityError, NotFoundError) as exc:  # the store names the blob; add the file
            raise type(exc)(f"{version.ref}: {f.path}: {exc.message}", hint=exc.hint) from exc
        except OSError as exc:
            raise BackendError(f"cannot write {target}: {exc.strerror or exc}") from exc

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(fetch, item) for item in targets]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # files not begun are not written
            raise


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename the finished folder to `dest`, which may be an empty folder (POSIX replaces it)."""
    try:
        if dest.is_dir():
            tmp.chmod(dest.stat().st_mode & 0o7777)  # the empty folder's permissions stay
        os.rename(tmp, dest)
    except OSError as exc:
        if dest.is_dir() and any(dest.iterdir()):  # filled by someone else meanwhile
            raise _not_empty(dest) from exc
        if exc.errno in (errno.EBUSY, errno.EXDEV) and dest.is_dir():
            _move_contents(tmp, dest)  # a mount point ismount() missed: a bind mount, say
            return
        raise _unwritable(dest, exc) from exc


def _move_contents(tmp: Path, dest: Path) -> None:
    """Move what `tmp` holds into the empty `dest` (copying across devices); all or nothing."""
    try:
        for entry in list(tmp.iterdir()):
            shutil.move(entry, dest / entry.name)
        tmp.rmdir()
    except OSError as exc:
        _empty(dest)
        raise _unwritable(dest, exc) from exc
    except BaseException:
        _empty(dest)
        raise


def _empty(dest: Path) -> None:
    """Remove what a folder that was empty before materialize holds: all of it is ours."""
    for entry in list(dest.iterdir()):
        _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _missing_parents(dest: Path) -> list[Path]:
    """The folders above `dest` that do not exist yet, deepest first."""
    missing = []
    for folder in dest.absolute().parents:
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _not_empty(dest: Path) -> SourceError:
    return SourceError(
        f"destination {dest} exists and is not an empty folder",
        hint="choose a new folder; materialize never overwrites files",
    )


def _unwritable(dest: Path, exc: OSError) -> BackendError:
    """A destination that cannot be created: under a file, unwritable, on a full disk."""
    reason = exc.strerror or str(exc)
    for folder in [dest, *dest.parents]:
        if folder.exists():
            if not folder.is_dir():
                reason = f"{folder} is a file, not a folder"
            break
    return BackendError(
        f"cannot write the destination {dest}: {reason}",
        hint="choose a new or empty folder in a place you can write to",
    )
