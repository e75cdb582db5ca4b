"""Image time series to a land-cover map on the eo-learn sample patch (../shared/data/eolearn_s2_timeseries/TestEOPatch).

The run run.ipynb makes with `-p data eolearn_s2_timeseries/TestEOPatch -p epochs 10` (task `timeseries`, model `utae`,
20 px chips, the task's random 80/20 chip split, cloudy dates masked), trained through the same functions
(`check_params`, `task_dataloaders`, `experiment_learner`), once per seed; scored on the validation chips' labelled
pixels (pixel accuracy, mIoU). Baseline on the same pixels: always the majority class of the training pixels. The
patch is one 101x100 px scene with 25 chips: the scores show that the pipeline runs, they measure no model.
The last row (`what: summary`) holds the means over seeds. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/timeseries_eopatch.py --seeds 0 1 2 --epochs 10 --out benchmarks/results/timeseries_eopatch.json
"""
import argparse, json, os, tempfile, time, warnings
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.experiment import check_params, task_dataloaders, experiment_learner
from eo_nb.learner import evaluate
from eo_nb.metrics import segmentation_metrics

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='eolearn_s2_timeseries/TestEOPatch'); ap.add_argument('--model', default='utae')
    ap.add_argument('--seeds', nargs='+', type=int, default=[42]); ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--out', default='')
    a = ap.parse_args()
    if not shared_data() or not (shared_data()/a.data).exists(): raise SystemExit(f'../shared/data/{a.data} not found (set EO_NB_SHARED_DATA)')
    rows = []
    def emit(**r): print(json.dumps(r), flush=True); rows.append(r)
    for seed in a.seeds:
        with tempfile.TemporaryDirectory() as d:
            p = check_params(data=a.data, model=a.model, epochs=a.epochs, seed=seed, out_dir=d)
            dls = task_dataloaders(p, device='cpu')
            tr, va = dls.train_ds, dls.valid_ds
            m_tr, m_va = (v.ds.read(v.rows, 'mask').astype(np.int64) for v in (tr, va))
            ign, classes = dls.eo['ignore_index'], dls.eo['classes']
            maj = np.bincount(m_tr[m_tr != ign].ravel(), minlength=len(classes)).argmax()
            base = segmentation_metrics(m_va, np.full_like(m_va, maj), classes, ignore_index=ign)
            learn = experiment_learner(p, dls, tensorboard=False)
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(p.epochs, p.lr)
            dt = time.perf_counter() - t0
            m = evaluate(learn, tta=p.tta)[0]
        emit(what='run', model=p.model, seed=seed, epochs=p.epochs, chip_size=p.chip_size, bs=p.bs, train_chips=len(tr), valid_chips=len(va),
             valid_pixels=int(m['n_pixels']), train_s=round(dt, 1), pixel_accuracy=m['pixel_accuracy'], miou=m['miou'], f1_macro=m['f1_macro'],
             majority_class=classes[maj], majority_pixel_accuracy=base['pixel_accuracy'], majority_miou=base['miou'])
    mean = lambda k: round(float(np.mean([r[k] for r in rows])), 4)
    emit(what='summary', model=a.model, seeds=a.seeds, machine=f'{os.cpu_count()} CPU cores',
         **{f'mean_{k}': mean(k) for k in ('train_s', 'pixel_accuracy', 'miou', 'majority_pixel_accuracy', 'majority_miou')})
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
