"""The water / lake-ice recipe on Sentinel-1 (../shared/data/sentinel1_vv_pyrosar): a known answer, not a benchmark.

The pyroSAR VV scene (dB, 217x268 px at 20 m, nodata -99) gets a mask derived from itself (VV < -18 dB: dark water-like
backscatter), since no SAR scene with a real mask is in the samples. As in `nbs/60_inference.ipynb`: the scene and mask
are cut into 32 px chips (`make_chip_store`, max_nodata 0.5), a U-Net on `eo_cnn_small` is trained on a random 80/20
chip split (8 epochs, one-cycle lr 1e-2, bs 8), and `predict_scene` maps the whole scene (64 px windows, 16 px
overlap). Scores of the map against the derived mask: agreement over every pixel of the scene (nodata counts as a
disagreement, as in the notebook), over the valid pixels only, and the IoU of the dark class. One scene with
random chips on both sides: this shows the recipe runs and learns a threshold, nothing about real water maps.
The last row (`what: summary`) holds the means over seeds. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/sar_water.py --seeds 0 1 2 --out benchmarks/results/sar_water.json
"""
import argparse, json, os, tempfile, time, warnings
from pathlib import Path
import numpy as np
warnings.filterwarnings('ignore')
from eo_nb.core import shared_data, write_json
from eo_nb.io import read_raster, write_raster
from eo_nb.chips import make_chip_store
from eo_nb.convert import create_dataset
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, save_run_model
from eo_nb.inference import predict_scene

SCENE = 'sentinel1_vv_pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif'

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', nargs='+', type=int, default=[0]); ap.add_argument('--epochs', type=int, default=8)
    ap.add_argument('--threshold_db', type=float, default=-18.); ap.add_argument('--out', default='')
    a = ap.parse_args()
    scene = (shared_data() or None) and shared_data()/SCENE
    if not scene or not scene.exists(): raise SystemExit(f'../shared/data/{SCENE} not found (set EO_NB_SHARED_DATA)')
    rows = []
    def emit(**r): print(json.dumps(r), flush=True); rows.append(r)
    vv, meta = read_raster(scene)
    dark = (vv[0] < a.threshold_db).astype(np.uint8)
    valid = vv[0] != meta['nodata']
    for seed in a.seeds:
        with tempfile.TemporaryDirectory() as d:
            w = Path(d)
            write_raster(w/'mask.tif', dark, crs=meta['crs'], transform=meta['transform'])
            make_chip_store(scene, w/'chips', size=32, labels=w/'mask.tif', max_nodata=0.5, progress=False)
            dls = dataloaders(create_dataset(w/'chips', dest=w/'dataset', progress=False), valid_pct=0.2, bs=8, device='cpu')
            learn = eo_learner(dls, 'eo_cnn_small', out_dir=w, seed=seed)
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 1e-2)
            dt = time.perf_counter() - t0
            save_run_model(learn, w/'water.pth')
            cls = read_raster(predict_scene(w/'water.pth', scene, w/'s1_water.tif', tile=64, overlap=16, progress=False))[0][0]
        p, t = cls[valid] == 1, dark[valid] == 1
        emit(what='run', seed=seed, epochs=a.epochs, train_chips=len(dls.train_ds), valid_chips=len(dls.valid_ds), train_s=round(dt, 1),
             agreement=float(np.mean(cls == dark)), agreement_valid=float(np.mean(p == t)), iou_dark=float((p & t).sum() / max((p | t).sum(), 1)),
             predicted_dark=float(np.mean(cls == 1)), mask_dark=float(dark.mean()), nodata_share=float(1 - valid.mean()))
    mean = lambda k: round(float(np.mean([r[k] for r in rows])), 4)
    emit(what='summary', seeds=a.seeds, threshold_db=a.threshold_db, machine=f'{os.cpu_count()} CPU cores',
         **{f'mean_{k}': mean(k) for k in ('agreement', 'agreement_valid', 'iou_dark', 'train_s')},
         agreement_min=round(min(r['agreement'] for r in rows), 4), agreement_max=round(max(r['agreement'] for r in rows), 4))
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
