"""One run trained by 1 process and by 2 DDP processes (gloo, CPU): do the metrics match, and what does it cost?

For each seed, the same run (`eo_nb.experiment.experiment_learner`, the learner run.ipynb trains) is fitted in
this process, then by `eo_nb.distributed.fit_distributed` with 2 torchrun processes (global batch unchanged:
`bs / 2` per process); both are scored by `eo_nb.learner.evaluate` on the same validation split. "Match within
tolerance" means: the mean difference between the two over seeds is small next to the spread between seeds.

    .venv/bin/python benchmarks/ddp_cpu.py [--data sample] [--model eo_cnn_small] [--epochs 6] [--seeds 0 1 2]
    .venv/bin/python benchmarks/ddp_cpu.py --summarize benchmarks/results/ddp_cpu.json   # recompute `summary` from the file's runs

`summary` holds, per process count, the mean and the standard deviation over seeds (ddof 1) of each score and time.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as np, pandas as pd
from eo_nb.experiment import check_params, task_dataloaders, experiment_learner
from eo_nb.distributed import fit_distributed
from eo_nb.learner import evaluate

def one(params, processes):
    p = check_params(**params)
    learn = experiment_learner(p, task_dataloaders(p, device='cpu'), tensorboard=False)
    t0 = time.time()
    if processes == 1:
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(p.epochs, p.lr)
        rec = {}
    else: rec = fit_distributed(learn, params, processes, quiet=True)
    wall = time.time() - t0
    m = evaluate(learn)[0]
    h = pd.read_csv(Path(p.out_dir)/'history.csv')
    return dict(processes=processes, seed=params['seed'], wall_s=round(wall, 1), fit_s=rec.get('fit_s', round(wall, 1)),
                accuracy=m['accuracy'], f1_macro=m['f1_macro'], valid_loss=float(h['valid_loss'].iloc[-1]),
                train_loss=float(h['train_loss'].iloc[-1]), weights_identical=rec.get('weights_identical'))

def summary(rows):
    "Mean and std over seeds (ddof 1) of the scores and times, per process count."
    df = pd.DataFrame(rows)
    return {f'processes_{p}': {k: dict(mean=round(float(g[k].mean()), 4), std=round(float(g[k].std()), 4))
                               for k in ('accuracy', 'f1_macro', 'valid_loss', 'train_loss', 'wall_s', 'fit_s')}
            for p, g in df.groupby('processes')}

def write(path, res):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + '.tmp'); tmp.write_text(json.dumps(res, indent=1)); tmp.rename(path)
    print(f'wrote {path}')

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--summarize', default='', help='only recompute the summary of this results file from its runs')
    ap.add_argument('--data', default='sample'); ap.add_argument('--model', default='eo_cnn_small')
    ap.add_argument('--epochs', type=int, default=6); ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'ddp_cpu.json'))
    a = ap.parse_args()
    if a.summarize:
        res = json.loads(Path(a.summarize).read_text()); res['summary'] = summary(res['runs']); write(a.summarize, res); sys.exit()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for seed in a.seeds:
            for procs in (1, 2):
                params = dict(model=a.model, data=a.data, epochs=a.epochs, bs=a.bs, lr=3e-3, seed=seed, mixup=0,
                              out_dir=f'{d}/s{seed}-p{procs}')
                rows.append(one(params, procs)); print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    summ = df.groupby('processes')[['accuracy', 'f1_macro', 'valid_loss', 'train_loss', 'wall_s', 'fit_s']].agg(['mean', 'std'])
    print(summ.round(3).to_string())
    diff = df[df.processes == 2].set_index('seed')[['accuracy', 'valid_loss']] - df[df.processes == 1].set_index('seed')[['accuracy', 'valid_loss']]
    res = dict(machine=f'{os.cpu_count()} CPU cores', data=a.data, model=a.model, epochs=a.epochs, bs=a.bs, seeds=a.seeds, runs=rows,
               mean_diff_2_minus_1={k: round(float(v), 4) for k, v in diff.mean().items()},
               seed_std_1_process={k: round(float(df[df.processes == 1][k].std()), 4) for k in ('accuracy', 'valid_loss')},
               all_weights_identical=bool(df[df.processes == 2]['weights_identical'].all()), summary=summary(rows))
    print(f"2 processes - 1 process, mean over seeds: {res['mean_diff_2_minus_1']}; spread between seeds (1 process, std): {res['seed_std_1_process']}")
    write(a.out, res)
