"""The embedded demo (``tools/demo.py``, ``make demo``): a demo study run into a new folder.

The demo is a study file run by the study runner (:func:`cmae_mm.study.runner.run`):

* ``configs/study/demo_fashion_mnist.yml`` - Conditional MAE L(0,10; 0.75,0.1) briefly
  pre-trained on Fashion-MNIST, then the ``finetune`` evaluation: the same classifier fine-tuned
  from the pre-trained encoder and trained from scratch with the control's own recipe, on the same
  labelled images, scored on the 10,000 test images;
* ``configs/study/demo_digits.yml`` - the fallback where Fashion-MNIST cannot be prepared:
  scikit-learn's digits, scored by the ``linear_probe`` evaluation (pre-trained vs random init).

:func:`run_demo` chooses the data (``auto``: Fashion-MNIST, or the digits when it cannot be
prepared, saying why), runs the study into a new folder ``<work_root>/<timestamp>/`` (earlier runs
are never touched), prints one progress line per epoch of every training (:class:`EpochProgress`)
and the results, and saves a reconstruction grid (:func:`save_demo_reconstruction`) and
``summary.json`` in the run folder. Every tool's full log is in the run folder.
"""
import copy
import json
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .common import repo_path, show_path
from .spec import Study, StudyRun, parse_study

__all__ = ['DATA_CHOICES', 'DEMO_STUDIES', 'DemoOptions', 'EpochProgress', 'demo_study',
           'new_run_dir', 'prepare_demo', 'run_demo', 'save_demo_reconstruction']

#: The demo's study file per data choice.
DEMO_STUDIES = {'fashion_mnist': 'configs/study/demo_fashion_mnist.yml',
                'digits': 'configs/study/demo_digits.yml'}
#: ``auto``: Fashion-MNIST, or the digits when Fashion-MNIST cannot be prepared.
DATA_CHOICES = ('auto', ) + tuple(DEMO_STUDIES)
#: Where the reconstruction grid's images come from (a split the pre-training never labels).
IMAGE_SPLITS = {'fashion_mnist': 'test', 'digits': 'val'}
#: The printed name of each metric the demo studies report.
METRIC_LABELS = {'finetune_top1': 'fine-tuned from the pre-trained encoder',
                 'finetune_top1_from_scratch_tuned': 'trained from scratch (its own recipe)',
                 'finetune_top1_from_scratch': 'from scratch (pre-trained arm\'s recipe)',
                 'linear_probe_top1': 'linear probe, pre-trained',
                 'linear_probe_top1_random_init': 'linear probe, random init'}
DEFAULT_WORK_ROOT = 'work_dirs/demo'


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class DemoOptions:
    """What the demo may change in its study file; None keeps the file's value.

    An option replaces the value wherever the study file sets it; an option the chosen study has
    no place for is reported as ignored (e.g. ``ft_epochs`` for the digits' linear probe).

    Args:
        epochs: Pre-training epochs (>= 2): warm-up of a quarter (at least 1), cosine after.
        pretrain_images: Unlabelled training images used for pre-training
            (``train_dataloader.dataset.indices``).
        ft_epochs: Fine-tuning epochs of both arms (``finetune``'s ``epochs`` and its
            ``scratch`` control's).
        labels_per_class: Labelled images per class for fine-tuning.
    """

    epochs: Optional[int] = None
    pretrain_images: Optional[int] = None
    ft_epochs: Optional[int] = None
    labels_per_class: Optional[int] = None


def new_run_dir(base: Union[str, Path]) -> Path:
    """Create a fresh folder ``<base>/<timestamp>`` (``_1``, ``_2``, ... if taken).

    Args:
        base: Parent of the run folders; earlier runs in it are left as they are.

    Returns:
        Path: The new, empty folder.

    Raises:
        RuntimeError: If no new folder could be created.
    """
    stamp = time.strftime('%Y%m%d_%H%M%S')
    for n in range(1000):
        run_dir = Path(base) / (stamp if n == 0 else f'{stamp}_{n}')
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f'could not create a new run folder under {base} (1,000 names taken)')


