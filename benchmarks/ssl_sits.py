"""Self-supervised pretraining on unlabelled MODIS pixels: does it help a small labelled set? (../shared/data/sits_timeseries)

Pretrains a series encoder (SimCLR-style, `eo_nb.ssl.pretrain_series`) on the 37 485 unlabelled pixel series of
the MODIS NDVI tile `mod13q1_sinop_cube` (12 dates, the same as the labelled samples), then, on the labelled
`samples_modis_ndvi` (stratified 80/20 split, split seed 42; the validation part is only scored), for label
budgets of k series per class drawn from the training part (draw seeds 0-2):
  * linear probe and k-NN (k=10, cosine) on frozen features: pretrained encoder vs the same architecture with
    random weights;
  * fine-tuning the whole network (eo_learner, 30 epochs) from the pretrained encoder vs from scratch, both
    normalised with the unlabelled set's statistics.
Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/ssl_sits.py --model tempcnn --ssl_epochs 20 --budgets 5 10 25 --out benchmarks/results/ssl_sits.json
    .venv/bin/python benchmarks/ssl_sits.py --summarize benchmarks/results/ssl_sits.json   # summary rows only

The last rows (`what: summary`) are computed from the others: per label budget, the mean over draws of each score and
what pretraining adds to it (in points).
"""
import argparse, json, time, tempfile, warnings
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.models import create_model
from eo_nb.ssl import cube_series, pretrain_series, load_encoder, embed_series, probe
from eo_nb.splits import stratified_split
from eo_nb.convert import create_dataset
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, evaluate

SCORES = ('random_linear', 'ssl_linear', 'random_knn', 'ssl_knn', 'scratch_finetune', 'ssl_finetune')

def summarize(rows):
    "The rows without old summaries, plus one summary row per label budget (means over draws)."
    rows = [r for r in rows if r.get('what') != 'summary']
    for k in dict.fromkeys(r['per_class'] for r in rows if r['what'] == 'budget'):
        rs = [r for r in rows if r['what'] == 'budget' and r['per_class'] == k]
        m = {f'mean_{s}': round(float(np.mean([r[s] for r in rs])), 4) for s in SCORES}
        gain = {f'{w}_gain_points': round(100 * (m[f'mean_ssl_{w}'] - m[f'mean_{b}_{w}']), 1)
                for w, b in (('linear', 'random'), ('knn', 'random'), ('finetune', 'scratch'))}
        rows.append(dict(what='summary', model=rs[0]['model'], per_class=k, n_labelled=rs[0]['n_labelled'], draws=[r['draw'] for r in rs], **m, **gain))
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default='tempcnn'); ap.add_argument('--ssl_epochs', type=int, default=20)
    ap.add_argument('--budgets', nargs='+', type=int, default=[5, 10, 25]); ap.add_argument('--draws', nargs='+', type=int, default=[0, 1, 2])
    ap.add_argument('--ft_epochs', type=int, default=30); ap.add_argument('--workdir', default='/tmp/eo_nb_ssl'); ap.add_argument('--out', default='')
    ap.add_argument('--summarize', default='', help='only recompute the summary rows of this results file')
    a = ap.parse_args()
    if a.summarize: return write_json(a.summarize, summarize(json.load(open(a.summarize))))
    root = shared_data() and shared_data()/'sits_timeseries'
    if not root or not root.exists(): raise SystemExit('../shared/data/sits_timeseries not found (set EO_NB_SHARED_DATA)')
    rows = []
    def emit(**r): print(json.dumps(r), flush=True); rows.append(r)
    Xu, dates = cube_series(sorted((root/'mod13q1_sinop_cube').glob('*.jp2')), scale=1e-4)
    t0 = time.perf_counter()
    enc_p = pretrain_series(a.model, Xu, f'{a.workdir}/{a.model}_{a.ssl_epochs}', days=dates, bands=['NDVI'], epochs=a.ssl_epochs, seed=0, progress=False)
    emit(what='pretraining', model=a.model, n_series=len(Xu), epochs=a.ssl_epochs, seconds=round(time.perf_counter() - t0, 1))
    enc, meta = load_encoder(enc_p)
    z = np.load(root/'samples_modis_ndvi.npz')
    X, y, classes, days = z['X'], z['y'], [str(c) for c in z['classes']], z['dates_days_since_1970']
    tr, va = stratified_split(y, 0.2, 42)
    ds = create_dataset(root/'samples_modis_ndvi.npz', progress=False)       # the same series, in the npz's order
    assert (ds.labels == y).all() and ds.classes == classes
    f_ssl = embed_series(enc, X, days, meta['mean'], meta['std'])
    f_rnd = embed_series(create_model(a.model, 1, len(classes)).eval(), X, days, meta['mean'], meta['std'])
    for k in a.budgets:
        for draw in a.draws:
            rng = np.random.default_rng(draw)
            few = np.concatenate([rng.choice(tr[y[tr] == c], min(k, (y[tr] == c).sum()), replace=False) for c in range(len(classes))])
            r = {}
            for name, f in [('random', f_rnd), ('ssl', f_ssl)]:
                p = probe(f[few], y[few], f[va], y[va], classes)
                r[f'{name}_linear'], r[f'{name}_knn'] = p['linear']['accuracy'], p['knn']['accuracy']
            for name, pre in [('scratch', False), ('ssl', str(enc_p))]:
                with tempfile.TemporaryDirectory() as d:
                    dls = dataloaders(ds, 'pixel_series', bs=min(64, len(few)), device='cpu', stats=dict(mean=meta['mean'], std=meta['std']),
                                      splits=(few, va))                                       # same normalisation for both
                    learn = eo_learner(dls, a.model, out_dir=d, seed=draw, pretrained=pre)
                    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.ft_epochs, 3e-3)
                    r[f'{name}_finetune'] = evaluate(learn)[0]['accuracy']
            emit(what='budget', model=a.model, per_class=k, draw=draw, n_labelled=len(few), n_valid=len(va), **{k2: round(v, 4) for k2, v in r.items()})
    rows = summarize(rows)
    for r in rows[-len(a.budgets):]: print(json.dumps(r))
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
