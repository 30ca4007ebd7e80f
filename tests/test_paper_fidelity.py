"""Fidelity to the paper: footnote 6's controls, and docs/paper_map.md.

* Footnote 6 compares two-shot schedules with one-shot controls that keep the same number of
  patch tokens: L(0; 0.775) vs L(0,10; 0.75,0.1) (44 of 196) and L(0; 0.905) vs
  L(0,10; 0.9,0.05) (18 of 196). Every control of the study grid must keep exactly as many tokens
  after its last shot as its two-shot partner.
* docs/paper_map.md has one row per table and figure; every config and tool path it names exists
  and every named config loads (Config.fromfile only: no model is built).
"""
import glob
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import List

from mmengine.config import Config

from cmae_mm.masking import ShotSchedule
from cmae_mm.study.grid import ARCHS, in100_study
from helpers import REPO

NUM_PATCHES = 196  # ViT-S/16 and ViT-B/16 at 224x224
DEPTH = 12
# Footnote 6: control ratio -> (two-shot partner layers, ratios), and the paper's token count.
FOOTNOTE6 = {0.775: (((0, 10), (0.75, 0.1)), 44), 0.905: (((0, 10), (0.9, 0.05)), 18)}
PAPER_MAP = REPO / 'docs' / 'paper_map.md'


def final_kept(layers, ratios) -> int:
    return ShotSchedule(layers, ratios, num_layers=DEPTH).kept_counts(NUM_PATCHES)[-1]


def test_footnote6_controls_keep_as_many_tokens_as_their_two_shot_partner():
    members = in100_study()
    controls = [m for m in members if m.family == 'control']
    assert sorted((m.arch, m.ratios[0]) for m in controls) == sorted(
        (a, r) for a in ARCHS for r in FOOTNOTE6)
    by_schedule = {(m.arch, m.layers, m.ratios) for m in members if m.family == 'two-shot'}
    for control in controls:
        assert control.layers == (0, )
        (layers, ratios), tokens = FOOTNOTE6[control.ratios[0]]
        assert (control.arch, layers, ratios) in by_schedule, 'the partner is a study member'
        assert final_kept(control.layers, control.ratios) == final_kept(layers, ratios) == tokens, \
            control.name


# ---------------------------------------------------------------------------------------------
# docs/paper_map.md
REQUIRED_ITEMS = ([f'Tab. {i}' for i in range(1, 10)] + [f'Fig. {i}' for i in range(2, 21)]
                  + ['fn. 4', 'fn. 6'])
CODE_SPAN = re.compile(r'`([^`]+)`')
# A path inside a command: stops at whitespace, quotes, shell syntax and `$` (a shell variable:
# the part before it is a folder or a prefix, checked below).
PATH_IN_COMMAND = re.compile(r'(?<![\w/.-])((?:configs|tools)/[^\s`\'"|<>{}$();,]*)')


def expand_braces(text: str) -> List[str]:
    """bash brace expansion of comma lists, e.g. ``a{b,c}d{1,2}`` -> abd1 abd2 acd1 acd2."""
    match = re.search(r'\{([^{}]*,[^{}]*)\}', text)
    if not match:
        return [text]
    return [out for alt in match.group(1).split(',')
            for out in expand_braces(text[:match.start()] + alt + text[match.end():])]


def table_rows() -> List[List[str]]:
    """Rows of the map's table (header first), cells stripped."""
    rows = []
    for line in PAPER_MAP.read_text().splitlines():
        if line.startswith('|') and not re.match(r'^\|[-|\s]+\|$', line):
            rows.append([c.strip() for c in line.strip().strip('|').split(' | ')])
    return rows


def named_paths() -> List[str]:
    """Every config / tool path the map names: single-token code spans (brace-expanded, globs
    kept) and the complete paths inside commands. Prefixes cut by a shell variable are left
    out unless they are folders."""
    paths = set()
    text = PAPER_MAP.read_text()
    fences = re.compile(r'^```[^\n]*\n(.*?)^```', re.S | re.M)
    spans = fences.findall(text) + CODE_SPAN.findall(fences.sub('', text))
    for span in spans:
        span = span.strip()
        if re.fullmatch(r'(configs|tools)/\S+', span):
            paths.update(expand_braces(span))
            continue
        for token in PATH_IN_COMMAND.findall(span):
            if token.endswith(('.py', '.sh', '/')):
                paths.add(token)
    return sorted(paths)


@lru_cache()
def resolved_configs() -> List[Path]:
    configs = set()
    for path in named_paths():
        if path.startswith('configs/') and path.endswith('.py'):
            matches = glob.glob(str(REPO / path)) if any(c in path for c in '*?[') else [REPO / path]
            configs.update(Path(m) for m in matches)
    return sorted(configs)


