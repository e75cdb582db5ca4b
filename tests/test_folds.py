"""Cross-validation as run parameters (`-p folds K -p fold I`): folds partition the non-test samples, keep groups whole,
are stratified by class; each run keeps its out-of-fold predictions; the leaderboard pools folds like seeds."""
import json
from pathlib import Path
import numpy as np
import pytest
from eo_nb.convert import dataset_from_arrays
from eo_nb.loaders import fold_rows, dataloaders
from eo_nb.experiment import check_params

ROOT = Path(__file__).resolve().parents[1]

def _seg(tmp_path, n=24, groups=6):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, (n, 2, 16, 16)).astype('uint16')
    m = rng.integers(0, 2, (n, 16, 16)).astype('uint8')
    return dataset_from_arrays(x, 'segmentation', m, ['a', 'b'], ['B04', 'B08'], groups=[f'scene {i % groups}' for i in range(n)], dest=tmp_path/'seg')

def test_folds_partition_and_keep_groups_whole(tmp_path):
    ds = _seg(tmp_path)
    g = ds.index['group'].to_numpy()
    seen = []
    for f in range(3):
        tr, va = fold_rows(ds, 'segmentation', 3, f, seed=0)
        assert not set(g[tr]) & set(g[va]) and len(tr) + len(va) == len(ds)
        seen += va.tolist()
    assert sorted(seen) == list(range(len(ds)))
    with pytest.raises(ValueError, match=r"6 groups cannot fill 7 folds.*use fewer folds"): fold_rows(ds, 'segmentation', 7, 0)

def test_folds_are_stratified_and_reach_the_loaders(tmp_path):
    y = np.repeat(np.arange(3), 10)
    x = np.random.default_rng(1).normal(size=(30, 12, 1)).astype('float32')
    ds = dataset_from_arrays(x, 'pixel_series', y, ['a', 'b', 'c'], ['NDVI'], dest=tmp_path/'ps')
    tr, va = fold_rows(ds, 'pixel_series', 5, 4, seed=0)
    assert np.bincount(ds.labels[va]).tolist() == [2, 2, 2]
    dls = dataloaders(ds, folds=5, fold=4, seed=0, bs=4, device='cpu')
    assert dls.valid_ds.rows.tolist() == va.tolist() and dls.eo['n_train'] == 24

@pytest.mark.case(component='run.ipynb', kind='bad_input', guarantee='a fold outside 0..folds-1, or folds=1, is refused before any work, naming the range')
def test_bad_fold_refused():
    with pytest.raises(ValueError, match=r"fold=5 does not exist: use 0 .. 4"): check_params('rf', 'sample', folds=5, fold=5)
    with pytest.raises(ValueError, match=r"fold=2 does not exist: set folds"): check_params('rf', 'sample', fold=2)
    with pytest.raises(ValueError, match=r"folds=1 must be 0 \(off\) or at least 2"): check_params('rf', 'sample', folds=1)

def test_run_keeps_out_of_fold_predictions_and_the_leaderboard_pools_folds(tmp_path):
    papermill = pytest.importorskip('papermill')
    from eo_nb.leaderboard import collect, leaderboard
    for f in (0, 1):
        papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/f'out{f}.ipynb'), cwd=str(ROOT), kernel_name='python3', progress_bar=False,
                                   parameters=dict(model='rf', data='sample', folds=3, fold=f, out_dir=str(tmp_path/'runs'/f'fold{f}')))
    oof = [np.load(tmp_path/'runs'/f'fold{f}'/'valid_predictions.npz', allow_pickle=False) for f in (0, 1)]
    assert not set(oof[0]['rows']) & set(oof[1]['rows'])                      # two folds: disjoint validation samples
    z = oof[0]
    assert z['probs'].shape == (len(z['rows']), len(z['classes'])) and np.allclose(z['probs'].astype(float).sum(1), 1, atol=1e-2)
    cfg = json.loads((tmp_path/'runs'/'fold1'/'config.json').read_text())
    assert (cfg['params']['folds'], cfg['params']['fold']) == (3, 1)
    lb = leaderboard(collect(tmp_path/'runs'))
    assert len(lb) == 1 and int(lb['seeds'].iloc[0]) == 2
