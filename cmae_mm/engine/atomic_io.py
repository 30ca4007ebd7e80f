"""Atomic file writes: a file is either complete or absent, never truncated.

mmengine writes a checkpoint with one ``open(path, 'wb').write(bytes)``: a process killed during
the write, or a disk that fills, leaves a truncated ``epoch_N.pth`` that looks like a good one to
anything that lists the work dir (a study's progress, a user picking the newest file).
:func:`atomic_write_bytes` writes to a temporary file in the same folder, ``fsync``-s it, renames
it over the target and ``fsync``-s the folder. :class:`AtomicLocalBackend` is mmengine's local file
backend with atomic ``put``/``put_text``, registered under its own name :data:`ATOMIC_BACKEND`
(``'atomic_local'``, no URI prefix): mmengine's ``'local'`` backend is left as it is, and a config
chooses the atomic one through the ``backend_args`` that mmengine's ``CheckpointHook`` accepts,
``backend_args=dict(backend='atomic_local')`` (every training config of the suite does, with
``SafeCheckpointHook``).
"""
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Union

from mmengine.fileio.backends import LocalBackend, register_backend

__all__ = ['ATOMIC_BACKEND', 'AtomicLocalBackend', 'DiskFullError', 'atomic_write_bytes', 'write_chunks']

#: The name under which :class:`AtomicLocalBackend` is registered (``backend_args=dict(backend=...)``).
ATOMIC_BACKEND = 'atomic_local'

#: Bytes per ``write`` call (fault-injection tests slow this function down).
CHUNK = 16 << 20


class DiskFullError(OSError):
    """A write ran out of space; the message names the file and the space it needed."""


def write_chunks(f: BinaryIO, data: bytes) -> None:
    """Write ``data`` to ``f`` in chunks of :data:`CHUNK` bytes."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        f.write(view[start:start + CHUNK])


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    The bytes go to ``.<name>.<random>.part`` in the same folder, are flushed and ``fsync``-ed,
    then renamed over ``path`` (atomic on POSIX), and the folder is ``fsync``-ed. On any error the
    temporary file is removed and an existing ``path`` is left as it was.

    Args:
        data: The file's contents.
        path: Target file (its folder is created if missing).

    Raises:
        DiskFullError: The device ran out of space (errno ``ENOSPC``); names ``path``, the bytes
            needed and the bytes free.
        OSError: Any other write error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.part', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            write_chunks(f, data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp's 0600 -> what open() would have made
        os.replace(tmp_name, path)
    except BaseException as e:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            free = shutil.disk_usage(path.parent).free
            raise DiskFullError(
                errno.ENOSPC, f'no space left on the device of {path}: writing it needs '
                f'{len(data) / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free (nothing was '
                f'written; the previous files are intact)') from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put``/``put_text`` write atomically."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically (:func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write_bytes(obj.encode(encoding), filepath)


# A new backend name only: no prefix is mapped to it, mmengine's 'local' backend is untouched.
register_backend(ATOMIC_BACKEND, AtomicLocalBackend)
