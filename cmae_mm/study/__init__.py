"""The paper's ImageNet-100 study grid, and a runner for studies written as YAML files.

* :mod:`.grid` - the ImageNet-100 grid (members, names, families).
* :mod:`.spec` - study files: parsing, validation, expansion into (run, seed) jobs.
* :mod:`.runner` - ``plan``, ``run``, ``collect`` (from :mod:`.state`, :mod:`.launch`,
  :mod:`.locking`, :mod:`.collecting`); :mod:`.report` - ``report``.
* :mod:`.evaluations` - evaluations by name (``linear_probe``); :mod:`.data` - datasets to prepare.
* :mod:`.dense` - the dense transfer evaluations (``segmentation``, ``detection``).

Command line: ``python tools/study/study.py {plan,run,collect,report} STUDY.yml``.
"""
from .grid import FAMILIES, StudyMember, in100_study
from .report import report
from .runner import collect, inspect_run, plan, run
from .spec import RunSpec, Study, StudyRun, StudySpecError, load_study, parse_study

__all__ = ['FAMILIES', 'RunSpec', 'Study', 'StudyMember', 'StudyRun', 'StudySpecError', 'collect',
           'in100_study', 'inspect_run', 'load_study', 'parse_study', 'plan', 'report', 'run']
