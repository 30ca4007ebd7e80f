"""What every part of the study package shares: the repository root and ``--cfg-options`` text."""
from pathlib import Path
from typing import Union

__all__ = ['REPO_ROOT', 'OptionValue', 'format_option', 'repo_path', 'show_path']

#: Relative paths in study files (configs, data roots) are relative to this folder.
REPO_ROOT = Path(__file__).resolve().parents[2]

OptionValue = Union[int, float, str, bool, None, list, tuple]


def repo_path(path: Union[str, Path]) -> Path:
    """``path`` if absolute, else relative to the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def show_path(path: Path) -> str:
    """``path`` relative to the repository root when inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def format_option(value: OptionValue) -> str:
    """A YAML value as text mmengine's ``DictAction`` parses back to the same value.

    Args:
        value: A scalar, list or tuple (nested allowed).

    Returns:
        str: e.g. ``[0,10]`` for ``[0, 10]``, ``None`` for None.
    """
    if isinstance(value, list):
        return '[' + ','.join(format_option(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ','.join(format_option(v) for v in value) + (',)' if len(value) == 1 else ')')
    return str(value)
