"""What a papermill run costs beyond its training, and what parallel workers buy a sweep.

1. Overhead of one run: `eo_nb.sweep.execute_run` of nbs/run.ipynb (papermill: kernel start, imports, data,
   evaluation, plots, writing the run folder) minus the training time the run itself records (`train_time_s`).
   Goal: < 10 s on this machine.
2. Sweep throughput: the same `--runs` runs (1 epoch each on the offline sample) sequentially (`workers=1`) and
   with `--workers` at once, wall time of `run_sweep` each, fresh folders.

    .venv/bin/python benchmarks/sweep_overhead.py [--runs 4] [--workers 2] [--out benchmarks/results/sweep_overhead.json]
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eo_nb.sweep import load_sweep, run_sweep, execute_run

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', type=int, default=4); ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'sweep_overhead.json'))
    a = ap.parse_args()
    fixed = {'data': 'sample', 'epochs': 1, 'tta': False, 'model': 'eo_cnn_small'}
    res = dict(machine=f'{os.cpu_count()} CPU cores', runs=a.runs, workers=a.workers)
    with tempfile.TemporaryDirectory() as d:
        sw = load_sweep({'name': 'one', 'fixed': fixed, 'grid': {'seed': [0]}}, out_root=d)
        r = sw['runs'][0]
        rec = execute_run(r, sw['notebook'])
        train = json.loads((Path(r['out_dir'])/'config.json').read_text())['train_time_s']
        res['one_run'] = dict(wall_s=rec['seconds'], train_s=train, overhead_s=round(rec['seconds'] - train, 1), status=rec['status'])
        print(f"one run: {rec['seconds']:.1f} s wall, {train:.1f} s training -> overhead {rec['seconds'] - train:.1f} s (goal < 10 s)")
        for w in (1, a.workers):
            spec = {'name': f'w{w}', 'fixed': fixed, 'grid': {'seed': list(range(a.runs))}}
            t0 = time.time(); out = run_sweep(spec, workers=w, out_root=d, progress=False); dt = time.time() - t0
            assert (out['status'] == 'complete').all(), out
            res[f'workers_{w}'] = dict(wall_s=round(dt, 1), runs_per_min=round(60 * a.runs / dt, 2))
            print(f"{a.runs} runs with {w} worker(s): {dt:.1f} s ({60 * a.runs / dt:.2f} runs/min)")
    res['speedup'] = round(res['workers_1']['wall_s'] / res[f'workers_{a.workers}']['wall_s'], 2)
    print(f"{a.workers} workers vs 1: {res['speedup']}x")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out + '.tmp'); tmp.write_text(json.dumps(res, indent=1)); tmp.rename(a.out)
    print(f'wrote {a.out}')
