"""Training throughput of the eo_nb learner vs a bare PyTorch loop, and data loading vs training, for every task,
through the dataset on disk (`eo_nb.loaders.dataloaders`) on real samples.

The method of `train_throughput.py` (its timing callback is reused), for each task:
- the source is converted once into an eo_nb dataset in a temp folder (`create_dataset`), then
  `dataloaders(ds, task, bs=<task default>, crop=<task default>, splits=(train rows x k, valid rows))`: the train rows
  repeated `k` times (shuffled) so that one epoch has a fixed number of batches per task (`SPECS`, times `--scale`;
  about 5-10 s per epoch on 2 CPU cores); every batch is still read from the shards, normalised and augmented;
- the eo_nb fastai learner (`eo_learner(dls, model, seed=0, label_smoothing=0, wd=0.05)`, `learn.fit(1, lr)`; only
  the training phase is timed, via the learner's timing callback) and a bare PyTorch loop (a deepcopy of the learner's
  model, so the same initial weights; torch AdamW, the same lr and weight decay; the task's plain PyTorch loss:
  cross-entropy, with ignore_index for masks, or BCE with logits) train on the same DataLoader, one epoch at a time,
  alternating (eo_nb, bare, loading, eo_nb, bare, loading, ...) after one warm-up epoch of each; medians of the wall
  times are the headline; the best (shortest) epochs, the paired ratios (each learner epoch against the bare epoch
  that follows it, so a load that drifts during the run affects both) and the process CPU time (all threads,
  `time.process_time`) of each epoch are reported too: the CPU time is far less sensitive to other jobs on a shared
  machine;
- loading = the train DataLoader alone (the same reads, normalisation and augmentation, no model); reading = the
  dataset reads alone (`TaskDataset.get_batch` of shuffled batches: shards -> float32 tensors, no batch transforms),
  to show where loading time goes. `classification_64px` repeats classification with train_throughput.py's setting
  (bs 64, whole 64 px tiles) for comparison with the old in-RAM path's results.
Goals (the issue): eo_nb / bare >= 0.97 and loading / training >= 20 for every task. A task that misses one gets a
cProfile of one loading epoch, the training phase of one learner epoch and one bare epoch (top functions by own
time) in the results.

    .venv/bin/python benchmarks/train_throughput_tasks.py [--tasks classification segmentation ...] [--repeats 7] [--scale 1] [--out benchmarks/results/train_throughput_tasks.json]
"""
import argparse, copy, cProfile, io, json, math, os, platform, pstats, shutil, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import _TrainTimer                     # the training-phase timer of the classification benchmark
from eo_nb.core import write_json
from eo_nb.convert import create_dataset
from eo_nb.loaders import dataloaders, choose_split
from eo_nb.learner import eo_learner
from eo_nb.tasks import get_task

SHARED = Path(os.environ.get('EO_NB_SHARED_DATA', ROOT.parent/'shared'/'data'))
SPECS = {
    # batches: training batches per epoch (the train rows repeated as needed); about 5-10 s per epoch on 2 CPU cores
    'classification': dict(source='eurosat_ms_subset', model='eo_cnn', convert={}, batches=18),
    'classification_64px': dict(task='classification', source='eurosat_ms_subset', model='eo_cnn', convert={}, bs=64, crop=1., batches=3),  # train_throughput.py's setting
    'segmentation': dict(source='cloud38_landsat8', model='eo_cnn', convert=dict(size=64), batches=11),
    'multilabel': dict(source='bigearthnet_examples/BigEarthNet-S2-Example', model='eo_cnn', convert={}, batches=3),
    'pixel_series': dict(source='sits_timeseries/samples_modis_ndvi.npz', model='tempcnn', convert={}, batches=300),
    'timeseries': dict(source='eolearn_s2_timeseries/TestEOPatch', model='utae', convert=dict(size=20), batches=8),
}

