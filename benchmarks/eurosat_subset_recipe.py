"""Does the documented small-data recipe beat the random-forest baseline on EuroSAT tiles it never saw?

For each split seed, the 120 tiles of ../shared/data/eurosat_ms_subset are split (stratified) into a training
folder and a held-out test folder (`split_folder`, 30 % test = 36 tiles). Both models see only the training
folder: the random forest gets all of it (84 tiles, all 13 bands); the CNN keeps 20 % of it for validation
(best-epoch choice) and trains on the rest. Both are scored once on the test tiles. Each folder is converted to an
eo_nb dataset in the seed's temporary folder (`create_dataset`), then served by `eo_nb.loaders`.

    python benchmarks/eurosat_subset_recipe.py [--seeds 0 1 2] [--model eo_cnn] [--epochs 60] [--lr 3e-3]
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
import numpy as np
from fastai.callback.progress import ProgressCallback
from eo_nb.core import shared_data, write_json
from eo_nb.data import split_folder
from eo_nb.convert import create_dataset
from eo_nb.loaders import dataloaders, test_dataloader
from eo_nb.learner import eo_learner, evaluate
from eo_nb.metrics import classification_metrics

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--model', default='eo_cnn'); ap.add_argument('--epochs', type=int, default=60)
    ap.add_argument('--lr', type=float, default=3e-3); ap.add_argument('--bs', type=int, default=16)
    ap.add_argument('--wd', type=float, default=0.05); ap.add_argument('--label_smoothing', type=float, default=0.1)
    ap.add_argument('--bands', default='all'); ap.add_argument('--mixup', type=float, default=0.)
    ap.add_argument('--tta', action='store_true'); ap.add_argument('--keep', default='last', help="'last' epoch or 'best' on validation"); ap.add_argument('--crop', type=float, default=1.); ap.add_argument('--valid_pct', type=float, default=0.2); ap.add_argument('--out', default='')
    a = ap.parse_args()
    src = (shared_data() or Path('../shared/data'))/'eurosat_ms_subset'
    if not src.exists(): sys.exit(f"skipped: {src} not found (set EO_NB_SHARED_DATA)")
    rows = []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory() as d:
            train, test = split_folder(src, d, test_pct=0.3, seed=seed)
            train_ds = create_dataset(train, dest=Path(d)/'train_ds', progress=False)
            test_ds = create_dataset(test, dest=Path(d)/'test_ds', progress=False)
            dls = dataloaders(train_ds, 'classification', bands=a.bands, valid_pct=a.valid_pct, seed=seed, bs=a.bs, crop=a.crop)
            # the baseline gets every training tile (it needs no validation split) and all 13 bands
            from eo_nb.models import create_model
            X = train_ds.read(np.arange(len(train_ds)), 'image')
            rf = create_model('rf', X.shape[1], len(train_ds.classes), seed=seed).fit(X, train_ds.labels)
            assert test_ds.classes == dls.eo['classes'], (test_ds.classes, dls.eo['classes'])
            rf_m = classification_metrics(test_ds.labels, rf.predict(test_ds.read(np.arange(len(test_ds)), 'image')), dls.eo['classes'])
            learn = eo_learner(dls, a.model, out_dir=Path(d)/'run', seed=seed, wd=a.wd, label_smoothing=a.label_smoothing, mixup=a.mixup, keep=a.keep)
            learn.remove_cb(ProgressCallback)
            t0 = time.time(); learn.fit_one_cycle(a.epochs, a.lr); dt = time.time() - t0
            cnn_m = evaluate(learn, test_dataloader(dls, test_ds), tta=a.tta)[0]
            rows.append(dict(seed=seed, rf_acc=rf_m['accuracy'], rf_kappa=rf_m['kappa'], cnn_acc=cnn_m['accuracy'],
                             cnn_kappa=cnn_m['kappa'], cnn_f1=cnn_m['f1_macro'], train_s=round(dt, 1)))
            print(json.dumps(rows[-1]), flush=True)
    summ = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != 'seed'}
    res = dict(args=vars(a), per_seed=rows, mean=summ)
    print('mean:', json.dumps(summ))
    if a.out: write_json(a.out, res)

if __name__ == '__main__': main()
