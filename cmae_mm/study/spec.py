"""Study files: a YAML list of pre-training runs x seeds, the evaluations to run after each.

Example (``configs/study/digits_mae_vs_cmae.yml``)::

    name: digits_mae_vs_cmae
    base_config: configs/selfsup/cmae_vit-tiny-p4_digits_demo.py
    seeds: [0, 1]
    cfg_options: {train_cfg.max_epochs: 10}
    runs:
      - {name: mae, mask_layers: [0], mask_ratios: [0.75]}
      - {name: cmae, mask_layers: [0, 10], mask_ratios: [0.75, 0.1]}
      - {family: two-shot, arch: vit-small, eta1: [0.75], layer: [3, 6], eta2: [0.1]}
      - {config: configs/selfsup/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py}
    evaluations: [linear_probe]
    epoch_hours: 0.5

Top-level keys (see :data:`STUDY_KEYS`): ``name`` (required), ``base_config``, ``seeds``
(default ``[0]``), ``cfg_options`` (for every run), ``runs`` (required), ``evaluations``,
``prepare`` (datasets to write first, :data:`cmae_mm.study.data.PREPARERS`), ``epoch_hours``
(GPU-hours per epoch, for the plan's estimate), ``work_root`` (default ``work_dirs/studies``).

A run entry is one of

* a schedule on ``base_config`` (or on its own ``config``): ``name`` plus ``mask_layers`` and
  ``mask_ratios`` (and optionally ``shot_weights``), which become
  ``model.backbone.mask_layers`` / ``model.backbone.mask_ratios`` / ``model.head.shot_weights``;
* an explicit config: ``config`` (``name`` defaults to the file's stem);
* members of the ImageNet-100 grid (:mod:`cmae_mm.study.grid`): ``family`` plus filters
  (:data:`FAMILY_FILTERS`), each a value or a list; every combination of the listed values must be a
  grid member. The config is ``configs/selfsup/in100/<member name>.py`` and the run is named after
  the member.

Every entry may add ``cfg_options`` (merged over the study's). Each run is repeated for every seed
as ``<study>/<run>_seed<k>`` in ``<work_root>/<study>/<run>_seed<k>``, with
``randomness.seed=<k>``. Relative paths in a study file are relative to the repository root.
"""
import math
import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .common import REPO_ROOT, OptionValue, format_option, repo_path
from .grid import FAMILIES, StudyMember, in100_study

IN100_CONFIG_DIR = 'configs/selfsup/in100'
DEFAULT_WORK_ROOT = 'work_dirs/studies'

STUDY_KEYS = ('name', 'description', 'base_config', 'seeds', 'cfg_options', 'runs', 'evaluations',
              'prepare', 'epoch_hours', 'work_root')
SCHEDULE_KEYS = ('name', 'config', 'mask_layers', 'mask_ratios', 'shot_weights', 'cfg_options')
GRID_COMMON_KEYS = ('family', 'arch', 'cfg_options')
# Filters of a grid entry per family: name -> (how to read it from a member).
FAMILY_FILTERS = {
    'one-shot': ('layer', 'eta'),
    'two-shot': ('eta1', 'layer', 'eta2'),
    'control': ('eta', ),
    'three-shot': ('layers', 'ratios'),
    'loss-weights': ('ratios', 'weights'),
}
NAME_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+-]*$')



class StudySpecError(ValueError):
    """A study file that cannot be used; the message names the bad key or value."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a study (before the seeds).

    Args:
        name: Run name, unique in the study (no ``/``).
        config: Config path as written (relative to the repository root, or absolute).
        cfg_options: Overrides of this run (study-wide ones first, then the entry's).
        family: Grid family, for grid members.
        arch: Grid architecture, for grid members.
        layers: The shot layers ``ℓ_s`` when known.
        ratios: The mask ratios ``η_s`` when known.
        shot_weights: Per-shot loss weights when set.
    """

    name: str
    config: str
    cfg_options: Dict[str, OptionValue] = field(default_factory=dict)
    family: Optional[str] = None
    arch: Optional[str] = None
    layers: Optional[Tuple[int, ...]] = None
    ratios: Optional[Tuple[float, ...]] = None
    shot_weights: Optional[Tuple[float, ...]] = None

    @property
    def notation(self) -> Optional[str]:
        """The paper's notation, e.g. ``L(0,10; 0.75,0.1)``, when the schedule is known."""
        if self.layers is None or self.ratios is None:
            return None
        return StudyMember(self.family or '', self.arch or '', self.layers, self.ratios,
                           self.shot_weights).notation


