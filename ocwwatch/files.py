"""Every file ocwwatch writes goes through here: reports, the lock, the curated list, scenarios.

Owns the safe-write rule: a new file is created under a unique name in the target's folder
(O_CREAT|O_EXCL|O_NOFOLLOW), fsynced, renamed over the target, and the folder fsynced; a symlink
where a file goes is refused, never written through. Knows nothing of what the bytes mean; its
OSErrors leave only as FileWriteError, naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

from ocwwatch.errors import FileWriteError

NEW_FILE_MODE = 0o666  # narrowed by the umask, as for any file the process creates
_CREATE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_NAME_TRIES = 100  # 64 random bits a name: a clash means someone is planting files
_LINK_REFUSED = "it is a symlink, and ocwwatch does not write through links here; remove it"
_CAUSES = {
    errno.EROFS: "folder is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "over the disk quota",
}


def write_file(target: Path, data: bytes, *, what: str) -> None:
    """Replace `target` with `data` atomically: a reader sees the old file or the new one."""
    write_chunks(target, (data,), what=what)


def write_chunks(target: Path, chunks: Iterable[bytes], *, what: str) -> None:
    """`write_file` of bytes that come in pieces, never holding them all at once."""
    with stage_file(target, what=what) as (temporary, handle):
        handle.writelines(chunks)
    install_file(temporary, target, what=what)


def copy_file(source: Path, target: Path, *, what: str) -> None:
    """`write_file` of another file's bytes, copied without reading them whole."""
    with stage_file(target, what=what) as (temporary, handle), source.open("rb") as original:
        shutil.copyfileobj(original, handle)
    install_file(temporary, target, what=what)


@contextmanager
def stage_file(
    target: Path, *, what: str, mode: int = NEW_FILE_MODE
) -> Iterator[tuple[Path, BinaryIO]]:
    """A new, uniquely named hidden file beside `target`, open for writing; fsynced and closed
    when the block ends, removed if it raised. `install_file` puts it in place."""
    try:
        temporary, fd = _create_beside(target, mode)
    except OSError as exc:
        raise _error(target, what, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield temporary, handle
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _error(target, what, exc) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def install_file(temporary: Path, target: Path, *, what: str) -> None:
    """Rename a staged file over `target` and fsync the folder, so the rename survives a crash.

    A symlink at `target` is refused rather than replaced: rename never follows it, but a link
    there means someone expects the file elsewhere, and silently replacing it hides that.
    """
    if target.is_symlink():
        temporary.unlink(missing_ok=True)
        raise FileWriteError(f"{target}: cannot write {what}: {_LINK_REFUSED}")
    try:
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _error(target, what, exc) from exc
    try:
        sync_folder(target.parent)
    except OSError as exc:
        raise _error(target, what, exc) from exc


def rewrite_file(path: Path, data: bytes, *, what: str) -> None:
    """Replace the file `path` names as its owner left it: through a symlink, the file the link
    points to is rewritten (the link stays a link), with the old file's mode and, where the
    process may set it (as root), its owner and group."""
    try:
        real = path.resolve(strict=True)
        old = real.stat()
    except OSError as exc:
        raise _error(path, what, exc) from exc
    with stage_file(real, what=what, mode=stat.S_IMODE(old.st_mode)) as (temporary, handle):
        handle.write(data)
        keep_attributes(handle.fileno(), old)
    install_file(temporary, real, what=what)


def keep_attributes(fd: int, old: os.stat_result) -> None:
    """Give a new file the owner, group and mode of the one it replaces, as far as permitted."""
    with contextlib.suppress(PermissionError):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            os.fchown(fd, -1, old.st_gid)  # a user may still hand it to a group they are in
    # After the chown, which clears set-id bits, and in full: the umask narrowed os.open's mode.
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def open_lock_file(path: Path) -> IO[str]:
    """The writer lock's file, read-write, created if missing: never through a symlink, and only
    a plain file with no other name (a hard link would let the pid overwrite another file)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, NEW_FILE_MODE)
    except OSError as exc:
        raise _error(path, "the lock file", exc) from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise FileWriteError(
            f"{path}: cannot write the lock file: it is not a plain file of its own"
            " (a device, a FIFO or a hard link); remove it"
        )
    return os.fdopen(fd, "r+", encoding="utf-8")


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that the names created or renamed in it are on disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_beside(target: Path, mode: int) -> tuple[Path, int]:
    for _ in range(_NAME_TRIES):
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            return temporary, os.open(temporary, _CREATE, mode)
        except FileExistsError:
            continue  # a file or a link someone put there: never opened, another name is tried
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(target.parent))


def _error(path: Path, what: str, exc: OSError) -> FileWriteError:
    if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a link
        return FileWriteError(f"{path}: cannot write {what}: {_LINK_REFUSED}")
    cause = _CAUSES.get(exc.errno or 0) or exc.strerror or str(exc)
    number = f" (Errno {exc.errno})" if exc.errno else ""
    return FileWriteError(f"{path}: cannot write {what}: {cause}{number}")
