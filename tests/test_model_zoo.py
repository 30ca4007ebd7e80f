"""The Model Zoo: generated from committed results, valid for the model-index tools, configs build."""
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

from cmae_mm.study.zoo import FAMILIES, render_zoo, write_zoo
from helpers import REPO


def test_committed_zoo_files_are_what_the_committed_results_produce():
    stale = write_zoo(REPO, check=True)
    assert not stale, f'regenerate with `python tools/study/study.py zoo`: {stale}'


def test_metafiles_pass_the_model_index_checks():
    from modelindex import load

    index = load(str(REPO / 'model-index.yml'))
    errors = [e for e in index.collect_check_errors() if e['errors']]
    assert not errors, errors
    names = {m.name for m in index.models}
    assert len(names) == sum(len(f.rows) for f in FAMILIES)


def metafile_models():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    for meta in index['Import']:
        for model in yaml.safe_load((REPO / meta).read_text())['Models']:
            yield model


@pytest.mark.parametrize('model', list(metafile_models()), ids=lambda m: m['Name'])
def test_every_listed_config_exists_and_builds(model):
    import cmae_mm.components  # noqa: F401
    from mmpretrain.registry import MODELS

    path = REPO / model['Config']
    assert path.is_file(), model['Config']
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(model['Metadata'].get('Config Options', {}))
    built = MODELS.build(cfg.model)
    assert hasattr(built.backbone, 'schedule')
    assert str(built.backbone.schedule).replace(' ', '') == model['Metadata']['Shot Schedule'].replace(' ', '')


def test_rows_without_a_run_say_so_and_paper_numbers_stay_in_their_column(tmp_path):
    files = render_zoo(tmp_path)  # no results anywhere: every suite cell must say so
    for family in FAMILIES:
        table = files[f'{family.folder}/README.md'].split('## Results')[1].split('## ')[0]
        rows = [line for line in table.splitlines() if line.startswith('| [')]
        assert len(rows) == len(family.rows)
        for row, spec in zip(rows, family.rows):
            cells = [c.strip() for c in row.strip('|').split('|')]
            assert cells[4] == 'no run yet'
            assert cells[5] == (spec.paper or '—')
    for meta in [f for f in files if f.endswith('metafile.yml')]:
        assert all(m['Results'] is None for m in yaml.safe_load(files[meta])['Models'])


@pytest.mark.parametrize('key', ['fashion_mnist', 'fashion_mnist_shot_layer'])
def test_fashion_mnist_rows_carry_the_study_schedule(key):
    """A user who runs a zoo row's config with its options gets the pre-training length and shot
    schedule of the study whose results the row shows."""
    from cmae_mm.study.zoo import FMNIST_STUDY_OPTIONS

    family = next(f for f in FAMILIES if f.key == key)
    for row in family.rows:
        study_file = REPO / 'configs/study' / f'{Path(row.result[0]).parent.name}.yml'
        study = yaml.safe_load(study_file.read_text())
        study_options = study.get('cfg_options') or {}
        if row.epochs == 5:
            assert dict(FMNIST_STUDY_OPTIONS).items() <= study_options.items()
        schedules = {(tuple(r['mask_layers']), tuple(r['mask_ratios'])) for r in study['runs']}
        options = dict(row.options)
        assert (tuple(options['model.backbone.mask_layers']),
                tuple(options['model.backbone.mask_ratios'])) in schedules, row.name
        cfg = Config.fromfile(str(REPO / row.config))
        assert row.epochs == study_options.get('train_cfg.max_epochs', cfg.train_cfg.max_epochs)
        cfg.merge_from_dict(dict(row.options))
        assert cfg.train_cfg.max_epochs == row.epochs
        assert cfg.param_scheduler[-1].end == row.epochs


def test_family_links_name_committed_files_and_render_under_their_table():
    linked = [(family, label, path) for family in FAMILIES for label, path in family.links]
    assert {family.key for family, _, _ in linked} >= {'fashion_mnist'}
    doc = render_zoo(REPO)['docs/model_zoo.md']
    for family, label, path in linked:
        assert (REPO / path).is_file(), (family.key, path)
        assert f'- {label}: [{path}](' in doc
    paths = [path for _, _, path in linked]
    assert 'docs/results/fmnist_paper_claims/report.md' in paths