@dataclass(frozen=True)
class StudyRun:
    """One (run, seed) of a study: one pre-training job.

    Args:
        study: Study name.
        spec: The run.
        seed: The seed (``randomness.seed``).
        work_dir: Work directory (absolute).
    """

    study: str
    spec: RunSpec
    seed: int
    work_dir: Path

    @property
    def name(self) -> str:
        """``<study>/<run>_seed<k>``."""
        return f'{self.study}/{self.spec.name}_seed{self.seed}'

    @property
    def config_path(self) -> Path:
        """The config file (absolute)."""
        return repo_path(self.spec.config)

    @property
    def cfg_options(self) -> Dict[str, OptionValue]:
        """All overrides of the job: ``randomness.seed`` first, then the run's."""
        return {'randomness.seed': self.seed, **self.spec.cfg_options}

    def option_args(self) -> List[str]:
        """The overrides as ``--cfg-options`` arguments: ``key=value`` for mmengine's DictAction."""
        return [f'{k}={format_option(v)}' for k, v in self.cfg_options.items()]


@dataclass(frozen=True)
class Study:
    """A parsed, validated study file.

    Args:
        name: Study name.
        path: The study file.
        runs: The runs, in file order (grid entries expand in grid order).
        seeds: The seeds of every run.
        evaluations: ``(name, options)`` of every evaluation, in order.
        prepare: ``(name, options)`` of every dataset to prepare before the runs.
        epoch_hours: GPU-hours per epoch, or None.
        work_root: Parent of the study's folder (absolute).
        description: Free text.
    """

    name: str
    path: Optional[Path]
    runs: Tuple[RunSpec, ...]
    seeds: Tuple[int, ...]
    evaluations: Tuple[Tuple[str, Dict[str, Any]], ...] = ()
    prepare: Tuple[Tuple[str, Dict[str, Any]], ...] = ()
    epoch_hours: Optional[float] = None
    work_root: Path = REPO_ROOT / DEFAULT_WORK_ROOT
    description: str = ''

    @property
    def study_dir(self) -> Path:
        """``<work_root>/<name>``: the runs' work dirs and the collected results."""
        return self.work_root / self.name

    def expand(self) -> List[StudyRun]:
        """Every (run, seed), run-major: ``[r1 seed0, r1 seed1, ..., r2 seed0, ...]``."""
        return [StudyRun(self.name, spec, seed, self.study_dir / f'{spec.name}_seed{seed}')
                for spec in self.runs for seed in self.seeds]


def _fail(where: str, message: str) -> StudySpecError:
    return StudySpecError(f'{where}: {message}')


def _check_keys(entry: dict, allowed: Sequence[str], where: str) -> None:
    unknown = [k for k in entry if k not in allowed]
    if unknown:
        raise _fail(where, f'unknown key(s) {", ".join(map(repr, unknown))}; allowed: '
                    f'{", ".join(allowed)}')


def _check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise _fail(where, f'{value!r} is not a valid name (letters, digits, _ . + -, '
                    'starting with a letter or digit; no /)')
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_config(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f'{value!r} is not a config path')
    if not repo_path(value).is_file():
        raise _fail(where, f'config file not found: {value} (relative paths are relative to '
                    f'the repository root {REPO_ROOT})')
    return value


