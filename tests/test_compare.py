"""`eo_nb.compare` on run folders that `nbs/run.ipynb` itself wrote (the notebook 86a_compare tests it on hand-made
folders with known answers): the validation predictions it keeps are read, aligned by dataset row and tested."""
import json
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.slow
def test_compare_reads_run_folders_of_run_ipynb(tmp_path):
    papermill = pytest.importorskip('papermill')
    from eo_nb.compare import compare, ablation_table
    for name, bands in (('all', 'all'), ('rgb', 'B04,B03,B02')):                 # two entries, two folds each: four random forests
        for f in (0, 1):
            papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/f'{name}{f}.ipynb'), cwd=str(ROOT), kernel_name='python3',
                                       progress_bar=False, parameters=dict(model='rf', data='sample', bands=bands, folds=3, fold=f,
                                                                           out_dir=str(tmp_path/'runs'/f'{name}-f{f}')))
    res = compare(tmp_path/'runs', reference='bands=all')
    assert res.attrs['by'] == ['bands'] and res.attrs['reference'] == 'all'
    r = res.set_index('entry').loc['B04,B03,B02']
    rows = [np.load(tmp_path/'runs'/f'all-f{f}'/'valid_predictions.npz', allow_pickle=False)['rows'] for f in (0, 1)]
    assert (r['n_paired'], r['side'], r['samples']) == (2, 'valid', sum(map(len, rows)))     # both folds, every validation sample
    assert not r['note'].count('largest')                                                   # disjoint folds: McNemar pooled
    acc = {(n, f): json.loads((tmp_path/'runs'/f'{n}-f{f}'/'metrics.json').read_text())['valid']['accuracy'] for n in ('all', 'rgb') for f in (0, 1)}
    diff = np.mean([acc['rgb', f] - acc['all', f] for f in (0, 1)])
    assert r['diff'] == pytest.approx(diff) and r['boot_diff'] == pytest.approx(diff, abs=1 / r['samples'])   # the kept predictions score as metrics.json
    assert r['boot_lo'] <= r['boot_diff'] <= r['boot_hi'] and 0 <= r['p_mcnemar'] <= 1 and 0 < r['p_boot'] <= 1
    tex = ablation_table(tmp_path/'runs', fmt='latex', reference='bands=all')
    assert r'\toprule' in tex and 'B04,B03,B02 & ' in tex and 'all (ref.) & ' in tex
