"""Pixel time-series classification on the sits samples (../shared/data/sits_timeseries): TempCNN, LSTM, L-TAE vs a random forest.

For each dataset (.npz), model and seed: the stratified split of `eo_nb.loaders.dataloaders` (valid_pct 0.2, split
seed 42, the same for every model), one-cycle training with `eo_learner`, validation accuracy / macro F1 / kappa.
The random forest (scikit-learn, 500 trees) sees the raw series flattened (missing steps 0), on the same split. Prints JSON
lines; --out writes them.

    .venv/bin/python benchmarks/pixel_series_sits.py --data samples_modis_ndvi.npz cerrado_2classes.npz --models tempcnn lstm ltae --seeds 0 1 2 --epochs 30 --out benchmarks/results/pixel_series_sits.json
    .venv/bin/python benchmarks/pixel_series_sits.py --summarize benchmarks/results/pixel_series_sits.json   # summary rows only

The last rows (`what: summary`) are computed from the others: per dataset and model, the mean over seeds of each
score, the range of training times, and for each network its margin over the random forest (mean OA, in points).
"""
import argparse, json, time, tempfile, warnings
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, evaluate
from eo_nb.metrics import classification_metrics

def summarize(rows):
    "The rows without old summaries, plus one summary row per dataset and model (means over seeds)."
    rows = [r for r in rows if r.get('what') != 'summary']
    for name in dict.fromkeys(r['data'] for r in rows):
        rf = np.mean([r['accuracy'] for r in rows if r['data'] == name and r['model'] == 'random forest'])
        for model in dict.fromkeys(r['model'] for r in rows if r['data'] == name):
            rs = [r for r in rows if r['data'] == name and r['model'] == model]
            s = dict(what='summary', data=name, model=model, seeds=[r['seed'] for r in rs],
                     **{f'mean_{k}': round(float(np.mean([r[k] for r in rs])), 4) for k in ('accuracy', 'kappa', 'f1_macro')})
            if 'train_s' in rs[0]:
                s.update(train_s_min=min(r['train_s'] for r in rs), train_s_max=max(r['train_s'] for r in rs),
                         points_over_forest=round(100 * (s['mean_accuracy'] - rf), 2))
            rows.append(s)
    nets = [r['train_s'] for r in rows if 'train_s' in r and r.get('what') != 'summary']
    if nets: rows.append(dict(what='summary', data='all', model='all networks', train_s_min=min(nets), train_s_max=max(nets)))
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', nargs='+', default=['samples_modis_ndvi.npz']); ap.add_argument('--models', nargs='+', default=['tempcnn', 'ltae'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0]); ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--lr', type=float, default=3e-3); ap.add_argument('--out', default='')
    ap.add_argument('--summarize', default='', help='only recompute the summary rows of this results file')
    a = ap.parse_args()
    if a.summarize: return write_json(a.summarize, summarize(json.load(open(a.summarize))))
    root = shared_data() and shared_data()/'sits_timeseries'
    if not root or not root.exists(): raise SystemExit('../shared/data/sits_timeseries not found (set EO_NB_SHARED_DATA)')
    rows = []
    def emit(**r): print(json.dumps(r), flush=True); rows.append(r)
    for name in a.data:
        dls = dataloaders(root/name, 'pixel_series', valid_pct=0.2, seed=42, bs=a.bs, device='cpu', progress=False)
        tr, va = dls.train_ds, dls.valid_ds
        series = lambda v: np.where(v.ds.read(v.rows, 'valid')[..., None], v.images(np.arange(len(v))), 0).reshape(len(v), -1)
        from sklearn.ensemble import RandomForestClassifier
        for seed in a.seeds:
            rf = RandomForestClassifier(500, random_state=seed, n_jobs=-1).fit(series(tr), tr.labels)
            m = classification_metrics(va.labels, rf.predict(series(va)), dls.eo['classes'])
            emit(data=name, model='random forest', seed=seed, n_train=len(tr), n_valid=len(va), accuracy=m['accuracy'], f1_macro=m['f1_macro'], kappa=m['kappa'])
        for model in a.models:
            for seed in a.seeds:
                with tempfile.TemporaryDirectory() as d:
                    learn = eo_learner(dls, model, out_dir=d, seed=seed)
                    t0 = time.perf_counter()
                    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, a.lr)
                    dt = time.perf_counter() - t0
                    m = evaluate(learn)[0]
                emit(data=name, model=model, seed=seed, epochs=a.epochs, train_s=round(dt, 1), accuracy=m['accuracy'], f1_macro=m['f1_macro'], kappa=m['kappa'])
    rows = summarize(rows)
    for r in rows:
        if r.get('what') == 'summary': print(json.dumps(r))
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