class _TrainTimerCPU(_TrainTimer):
    "`_TrainTimer` (wall time of each training phase) that also keeps the process CPU time (all threads) of each."
    def before_fit(self): super().before_fit(); self.cpu = []
    def before_train(self): self.c0 = time.process_time(); super().before_train()
    def after_train(self): super().after_train(); self.cpu.append(time.process_time() - self.c0)

def _sync(t):
    if t.device.type == 'cuda': torch.cuda.synchronize()

def bare_epoch(model, dl, opt, loss_fn)->tuple:
    "One epoch of the textbook PyTorch loop over `dl` (batches of inputs..., target); its wall and process CPU time."
    model.train(); t0, c0 = time.perf_counter(), time.process_time()
    for *xb, yb in dl:
        loss = loss_fn(model(*xb), yb)
        loss.backward(); opt.step(); opt.zero_grad()
    _sync(yb)
    return time.perf_counter() - t0, time.process_time() - c0

def loading_epoch(dl)->tuple:
    "One epoch of the DataLoader alone; its wall and process CPU time."
    t0, c0 = time.perf_counter(), time.process_time(); n = 0
    for b in dl: n += len(b[0])
    _sync(b[0])
    return time.perf_counter() - t0, time.process_time() - c0

def bare_loss(task, ignore_index):
    "The plain PyTorch loss that matches the learner's (label_smoothing=0) for `task`."
    t = get_task(task)
    if t.target == 'labels': return torch.nn.BCEWithLogitsLoss()
    if t.target == 'mask': return torch.nn.CrossEntropyLoss(ignore_index=ignore_index)
    return torch.nn.CrossEntropyLoss()

def make_dls(ds, task, k, bs, crop, device, max_valid, stats=None):
    "DataLoaders over the dataset's train rows repeated `k` times and (at most `max_valid` of) its valid rows."
    tr, va = choose_split(ds, task)
    return dataloaders(ds, task, bs=bs, splits=(np.tile(tr, k), va[:max_valid]), crop=crop, stats=stats, device=device, progress=False), len(tr)

class _ProfileTrain(Callback):
    "cProfile of the training phase only (not validation or checkpoints)."
    order = -99
    def __init__(self, pr): self.pr = pr
    def before_train(self): self.pr.enable()
    def after_train(self): self.pr.disable()

def _package(path:str)->str:
    "The package a profiled function belongs to: 'C (torch ops, builtins)' for built-ins, else the top package of its file."
    if path == '~' or path.startswith('<'): return 'C (torch ops, builtins)'
    p = Path(path).parts
    if 'site-packages' in p: return p[p.index('site-packages') + 1]
    if 'eo_nb' in p: return 'eo_nb'
    return 'python stdlib' if 'lib' in p else Path(path).name

def _stats_top(pr, n):
    st = pstats.Stats(pr); total = sum(v[2] for v in st.stats.values())
    by_pkg = {}
    for k, v in st.stats.items(): by_pkg[_package(k[0])] = by_pkg.get(_package(k[0]), 0.) + v[2]
    rows = sorted(((v[2], v[3], k) for k, v in st.stats.items()), reverse=True)[:n]
    return dict(total_s=round(total, 3), own_s_by_package={k: round(v, 3) for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])},
                top=[dict(function=f"{Path(k[0]).name}:{k[1]}({k[2]})", own_s=round(tt, 3), cum_s=round(ct, 3),
                                                 own_pct=round(100 * tt / max(total, 1e-9), 1)) for tt, ct, k in rows])

def profile_top(fn, n=15)->dict:
    "The `n` functions with the most own time while `fn()` runs."
    pr = cProfile.Profile(); pr.enable(); fn(); pr.disable()
    return _stats_top(pr, n)

def profile_learner_epoch(learn, lr, n=15)->dict:
    "The `n` functions with the most own time in the training phase of one `learn.fit(1, lr)`."
    pr = cProfile.Profile(); cb = _ProfileTrain(pr)
    learn.add_cb(cb)
    try: learn.fit(1, lr)
    finally: learn.remove_cb(cb)
    return _stats_top(pr, n)

