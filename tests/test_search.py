"""Hyper-parameter search (eo_nb.search): a search killed with SIGKILL (its whole process tree) in the middle of a trial
goes on when run again — the trial left RUNNING is marked interrupted, its point queued again and its run folder
resumed — and the budget of trials still holds; bad search sections are refused before anything runs. The trials run
a stand-in for run.ipynb (a tiny notebook with the same folder contract), so this costs seconds."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest

psutil = pytest.importorskip('psutil')
optuna = pytest.importorskip('optuna')
nbformat = pytest.importorskip('nbformat')
from eo_nb.search import check_search, run_search, search_summary, open_study, load_search
from eo_nb.leaderboard import run_status

FAKE = """import json, math, time
from pathlib import Path
out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
params = dict(epochs=epochs, lr=lr)
(out/'config.json').write_text(json.dumps(dict(status='running', params=params)))
h = out/'history.csv'
done = len(h.read_text().splitlines()) - 1 if h.exists() else 0
if not done: h.write_text('epoch,train_loss,valid_loss,accuracy,time\\n')
acc = 0.9 - 0.2 * abs(math.log10(lr) + 2)
for e in range(done, epochs):
    time.sleep(0.4)
    with h.open('a') as f: f.write(f'{e},1.0,{1 - acc},{acc + 0.01 * e},00:01\\n')
(out/'metrics.json').write_text(json.dumps(dict(valid=dict(accuracy=acc + 0.01 * (epochs - 1)))))
(out/'config.json').write_text(json.dumps(dict(status='complete', params=params)))
"""

def _fake_notebook(path)->Path:
    "A stand-in for run.ipynb: an epoch every 0.4 s, accuracy from lr, a folder with part of a history resumed from there."
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}})
    p = nbformat.v4.new_code_cell("epochs: int = 4  # training epochs\nlr: float = 0.003  # peak learning rate\nout_dir: str = ''  # results folder")
    p.metadata['tags'] = ['parameters']
    nb.cells = [p, nbformat.v4.new_code_cell(FAKE)]
    nbformat.write(nb, str(path))
    return Path(path)

def _kill_tree(proc):
    "SIGKILL `proc` and every process under it (the Jupyter kernel runs in a session of its own)."
    procs = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
    for p in procs:
        try: p.send_signal(signal.SIGSTOP)
        except psutil.NoSuchProcess: pass
    for p in procs:
        try: p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess: pass
    psutil.wait_procs(procs, timeout=30); proc.wait(30)

@pytest.mark.case(component='search', kind='fault',
                  guarantee='a search killed during a trial goes on when run again: the trial resumes in the same run folder, the budget of trials holds')
def test_search_killed_and_rerun_resumes_its_trial(tmp_path):
    nb = _fake_notebook(tmp_path/'fake.ipynb')
    f = tmp_path/'s.yaml'
    f.write_text(json.dumps(dict(name='s', notebook=str(nb), fixed={'epochs': 4}, search=dict(
        sampler='random', sampler_seed=0, trials=2, pruner='none', space={'lr': {'low': 1e-3, 'high': 1e-1, 'log': True}}))))
    root = tmp_path/'out'/'s'
    cmd = [sys.executable, '-c', 'import sys; from eo_nb.sweep import main; sys.exit(main(sys.argv[1:]))', 'sweep', str(f), '--out', str(tmp_path/'out')]
    with open(tmp_path/'log', 'wb') as log:
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    try:
        t0 = time.time()
        while not any(len(h.read_text().splitlines()) >= 3 for h in root.glob('*/history.csv') if h.exists()):   # two epochs of the first trial
            assert proc.poll() is None, (tmp_path/'log').read_text()[-3000:]
            assert time.time() - t0 < 300, 'the search never reached its second epoch'
            time.sleep(0.05)
    finally: _kill_tree(proc)
    killed = next(h.parent for h in root.glob('*/history.csv'))
    n = len(pd.read_csv(killed/'history.csv'))
    assert 2 <= n < 4 and run_status(killed) == 'interrupted' and (root/'.sweep.lock').exists()
    assert list(search_summary(optuna.load_study(study_name='s', storage=f"sqlite:///{root/'study.db'}"))['state']) == ['running']
    res = run_search(f, out_root=tmp_path/'out', progress=False, poll=0.2)
    assert list(res['state']) == ['interrupted', 'complete', 'complete'], res
    assert res['run'][0] == res['run'][1] == killed.name and res['lr'][0] == res['lr'][1]
    h = pd.read_csv(killed/'history.csv')
    assert list(h['epoch']) == [0, 1, 2, 3] and run_status(killed) == 'complete'     # resumed: each epoch once
    assert res['value'][1] == h['accuracy'].iloc[-1]
    assert len(run_search(f, out_root=tmp_path/'out', progress=False)) == 3            # budget spent: nothing more runs

BAD = [({'space': {'lr': {'low': 1e-2, 'high': 1e-4}}, 'trials': 2}, 'low=0.01 is above high=0.0001'),
       ({'space': {'label_smooth': {'low': 0.0, 'high': 0.2}}, 'trials': 2}, "Did you mean 'label_smoothing'"),
       ({'space': {'crop': {'low': -1.0, 'high': 1.0}}, 'trials': 2}, 'which a run refuses: crop must be'),
       ({'space': {'lr': {'low': 1e-4, 'high': 1e-2}}}, 'a search needs a budget'),
       ({'space': {'lr': {'low': 1e-4, 'high': 1e-2}}, 'trials': 2, 'pruner': 'hyperband'}, "'hyperband' is not one of median, none")]

@pytest.mark.case(component='search', kind='bad_input', guarantee='a bad search section (range, name, budget, pruner) is refused before anything runs, naming the fix')
@pytest.mark.parametrize('search,msg', BAD, ids=['low>high', 'unknown-name', 'out-of-range', 'no-budget', 'bad-pruner'])
def test_bad_search_section(search, msg, tmp_path):
    with pytest.raises(ValueError, match=re.escape(msg)): load_search({'search': search}, out_root=tmp_path)
    assert not any(tmp_path.iterdir())
