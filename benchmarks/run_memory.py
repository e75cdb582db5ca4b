"""Memory of one papermill run of `nbs/run.ipynb` on a EuroSAT-size class folder, and the cold build rate of its dataset.

The issue's bar: `papermill nbs/run.ipynb ... -p data <folder> -p epochs 1` on a EuroSAT-size folder (27 000 tiles of
13x64x64 uint16, 2.8 GB) holds below 1.5 GB of anonymous memory (RssAnon + RssShmem summed over papermill and its
kernel; file pages of memory-mapped data do not count) for the whole run, and builds the dataset from cold files at
least as fast as the old in-RAM path (262 tiles/s then).

Steps (all in one run, each measured thing in its own process):
1. the folder: `--n` tiles in the 10 class sub-folders of `eurosat_ms_subset`, each tile a copy (shutil.copyfile,
   unique name) of that class's real tiles, cycled;
2. cold build: the folder's files are evicted from the page cache (`--drop_caches files`: fsync + posix_fadvise
   DONTNEED per file, which leaves other processes' cache alone; `global`: `sync; echo 3 > /proc/sys/vm/drop_caches`),
   the residency left is checked with `fincore`, then a subprocess runs
   `create_dataset(folder, dest=<workdir>/ds_build, n_workers=8, progress=False)`; its anonymous memory is sampled
   every 0.1 s; the dataset is deleted afterwards;
3. the old path: evicted again, a subprocess runs v0.1's `eo_dataloaders(folder, bs=32, device='cpu')` (every tile
   read into one array; kept as this benchmark's peer in `benchmarks/_v01_loader.py`);
4. the run: `EO_NB_DATA=<workdir>/eo_nb_data papermill nbs/run.ipynb <workdir>/out.ipynb -p data <folder> -p epochs 1
   -p out_dir <workdir>/run --no-progress-bar` from the project root (evicted first; the run converts the folder
   itself); anonymous memory summed over papermill and all its descendants every 0.2 s; per-cell peaks from
   papermill's cell timings;
5. the same run on the offline sample (`-p data sample`) for reference.

    .venv/bin/python benchmarks/run_memory.py [--n 27000] [--workdir DIR] [--keep] [--out benchmarks/results/run_memory.json]
"""
import argparse, json, os, platform, shlex, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('EO_NB_SHARED_DATA', ROOT.parent/'shared'/'data'))
PY, PM = ROOT/'.venv'/'bin'/'python', ROOT/'.venv'/'bin'/'papermill'

# ----------------------------------------------------------------------------------------------------------- memory
def _status(pid)->dict:
    out = {}
    try:
        for l in Path(f'/proc/{pid}/status').read_text().splitlines():
            if l.startswith(('RssAnon', 'RssShmem', 'RssFile', 'VmRSS', 'VmHWM')): out[l.split(':')[0]] = int(l.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError): pass
    return out

def _descendants(pid)->list:
    kids = []
    for t in Path(f'/proc/{pid}/task').glob('*/children'):
        try: kids += [int(c) for c in t.read_text().split()]
        except OSError: pass
    return kids + [g for k in kids for g in _descendants(k)]

def tree_mem(pid)->dict:
    "Anonymous (RssAnon + RssShmem), file-backed and total RSS in MB of `pid` and all its descendants, and the process count."
    anon = file = rss = 0; procs = [pid, *_descendants(pid)]; n = 0
    for p in procs:
        s = _status(p)
        if not s: continue
        n += 1; anon += s.get('RssAnon', 0) + s.get('RssShmem', 0); file += s.get('RssFile', 0); rss += s.get('VmRSS', 0)
    return dict(anon_mb=anon / 1024, file_mb=file / 1024, rss_mb=rss / 1024, n_procs=n)

