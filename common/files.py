"""Atomic file output, the one implementation every package uses.

* A reader never sees half a file or half a folder: everything is written under a hidden
  temporary name next to its target and renamed into place when complete.
* A failed or interrupted write leaves the previous output (if any) untouched, and no
  temporary behind; a temporary left by a *killed* process (SIGKILL, power loss) carries that
  process's id and is removed by the next write to the same target once the process is gone.
* gilt never replaces what it did not write: a folder is replaced whole only when it is empty
  or carries gilt's marker file (:data:`MARKER`), and a folder is never put where a file is.
* Several outputs of one command are committed together (:class:`PendingOutputs`): each is
  fully written to its temporary first, so a full disk or an unwritable path fails before any
  target changes.
* Results have the permissions of a normally created file (``mkstemp`` alone gives 0600).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Marker file in every folder gilt writes whole; such a folder may be replaced by the next run.
MARKER = ".gilt-output"
#: Leftovers of old gilt versions carry no process id; removed once this old (seconds).
_LEGACY_AGE_S = 3600.0


class OutputPathError(ValueError):
    """An output path that gilt must not or cannot write (names the path and the reason)."""


# ---------------------------------------------------------------------------- plumbing
def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide and racy in threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while a temporary is created and recorded (or a folder
    swapped), so Ctrl-C cannot land between the two and leave it behind; a signal that came
    meanwhile is delivered on leaving."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` itself (no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _leftover_pattern(name: str) -> re.Pattern:
    """Names of temporaries and backups of target ``name``: ``.NAME.staging-PID-XXXXXXXX``,
    ``.NAME.old-PID``, ``.NAME.PID.XXXXXXXX.tmp``; and, without a process id, the names
    earlier versions used: ``.NAME.tmp-XXXXXXXX``, ``.NAME.staging-XXXXXXXX``,
    ``.NAME.XXXXXXXX.tmp``."""
    n = re.escape(name)
    rand = "[a-z0-9_]{8}"  # tempfile's random part
    return re.compile(rf"^\.{n}\.(?:staging-(?P<spid>\d+)-{rand}|old-(?P<opid>\d+)|"
                      rf"(?P<fpid>\d+)\.{rand}\.tmp|(?P<legacy>(?:staging|tmp)-{rand}|"
                      rf"{rand}\.tmp))$")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_leftovers(target: str | os.PathLike) -> list[Path]:
    """Remove temporaries and backups of ``target`` whose writer process is gone; a backup of
    a folder whose swap was cut between its two renames is put back first. Returns what was
    removed or restored. Safe while other processes write the same target (their process ids
    are alive); call it holding the parent's lock when a swap may run concurrently."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return []
    pattern = _leftover_pattern(target.name)
    done = []
    now = time.time()
    for entry in sorted(parent.iterdir()):
        m = pattern.match(entry.name)
        if not m:
            continue
        pid = m.group("spid") or m.group("opid") or m.group("fpid")
        if pid is not None:
            if _pid_alive(int(pid)):
                continue
        else:
            try:
                if now - entry.lstat().st_mtime < _LEGACY_AGE_S:
                    continue
            except FileNotFoundError:
                continue
        if m.group("opid") and not os.path.lexists(target):
            os.replace(entry, target)  # the swap died after moving the old folder aside
        else:
            _remove(entry)
        done.append(entry)
    return done


# ---------------------------------------------------------------------------- checks
def check_output_file(path: str | os.PathLike, *, what: str = "output file") -> Path:
    """Refuse, before any work is done, a file path that cannot be written: an existing folder,
    a parent that is a file, or a folder that is read-only or not writable. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} is a folder; give a file name")
    if path.name in ("", ".", ".."):
        raise OutputPathError(f"{what} {str(path)!r} has no file name")
    _check_creatable_parent(path, what)
    return path


def check_output_dir(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Refuse, before any work is done, a folder path gilt must not replace: an existing file
    (never turned into a folder), a non-empty folder gilt did not write (no :data:`MARKER`),
    or a place that is not writable. Creates nothing."""
    path = Path(path)
    if os.path.lexists(path):
        if path.is_symlink() or not path.is_dir():
            raise OutputPathError(f"{what} {str(path)!r} exists and is not a folder; gilt never "
                                  "replaces a file with a folder: remove it or choose another "
                                  "path")
        if not _owned(path):
            raise OutputPathError(f"{what} {str(path)!r} is a folder gilt did not write (it is "
                                  f"not empty and has no {MARKER}); gilt replaces only its own "
                                  "outputs: choose a new or empty folder")
    if path.resolve() == Path(path.resolve().anchor):
        raise OutputPathError(f"{what} {str(path)!r} is the root folder")
    _check_creatable_parent(path, what)
    return path


#: What folders of gilt versions before :data:`MARKER` held: a report, a sweep, golden vectors.
_LEGACY_OUTPUTS = ({"index.html", "report.md", "figures"}, {"sweep.csv", "sweep.png"})


