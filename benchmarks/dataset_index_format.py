"""The index of an eo_nb dataset: Parquet (pyarrow, what `eo_nb.store` writes) vs CSV (pandas, what the chip store wrote).

Builds an index of `--n` rows like a converted EuroSAT-style dataset: the columns of `eo_nb.store.INDEX_COLUMNS`
(id, source, minx, miny, maxx, maxy, crs, time, group, label, split) plus shard, offset (int32), with realistic
values: relative tile paths 'Forest/Forest_123.tif', UTM bounds, a few CRS strings 'EPSG:326xx', empty strings ''
for time and group, splits 'train' / 'valid' / 'test'. Then times, alternating the order of the two formats in
each repeat, the median of `--repeats`:
- CSV: `df.to_csv(p, index=False)`, and `pd.read_csv(p, keep_default_na=False, dtype={'split': str, 'time': str,
  'crs': str, 'source': str})` (the chip store's reader, `eo_nb.chips`);
- Parquet: `df.to_parquet(p, index=False)` (pyarrow, default snappy), and `pd.read_parquet(p)` (as `EODataset`).
Each file read back is checked against the frame written. Reports file sizes, times, and Parquet / CSV ratios.

    .venv/bin/python benchmarks/dataset_index_format.py [--n 270000] [--repeats 5] [--out benchmarks/results/dataset_index_format.json]
"""
import argparse, json, os, platform, shlex, subprocess, sys, tempfile, time, shutil
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ['AnnualCrop', 'Forest', 'HerbaceousVegetation', 'Highway', 'Industrial', 'Pasture', 'PermanentCrop', 'Residential',
           'River', 'SeaLake']

def machine_info()->dict:
    "CPU count, RAM, load, platform, library versions, git commit."
    mem = {l.split(':')[0]: int(l.split()[1]) for l in Path('/proc/meminfo').read_text().splitlines() if l.split()[1:2]}
    import pyarrow
    try: commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError: commit = None
    return dict(cpu_count=os.cpu_count(), ram_gb=round(mem['MemTotal'] / 2**20, 1), load_avg_start=os.getloadavg(),
                platform=platform.platform(), python=platform.python_version(),
                versions=dict(numpy=np.__version__, pandas=pd.__version__, pyarrow=pyarrow.__version__), git_commit=commit)

