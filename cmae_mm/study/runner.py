"""Plan, run, collect and report a study (:mod:`cmae_mm.study.spec`) with the repo's own tools.

This module gathers the study runner's public names; the code lives in one module per job:

* :mod:`cmae_mm.study.state` - what a run's work dir holds (:class:`RunState`,
  :func:`inspect_run`) and :func:`plan`: one row per (run, seed) with its config, options, work
  dir, status (``done`` / ``partial`` / ``todo``) and the GPU-hours still to spend (with
  ``epoch_hours``).
* :mod:`cmae_mm.study.launch` - :func:`run`: launches every unfinished run in a subprocess
  through ``tools/train.py`` (``local``), ``tools/dist_train.sh`` (``dist``) or
  ``tools/slurm_train.sh`` (``slurm``), resuming runs that have a checkpoint, then runs the
  study's evaluations and writes ``<work_dir>/result.json``. Finished runs are skipped; an
  existing ``result.json`` is never overwritten.
* :mod:`cmae_mm.study.locking` - :func:`study_lock`: one ``run`` per study (or per run).
* :mod:`cmae_mm.study.collecting` - :func:`collect`: reads every work dir (mmengine's
  ``<timestamp>/vis_data/scalars.json`` and ``result.json``) into
  ``<work_root>/<study>/results.{json,csv}``.
* :func:`report` (from :mod:`cmae_mm.study.report`) - markdown table and figures.

Subprocesses run in the repository root, so relative paths in a study (configs, data roots in
``cfg_options``) mean the same for the training tools and for the evaluations.
"""
from .collecting import collect, read_training_log
from .launch import STUDY_LAUNCHERS, run, train_command
from .locking import StudyLockedError, study_lock
from .report import report
from .state import RunState, format_table, inspect_run, plan, plan_text

# Not in __all__, importable from here as before the split (tools/study/study.py, tests):
from .collecting import machine_label  # noqa: F401
from .launch import (TRAIN_LOG, added_evaluations, compute_controls, evaluate_run,  # noqa: F401
                     git_state, prepare_data)
from .locking import LOCK_FILE  # noqa: F401
from .state import CHECKPOINT, RESULT_FILE, _run_config  # noqa: F401

__all__ = ['STUDY_LAUNCHERS', 'RunState', 'StudyLockedError', 'collect', 'format_table', 'inspect_run', 'plan', 'plan_text',
           'read_training_log', 'report', 'run', 'study_lock', 'train_command']