def _override(data: Dict[str, Any], options: DemoOptions, data_root: Optional[str]
              ) -> Tuple[Dict[str, Any], List[str]]:
    """The loaded study file with the demo's options applied, and the options it had no place for.

    Args:
        data: The study file as loaded from YAML (not changed).
        options: The demo's options.
        data_root: Replaces every data root of the file (``prepare`` roots,
            ``train_dataloader.dataset.data_root``, evaluations' ``data_root``); None: kept.

    Returns:
        Tuple[dict, List[str]]: The changed study, and the names of the options it ignored.
    """
    from .evaluations import schedule_options

    data = copy.deepcopy(data)
    cfg = data.setdefault('cfg_options', {})
    evaluations = [e for e in data.get('evaluations') or [] if isinstance(e, dict)]
    used = set()

    def put(where: Dict[str, Any], key: str, value: Any, option: str) -> None:
        if value is not None and key in where:
            where[key] = value
            used.add(option)

    if options.epochs is not None:
        schedule = schedule_options(options.epochs, max(1, options.epochs // 4))
        for key, value in schedule.items():
            put(cfg, key, value, 'epochs')
    put(cfg, 'train_dataloader.dataset.indices', options.pretrain_images, 'pretrain_images')
    put(cfg, 'train_dataloader.dataset.data_root', data_root, 'data_root')
    for entry in data.get('prepare') or []:
        if isinstance(entry, dict):
            put(entry, 'root', data_root, 'data_root')
    for entry in evaluations:
        put(entry, 'data_root', data_root, 'data_root')
        put(entry, 'labels_per_class', options.labels_per_class, 'labels_per_class')
        put(entry, 'epochs', options.ft_epochs, 'ft_epochs')
        if isinstance(entry.get('scratch'), dict):
            put(entry['scratch'], 'epochs', options.ft_epochs, 'ft_epochs')
    ignored = [f.name for f in fields(options)
               if getattr(options, f.name) is not None and f.name not in used]
    return data, ignored


def demo_study(data: str, run_dir: Path, options: DemoOptions = DemoOptions(),
               data_root: Optional[Union[str, Path]] = None) -> Tuple[Study, List[str]]:
    """The demo's study for ``data``, with its options applied, run into ``run_dir``.

    Args:
        data: A key of :data:`DEMO_STUDIES`.
        run_dir: The run folder: the study's ``work_root``.
        options: Lengths replacing the study file's.
        data_root: Replaces every data root of the study file (relative: to the repository root).

    Returns:
        Tuple[Study, List[str]]: The study, and the options it had no place for.

    Raises:
        ValueError: For an unknown ``data``.
        StudySpecError: If an option makes the study invalid (the message names it).
    """
    import yaml

    if data not in DEMO_STUDIES:
        raise ValueError(f'data={data!r}: allowed {", ".join(DEMO_STUDIES)}')
    path = repo_path(DEMO_STUDIES[data])
    root = None if data_root is None else str(repo_path(data_root))
    changed, ignored = _override(yaml.safe_load(path.read_text()), options, root)
    return parse_study(changed, Path(DEMO_STUDIES[data]), work_root=run_dir), ignored


def prepare_demo(data: str, run_dir: Path, options: DemoOptions = DemoOptions(),
                 fashion_mnist_root: Optional[str] = None,
                 out: Callable[[str], None] = _print) -> Optional[Tuple[str, Study]]:
    """Choose the demo's data and prepare it (the study's ``prepare``, done once here).

    Args:
        data: One of :data:`DATA_CHOICES`.
        run_dir: The run folder (the digits are written into ``<run_dir>/data``).
        options: As :func:`demo_study`.
        fashion_mnist_root: Where Fashion-MNIST is prepared; None: the study file's.
        out: Prints the progress lines (what was prepared, what was skipped and why).

    Returns:
        ``(data, study)`` with the study's ``prepare`` done (and emptied), or None if
        ``data='fashion_mnist'`` and it cannot be prepared (the reason is printed).
    """
    from ..datasets.fashion_mnist import FashionMNISTSourceError
    from .launch import prepare_data

    if data not in DATA_CHOICES:
        raise ValueError(f'data={data!r}: allowed {", ".join(DATA_CHOICES)}')
    chosen = 'digits'
    if data in ('auto', 'fashion_mnist'):
        study, ignored = demo_study('fashion_mnist', run_dir, options, fashion_mnist_root)
        try:
            prepare_data(study, out=lambda line: out(f'    {line}'))
            chosen = 'fashion_mnist'
        except (FashionMNISTSourceError, ValueError) as e:
            if data == 'fashion_mnist':
                out(f'error: {e}')
                return None
            out(f'    Fashion-MNIST could not be prepared ({str(e).splitlines()[0][:160]}); '
                'falling back to the digits demo (linear probe)')
    if chosen == 'digits':
        study, ignored = demo_study('digits', run_dir, options, run_dir / 'data')
        prepare_data(study, out=lambda line: out(f'    {line}'))
    if ignored:
        flags = ', '.join('--' + name.replace('_', '-') for name in ignored)
        out(f'    {flags}: not used by {DEMO_STUDIES[chosen]}; ignored')
    return chosen, replace(study, prepare=())


class EpochProgress(threading.Thread):
    """Prints a line per finished epoch of trainings in work dirs that may appear meanwhile.

    Every watched work dir is read from mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json``
    (:func:`cmae_mm.study.logs.logged_entries`); of long trainings every ``epochs // 6``-th epoch
    and the last are shown, with ``loss`` and, when logged, ``rec_err_trivial``.

    Args:
        watched: ``(folder, glob pattern, label, epochs)``: the work dirs ``folder.glob(pattern)``
            are trainings of ``epochs`` epochs, shown as ``label``.
        out: Prints a line.
    """

    def __init__(self, watched: Sequence[Tuple[Path, str, str, int]],
                 out: Callable[[str], None] = _print) -> None:
        super().__init__(daemon=True)
        self.watched, self.out = list(watched), out
        self.stop = threading.Event()
        self.shown: Dict[Path, int] = {}
        self.t0 = time.time()

    def poll(self, final: bool = False) -> None:
        """Print the epochs finished since the last poll (``final``: the last one too)."""
        from .logs import logged_entries

        for folder, pattern, label, epochs in self.watched:
            for work_dir in sorted(folder.glob(pattern)):
                entries = logged_entries(work_dir, ('vis_data/scalars.json', ),
                                         lambda e: 'epoch' in e and 'loss' in e)
                last = {int(entry['epoch']): entry for _, entry in entries}
                every = max(1, epochs // 6)
                for epoch in sorted(e for e in last if e > self.shown.get(work_dir, 0)):
                    if epoch == max(last) and epoch < epochs and not final:
                        break  # this epoch may still be logging
                    self.shown[work_dir] = epoch
                    if epoch % every and epoch != epochs:
                        continue
                    values = ' '.join(f'{k} {last[epoch][k]:.4f}'
                                      for k in ('loss', 'rec_err_trivial') if k in last[epoch])
                    self.out(f'    {label} epoch {epoch}/{epochs}: {values} '
                             f'({time.time() - self.t0:.0f} s)')

    def run(self) -> None:
        """Poll every 2 s until :attr:`stop` is set."""
        while not self.stop.wait(2.0):
            self.poll()

    def finish(self) -> None:
        """Stop polling and print what is left."""
        self.stop.set()
        self.join()
        self.poll(final=True)


def _watched(study: Study, run: StudyRun) -> List[Tuple[Path, str, str, int]]:
    """The trainings of a demo study's run for :class:`EpochProgress`: pre-training, and
    ``finetune``'s arms when the study gives their ``epochs``."""
    from .state import inspect_run

    watched = [(run.work_dir.parent, run.work_dir.name, 'pre-training',
                inspect_run(run).max_units)]
    for name, options in study.evaluations:
        if name != 'finetune':
            continue
        controls = study.study_dir / 'controls'
        if options.get('epochs') is not None:
            watched.append((run.work_dir, 'finetune', 'fine-tuning pre-trained',
                            options['epochs']))
            if options.get('from_scratch', True):
                watched.append((controls, 'finetune-*', 'fine-tuning from scratch (same recipe)',
                                options['epochs']))
        scratch = options.get('scratch') or {}
        if scratch.get('epochs') is not None:
            watched.append((controls, 'scratch-*', 'fine-tuning from scratch', scratch['epochs']))
    return watched


def save_demo_reconstruction(run: StudyRun, checkpoint: Path, path: Path, split: str,
                             num_classes: int = 8, seed: int = 1) -> Path:
    """Save the reconstruction grid of one image of each of the first classes of a split.

    Args:
        run: The pre-training run (its config, with its options, builds the model; its
            ``train_dataloader.dataset.data_root`` holds the split).
        checkpoint: Its final checkpoint.
        path: The PNG to write (its JSON record goes next to it).
        split: Split of the data root (:func:`cmae_mm.study.evaluations.split_dataset`).
        num_classes: Rows: one image of each class ``0 .. num_classes - 1``.
        seed: Seed of the masks drawn.

    Returns:
        Path: The PNG (:func:`cmae_mm.analysis.save_reconstruction_grid`).

    Raises:
        ValueError: If the split lacks one of the classes (naming it).
    """
    import torch
    from mmengine.runner import set_random_seed

    from ..analysis import save_reconstruction_grid
    from .evaluations import build_model, iter_batches
    from .state import _run_config

    cfg = _run_config(run)
    model = build_model(cfg, checkpoint)
    root = repo_path(cfg.train_dataloader.dataset.data_root)
    found: Dict[int, torch.Tensor] = {}
    for batch in iter_batches(model, root, split, batch_size=64):
        for image, sample in zip(batch['inputs'], batch['data_samples']):
            found.setdefault(int(sample.gt_label), image)
        if all(c in found for c in range(num_classes)):
            break
    missing = [c for c in range(num_classes) if c not in found]
    if missing:
        raise ValueError(f'{root} ({split}): no image of class(es) {missing}; the grid shows '
                         f'classes 0..{num_classes - 1}')
    set_random_seed(seed)
    pre = cfg.data_preprocessor
    return save_reconstruction_grid(
        model, torch.stack([found[c] for c in range(num_classes)]), path, mean=pre.mean,
        std=pre.std, names=[f'class {c}' for c in range(num_classes)],
        meta=dict(config=run.spec.config, checkpoint=show_path(checkpoint), split=split))


def _headline(data: str, study: Study) -> str:
    """The line above the demo's results."""
    options = dict(study.evaluations).get('finetune')
    if data == 'fashion_mnist' and options is not None:
        return (f'Fashion-MNIST, {10 * options["labels_per_class"]} labels, test top-1 on the '
                f'10,000 test images (the same classifier, {options["epochs"]} epochs each):')
    from .data import DIGITS_COUNTS

    return f'Digits (fallback): linear probe top-1 on the {DIGITS_COUNTS["val"]} held-out digits'


def run_demo(data: str = 'auto', work_root: Optional[Union[str, Path]] = None,
             options: DemoOptions = DemoOptions(), fashion_mnist_root: Optional[str] = None,
             out: Callable[[str], None] = _print) -> int:
    """Run the demo into a new folder ``<work_root>/<timestamp>/`` and print its results.

    Steps: choose and prepare the data (:func:`prepare_demo`); run the demo study with the study
    runner (pre-training, then the study's evaluations; one progress line per epoch); save
    ``reconstruction.png`` (:func:`save_demo_reconstruction`) and ``summary.json``.

    Args:
        data: One of :data:`DATA_CHOICES`.
        work_root: Parent of the run folders (default: ``work_dirs/demo`` in the repository).
        options: Lengths replacing the study file's (:class:`DemoOptions`).
        fashion_mnist_root: Where Fashion-MNIST is prepared (default: the study file's,
            ``data/fashion_mnist``, shared by runs); relative: to the repository root.
        out: Prints a line.

    Returns:
        int: Exit code: 0, or 1 if the data could not be had or a step failed (said in a line).
    """
    import torch

    from .launch import run as run_study
    from .state import inspect_run

    t0 = time.time()
    run_dir = new_run_dir(repo_path(DEFAULT_WORK_ROOT) if work_root is None
                          else Path(work_root).resolve())
    out(f'\n==> [1/3] data (outputs in {run_dir})')
    chosen = prepare_demo(data, run_dir, options, fashion_mnist_root, out)
    if chosen is None:
        return 1
    data, study = chosen
    (run, ) = study.expand()
    epochs = inspect_run(run).max_units
    out(f'\n==> [2/3] pre-training {run.spec.notation} for {epochs} epochs, then '
        f'{", ".join(name for name, _ in study.evaluations)} ({DEMO_STUDIES[data]}, run by the '
        'study runner; every tool\'s full log is in the run folder)')
    progress = EpochProgress(_watched(study, run), out)
    progress.start()
    try:
        (outcome, ) = run_study(study, out=lambda text, end='\n': out(f'    {text}'))
    finally:
        progress.finish()
    if outcome['result'] is None:
        out(f'the demo study did not finish ({outcome["action"]}); see the lines above')
        return 1
    metrics = outcome['result']['metrics']

    out('\n==> [3/3] reconstruction grid')
    checkpoint = repo_path(outcome['result']['checkpoint'])
    png = save_demo_reconstruction(run, checkpoint, run_dir / 'reconstruction.png',
                                   IMAGE_SPLITS[data])
    summary = dict(data=data, study=DEMO_STUDIES[data], schedule=run.spec.notation,
                   epochs=epochs, results={k: round(v, 2) for k, v in metrics.items()},
                   evaluations=[dict(name=n, **o) for n, o in study.evaluations],
                   checkpoint=str(checkpoint), result=str(run.work_dir / 'result.json'),
                   reconstruction_png=str(png), work_dir=str(run_dir),
                   wall_time_s=round(time.time() - t0, 1), torch_threads=torch.get_num_threads())
    (run_dir / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    out('\n' + '=' * 72)
    out(_headline(data, study))
    for metric, value in summary['results'].items():
        out(f'  {METRIC_LABELS.get(metric, metric):<40}: {value:6.2f} %')
    out(f'  reconstruction grid : {png}')
    out(f'  outputs and logs    : {run_dir}   (wall time {summary["wall_time_s"]:.0f} s)')
    out('=' * 72)
    return 0