def make_index(n:int, seed:int=0, chunk:int=315)->pd.DataFrame:
    "An index of `n` rows as `eo_nb.store` writes it for a EuroSAT-style class folder (chunks of `chunk` tiles)."
    rng = np.random.default_rng(seed)
    label = np.sort(rng.integers(0, len(CLASSES), n))                   # class folders are read class by class
    num = np.arange(n) - np.searchsorted(label, label) + 1             # tile number within its class
    cls = np.array(CLASSES, dtype=object)[label]
    source = [f'{c}/{c}_{k}.tif' for c, k in zip(cls, num)]
    crs = np.array([f'EPSG:326{z:02d}' for z in range(29, 37)], dtype=object)[rng.integers(0, 8, n)]
    minx = rng.uniform(166000, 834000, n).round(0); miny = rng.uniform(4e6, 6.5e6, n).round(0)
    split = np.array(['train', 'valid', 'test'], dtype=object)[rng.choice(3, n, p=[0.7, 0.2, 0.1])]
    df = pd.DataFrame(dict(id=np.arange(n, dtype=np.int64), source=source, minx=minx, miny=miny, maxx=minx + 640.,
                           maxy=miny + 640., crs=crs, time='', group='', label=label.astype(np.int64), split=split,
                           shard=(np.arange(n) // chunk).astype(np.int32), offset=(np.arange(n) % chunk).astype(np.int32)))
    from eo_nb.store import INDEX_COLUMNS
    assert list(df.columns[:len(INDEX_COLUMNS)]) == list(INDEX_COLUMNS), (list(df.columns), list(INDEX_COLUMNS))
    for c, t in INDEX_COLUMNS.items(): df[c] = df[c].astype(str) if t == 'str' else df[c].astype(t)
    return df

def read_csv(p): return pd.read_csv(p, keep_default_na=False, dtype={'split': str, 'time': str, 'crs': str, 'source': str})
def write_csv(df, p): df.to_csv(p, index=False)
def read_parquet(p): return pd.read_parquet(p)
def write_parquet(df, p): df.to_parquet(p, index=False)

def same(a:pd.DataFrame, b:pd.DataFrame)->dict:
    "Whether `b` holds the values of `a` (column by column), and the dtypes `b` came back with."
    diff = [c for c in a.columns if c not in b or not np.array_equal(a[c].to_numpy(), b[c].astype(a[c].dtype).to_numpy())]
    return dict(equal=not diff and list(a.columns) == list(b.columns), differing_columns=diff,
                dtypes={c: str(t) for c, t in b.dtypes.items()})

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=270000, help='index rows')
    ap.add_argument('--repeats', type=int, default=5, help='timings per operation (the median is reported)')
    ap.add_argument('--dir', default=None, help='folder for the two files (default: a temporary folder, removed)')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'dataset_index_format.json'))
    a = ap.parse_args()
    res = dict(benchmark='dataset_index_format', command=' '.join(map(shlex.quote, [sys.executable, *sys.argv])),
               machine=machine_info(), n_rows=a.n, repeats=a.repeats)
    t0 = time.perf_counter(); df = make_index(a.n); res['make_index_s'] = round(time.perf_counter() - t0, 2)
    res['columns'] = {c: str(t) for c, t in df.dtypes.items()}
    res['in_memory_mb'] = round(df.memory_usage(deep=True).sum() / 1e6, 1)
    d = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix='eo_nb_index_bench_'))
    d.mkdir(parents=True, exist_ok=True)
    paths = dict(csv=d/'index.csv', parquet=d/'index.parquet')
    ops = dict(csv=(write_csv, read_csv), parquet=(write_parquet, read_parquet))
    times = {f'{f}_{w}': [] for f in ops for w in ('write', 'read')}
    try:
        for r in range(a.repeats):
            for f in (['csv', 'parquet'] if r % 2 == 0 else ['parquet', 'csv']):     # alternate which goes first
                w, rd = ops[f]
                t0 = time.perf_counter(); w(df, paths[f]); times[f'{f}_write'].append(time.perf_counter() - t0)
                t0 = time.perf_counter(); back = rd(paths[f]); times[f'{f}_read'].append(time.perf_counter() - t0)
                if r == 0: res[f'{f}_roundtrip'] = same(df, back)
        res['file_mb'] = {f: round(p.stat().st_size / 1e6, 2) for f, p in paths.items()}
    finally:
        for p in paths.values(): p.unlink(missing_ok=True)
        if not a.dir: shutil.rmtree(d, ignore_errors=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    res['times_s'] = {k: [round(x, 4) for x in v] for k, v in times.items()}
    res['median_s'] = {k: round(v, 4) for k, v in med.items()}
    res['parquet_vs_csv'] = dict(read_speedup=round(med['csv_read'] / med['parquet_read'], 2),
                                 write_speedup=round(med['csv_write'] / med['parquet_write'], 2),
                                 size_ratio=round(res['file_mb']['parquet'] / res['file_mb']['csv'], 3))
    res['per_repeat_speedup'] = {w: [round(c / q, 2) for c, q in zip(times[f'csv_{w}'], times[f'parquet_{w}'])] for w in ('read', 'write')}
    res['parquet_at_least_as_fast'] = bool(med['parquet_read'] <= med['csv_read'] and med['parquet_write'] <= med['csv_write'])
    res['machine']['load_avg_end'] = os.getloadavg()
    res['notes'] = ("Speed-ups are CSV time / Parquet time (>1: Parquet faster). Medians of wall times on a CPU shared with other "
                    "engineers' test runs (see load_avg_*): that slows both formats alike; each repeat alternates which format goes "
                    "first. Files are written to and read from the OS page cache (no fsync): this is the parse / serialise cost.")
    print(f"index of {a.n} rows ({res['in_memory_mb']} MB in memory), median of {a.repeats}:")
    print(f"{'format':8} {'write s':>8} {'read s':>8} {'file MB':>8}  round trip")
    for f in ops: print(f"{f:8} {med[f + '_write']:8.3f} {med[f + '_read']:8.3f} {res['file_mb'][f]:8.1f}  {res[f + '_roundtrip']['equal']}")
    pv = res['parquet_vs_csv']
    print(f"Parquet vs CSV: read {pv['read_speedup']}x faster, write {pv['write_speedup']}x faster, size {pv['size_ratio']}x")
    if a.out: write_out(a.out, res)

def write_out(path, res):
    from eo_nb.core import write_json
    write_json(path, res); print(f"wrote {path}")

if __name__ == '__main__': main()