def test_paper_map_has_a_row_with_a_paper_value_for_every_table_and_figure():
    header, *rows = table_rows()
    assert header[0] == 'item' and 'paper' in header
    paper = header.index('paper')
    items = {}
    for row in rows:
        assert len(row) == len(header), row[0]
        items[row[0]] = row
    missing = [i for i in REQUIRED_ITEMS if i not in items]
    assert not missing, f'no row for {missing}'
    for item in REQUIRED_ITEMS:
        assert items[item][paper], f'{item}: empty "paper" cell'


def test_paper_map_paths_exist():
    paths = named_paths()
    assert len(paths) > 30  # the parser found the map's paths
    broken = []
    for path in paths:
        if any(c in path for c in '*?['):
            ok = bool(glob.glob(str(REPO / path)))
        elif path.endswith('/'):
            ok = (REPO / path).is_dir()
        else:
            ok = (REPO / path).is_file()
        if not ok:
            broken.append(path)
    assert not broken, f'docs/paper_map.md names paths that do not exist: {broken}'
    assert {'tools/dist_train.sh', 'tools/dist_test.sh', 'tools/analysis/cka.py',
            'tools/analysis/attention_distance.py'} <= set(paths)


def test_paper_map_configs_load():
    configs = resolved_configs()
    assert len(configs) > 50
    # the 168 generated study members are two-line children of two bases, loaded (and trained for
    # a step) by test_configs_selfsup.py: load one per base here
    study = sorted(p for p in configs if 'in100' in p.parts and 'selfsup' in p.parts)
    configs = [p for p in configs if p not in study] + study[:1] + study[-1:]
    failed = {}
    for path in configs:
        try:
            Config.fromfile(str(path))
        except Exception as exc:  # noqa: BLE001 - report every failure at once
            failed[str(path.relative_to(REPO))] = f'{type(exc).__name__}: {exc}'
    assert not failed, failed


def test_brace_expansion():
    assert expand_braces('a{b,c}d{1,2}') == ['abd1', 'abd2', 'acd1', 'acd2']
    assert expand_braces('x{y}') == ['x{y}']


def test_no_committed_file_names_a_machine_path():
    """Committed files use repo-relative paths: no work tree, home or temporary folder, and the
    paper is cited by title, not by where a copy lies on one machine."""
    import re
    import subprocess

    files = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split('\0')
    pattern = re.compile(r'(?<![\w.])/(work|root|tmp|home)/[\w.-]')
    offenders = []
    for name in filter(None, files):
        path = REPO / name
        if not path.is_file() or path.suffix in ('.png', '.pth', '.jpg', '.gz'):
            continue
        text = path.read_text(errors='ignore')
        offenders += [f'{name}: {m.group(0)}' for m in pattern.finditer(text)]
        paper_copy = 'shared/' + 'paper/'  # split so that this file does not match itself
        if paper_copy in text:
            offenders.append(f'{name}: {paper_copy}')
    assert not offenders, offenders


USAGE_LINE = re.compile(r'tools/(?:dist_train|slurm_train)\.sh\s+(\S+\.py)\s+(\d+)([^\n]*)')
TOTAL_IN_NAME = re.compile(r'(\d+)xb(\d+)')


def test_usage_lines_launch_the_gpus_of_the_total_batch():
    """Every `tools/dist_train.sh CONFIG N` line in a config header launches N processes whose
    per-GPU batch adds up to the config's total batch: auto_scale_lr.base_batch_size, else the
    `<gpus>xb<batch>` of the file name (a mismatch silently trains with another lr per image).
    A `... N --keep-batch` line (fewer GPUs) must give a whole gradient accumulation instead."""
    from cmae_mm.engine.errors import ConfigError
    from cmae_mm.engine.keep_batch import keep_batch_accumulation

    checked, wrong = 0, []
    for config in sorted((REPO / 'configs').rglob('*.py')):
        for match in USAGE_LINE.finditer(config.read_text()):
            target, gpus = REPO / match.group(1), int(match.group(2))
            assert target.is_file(), f'{config.relative_to(REPO)} names missing {match.group(1)}'
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                cfg = Config.fromfile(str(target))
            per_gpu = cfg.train_dataloader.batch_size
            total = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
            named = TOTAL_IN_NAME.search(target.name)
            if total is None and named:
                total = int(named.group(1)) * int(named.group(2))
            assert total is not None, f'{target.name}: no auto_scale_lr and no NxbM in its name'
            checked += 1
            if '--keep-batch' in match.group(3):
                try:
                    keep_batch_accumulation(total, per_gpu, gpus)
                except ConfigError as e:
                    wrong.append(f'{config.relative_to(REPO)}: {e}')
            elif gpus * per_gpu != total:
                wrong.append(f'{config.relative_to(REPO)}: {gpus} x {per_gpu} != {total}')
    assert checked >= 20 and not wrong, wrong
