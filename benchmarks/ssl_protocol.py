"""Which self-supervised method helps a few labels of satellite image time series, on each of the shared data's three sets, under one protocol?

Runs the sweep file `sweeps/ssl/protocol.yaml` (`eo_nb.ssl_protocol`: datasets × methods × label budgets × draws × seeds,
the same as `eo_nb ssl sweeps/ssl/protocol.yaml`) into --workdir, resumably, and writes the leaderboard (paired t-tests
against training from scratch for fine-tuning, against frozen random weights for the linear probe and k-NN), every
record, the wall time and the report figures (label efficiency, t-SNE maps) beside --out.

    .venv/bin/python benchmarks/ssl_protocol.py --out benchmarks/results/ssl_protocol.json
"""
import argparse, json, shutil, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import numpy as np
from eo_nb.core import shared_data, write_json
from eo_nb.ssl_protocol import ssl_grid, run_protocol, protocol_table, save_protocol_report, canon_settings

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--spec', default=str(Path(__file__).parents[1]/'sweeps'/'ssl'/'protocol.yaml'))
    ap.add_argument('--workdir', default='/tmp/eo_nb_ssl_protocol'); ap.add_argument('--out', default='')
    a = ap.parse_args()
    sd = shared_data() or Path('../shared/data')
    if not ((sd/'sits_timeseries').exists() and (sd/'eolearn_s2_timeseries').exists()):
        sys.exit("skipped: ../shared/data/sits_timeseries or eolearn_s2_timeseries not found (set EO_NB_SHARED_DATA)")
    s = ssl_grid(a.spec)
    fresh = not (Path(a.workdir)/'results').exists()
    t0 = time.time()
    df = run_protocol(s, a.workdir)
    seconds = round(time.time() - t0, 1)
    tab = protocol_table(df)
    print(tab.drop(columns=['ci95']).round(3).to_string(index=False))
    if not a.out: return
    figs = save_protocol_report(s, a.workdir)
    out = Path(a.out)
    for f in figs:
        if f.suffix == '.png': shutil.copyfile(f, out.with_name(f'{out.stem}_{f.name}'))
    sig = tab[(tab.p < 0.05) & (tab['diff'] > 0)]
    low = sig[sig.labels.isin(['5', '10'])]
    spec = json.loads(json.dumps(s, default=str))
    timing = dict(seconds=seconds, fresh_run=fresh)
    if not fresh and out.exists():                   # a resumed run adds its time to the runs before it; a re-report keeps theirs
        old = json.loads(out.read_text())
        rest = lambda sp: {k: v for k, v in sp.items() if k != 'datasets'}
        same = lambda n, d: canon_settings(spec['datasets'].get(n) or {}) == canon_settings(d)    # settings added later compare equal while unset
        if old.get('fresh_run') and rest(old['spec']) == rest(spec) and all(same(n, d) for n, d in old['spec']['datasets'].items()):
            grew = set(spec['datasets']) - set(old['spec']['datasets'])
            timing = dict(seconds=round(old['seconds'] + (seconds if grew else 0), 1), fresh_run=True)
    bal = protocol_table(df, metric='balanced_accuracy')
    write_json(out, dict(args=vars(a), spec=spec, **timing,
                         note='seconds: wall time of the calls that computed every record from nothing (a dataset added later: its call added), on this machine (2 CPU cores)',
                         table=json.loads(tab.to_json(orient='records')), table_balanced_accuracy=json.loads(bal.to_json(orient='records')),
                         records=json.loads(df.to_json(orient='records')),
                         summary=dict(significant=json.loads(sig.to_json(orient='records')),
                                      datasets_with_a_significant_gain_at_10_labels_or_fewer=sorted(set(low.dataset)))))

if __name__ == '__main__': main()