def _check_options(value: Any, where: str) -> Dict[str, OptionValue]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f'must be a mapping of dotted config keys to values, got {value!r}')
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _fail(where, f'key {key!r} is not a dotted config key')
        if key == 'randomness.seed' or key.startswith('randomness.seed'):
            raise _fail(where, f'{key!r}: set the seeds with the top-level `seeds` list')
        if isinstance(item, dict):
            raise _fail(f'{where}.{key}', 'mappings are not --cfg-options values; set the '
                        'nested keys one by one (e.g. a.b: 1, a.c: 2)')
    return dict(value)


def _check_named_calls(value: Any, registry: Dict[str, Any], where: str
                       ) -> Tuple[Tuple[str, Dict[str, Any]], ...]:
    """``[name, {name: ..., option: ...}, ...]`` -> ``((name, options), ...)``, checked."""
    import inspect

    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, f'must be a list of names or {{name: ..., <option>: ...}} entries, '
                    f'got {value!r}')
    calls = []
    for i, item in enumerate(value):
        at = f'{where}[{i}]'
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and isinstance(item.get('name'), str):
            options = {k: v for k, v in item.items() if k != 'name'}
            name = item['name']
        else:
            raise _fail(at, f'{item!r} is neither a name nor a mapping with a `name`')
        if name not in registry:
            raise _fail(at, f'unknown name {name!r}; registered: {", ".join(sorted(registry))}')
        params = inspect.signature(registry[name]).parameters
        reserved = ('cfg', 'checkpoint', 'seed') if where == 'evaluations' else ()
        unknown = [k for k in options if k not in params or k in reserved]
        if unknown:
            allowed = [p for p in params if p not in reserved]
            raise _fail(at, f'{name}: unknown option(s) {", ".join(map(repr, unknown))}; '
                        f'allowed: {", ".join(allowed)}')
        missing = [p for p, param in params.items() if p not in reserved and p not in options
                   and param.default is inspect.Parameter.empty]
        if missing:
            raise _fail(at, f'{name}: missing option(s) {", ".join(missing)}')
        calls.append((name, options))
    return tuple(calls)


def _number_list(value: Any, where: str, kind: type) -> Tuple:
    if not isinstance(value, list) or not value:
        raise _fail(where, f'must be a non-empty list, got {value!r}')
    for v in value:
        if kind is int and not (isinstance(v, int) and not isinstance(v, bool)):
            raise _fail(where, f'{v!r} is not an integer')
        if kind is float and not _is_number(v):
            raise _fail(where, f'{v!r} is not a number')
    return tuple(kind(v) for v in value)


def _schedule_entry(entry: dict, base_config: Optional[str], study_options: dict,
                    where: str) -> RunSpec:
    _check_keys(entry, SCHEDULE_KEYS, where)
    if 'config' in entry:
        config = _check_config(entry['config'], f'{where}.config')
    elif base_config is not None:
        config = base_config
    else:
        raise _fail(where, 'no config: give the entry a `config`, or the study a `base_config`')
    name = _check_name(entry.get('name', Path(config).stem), f'{where}.name')
    options = dict(study_options)
    layers = ratios = weights = None
    if ('mask_layers' in entry) != ('mask_ratios' in entry):
        raise _fail(where, '`mask_layers` and `mask_ratios` go together (one ratio per layer)')
    if 'mask_layers' in entry:
        layers = _number_list(entry['mask_layers'], f'{where}.mask_layers', int)
        ratios = _number_list(entry['mask_ratios'], f'{where}.mask_ratios', float)
        if len(layers) != len(ratios):
            raise _fail(where, f'{len(layers)} mask_layers {list(layers)} but {len(ratios)} '
                        f'mask_ratios {list(ratios)}: one ratio per layer')
        if any(a >= b for a, b in zip(layers, layers[1:])) or layers[0] < 0:
            raise _fail(f'{where}.mask_layers', f'{list(layers)} must be non-negative and '
                        'strictly increasing')
        if not all(0. < r < 1. for r in ratios):
            raise _fail(f'{where}.mask_ratios', f'{list(ratios)}: every ratio must be in (0, 1)')
        options['model.backbone.mask_layers'] = list(layers)
        options['model.backbone.mask_ratios'] = list(ratios)
    if 'shot_weights' in entry:
        if layers is None:
            raise _fail(where, '`shot_weights` needs `mask_layers` and `mask_ratios`')
        weights = _number_list(entry['shot_weights'], f'{where}.shot_weights', float)
        if len(weights) != len(layers):
            raise _fail(where, f'{len(weights)} shot_weights for {len(layers)} shots')
        options['model.head.shot_weights'] = list(weights)
    options.update(_check_options(entry.get('cfg_options'), f'{where}.cfg_options'))
    return RunSpec(name, config, options, layers=layers, ratios=ratios, shot_weights=weights)