def read_epoch(dl, seed=0)->tuple:
    "The dataset reads of one epoch of `dl` alone (`get_batch` of shuffled batches: shards -> tensors, no transforms); wall and CPU s."
    view, bs = dl.dataset, dl.bs
    idx = np.random.default_rng(seed).permutation(len(view))
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(idx) - bs + 1, bs): view.get_batch(idx[i:i + bs])
    return time.perf_counter() - t0, time.process_time() - c0

def bench(name, spec, a, work, device)->dict:
    task = spec.get('task', name)
    t = get_task(task)
    bs = spec.get('bs', t.defaults['bs'])
    crop = spec.get('crop', t.defaults['crop'] if t.model_kind in ('image', 'segmentation') else 1.)
    src = SHARED/spec['source']
    t0 = time.perf_counter()
    ds = create_dataset(src, dest=work/f'ds_{name}', progress=False, **spec['convert'])
    convert_s = time.perf_counter() - t0
    n_tr = len(choose_split(ds, task)[0])
    k = max(1, math.ceil(max(1, round(spec['batches'] * a.scale)) * bs / n_tr))     # the train rows repeated k times
    dls, _ = make_dls(ds, task, k, bs, crop, device, a.max_valid)
    n = len(dls.train) * bs
    learn = eo_learner(dls, spec['model'], seed=0, label_smoothing=0, wd=a.wd, out_dir=work/f'learn_{name}')
    lf = bare_loss(task, dls.eo['ignore_index'])
    learn.remove_cb(ProgressCallback); learn.logger = lambda *a, **k: None     # no per-epoch printing
    timer = _TrainTimerCPU(); learn.add_cb(timer)
    bare = copy.deepcopy(learn.model)
    opt = torch.optim.AdamW(bare.parameters(), lr=a.lr, weight_decay=a.wd)
    learn.fit(1, a.lr); bare_epoch(bare, dls.train, opt, lf); loading_epoch(dls.train)    # warm-up
    fa, pt, ld, rd = [], [], [], []                       # (wall s, CPU s) per epoch
    for i in range(a.repeats):
        learn.fit(1, a.lr); fa.append((timer.times[-1], timer.cpu[-1]))
        pt.append(bare_epoch(bare, dls.train, opt, lf))
        ld.append(loading_epoch(dls.train))
        rd.append(read_epoch(dls.train, i))
    xb = dls.one_batch()
    med = lambda v, i=0: statistics.median(x[i] for x in v)
    best = lambda v, i=0: min(x[i] for x in v)
    r = dict(name=name, task=task, source=spec['source'], model=spec['model'], n_params=sum(p.numel() for p in bare.parameters()),
             sample_shape=list(ds.keys['image']['shape']), batch_shapes=[list(b.shape) for b in xb], bs=bs, crop=crop,
             dataset_samples=len(ds), train_rows=n_tr, repeat_k=k, samples_per_epoch=n, batches_per_epoch=len(dls.train),
             convert_s=round(convert_s, 2), eo_nb_samples_s=n / med(fa), bare_samples_s=n / med(pt), loading_samples_s=n / med(ld),
             reading_samples_s=n / med(rd),
             eo_nb_epoch_s=[round(x[0], 3) for x in fa], bare_epoch_s=[round(x[0], 3) for x in pt], loading_epoch_s=[round(x[0], 3) for x in ld],
             eo_nb_epoch_cpu_s=[round(x[1], 3) for x in fa], bare_epoch_cpu_s=[round(x[1], 3) for x in pt], loading_epoch_cpu_s=[round(x[1], 3) for x in ld])
    r['best'] = dict(eo_nb_samples_s=n / best(fa), bare_samples_s=n / best(pt), loading_samples_s=n / best(ld),
                     ratio_eo_nb_vs_bare=best(pt) / best(fa), loading_vs_training=best(fa) / best(ld))
    r['cpu_time'] = dict(eo_nb_samples_per_cpu_s=n / med(fa, 1), bare_samples_per_cpu_s=n / med(pt, 1), loading_samples_per_cpu_s=n / med(ld, 1),
                         ratio_eo_nb_vs_bare=med(pt, 1) / med(fa, 1), loading_vs_training=med(fa, 1) / med(ld, 1))
    pairs = [b[0] / e[0] for e, b in zip(fa, pt)]          # each learner epoch against the bare epoch right after it
    r['paired'] = dict(ratio_eo_nb_vs_bare=statistics.median(pairs), ratios=[round(x, 3) for x in pairs])
    r['ratio_eo_nb_vs_bare'] = r['eo_nb_samples_s'] / r['bare_samples_s']
    r['loading_vs_training'] = r['loading_samples_s'] / r['eo_nb_samples_s']
    r['reading_vs_training'] = r['reading_samples_s'] / r['eo_nb_samples_s']      # the dataset reads alone, without the batch transforms
    nb = max(len(dls.train), 1)                                                      # the learner's extra time per batch
    r['eo_nb_minus_bare_ms_per_batch'] = dict(wall=1e3 * (med(fa) - med(pt)) / nb, cpu=1e3 * (med(fa, 1) - med(pt, 1)) / nb)
    r['meets_ratio'], r['meets_loading'] = bool(r['ratio_eo_nb_vs_bare'] >= 0.97), bool(r['loading_vs_training'] >= 20)
    if not (r['meets_ratio'] and r['meets_loading']) and a.profile:
        r['profile_loading_epoch'] = profile_top(lambda: loading_epoch(dls.train))
        r['profile_eo_nb_epoch'] = profile_learner_epoch(learn, a.lr)
        r['profile_bare_epoch'] = profile_top(lambda: bare_epoch(bare, dls.train, opt, lf))
    return r

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tasks', nargs='+', default=list(SPECS), choices=list(SPECS))
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--scale', type=float, default=1., help="multiplies each task's batches per epoch")
    ap.add_argument('--max_valid', type=int, default=32, help='validation rows (not timed; kept small)')
    ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--wd', type=float, default=0.05)
    ap.add_argument('--no_profile', dest='profile', action='store_false')
    ap.add_argument('--out', default='')
    a = ap.parse_args()
    torch.manual_seed(0)
    missing = [SPECS[t]['source'] for t in a.tasks if not (SHARED/SPECS[t]['source']).exists()]
    if missing: sys.exit(f"Missing real samples under {SHARED}: {missing} (set EO_NB_SHARED_DATA).")
    device = torch.device('cuda') if torch.cuda.is_available() else torch.device('cpu')
    work = Path(tempfile.mkdtemp(prefix='eo_nb_tput_'))
    rows, t_start = [], time.perf_counter()
    try:
        for task in a.tasks:
            t0 = time.perf_counter(); la = [round(x, 2) for x in os.getloadavg()]
            r = bench(task, SPECS[task], a, work, device)
            r.update(wall_s=round(time.perf_counter() - t0, 1), loadavg_before=la, loadavg_after=[round(x, 2) for x in os.getloadavg()])
            rows.append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if not k.startswith('profile')}), flush=True)
    finally: shutil.rmtree(work, ignore_errors=True)
    import importlib.metadata as md
    dev = torch.cuda.get_device_name(0) if device.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores)'
    res = dict(args=vars(a), device=dev, torch=torch.__version__, fastai=md.version('fastai'), python=platform.python_version(),
               host=platform.node(), wall_s=round(time.perf_counter() - t_start, 1),
               goals=dict(ratio_eo_nb_vs_bare=0.97, loading_vs_training=20),
               notes=["CPU cores shared with other engineers' jobs running at the same time (load averages per task): alternating epochs "
                      "and medians make the ratio robust to that, absolute rates are lower bounds.",
                      "Each epoch repeats the small real samples' train rows k times (shuffled); every batch is read from the dataset's "
                      "memory-mapped shards. Validation (32 rows at most) is not timed."],
               rows=rows)
    if a.out: write_json(ROOT/a.out, res)

if __name__ == '__main__': main()
