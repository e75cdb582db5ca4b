"""Pixel time-series classification on the sits samples (../shared/data/sits_timeseries): TempCNN, LSTM, L-TAE vs a random forest.

For each dataset (.npz), model and seed: the stratified split of `eo_nb.loaders.dataloaders` (valid_pct 0.2, split
seed 42, the same for every model), one-cycle training with `eo_learner`, validation accuracy / macro F1 / kappa.
The random forest (scikit-learn, 500 trees) sees the raw series flattened (missing steps 0), on the same split. Prints JSON
lines; --out writes them.

    .venv/bin/python benchmarks/pixel_series_sits.py --data samples_modis_ndvi.npz cerrado_2classes.npz --models tempcnn lstm ltae --seeds 0 1 2 --epochs 30 --out benchmarks/results/pixel_series_sits.json
"""
import argparse, json, time, tempfile, warnings
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, evaluate
from eo_nb.metrics import classification_metrics

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', nargs='+', default=['samples_modis_ndvi.npz']); ap.add_argument('--models', nargs='+', default=['tempcnn', 'ltae'])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0]); ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--lr', type=float, default=3e-3); ap.add_argument('--out', default='')
    a = ap.parse_args()
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
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
