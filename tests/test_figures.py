"""Every figure quoted in README.md and benchmarks/README.md is backed by a committed results file (tools/check_figures.py).

The first test runs the check on the real documents and fails listing each unbacked figure (file:line, figure, why);
the others pin the extraction and matching rules on small known inputs, so that the check itself cannot quietly
stop finding figures."""
import importlib.util, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def cf():
    spec = importlib.util.spec_from_file_location('check_figures', ROOT/'tools'/'check_figures.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def test_every_readme_figure_is_backed(cf):
    figs, problems = cf.check()
    assert len(figs) > 300, f'only {len(figs)} figures found in {cf.DOCS}: the extraction is broken'
    assert not problems, (f'{len(problems)} problems (run python tools/check_figures.py --list):\n'
                          + '\n'.join(f'  {w}: {s}: {why}' for w, s, why in problems))

def test_what_counts_as_a_figure(cf):
    line = ('U-Net: pixel acc. **0.835**, 1.94× faster, 64 597 chips/s, 35 s, 76 % (torch 2.14.1, Python 3.11, Landsat-8, '
            '13-band 64×64 tiles, 2 433 × (40, 10), 120 tiles, 3 seeds, lr 3e-3, temperature 0.2, goal ≥ 0.97, `--epochs 150`, 0–2.5 s)')
    got = [(f['text'], f['unit']) for f in cf.figures_in(line)]
    assert got == [('0.835', ''), ('1.94', '×'), ('64 597', 'chips/s'), ('35', 's'), ('76', '%'), ('0', 's'), ('2.5', 's')], got

def test_table_columns_give_units_and_goals_are_skipped(cf):
    header = ['reader', 'chips/s', 'goal']
    assert [f['text'] for f in cf.figures_in('| TorchGeo | 42 | 50 |', ('row', header))] == ['42']
    assert [f['text'] for f in cf.figures_in('| reader | share of decompression (388 MB/s) | goal ≥ 0.5 |', ('header', header))] == ['388']

def test_rounding_and_scales(cf):
    fig = lambda text, unit='': cf.figures_in(f'{text}{unit}')[0]
    assert cf.backs(0.9234, fig('0.923')) and cf.backs(0.92349, fig('0.923'))
    assert not cf.backs(0.9236, fig('0.923')) and not cf.backs(0.92, fig('0.923'))
    assert cf.backs(0.761, fig('76', ' %')) and cf.backs(76.1, fig('76', ' %')) and not cf.backs(76.1, fig('0.76', '×'))
    assert cf.backs(7176.7, fig('7.2', ' GB')) and cf.backs(64597, fig('64 597', ' chips/s'))

def test_report_names_the_line_the_block_and_missing_scripts(cf, tmp_path, monkeypatch):
    (tmp_path/'benchmarks'/'results').mkdir(parents=True)
    (tmp_path/'benchmarks'/'speed.py').write_text('')
    (tmp_path/'benchmarks'/'results'/'speed.json').write_text(json.dumps({'ratio': 1.944, 'rows': [{'s': 35.2}]}))
    (tmp_path/'README.md').write_text('# x\n\n## Speed\n\n1.94× faster, 35 s (`benchmarks/speed.py`); 0.777 is made up.\n\n'
                                      '## Other\n\nno command here: 0.5 s. Cloud-Net 0.785 (published).\n')
    (tmp_path/'benchmarks'/'README.md').write_text('# B\n\n## Gone (`gone.py`)\n\n2 runs.\n')
    (tmp_path/'benchmarks'/'published.json').write_text(json.dumps({'figures': [
        dict(figure='0.785', doc='README.md', context='Cloud-Net', kind='published', source='Mohajerani & Saeedi 2019')]}))
    monkeypatch.setattr(cf, 'ROOT', tmp_path); monkeypatch.setattr(cf, 'RESULTS', tmp_path/'benchmarks'/'results')
    monkeypatch.setattr(cf, 'ALLOW', tmp_path/'benchmarks'/'published.json')
    figs, problems = cf.check()
    assert [(w, s, h.split(':')[0]) for w, s, h in figs] == [('README.md:5', '1.94 ×', 'results/speed.json'), ('README.md:5', '35 s', 'results/speed.json'),
                                                             ('README.md:5', '0.777', 'UNBACKED'), ('README.md:9', '0.5 s', 'UNBACKED'),
                                                             ('README.md:9', '0.785', 'published')]
    why = {(w, s): y for w, s, y in problems}
    assert 'in no results file' in why[('README.md:5', '0.777')]
    assert 'names no command' in why[('README.md:9', '0.5 s')]
    assert why[('benchmarks/README.md:3', 'gone.py')] == 'names a script that does not exist'

def test_parameter_table_defaults_are_checked_against_params(cf, tmp_path, monkeypatch):
    (tmp_path/'README.md').write_text('# x\n\n| parameter | default | meaning |\n|---|---|---|\n'
                                      '| `epochs`, `lr`, `bs`, `wd` | 8, 3e-3, 0, 0.05 | training |\n'
                                      '| `keep` | `best` | weights |\n| `tta` | True | TTA |\n')
    monkeypatch.setattr(cf, 'ROOT', tmp_path)
    problems = []
    rows = cf.check_params_table('README.md', problems)
    assert [i for i, _ in rows] == [5, 6, 7]                  # its numbers are not figures: the rows are left out of the check
    assert problems == [('README.md:6', 'keep = best', "the code default is 'last' (eo_nb.params.PARAMS)")]

def test_signed_figures_and_points_columns(cf):
    got = [(f['text'], f['value'], f['unit']) for f in cf.figures_in('| recipe | -3.4 to 15.6 | (−2.8) B04-3 |', ('row', ['entry', 'CI (% points)', 'x']))]
    assert got == [('-3.4', -3.4, 'points'), ('15.6', 15.6, 'points'), ('-2.8', -2.8, '')], got
    neg = cf.figures_in('| a | -3.4 |', ('row', ['entry', 'CI (% points)']))[0]
    assert cf.backs(-0.0339, neg) and not cf.backs(0.0339, neg)     # the sign is checked, not only the magnitude
