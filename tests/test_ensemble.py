"""`eo_nb ensemble RUN... --test DATA`: finished runs' probabilities averaged, scored like a run, written as a run folder;
runs that do not fit together are refused before anything is written."""
import json
import numpy as np
import pytest
from eo_nb.core import write_json
from eo_nb.data import resolve_data, split_folder
from eo_nb.loaders import dataloaders
from eo_nb.baselines import fit_baseline
from eo_nb.learner import save_baseline, eo_learner, save_run_model, evaluate
from eo_nb.sweep import main

@pytest.fixture
def runs(tmp_path):
    train, test = split_folder(resolve_data('sample'), tmp_path/'split', test_pct=0.25, seed=0)
    dls = dataloaders(train, bs=32, progress=False)
    out = []
    for seed in (0, 1):
        d = tmp_path/f'cnn{seed}'
        learn = eo_learner(dls, 'eo_cnn_small', out_dir=d, seed=seed)
        learn.fit_one_cycle(1, 3e-3)
        save_run_model(learn, d/'model.pth')
        write_json(d/'metrics.json', dict(valid=evaluate(learn)[0])); write_json(d/'config.json', dict(status='complete', params=dict(model='eo_cnn_small', seed=seed)))
        out.append(d)
    rf = tmp_path/'rf'; rf.mkdir()
    save_baseline(fit_baseline(dls, 'rf', n_estimators=10)[0], dls.eo, rf/'model.skops'); write_json(rf/'config.json', dict(status='complete'))
    out.append(rf)
    return out, test

def test_ensemble_command_writes_a_run_folder(runs, tmp_path, capsys):
    (r0, r1, _), test = runs
    assert main(['ensemble', str(r0), str(r1), '--test', str(test), '--weights', 'valid', '--out', str(tmp_path/'ens')]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out[out.index('{'):out.rindex('}') + 1])       # the scores printed (after the progress bar)
    m = json.loads((tmp_path/'ens'/'metrics.json').read_text())['test']
    assert shown['accuracy'] == m['accuracy'] and sum(map(sum, m['confusion_matrix'])) == 60
    cfg = json.loads((tmp_path/'ens'/'config.json').read_text())
    assert cfg['status'] == 'complete' and cfg['runs'] == [str(r0), str(r1)] and len(cfg['weights']) == 2
    (r0, r1, rf), test = runs                                                           # a forest run joins like a network
    assert main(['ensemble', str(r0), str(rf), '--test', str(test), '--weights', '1,3', '--out', str(tmp_path/'blend')]) == 0
    cfg = json.loads((tmp_path/'blend'/'config.json').read_text())
    assert cfg['runs'] == [str(r0), str(rf)] and cfg['weights'] == [1.0, 3.0]

@pytest.mark.case(component='ensembles', kind='bad_input', guarantee='an unfinished run, a random forest of eo_nb < 0.2 (a pickle, never loaded), or bad weights are refused by name before anything is written')
def test_ensemble_refuses_unfinished_runs_and_bad_weights(runs, tmp_path, capsys):
    (r0, r1, rf), test = runs
    old = tmp_path/'rf_old'; old.mkdir()                                             # a forest of eo_nb < 0.2: model.joblib, a pickle
    (old/'model.joblib').write_bytes(b'never opened'); write_json(old/'config.json', dict(status='complete'))
    assert main(['ensemble', str(r0), str(old), '--test', str(test), '--out', str(tmp_path/'e')]) == 2
    assert 'eo_nb never unpickles files' in capsys.readouterr().err
    write_json(r1/'config.json', dict(status='running'))
    assert main(['ensemble', str(r0), str(r1), '--test', str(test), '--out', str(tmp_path/'e')]) == 2
    assert "cnn1 is 'running', not complete" in capsys.readouterr().err
    assert main(['ensemble', str(r0), '--test', str(test), '--weights', '1,2']) == 2
    assert 'one non-negative number per run' in capsys.readouterr().err
    assert not (tmp_path/'e').exists()
