"""Reading mmengine's per-launch logs of a work dir (``<work_dir>/<YYYYmmdd_HHMMSS>/``)."""
import json
import re
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

__all__ = ['TIMESTAMP_DIR', 'last_logged_entry', 'logged_entries', 'timestamp_dirs']

TIMESTAMP_DIR = re.compile(r'^\d{8}_\d{6}$')


def timestamp_dirs(work_dir: Path) -> List[Path]:
    """mmengine's per-launch folders ``<work_dir>/<YYYYmmdd_HHMMSS>``, oldest first."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return []
    return sorted(p for p in work_dir.iterdir() if p.is_dir() and TIMESTAMP_DIR.match(p.name))


def _accepted(path: Path, accept: Callable[[dict], bool]) -> List[dict]:
    """The JSON objects of a log file, one per line, that ``accept`` takes (cut lines skipped)."""
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if isinstance(entry, dict) and accept(entry):
            entries.append(entry)
    return entries


def last_logged_entry(work_dir: Path, files: Sequence[str], accept: Callable[[dict], bool]
                      ) -> Optional[Tuple[Path, dict]]:
    """The last JSON line that ``accept`` takes, from the newest launch that logged one.

    Args:
        work_dir: An mmengine work dir.
        files: Log files to read in each launch folder, relative to it, in order of preference;
            ``{stamp}`` is replaced by the folder's name (e.g. ``'{stamp}.json'``).
        accept: Which JSON objects count (lines cut by a crash are skipped).

    Returns:
        ``(launch folder, entry)``, or None if no launch logged an accepted line.
    """
    for stamp_dir in reversed(timestamp_dirs(work_dir)):
        for name in files:
            path = stamp_dir / name.format(stamp=stamp_dir.name)
            entries = _accepted(path, accept) if path.is_file() else []
            if entries:
                return stamp_dir, entries[-1]
    return None


def logged_entries(work_dir: Path, files: Sequence[str], accept: Callable[[dict], bool]
                   ) -> List[Tuple[Path, dict]]:
    """Every JSON line that ``accept`` takes, from every launch (oldest first), with its folder.

    Of each launch folder the first file of ``files`` that holds an accepted line is read, so a
    run resumed in several launches gives its whole history, each iteration once: a launch
    killed after its last checkpoint may have logged iterations that the resumed launch trains
    (and logs) again, so the entries of earlier launches at or after the first ``iter`` a later
    launch logged are dropped (with a fixed logging interval both launches log the same
    iterations after the checkpoint). Entries without an ``iter`` are all kept.

    Args:
        work_dir: An mmengine work dir.
        files: As :func:`last_logged_entry`.
        accept: Which JSON objects count.

    Returns:
        List of ``(launch folder, entry)``.
    """
    found: List[Tuple[Path, dict]] = []
    for stamp_dir in timestamp_dirs(work_dir):
        for name in files:
            path = stamp_dir / name.format(stamp=stamp_dir.name)
            entries = _accepted(path, accept) if path.is_file() else []
            if entries:
                start = next((e['iter'] for e in entries if isinstance(e.get('iter'), int)), None)
                if start is not None:
                    found = [(d, e) for d, e in found
                             if not (isinstance(e.get('iter'), int) and e['iter'] >= start)]
                found += [(stamp_dir, entry) for entry in entries]
                break
    return found