class Sampler(threading.Thread):
    "Samples `tree_mem(pid)` every `interval` s (wall time, anon, file, rss) until stopped or the process is gone."
    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self._stop_ev = pid, interval, [], threading.Event()
        self.cpu = {}                                     # pid -> last seen user + system CPU seconds
    def _cpu(self):
        for p in [self.pid, *_descendants(self.pid)]:
            try: f = Path(f'/proc/{p}/stat').read_text().rsplit(')', 1)[1].split()
            except OSError: continue
            self.cpu[p] = (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
    def run(self):
        while not self._stop_ev.is_set():
            self._cpu()
            m = tree_mem(self.pid)
            if m['n_procs']: self.samples.append((time.time(), m['anon_mb'], m['file_mb'], m['rss_mb'], m['n_procs']))
            self._stop_ev.wait(self.interval)
    def stop(self): self._stop_ev.set(); self.join()
    def peak(self, col=1, t0=None, t1=None)->float:
        v = [s[col] for s in self.samples if (t0 is None or s[0] >= t0) and (t1 is None or s[0] <= t1)]
        return round(max(v), 1) if v else None

# ----------------------------------------------------------------------------------------------------------- files
def files_of(d): return [p for p in Path(d).rglob('*') if p.is_file()]
def tree_bytes(d): return sum(p.stat().st_size for p in files_of(d))

def make_folder(dest, n)->dict:
    "`n` tiles in the class sub-folders of eurosat_ms_subset: copies of each class's real tiles, cycled, unique names."
    src = SHARED/'eurosat_ms_subset'
    classes = sorted(d.name for d in src.iterdir() if d.is_dir())
    t0 = time.perf_counter()
    for i, c in enumerate(classes):
        tiles = sorted((src/c).glob('*.tif'))
        k = n // len(classes) + (i < n % len(classes))
        (dest/c).mkdir(parents=True, exist_ok=True)
        for j in range(k): shutil.copyfile(tiles[j % len(tiles)], dest/c/f'{c}_{j:05d}.tif')
    os.sync()
    return dict(n_tiles=n, classes=len(classes), bytes=tree_bytes(dest), seconds=round(time.perf_counter() - t0, 1))

def resident_pct(files, k=300)->float:
    "Share of the bytes of (up to `k` evenly spaced of) `files` that are in the page cache (`fincore`), or None without it."
    if not shutil.which('fincore'): return None
    sel = files[::max(1, len(files) // k)]
    try: out = subprocess.run(['fincore', '--bytes', '--noheadings', '--raw', '-o', 'RES,SIZE', *map(str, sel)],
                              capture_output=True, text=True, check=True).stdout.split()
    except (subprocess.CalledProcessError, OSError): return None
    res, size = sum(map(int, out[0::2])), sum(map(int, out[1::2]))
    return round(100 * res / max(size, 1), 2)

def make_cold(folder, how)->dict:
    "Evict the folder's tiles from the page cache; what was done and how much stayed resident."
    files = files_of(folder)
    before = resident_pct(files)
    if how == 'global':
        r = subprocess.run('sync; echo 3 > /proc/sys/vm/drop_caches', shell=True, capture_output=True, text=True)
        done, method = r.returncode == 0, 'sync; echo 3 > /proc/sys/vm/drop_caches'
    elif how == 'files':
        os.sync(); done, method = True, 'fsync + posix_fadvise(POSIX_FADV_DONTNEED) on every tile of the folder'
        for p in files:
            try:
                fd = os.open(p, os.O_RDONLY)
                try: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally: os.close(fd)
            except OSError: done = False
    else: done, method = False, 'none (files may be warm)'
    return dict(method=method, done=done, resident_pct_before=before, resident_pct_after=resident_pct(files))

def loadavg(): return [round(x, 2) for x in os.getloadavg()]

# ----------------------------------------------------------------------------------------------------------- children
BUILD = r'''
import json, sys, time, resource
t0 = time.perf_counter()
from eo_nb.convert import create_dataset
t1 = time.perf_counter()
c1 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
ds = create_dataset(sys.argv[1], dest=sys.argv[2], n_workers=8, progress=False)
t2 = time.perf_counter()
st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(('VmHWM', 'VmRSS'))}
ru = resource.getrusage(resource.RUSAGE_SELF)
print('RESULT ' + json.dumps(dict(import_s=t1 - t0, build_s=t2 - t1, n=len(ds), vmhwm_mb=st['VmHWM'] / 1024, cpu_s=ru.ru_utime + ru.ru_stime,
                                 cpu_s_import=c1)), flush=True)
'''

OLD = r'''
import json, sys, time, resource
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from _v01_loader import eo_dataloaders                 # the v0.1 in-memory path, the peer
t1 = time.perf_counter()
c1 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
dls = eo_dataloaders(sys.argv[1], bs=32, device='cpu', progress=False)
t2 = time.perf_counter()
n = len(dls.train_ds) + len(dls.valid_ds)
ru = resource.getrusage(resource.RUSAGE_SELF)
st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(('VmHWM', 'VmRSS'))}
print('RESULT ' + json.dumps(dict(import_s=t1 - t0, load_s=t2 - t1, n=n, X_mb=dls.train_ds.X.nbytes / 2**20 + dls.valid_ds.X.nbytes / 2**20,
                                 vmhwm_mb=st['VmHWM'] / 1024, cpu_s=ru.ru_utime + ru.ru_stime, cpu_s_import=c1)), flush=True)
'''

def run_measured(cmd, interval, env=None, log=None)->tuple:
    "Run `cmd` (list) from the project root, sampling its process tree; (returncode, wall s, sampler, stdout)."
    out = open(log, 'w') if log else subprocess.PIPE
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    s = Sampler(p.pid, interval); s.start()
    stdout, _ = p.communicate()
    wall = time.time() - t0
    s.stop()
    if log: out.close(); stdout = Path(log).read_text()
    return p.returncode, wall, s, stdout or '', t0

def _result(stdout):
    for l in stdout.splitlines():
        if l.startswith('RESULT '): return json.loads(l[7:])
    raise RuntimeError(f"The child printed no result:\n{stdout[-3000:]}")

def cold_build(folder, workdir, how, n)->dict:
    cold = make_cold(folder, how)
    dest = workdir/'ds_build'
    la = loadavg()
    rc, wall, s, out, _ = run_measured([str(PY), '-c', BUILD, str(folder), str(dest)], 0.1)
    if rc: raise RuntimeError(f"create_dataset failed ({rc}):\n{out[-3000:]}")
    r = _result(out)
    size = tree_bytes(dest)
    shutil.rmtree(dest, ignore_errors=True)
    return dict(call=f"create_dataset({str(folder)!r}, dest={str(dest)!r}, n_workers=8, progress=False)", page_cache=cold,
                tiles=r['n'], seconds=round(r['build_s'], 2), tiles_per_s=round(r['n'] / r['build_s'], 1),
                process_wall_s=round(wall, 2), import_s=round(r['import_s'], 2), cpu_s=round(r['cpu_s'] - r['cpu_s_import'], 1),
                peak_anon_mb=s.peak(1), peak_rss_mb=s.peak(3),
                vmhwm_mb=round(r['vmhwm_mb'], 1), dataset_bytes=size, loadavg_before=la, loadavg_after=loadavg(), samples=len(s.samples))

def old_path(folder, how)->dict:
    cold = make_cold(folder, how)
    la = loadavg()
    rc, wall, s, out, _ = run_measured([str(PY), '-c', OLD, str(folder), str(Path(__file__).resolve().parent)], 0.1)
    if rc: raise RuntimeError(f"eo_dataloaders failed ({rc}):\n{out[-3000:]}")
    r = _result(out)
    return dict(call=f"_v01_loader.eo_dataloaders({str(folder)!r}, bs=32, device='cpu', progress=False)", page_cache=cold,
                tiles=r['n'], seconds=round(r['load_s'], 2), tiles_per_s=round(r['n'] / r['load_s'], 1), process_wall_s=round(wall, 2),
                import_s=round(r['import_s'], 2), cpu_s=round(r['cpu_s'] - r['cpu_s_import'], 1), arrays_mb=round(r['X_mb'], 1), peak_anon_mb=s.peak(1), peak_rss_mb=s.peak(3),
                vmhwm_mb=round(r['vmhwm_mb'], 1), loadavg_before=la, loadavg_after=loadavg(), samples=len(s.samples))

def _cells(nb_path)->list:
    "Papermill's start / end time of each executed code cell, with its first line."
    import datetime
    nb = json.loads(Path(nb_path).read_text())
    cells = []
    for i, c in enumerate(nb['cells']):
        pm = c.get('metadata', {}).get('papermill', {})
        if c['cell_type'] != 'code' or not pm.get('start_time') or not pm.get('end_time'): continue
        ts = lambda s: datetime.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp()
        src = ''.join(c['source']).strip().splitlines()
        tags = c.get('metadata', {}).get('tags', [])
        cells.append(dict(index=i, tags=tags, first_line=src[0][:80] if src else '', start=ts(pm['start_time']), end=ts(pm['end_time'])))
    return cells

def _section(nb_path, idx)->str:
    "The markdown heading just above cell `idx`."
    nb = json.loads(Path(nb_path).read_text())
    for c in nb['cells'][idx::-1]:
        if c['cell_type'] == 'markdown':
            for l in ''.join(c['source']).splitlines():
                if l.startswith('#'): return l.lstrip('#').strip()
    return ''

def papermill_run(data, workdir, name, how=None, folder=None, points=200)->dict:
    env = dict(os.environ, EO_NB_DATA=str(workdir/f'eo_nb_data_{name}'))
    out_nb, out_dir = workdir/f'out_{name}.ipynb', workdir/f'run_{name}'
    cmd = [str(PM.relative_to(ROOT)), 'nbs/run.ipynb', str(out_nb), '-p', 'data', str(data), '-p', 'epochs', '1',
           '-p', 'out_dir', str(out_dir), '--no-progress-bar']
    cold = make_cold(folder, how) if folder else None
    la = loadavg()
    rc, wall, s, out, t0 = run_measured(cmd, 0.2, env=env, log=workdir/f'papermill_{name}.log')
    res = dict(command=f"EO_NB_DATA={shlex.quote(env['EO_NB_DATA'])} " + ' '.join(map(shlex.quote, cmd)), cwd=str(ROOT),
               returncode=rc, wall_s=round(wall, 1), peak_anon_mb=s.peak(1), peak_rss_mb=s.peak(3), peak_file_rss_mb=s.peak(2),
               max_processes=max((x[4] for x in s.samples), default=0), cpu_s=round(sum(s.cpu.values()), 1), samples=len(s.samples), sample_interval_s=0.2,
               loadavg_before=la, loadavg_after=loadavg())
    if cold: res['page_cache'] = cold
    if rc: res['log_tail'] = out[-3000:]
    m = out_dir/'metrics.json'
    if m.exists():
        met = json.loads(m.read_text())
        res['valid_accuracy'] = met['valid'].get('accuracy'); res['train_time_s'] = met.get('train_time_s')
    dsd = env['EO_NB_DATA'] + '/datasets'
    if Path(dsd).exists(): res['dataset_bytes'] = tree_bytes(dsd)
    if out_nb.exists():                                   # per-cell peaks (papermill's cell timings)
        cells = _cells(out_nb)
        res['cells'] = [dict(section=_section(out_nb, c['index']) or c['first_line'], first_line=c['first_line'], start_s=round(c['start'] - t0, 1),
                             seconds=round(c['end'] - c['start'], 1), peak_anon_mb=s.peak(1, c['start'], c['end']),
                             peak_rss_mb=s.peak(3, c['start'], c['end'])) for c in cells]
    step = max(1, len(s.samples) // points)
    keep = s.samples[::step]
    if s.samples and keep[-1] is not s.samples[-1]: keep.append(s.samples[-1])
    i_peak = max(range(len(s.samples)), key=lambda i: s.samples[i][1]) if s.samples else None
    if i_peak is not None and s.samples[i_peak] not in keep: keep = sorted(keep + [s.samples[i_peak]])
    res['series'] = dict(columns=['t_s', 'anon_mb', 'file_rss_mb', 'rss_mb'],
                         rows=[[round(x[0] - t0, 1), round(x[1], 1), round(x[2], 1), round(x[3], 1)] for x in keep])
    return res

def plot(run, dest, n, bar_mb=1500):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = run['series']['rows']
    t = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for c in run.get('cells', []):
        if c['seconds'] > 0.02 * (t[-1] or 1):
            ax.axvspan(c['start_s'], c['start_s'] + c['seconds'], alpha=0.12, color='C2' if 'Train' in c['section'] else 'C0')
            ax.text(c['start_s'] + c['seconds'] / 2, 50, c['section'].split()[0], ha='center', fontsize=7)
    ax.plot(t, [r[1] for r in rows], label='anonymous (RssAnon + RssShmem)', color='C3', lw=1.5)
    ax.plot(t, [r[3] for r in rows], label='RSS (incl. memory-mapped file pages)', color='0.5', lw=1, ls='--')
    ax.axhline(bar_mb, color='k', lw=0.8, ls=':'); ax.text(t[-1], bar_mb, 'bar 1.5 GB ', va='bottom', ha='right', fontsize=7)
    ax.set_xlabel('seconds since papermill started'); ax.set_ylabel('MB (papermill + kernel)')
    ax.set_title(f"papermill nbs/run.ipynb, {n} EuroSAT tiles, 1 epoch: peak anonymous {run['peak_anon_mb']:.0f} MB", fontsize=9)
    ax.legend(fontsize=7, loc='upper left'); ax.set_ylim(0, max(bar_mb * 1.15, max(r[3] for r in rows) * 1.05))
    fig.tight_layout()
    tmp = Path(dest).with_name('.' + Path(dest).name + '.tmp')
    fig.savefig(tmp, format='png', dpi=100); plt.close(fig); os.replace(tmp, dest)

def machine()->dict:
    import importlib.metadata as md
    mem = {l.split(':')[0]: int(l.split()[1]) for l in Path('/proc/meminfo').read_text().splitlines() if l.startswith(('MemTotal', 'MemAvailable'))}
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.processor())
    vers = {}
    for p in ('eo_nb', 'torch', 'fastai', 'numpy', 'rasterio', 'pandas', 'pyarrow', 'papermill', 'ipykernel'):
        try: vers[p] = md.version(p)
        except md.PackageNotFoundError: vers[p] = None
    return dict(host=platform.node(), platform=platform.platform(), python=platform.python_version(), cpu=cpu, cpus=os.cpu_count(),
                mem_total_gb=round(mem['MemTotal'] / 2**20, 1), mem_available_gb_at_start=round(mem['MemAvailable'] / 2**20, 1), versions=vers)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=27000, help='tiles in the folder')
    ap.add_argument('--workdir', default='', help='temp folder outside the repo (default: a new one under /work/tmp_run_memory or $TMPDIR)')
    ap.add_argument('--keep', action='store_true', help='keep the folder, datasets and runs')
    ap.add_argument('--drop_caches', choices=['files', 'global', 'none'], default='files',
                    help="files: evict the folder's tiles only (default; leaves other processes' cache alone); global: echo 3 > drop_caches")
    ap.add_argument('--skip_sample', action='store_true', help='skip the reference run on the offline sample')
    ap.add_argument('--min_free_gb', type=float, default=10)
    ap.add_argument('--previous', nargs='*', default=[], help="results of earlier runs of this script whose summaries are kept in this one's")
    ap.add_argument('--out', default='benchmarks/results/run_memory.json'); ap.add_argument('--png', default='benchmarks/results/run_memory.png')
    a = ap.parse_args()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('stopped (SIGTERM)'))   # the cleanup below still runs
    if not (SHARED/'eurosat_ms_subset').is_dir(): sys.exit(f"{SHARED/'eurosat_ms_subset'} is missing: set EO_NB_SHARED_DATA.")
    base = Path('/work/tmp_run_memory') if Path('/work').is_dir() else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    made = not a.workdir
    workdir = Path(a.workdir).resolve() if a.workdir else Path(tempfile.mkdtemp(prefix='run_memory_', dir=base))
    if ROOT in workdir.parents or workdir == ROOT: sys.exit(f"--workdir {workdir} is inside the project: use a folder outside it.")
    workdir.mkdir(parents=True, exist_ok=True)
    need = a.n * 110e3 * 2.2 / 1e9 + a.min_free_gb
    free = shutil.disk_usage(workdir).free / 1e9
    if free < need: sys.exit(f"{free:.1f} GB free under {workdir}; this run needs about {need:.1f} GB (folder + one dataset + {a.min_free_gb} GB margin).")
    res = dict(script='benchmarks/run_memory.py', args=vars(a), workdir=str(workdir), machine=machine(),
               bar=dict(peak_anon_mb=1500, build_tiles_per_s=262), started=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    def log(k, v): print(json.dumps({k: v}, default=str)[:2000], flush=True)
    folder = workdir/'eurosat_size'
    try:
        res['folder'] = dict(path=str(folder), **make_folder(folder, a.n)); log('folder', res['folder'])
        res['build_cold'] = cold_build(folder, workdir, a.drop_caches, a.n); log('build_cold', res['build_cold'])
        res['old_path'] = old_path(folder, a.drop_caches); log('old_path', res['old_path'])
        res['run'] = papermill_run(folder, workdir, 'eurosat', a.drop_caches, folder)
        log('run', {k: v for k, v in res['run'].items() if k != 'series'})
        if not a.keep: shutil.rmtree(folder, ignore_errors=True); shutil.rmtree(workdir/'eo_nb_data_eurosat', ignore_errors=True)
        if not a.skip_sample:
            res['sample_run'] = papermill_run('sample', workdir, 'sample')
            log('sample_run', {k: v for k, v in res['sample_run'].items() if k != 'series'})
        r = res['run']
        res['summary'] = dict(run_peak_anon_mb=r['peak_anon_mb'], run_peak_rss_mb=r['peak_rss_mb'], run_wall_s=r['wall_s'],
                              run_valid_accuracy=r.get('valid_accuracy'), meets_memory_bar=bool(r['returncode'] == 0 and r['peak_anon_mb'] < 1500),
                              old_path_peak_anon_mb=res['old_path']['peak_anon_mb'], old_path_peak_rss_mb=res['old_path']['peak_rss_mb'],
                              build_cold_tiles_per_s=res['build_cold']['tiles_per_s'], old_path_tiles_per_s=res['old_path']['tiles_per_s'],
                              build_vs_old=round(res['build_cold']['tiles_per_s'] / res['old_path']['tiles_per_s'], 2),
                              meets_build_bar=bool(res['build_cold']['tiles_per_s'] >= max(262, res['old_path']['tiles_per_s'])),
                              sample_run_peak_anon_mb=res.get('sample_run', {}).get('peak_anon_mb'))
        res['notes'] = [f"CPU: {os.cpu_count()} cores shared with other engineers' jobs (tests, benchmarks) running at the same time; "
                        "times are upper bounds, load averages recorded per step.",
                        f"Page cache: --drop_caches {a.drop_caches} ({res['build_cold']['page_cache']['method']}); "
                        "the residency of the tiles before/after eviction was checked with fincore on ~300 of them (resident_pct_*). "
                        "A global drop_caches was possible (root) but would have disturbed a concurrent cold-read benchmark; "
                        "per-file eviction makes the tiles as cold as a global drop would.",
                        "Anonymous memory = RssAnon + RssShmem of /proc/<pid>/status summed over the process and all its descendants "
                        "(papermill and its ipykernel for the runs); RSS additionally counts file pages, e.g. the memory-mapped shards, "
                        "which the kernel can drop.",
                        "The eurosat run converts the folder itself (fresh EO_NB_DATA), so its wall time includes the conversion.",
                        "The folder's tiles are copies of 120 real tiles: the same pictures are in the train and valid splits, so the "
                        "run's validation accuracy says only that training worked, not how well a model generalises."]
        prev = []
        for f in a.previous:
            q = json.loads(Path(f).read_text())
            prev.append(dict(file=str(f), started=q.get('started'), summary=q.get('summary'),
                             loadavg=dict(build=q.get('build_cold', {}).get('loadavg_before'), old_path=q.get('old_path', {}).get('loadavg_before'),
                                          run=q.get('run', {}).get('loadavg_before'))))
        if prev: res['previous_runs'] = prev
        res['finished'] = time.strftime('%Y-%m-%dT%H:%M:%S%z')
        sys.path.insert(0, str(ROOT))
        from eo_nb.core import write_json
        write_json(ROOT/a.out, res); log('summary', res['summary'])
        if r['series']['rows']: plot(r, ROOT/a.png, a.n); log('png', f"{a.png}: {(ROOT/a.png).stat().st_size} bytes")
    finally:
        if not a.keep:                                    # only what this script made
            for p in [folder, workdir/'ds_build', *workdir.glob('eo_nb_data_*'), *workdir.glob('run_*'), *workdir.glob('out_*.ipynb'),
                      *workdir.glob('papermill_*.log')]:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            if made: shutil.rmtree(workdir, ignore_errors=True)

if __name__ == '__main__': main()
