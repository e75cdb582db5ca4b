"""Does the documented small-data recipe beat the random-forest baseline on EuroSAT tiles it never saw?

For each split seed, the 120 tiles of ../shared/data/eurosat_ms_subset are split (stratified) into a training
folder and a held-out test folder (`split_folder`, 30 % test = 36 tiles). Both models see only the training
folder: the random forest gets all of it (84 tiles, all 13 bands); the CNN keeps --valid_pct of it for monitoring
(and, with --keep best, for the choice of epoch) and trains on the rest. Both are scored once on the test tiles. Each folder is converted to an
eo_nb dataset in the seed's temporary folder (`create_dataset`), then served by `eo_nb.loaders`.
With `--ensemble K` the CNN side is K networks trained on the same training folder as run.ipynb trains them with
`-p seed s`, `s+1000`, `s+2000`...: each keeps other validation tiles and starts from another initialisation; their
(test-time-augmented) probabilities are averaged, as `eo_nb ensemble` averages runs.
With `--blend_rf W` the recipe's answer is the blend (1 - W) * (the networks' mean probabilities) + W * (the forest's
probabilities): the forest run is one more member of `eo_nb ensemble` with weight W. Every split also records the
blend's accuracy for W = 0, 0.1, ..., 1 (`blend_grid`, and `blend3_grid` for the first three networks), so a weight
chosen on some split seeds can be read, unchanged, on others.
The per-split scores are compared with `eo_nb.compare.paired_test` (paired t-test and Wilcoxon over splits). Each finished split is written to `--out` at once; `--resume` skips the
splits already there, so an interrupted run loses at most one split.

    python benchmarks/eurosat_subset_recipe.py [--seeds 0 1 2] [--model eo_cnn] [--epochs 60] [--lr 3e-3] [--ensemble 1]
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
    ap.add_argument('--ensemble', type=int, default=1, help='networks per split (different initialisations), probabilities averaged')
    ap.add_argument('--blend_rf', type=float, default=0., help="weight of the forest's probabilities in the recipe's answer (0: the networks alone)")
    ap.add_argument('--resume', action='store_true', help='keep the splits already in --out and run the others')
    a = ap.parse_args()
    src = (shared_data() or Path('../shared/data'))/'eurosat_ms_subset'
    if not src.exists(): sys.exit(f"skipped: {src} not found (set EO_NB_SHARED_DATA)")
    prev = json.loads(Path(a.out).read_text()) if a.resume and a.out and Path(a.out).exists() else {}
    if prev and {k: v for k, v in prev['args'].items() if k not in ('seeds', 'resume')} != {k: v for k, v in vars(a).items() if k not in ('seeds', 'resume')}:
        sys.exit(f"--resume: {a.out} was written with other arguments ({prev['args']}); give another --out")
    rows = [r for r in prev.get('per_seed', []) if r['seed'] in a.seeds]
    for seed in a.seeds:
        if any(r['seed'] == seed for r in rows): print(f"seed {seed}: kept from {a.out}"); continue
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
            rf_p = rf.predict_proba(test_ds.read(np.arange(len(test_ds)), 'image'))
            rf_m = classification_metrics(test_ds.labels, rf_p.argmax(1), dls.eo['classes'])
            probs, dt, members = [], 0., []
            for k in range(a.ensemble):   # member k: run.ipynb with -p seed seed+1000k: other validation tiles, initialisation, batch order
                if k: dls = dataloaders(train_ds, 'classification', bands=a.bands, valid_pct=a.valid_pct, seed=seed + 1000 * k, bs=a.bs, crop=a.crop)
                learn = eo_learner(dls, a.model, out_dir=Path(d)/f'run{k}', seed=seed + 1000 * k, wd=a.wd, label_smoothing=a.label_smoothing, mixup=a.mixup, keep=a.keep)
                learn.remove_cb(ProgressCallback)
                t0 = time.time(); learn.fit_one_cycle(a.epochs, a.lr); dt += time.time() - t0
                m, p, y = evaluate(learn, test_dataloader(dls, test_ds), tta=a.tta)
                probs.append(p); members.append(round(m['accuracy'], 4))
            cnn_m = classification_metrics(y, np.mean(probs, 0).argmax(1), dls.eo['classes'])
            assert (y == np.asarray(test_ds.labels)).all()   # the networks and the forest scored the same tiles in the same order
            blend = lambda ps, w: ((1 - w) * np.mean(ps, 0) + w * rf_p).argmax(1)
            grid = {f'{w:.1f}': float((blend(probs, w) == y).mean()) for w in np.linspace(0, 1, 11)}
            grid3 = {f'{w:.1f}': float((blend(probs[:3], w) == y).mean()) for w in np.linspace(0, 1, 11)} if a.ensemble > 3 else {}
            first = {f'first{j}_acc': float((np.mean(probs[:j], 0).argmax(1) == y).mean()) for j in (1, 3) if j < a.ensemble}   # smaller ensembles, same members
            bl_m = classification_metrics(y, blend(probs, a.blend_rf), dls.eo['classes'])
            rows.append(dict(seed=seed, rf_acc=rf_m['accuracy'], rf_kappa=rf_m['kappa'], cnn_acc=cnn_m['accuracy'],
                             cnn_kappa=cnn_m['kappa'], cnn_f1=cnn_m['f1_macro'], **first, member_acc=members, train_s=round(dt, 1),
                             **(dict(blend_acc=bl_m['accuracy'], blend_kappa=bl_m['kappa'], blend_f1=bl_m['f1_macro']) if a.blend_rf else {}),
                             blend_grid=grid, **(dict(blend3_grid=grid3) if grid3 else {})))
            print(json.dumps(rows[-1]), flush=True)
            if a.out: write_json(a.out, dict(args=vars(a), per_seed=rows, partial=True))
    summ = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k not in ('seed', 'member_acc', 'blend_grid', 'blend3_grid')}
    for g in ('blend_grid', 'blend3_grid'):   # mean accuracy per forest weight
        if g in rows[0]: summ[g] = {w: float(np.mean([r[g][w] for r in rows])) for w in rows[0][g]}
    from eo_nb.compare import paired_test
    test = {t: paired_test([r['cnn_acc'] for r in rows], [r['rf_acc'] for r in rows], test=t) for t in ('t', 'wilcoxon')}
    smaller = {k: {t: paired_test([r[k] for r in rows], [r['rf_acc'] for r in rows], test=t) for t in ('t', 'wilcoxon')}
               for k in ('first1_acc', 'first3_acc', 'blend_acc') if k in rows[0]}     # the first 1 or 3 networks alone, the blend, against the same forest
    res = dict(args=vars(a), per_seed=rows, mean=summ, cnn_vs_rf=test, **{f"{k[:-4]}_vs_rf": v for k, v in smaller.items()})
    print('mean:', json.dumps(summ)); print('CNN vs RF (accuracy, paired over splits):', json.dumps(test, default=str))
    if 'blend_vs_rf' in res: print(f'blend (forest weight {a.blend_rf}) vs RF:', json.dumps(res['blend_vs_rf'], default=str))
    if a.out: write_json(a.out, res)

if __name__ == '__main__': main()