def _member_filters(member: StudyMember) -> Dict[str, Any]:
    """The filter values of a grid member (see :data:`FAMILY_FILTERS`)."""
    values = {'arch': member.arch, 'layers': member.layers, 'ratios': member.ratios,
              'weights': member.shot_weights}
    if member.family == 'one-shot':
        values.update(layer=member.layers[0], eta=member.ratios[0])
    elif member.family == 'two-shot':
        values.update(eta1=member.ratios[0], layer=member.layers[1], eta2=member.ratios[1])
    elif member.family == 'control':
        values.update(eta=member.ratios[0])
    return values


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    return a == b


def _grid_entry(entry: dict, study_options: dict, where: str) -> List[RunSpec]:
    family = entry['family']
    if family not in FAMILY_FILTERS:
        raise _fail(f'{where}.family', f'unknown family {family!r}; allowed: '
                    f'{", ".join(FAMILIES)}')
    filters = FAMILY_FILTERS[family]
    _check_keys(entry, GRID_COMMON_KEYS + filters, where)
    members = [m for m in in100_study() if m.family == family]
    chosen: Dict[str, List[Any]] = {}
    for key in ('arch', ) + filters:
        if key not in entry:
            continue
        value = entry[key]
        nested = key in ('layers', 'ratios', 'weights')
        values = value if isinstance(value, list) and (
            not nested or (value and isinstance(value[0], list))) else [value]
        if not values:
            raise _fail(f'{where}.{key}', 'empty list')
        allowed = sorted({_freeze(_member_filters(m)[key]) for m in members},
                         key=lambda a: (0, a, '') if _is_number(a) else (1, 0, str(a)))
        for v in values:
            if not any(_same(_freeze(v), a) for a in allowed):
                raise _fail(f'{where}.{key}', f'{_show(_freeze(v))} is not in the {family} grid; '
                            f'allowed: {", ".join(_show(a) for a in allowed)}')
        chosen[key] = [_freeze(v) for v in values]
    keys = list(chosen)
    selected: List[StudyMember] = []
    for combo in product(*(chosen[k] for k in keys)):
        matches = [m for m in members
                   if all(_same(_member_filters(m)[k], v) for k, v in zip(keys, combo))]
        if not matches:
            shown = ', '.join(f'{k}={_show(v)}' for k, v in zip(keys, combo))
            raise _fail(where, f'the combination {shown} is not in the {family} grid '
                        f'(cmae_mm/study/grid.py)')
        selected += [m for m in matches if m not in selected]
    selected.sort(key=members.index)
    options = dict(study_options)
    options.update(_check_options(entry.get('cfg_options'), f'{where}.cfg_options'))
    specs = []
    for m in selected:
        config = f'{IN100_CONFIG_DIR}/{m.name}.py'
        if not repo_path(config).is_file():
            raise _fail(where, f'{config} is missing; write the grid configs with '
                        '`python tools/study/make_in100_configs.py`')
        specs.append(RunSpec(m.name, config, options, m.family, m.arch, m.layers, m.ratios,
                             m.shot_weights))
    return specs


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return '[' + ', '.join(_show(v) for v in value) + ']'
    return f'{value:g}' if isinstance(value, float) else str(value)


