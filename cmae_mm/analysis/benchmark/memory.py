"""A step's peak memory growth on CPU from the kernel's high-water mark (:class:`CpuMemoryProbe`).
"""
import ctypes
import ctypes.util
import gc
import resource
from pathlib import Path
from typing import Any, Callable, Optional


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None


_LIBC = _libc()


def _proc_status_kib(key: str) -> Optional[int]:
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(key + ':'):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class CpuMemoryProbe:
    """Peak resident-set growth of the process during a callable (see the module docstring)."""

    def __init__(self) -> None:
        self.method = ('VmHWM - VmRSS after malloc_trim and clear_refs'
                       if _reset_hwm() and _proc_status_kib('VmHWM') is not None
                       else 'ru_maxrss delta (lower bound)')

    def measure(self, fn: Callable[[], Any]) -> int:
        """Run ``fn`` and return the peak RSS growth in bytes."""
        gc.collect()
        if _LIBC is not None and hasattr(_LIBC, 'malloc_trim'):
            _LIBC.malloc_trim(0)
        if self.method.startswith('VmHWM') and _reset_hwm():
            before = _proc_status_kib('VmRSS')
            fn()
            return max(0, (_proc_status_kib('VmHWM') - before) * 1024)
        before = _proc_status_kib('VmRSS') or 0
        fn()
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
