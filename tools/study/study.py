"""Plan, run, collect and report a study file (cmae_mm/study/spec.py describes the format).

    python tools/study/study.py plan    configs/study/digits_mae_vs_cmae.yml
    python tools/study/study.py run     configs/study/digits_mae_vs_cmae.yml [--dry-run]
    python tools/study/study.py run     STUDY.yml --launcher dist --gpus 8
    python tools/study/study.py run     STUDY.yml --launcher slurm --partition PART --gpus 8
    python tools/study/study.py run     STUDY.yml --only mae_seed0 --train-only   # evaluate later
    python tools/study/study.py controls STUDY.yml --seeds 0 1   # the seeds' controls, meanwhile
    python tools/study/study.py collect configs/study/digits_mae_vs_cmae.yml
    python tools/study/study.py collect STUDY.yml --merge docs/results/<study>/results.json
    python tools/study/study.py report  configs/study/digits_mae_vs_cmae.yml
    python tools/study/study.py claims  configs/study/fmnist_pt5e.yml --out-dir docs/results/fmnist_paper_claims
    python tools/study/study.py zoo [--check]    # Model Zoo files from the committed results

Runs go to <work_root>/<study>/<run>_seed<k> (work_root: the study's, default work_dirs/studies;
--work-root overrides it). `run` skips finished runs and resumes interrupted ones; several
`run --only` processes may work on disjoint runs of one study at once (per-run locks; a control
shared by runs is computed once, under a lock). `collect` writes
<work_root>/<study>/results.{json,csv}; `report` reads results.json and writes report.md and the
figures next to it (or into --out-dir); `claims` reports the paper's claims (attention, CKA,
robustness, reversed attention, per-shot losses: cmae_mm/study/claims.py) from results.json and
the runs' work dirs into --out-dir (default <study folder>/claims). `zoo` regenerates the Model Zoo (metafiles, READMEs,
docs/model_zoo.md) from the results committed under docs/results/; `zoo --check` fails if a
committed file is stale.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

from cmae_mm.study import StudySpecError, collect, load_study, plan, report, run
from cmae_mm.study.runner import (STUDY_LAUNCHERS, StudyLockedError, compute_controls, plan_text,
                                  prepare_data)
from cmae_mm.study.zoo import write_zoo


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=('plan', 'run', 'controls', 'collect', 'report', 'claims',
                                                'zoo'))
    parser.add_argument('study', nargs='?', help='study file (YAML); not for zoo')
    parser.add_argument('--check', action='store_true', help='zoo: only list stale files')
    parser.add_argument('--work-root', help='parent of the study folder (overrides work_root)')
    parser.add_argument('--launcher', choices=STUDY_LAUNCHERS, default='local',
                        help='run: tools/train.py (local), tools/dist_train.sh (dist) or '
                        'tools/slurm_train.sh (slurm)')
    parser.add_argument('--gpus', type=int, default=1, help='run: processes per run (dist, slurm)')
    parser.add_argument('--partition', help='run: slurm partition')
    parser.add_argument('--dry-run', action='store_true', help='run: print the commands only')
    parser.add_argument('--only', nargs='+', metavar='RUN',
                        help='run: only these runs (<run> for all seeds, <run>_seed<k>)')
    parser.add_argument('--seeds', nargs='+', type=int, metavar='K',
                        help='controls: only these seeds (default: all)')
    parser.add_argument('--train-only', action='store_true',
                        help='run: pre-train only, evaluate later (no result.json is written)')
    parser.add_argument('--merge', metavar='RESULTS_JSON',
                        help='collect: take runs with an empty work dir from this earlier '
                        'results.json of the same study (a study continued elsewhere)')
    parser.add_argument('--out-dir', help='report, claims: output folder (default: the study '
                        'folder; claims: <study folder>/claims)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Do the command; returns the exit code (1 if a run failed, 2 for a bad study file)."""
    args = parse_args(argv)
    if args.command == 'zoo':
        files = write_zoo(check=args.check)
        if args.check:
            print('\n'.join(f'stale: {f}' for f in files) or 'the Model Zoo files are up to date')
            return int(bool(files))
        print('\n'.join(f'wrote {f}' for f in files))
        return 0
    if args.study is None:
        print(f'error: {args.command} needs a study file', file=sys.stderr)
        return 2
    try:
        study = load_study(args.study, args.work_root)
    except (FileNotFoundError, StudySpecError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.command == 'plan':
        print(plan_text(study, plan(study)))
    elif args.command == 'run':
        try:
            outcomes = run(study, args.launcher, args.gpus, args.partition, args.dry_run,
                           args.only, train_only=args.train_only)
        except (ValueError, StudyLockedError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        return int(any(o['action'] == 'failed' for o in outcomes))
    elif args.command == 'controls':
        try:
            prepare_data(study)
            compute_controls(study, args.seeds)
        except ValueError as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
    elif args.command == 'collect':
        try:
            results = collect(study, Path(args.merge) if args.merge else None)
        except (OSError, ValueError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        done = sum(bool(r['metrics']) for r in results['runs'])
        print(f'{done}/{len(results["runs"])} runs with results -> '
              f'{study.study_dir / "results.json"} (and results.csv)')
    else:
        results_file = study.study_dir / 'results.json'
        if not results_file.is_file():
            print(f'error: {results_file} not found; run `collect` first', file=sys.stderr)
            return 2
        if args.command == 'claims':
            from cmae_mm.study.claims_report import claims_report

            out = Path(args.out_dir) if args.out_dir else study.study_dir / 'claims'
            print('\n'.join(f'wrote {p}' for p in claims_report(
                results_file, out, study.study_dir, study.description or '')))
            return 0
        written = report(results_file, Path(args.out_dir) if args.out_dir else study.study_dir)
        print('\n'.join(f'{k}: {v}' for k, v in written.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