def parse_study(data: Any, path: Optional[Path] = None,
                work_root: Optional[Union[str, Path]] = None) -> Study:
    """Validate a study (the loaded YAML) and expand its run entries.

    Args:
        data: The study as loaded from YAML.
        path: The file it came from, for messages.
        work_root: Overrides the file's ``work_root`` (relative to the current directory).

    Returns:
        Study: The study.

    Raises:
        StudySpecError: Naming the first bad key or value and what is allowed.
    """
    from .data import PREPARERS
    from .registry import EVALUATIONS

    where = str(path) if path else 'study'
    if not isinstance(data, dict):
        raise _fail(where, f'a study file is a mapping with keys {", ".join(STUDY_KEYS)}; '
                    f'got {type(data).__name__}')
    _check_keys(data, STUDY_KEYS, where)
    for key in ('name', 'runs'):
        if key not in data:
            raise _fail(where, f'missing required key `{key}`')
    name = _check_name(data['name'], 'name')
    base_config = None
    if data.get('base_config') is not None:
        base_config = _check_config(data['base_config'], 'base_config')
    seeds = data.get('seeds', [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise _fail('seeds', f'must be a non-empty list of non-negative integers, got {seeds!r}')
    if len(set(seeds)) != len(seeds):
        raise _fail('seeds', f'{seeds} repeats a seed')
    study_options = _check_options(data.get('cfg_options'), 'cfg_options')
    runs_data = data['runs']
    if not isinstance(runs_data, list) or not runs_data:
        raise _fail('runs', 'must be a non-empty list of run entries')
    runs: List[RunSpec] = []
    for i, entry in enumerate(runs_data):
        at = f'runs[{i}]'
        if not isinstance(entry, dict):
            raise _fail(at, f'a run entry is a mapping, got {entry!r}')
        if 'family' in entry:
            runs += _grid_entry(entry, study_options, at)
        elif any(k in entry for k in ('name', 'config', 'mask_layers')):
            runs.append(_schedule_entry(entry, base_config, study_options, at))
        else:
            raise _fail(at, 'a run entry needs `name` (+ `mask_layers`/`mask_ratios`), '
                        '`config`, or a grid `family`')
    seen: Dict[str, int] = {}
    for run in runs:
        if run.name in seen:
            raise _fail('runs', f'run name {run.name!r} appears twice; names must be unique')
        seen[run.name] = 1
    epoch_hours = data.get('epoch_hours')
    if epoch_hours is not None and not (_is_number(epoch_hours) and epoch_hours > 0):
        raise _fail('epoch_hours', f'must be a positive number (GPU-hours per epoch), '
                    f'got {epoch_hours!r}')
    if work_root is not None:
        root = Path(work_root).resolve()
    else:
        value = data.get('work_root', DEFAULT_WORK_ROOT)
        if not isinstance(value, str) or not value:
            raise _fail('work_root', f'must be a folder path, got {value!r}')
        root = repo_path(value)
    description = data.get('description', '')
    if not isinstance(description, str):
        raise _fail('description', 'must be text')
    return Study(name=name, path=path, runs=tuple(runs), seeds=tuple(seeds),
                 evaluations=_check_named_calls(data.get('evaluations'), EVALUATIONS,
                                                'evaluations'),
                 prepare=_check_named_calls(data.get('prepare'), PREPARERS, 'prepare'),
                 epoch_hours=float(epoch_hours) if epoch_hours is not None else None,
                 work_root=root, description=description)


def load_study(path: Union[str, Path], work_root: Optional[Union[str, Path]] = None) -> Study:
    """Read, validate and expand a study file.

    Args:
        path: The YAML file.
        work_root: Overrides the file's ``work_root`` (relative to the current directory).

    Returns:
        Study: The study.

    Raises:
        FileNotFoundError: If the file does not exist.
        StudySpecError: If it is not a valid study (the message says where and why).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'study file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise StudySpecError(f'{path}: not valid YAML: {e}') from e
    return parse_study(data, path, work_root)
