"""Cloud segmentation on the 38-Cloud sample (../shared/data/cloud38_landsat8): U-Nets vs simple baselines.

The sample is 6 real Landsat-8 patches (384x384, red/green/blue/nir, cloud masks). Chips of `--chip` px; the
split keeps patches whole (valid: the patch draw whose cloud fraction is closest to the whole sample's, see
`eo_nb.splits.split_groups`, the segmentation task's split in `eo_nb.loaders.dataloaders`). For each encoder and seed: the same DataLoaders, `eo_learner`,
one-cycle training, validation metrics with and without TTA. Baselines on the same validation pixels: always the
majority class of the training pixels, and a brightness threshold (mean of the 4 bands) fitted on the training
pixels. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/segmentation_cloud38.py --models eo_cnn resnet18 --seeds 0 1 2 --epochs 30 --out benchmarks/results/segmentation_cloud38.json
    .venv/bin/python benchmarks/segmentation_cloud38.py --summarize benchmarks/results/segmentation_cloud38.json   # summary rows only

The last rows (`what: summary`) are computed from the others: per encoder, the mean over seeds of each score, the
range of training times and the largest change TTA made to mIoU.
"""
import argparse, json, time, tempfile, warnings
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, evaluate
from eo_nb.metrics import segmentation_metrics

def summarize(rows):
    "The rows without old summaries, plus one summary row per encoder (means over seeds)."
    rows = [r for r in rows if r.get('what') != 'summary']
    for enc in dict.fromkeys(r['encoder'] for r in rows if r['what'] == 'unet'):
        rs = [r for r in rows if r['what'] == 'unet' and r['encoder'] == enc]
        mean = lambda k: round(float(np.mean([r[k] for r in rs])), 4)
        rows.append(dict(what='summary', encoder=enc, seeds=[r['seed'] for r in rs],
                         **{f'mean_{k}': mean(k) for k in ('pixel_accuracy', 'miou', 'iou_cloud', 'tta_pixel_accuracy', 'tta_miou')},
                         train_s_min=min(r['train_s'] for r in rs), train_s_max=max(r['train_s'] for r in rs),
                         max_abs_tta_change_miou=round(max(abs(r['tta_miou'] - r['miou']) for r in rs), 4)))
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--models', nargs='+', default=['eo_cnn']); ap.add_argument('--seeds', nargs='+', type=int, default=[0])
    ap.add_argument('--epochs', type=int, default=30); ap.add_argument('--chip', type=int, default=64)
    ap.add_argument('--bs', type=int, default=16); ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--crop', type=float, default=0.5); ap.add_argument('--out', default='')
    ap.add_argument('--summarize', default='', help='only recompute the summary rows of this results file')
    a = ap.parse_args()
    if a.summarize: return write_json(a.summarize, summarize(json.load(open(a.summarize))))
    folder = (shared_data() or None) and shared_data()/'cloud38_landsat8'
    if not folder or not folder.exists(): raise SystemExit('../shared/data/cloud38_landsat8 not found (set EO_NB_SHARED_DATA)')
    rows = []
    def emit(**r): print(json.dumps(r), flush=True); rows.append(r)
    dls = dataloaders(folder, 'segmentation', valid_pct=0.2, seed=42, bs=a.bs, crop=a.crop, device='cpu', size=a.chip, progress=False)
    tr, va = dls.train_ds, dls.valid_ds
    classes = dls.eo['classes']
    masks = lambda v: v.ds.read(v.rows, 'mask').astype(np.int64)
    m_tr, m_va = masks(tr), masks(va)
    maj = np.bincount(m_tr[m_tr != 255].ravel(), minlength=2).argmax()
    emit(what='baseline', name='majority class', **{k: v for k, v in segmentation_metrics(m_va, np.full_like(m_va, maj), classes).items() if k in ('pixel_accuracy', 'miou', 'f1_macro')})
    b_tr, b_va = tr.images(np.arange(len(tr))).mean(1), va.images(np.arange(len(va))).mean(1)
    ts = np.quantile(b_tr, np.linspace(0.01, 0.99, 99))
    best = max(ts, key=lambda t: segmentation_metrics(m_tr, (b_tr > t).astype(int), classes)['miou'])
    emit(what='baseline', name='brightness threshold (fitted on train)', threshold=float(best),
         **{k: v for k, v in segmentation_metrics(m_va, (b_va > best).astype(int), classes).items() if k in ('pixel_accuracy', 'miou', 'f1_macro')})
    for model in a.models:
        for seed in a.seeds:
            with tempfile.TemporaryDirectory() as d:
                learn = eo_learner(dls, model, out_dir=d, seed=seed)
                t0 = time.perf_counter()
                with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, a.lr)
                dt = time.perf_counter() - t0
                m, mt = evaluate(learn)[0], evaluate(learn, tta=True)[0]
            emit(what='unet', encoder=model, seed=seed, epochs=a.epochs, chip=a.chip, train_s=round(dt, 1),
                 train_chips=len(tr), valid_chips=len(va), valid_cloud_fraction=round(float((m_va == 1).mean()), 3),
                 pixel_accuracy=m['pixel_accuracy'], miou=m['miou'], f1_macro=m['f1_macro'],
                 iou_cloud=m['per_class']['cloud']['iou'], iou_clear=m['per_class']['clear']['iou'],
                 tta_pixel_accuracy=mt['pixel_accuracy'], tta_miou=mt['miou'])
    rows = summarize(rows)
    for r in rows[-len(a.models):]: print(json.dumps(r))
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
