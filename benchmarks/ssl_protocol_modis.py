"""Which self-supervised method helps a small labelled set of MODIS NDVI series, under one protocol? (../shared/data/sits_timeseries)

`eo_nb.ssl_protocol.run_protocol` on the 37 485 unlabelled pixel series of the MODIS tile `mod13q1_sinop_cube`
(12 dates) and the labelled `samples_modis_ndvi` (stratified 80/20 split, split seed 42; the validation part is only
scored): each method of `eo_nb.ssl_methods` (SimCLR, VICReg, BYOL, masked modelling) pretrains a TempCNN once per
seed; then for k labels per class drawn from the training part (draws 0-2): a linear probe and k-NN on frozen
features (against the same encoder with random weights) and fine-tuning (against training from scratch with the same
epochs, learning rate and normalisation). Paired t-tests over (draw, seed) pairs (`protocol_table`). Records are kept
in --workdir, so an interrupted run resumes; the table and the label-efficiency plot go to --out.

    .venv/bin/python benchmarks/ssl_protocol_modis.py --out benchmarks/results/ssl_protocol_modis.json
"""
import argparse, json, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import numpy as np
from eo_nb.core import shared_data, write_json
from eo_nb.ssl_protocol import run_protocol, protocol_table, plot_label_efficiency

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--methods', nargs='+', default=['simclr', 'vicreg', 'byol', 'masked', 'random', 'scratch'])
    ap.add_argument('--model', default='tempcnn'); ap.add_argument('--pretrain_epochs', type=int, default=10)
    ap.add_argument('--labels', nargs='+', type=int, default=[5, 10]); ap.add_argument('--draws', nargs='+', type=int, default=[0, 1, 2])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1]); ap.add_argument('--finetune_epochs', type=int, default=30)
    ap.add_argument('--workdir', default='/tmp/eo_nb_ssl_protocol_modis'); ap.add_argument('--out', default='')
    a = ap.parse_args()
    if not (shared_data() or Path('../shared/data')).joinpath('sits_timeseries').exists(): sys.exit("skipped: ../shared/data/sits_timeseries not found (set EO_NB_SHARED_DATA)")
    spec = dict(methods=a.methods, model=a.model, pretrain=dict(epochs=a.pretrain_epochs), labels=a.labels, draws=a.draws, seeds=a.seeds,
                finetune_epochs=a.finetune_epochs)
    t0 = time.time()
    df = run_protocol(spec, a.workdir)
    tab = protocol_table(df)
    print(tab.to_string(index=False))
    if a.out:
        plot_label_efficiency(df, fname=Path(a.out).with_suffix('.png'))
        best = tab[tab.p.notna()].sort_values('p')
        write_json(a.out, dict(args=vars(a), seconds=round(time.time() - t0, 1), table=json.loads(tab.to_json(orient='records')),
                               records=json.loads(df.to_json(orient='records')),
                               summary=dict(significant=json.loads(best[(best.p < 0.05) & (best['diff'] > 0)].to_json(orient='records')))))

if __name__ == '__main__': main()