def _owned(folder: Path) -> bool:
    """Empty, marked by gilt, or an output of an earlier gilt (recognized by its files)."""
    try:
        if (folder / MARKER).is_file():
            return True
        names = {p.name for p in folder.iterdir()}
        if not names or any(names <= kind and len(names) >= 2 for kind in _LEGACY_OUTPUTS):
            return True
        return any((folder / index).is_file() and b'"schema": "gilt-golden-'
                   in (folder / index).read_bytes()[:4096]
                   for index in ("manifest.json", "index.json"))
    except OSError:
        return False


def _check_creatable_parent(path: Path, what: str) -> None:
    parent = path.absolute().parent
    while not os.path.lexists(parent):
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {str(path)!r}: folder {str(parent)!r} is not writable"
                              + (" (read-only file system)" if _read_only(parent) else ""))


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# ---------------------------------------------------------------------------- files
def _temp_for(path: Path) -> str:
    """Write-only temporary next to ``path`` (same file system, so ``os.replace`` is atomic)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise OutputPathError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    return tmp


def _prepare_file(path: Path) -> None:
    if path.is_dir():
        raise OutputPathError(f"output file {str(path)!r} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot write {str(path)!r}: cannot create its folder "
                              f"({exc.strerror or exc})") from None
    clean_leftovers(path)


def _fill(tmp: str, data: bytes, path: Path) -> None:
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputPathError(f"cannot write {str(path)!r}: {exc.strerror or exc}"
                                  + (" (no space left on the device)" if is_disk_full(exc)
                                     and "space" not in str(exc.strerror) else "")) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    _prepare_file(path)
    tmp = None
    try:
        with _signals_deferred():
            tmp = _temp_for(path)
        _fill(tmp, data, path)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


class PendingOutputs:
    """Outputs of one command, committed together. Each :meth:`add` writes its bytes to a
    temporary next to the target at once (so a full disk or an unwritable folder fails there,
    before any target changes); :meth:`commit` renames them all into place; leaving the
    ``with`` block by an exception removes every temporary and changes no target."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    def add(self, path: str | os.PathLike, data: bytes | str) -> Path:
        path = Path(path)
        if any(p == path for _, p in self._staged):
            raise OutputPathError(f"output file {str(path)!r} is named twice")
        _prepare_file(path)
        with _signals_deferred():
            self._staged.append((_temp_for(path), path))
        _fill(self._staged[-1][0], data.encode("utf-8") if isinstance(data, str) else data,
              path)
        return path

    def commit(self) -> list[Path]:
        done = []
        for tmp, path in self._staged:
            os.replace(tmp, path)
            done.append(path)
        self._staged = []
        return done

    def discard(self) -> None:
        for tmp, _ in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._staged = []

    def __enter__(self) -> PendingOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


# ---------------------------------------------------------------------------- folders
def new_staging_dir(target: str | os.PathLike) -> Path:
    """A fresh hidden folder next to ``target`` to build it in (see :func:`atomic_dir`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(target.parent):
        clean_leftovers(target)
    return Path(tempfile.mkdtemp(dir=target.parent,
                                 prefix=f".{target.name}.staging-{os.getpid()}-"))


def replace_dir_atomic(staging: Path, target: Path) -> Path:
    """Move a fully written ``staging`` folder to ``target`` (writing :data:`MARKER` into it).
    An existing ``target`` must be a folder gilt wrote (or an empty one); it is renamed aside
    first and removed only after the new one is in place. Concurrent swaps of the same parent
    are serialized; a swap cut short is repaired by the next one (:func:`clean_leftovers`)."""
    staging, target = Path(staging), Path(target)
    (staging / MARKER).write_text("written by gilt; the next run may replace this folder "
                                  "whole\n", encoding="utf-8")
    os.chmod(staging, 0o777 & ~_umask())
    with _signals_deferred(), _folder_lock(target.parent):
        clean_leftovers(target)
        check_output_dir(target)
        backup = None
        if os.path.lexists(target):
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            _remove(backup)
            os.replace(target, backup)
        try:
            os.replace(staging, target)
        except BaseException:
            if backup is not None:
                os.replace(backup, target)
            raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return target


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Build folder ``target`` all or nothing: yields an empty staging folder; on a normal
    exit it replaces ``target`` (:func:`replace_dir_atomic`), on an exception it is removed
    and ``target`` is untouched. ``target`` is checked first (:func:`check_output_dir`)."""
    target = Path(target)
    check_output_dir(target)
    staging = None
    try:
        with _signals_deferred():
            staging = new_staging_dir(target)
        yield staging
        replace_dir_atomic(staging, target)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and (staging is None or str(exc.filename or "")
                                         .startswith(str(staging))):
            raise OutputPathError(f"cannot write folder {str(target)!r}: "
                                  f"{exc.strerror or exc}") from None
        raise


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
