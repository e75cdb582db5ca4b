"""Random batches from an eo_nb chip store vs a plain memmap of the same bytes.

Chips the 13-band uint16 4096x4096 scene of `chip_reading.py` (built there, in --workdir) into a chip store
(64 px chips, 4096 chips, `--chunk_chips` chips per shard), writes the same chips to one .npy file, and measures
random batches of 64 (uniform over all chips), both with the files in the OS page cache, after a warm-up pass:
(a) raw chips: `store.read(rows)` vs `np.load(mmap_mode='r')[ids]`; (b) what training sees: a batch of
`eo_nb.loaders.TaskDataset.get_batch` (float32) over the eo_nb dataset of the same chips (each labelled 0, written
under --workdir; the scene has no nodata), vs the memmap batch converted to float32. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/chip_store_reading.py [--workdir /tmp/eo_nb_chip_bench] [--out benchmarks/results/chip_store_reading.json]
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from eo_nb.core import write_json
from eo_nb.chips import make_chip_store, open_chip_store

def rate(fn, n_batches, bs, repeats=5):
    "Best of `repeats` timings of `n_batches` calls, in chips/s."
    best = 0.
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_batches): fn()
        best = max(best, n_batches * bs / (time.perf_counter() - t0))
    return best

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workdir', default='/tmp/eo_nb_chip_bench'); ap.add_argument('--chunk_chips', type=int, default=256)
    ap.add_argument('--batches', type=int, default=100); ap.add_argument('--bs', type=int, default=64); ap.add_argument('--out', default='')
    a = ap.parse_args()
    scene = Path(a.workdir)/'scene'/'scene_13b_4096.tif'
    if not scene.exists(): raise SystemExit(f"{scene} not found: run benchmarks/chip_reading.py first (it builds the scene).")
    store_dir = Path(a.workdir)/f'store_npy_{a.chunk_chips}'
    t0 = time.perf_counter()
    st = make_chip_store(scene, store_dir, size=64, chunk_chips=a.chunk_chips, progress=False, overwrite=True)
    t_chip = time.perf_counter() - t0
    n = len(st)
    npy = Path(a.workdir)/'chips.npy'
    np.save(npy, st.read(np.arange(n)))
    mm = np.load(npy, mmap_mode='r')
    from eo_nb.convert import dataset_from_arrays
    from eo_nb.loaders import TaskDataset
    eo = dataset_from_arrays(mm, 'classification', np.zeros(n, np.int64), ['0'], st.bands, dest=Path(a.workdir)/'dataset', overwrite=True)
    ds = TaskDataset(eo, np.arange(n), 'classification')
    rng = np.random.default_rng(0)
    ids = lambda: rng.choice(n, a.bs, replace=False)
    f_store, f_mm = lambda: st.read(ids()), lambda: np.ascontiguousarray(mm[ids()])
    f_ds, f_mm32 = lambda: ds.get_batch(ids()), lambda: mm[ids()].astype(np.float32)
    for f in (f_store, f_mm, f_ds, f_mm32): f()                                      # warm-up
    np.asarray(mm[:]).sum(); st.read(np.arange(n)); eo.read(np.arange(n), 'image')    # page cache
    r = {k: rate(f, a.batches, a.bs) for k, f in dict(store=f_store, memmap=f_mm, dataset=f_ds, memmap_f32=f_mm32).items()}
    rows = [dict(what='store', chips=n, chunk_chips=a.chunk_chips, chip_bytes=int(np.prod(st.chip_shape) * st.dtype.itemsize),
                 store_mb=round(sum(f.stat().st_size for f in (store_dir/'chips').rglob('*.npy')) / 1e6, 1),
                 npy_mb=round(npy.stat().st_size / 1e6, 1), chipping_s=round(t_chip, 1)),
            dict(what='random_batches', bs=a.bs, store_chips_s=round(r['store']), memmap_chips_s=round(r['memmap']),
                 store_vs_memmap=round(r['store'] / r['memmap'], 3), dataset_f32_chips_s=round(r['dataset']),
                 memmap_f32_chips_s=round(r['memmap_f32']), dataset_vs_memmap_f32=round(r['dataset'] / r['memmap_f32'], 3))]
    for row in rows: print(json.dumps(row), flush=True)
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
