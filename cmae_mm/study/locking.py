"""The study's locks: one ``study.py run`` per study, or per run with ``--only``.

:func:`study_lock` holds ``flock`` locks on files in the study dir (``.study.lock`` and one
``.<run>.lock`` per selected run); :class:`StudyLockedError` names the process that holds a lock
another one needs.
"""
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence, TextIO

from .common import show_path
from .spec import Study

__all__ = ['LOCK_FILE', 'StudyLockedError', 'study_lock']

LOCK_FILE = '.study.lock'


class StudyLockedError(RuntimeError):
    """Another ``study.py run`` of the same study is running."""


def _flock(path: Path, shared: bool, what: str) -> TextIO:
    """Open ``path`` and take an ``flock`` on it without waiting; the open file, or raise."""
    import fcntl

    f = open(path, 'a+')
    try:
        fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or 'unknown process'
        f.close()
        raise StudyLockedError(
            f'another `study.py run` holds {what} ({holder}; lock {show_path(path)}): wait for '
            'it to finish or stop it, then run again') from None
    if not shared:
        f.seek(0)
        f.truncate()
        f.write(f'pid {os.getpid()}, started {time.strftime("%Y-%m-%dT%H:%M:%S%z")}\n')
        f.flush()
    return f


@contextmanager
def study_lock(study: Study, only: Optional[Sequence[str]] = None) -> Iterator[None]:
    """Hold the study's lock (``flock``) for the block.

    A run of the whole study holds ``<study dir>/.study.lock`` exclusively. A run of selected
    runs (``only``) holds it shared and each selected run's ``<study dir>/.<run>.lock``
    exclusively, so several ``run --only`` processes can work on disjoint runs of one study at
    once (e.g. one per core), while two processes never train the same run. The kernel releases
    an ``flock`` when its process dies, so a killed run never leaves the study locked; the file
    only records who held it last.

    Args:
        study: The study.
        only: The selected runs' names (``<run>_seed<k>``), as :func:`run` matched them.

    Raises:
        StudyLockedError: If another process holds a lock this one needs (naming its pid and
            start time).
    """
    import fcntl

    study.study_dir.mkdir(parents=True, exist_ok=True)
    held = [_flock(study.study_dir / LOCK_FILE, bool(only), f'study {study.name}')]
    try:
        for name in sorted(set(only or ())):
            held.append(_flock(study.study_dir / f'.{name}.lock', False, f'run {name}'))
        yield
    finally:
        for f in reversed(held):
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
