"""Random batches from an eo_nb chip store vs a plain memmap of the same bytes.

Chips the 13-band uint16 4096x4096 scene of `chip_reading.py` (built there, in --workdir) into a chip store
(64 px chips, 4096 chips, Zarr chunks of `--chunk_chips` chips, default compression), writes the same chips to
one .npy file, and measures random batches of 64 (uniform over all chips) read (a) from the store's Zarr array
(`z.oindex[ids]`), (b) from `np.load(mmap_mode='r')[ids]`, both with the files in the OS page cache, after a
warm-up pass. Also: the store read chunk by chunk in random chunk order (every chip once per epoch, batches
drawn within a chunk), which is what a chunk-aware sampler would do. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/chip_store_reading.py [--workdir /tmp/eo_nb_chip_bench] [--out benchmarks/results/chip_store_reading.json]
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from eo_nb.core import write_json
from eo_nb.chips import make_chip_store, open_chip_store

def rate(fn, n_batches, bs):
    t0 = time.perf_counter()
    for _ in range(n_batches): fn()
    return n_batches * bs / (time.perf_counter() - t0)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workdir', default='/tmp/eo_nb_chip_bench'); ap.add_argument('--chunk_chips', type=int, default=256)
    ap.add_argument('--batches', type=int, default=40); ap.add_argument('--bs', type=int, default=64); ap.add_argument('--out', default='')
    a = ap.parse_args()
    scene = Path(a.workdir)/'scene'/'scene_13b_4096.tif'
    if not scene.exists(): raise SystemExit(f"{scene} not found: run benchmarks/chip_reading.py first (it builds the scene).")
    store_dir = Path(a.workdir)/f'store_{a.chunk_chips}'
    t0 = time.perf_counter()
    st = make_chip_store(scene, store_dir, size=64, chunk_chips=a.chunk_chips, progress=False) if not (store_dir/'store.json').exists() \
         else open_chip_store(store_dir)
    t_chip = time.perf_counter() - t0
    z = st.z; n = len(st)
    npy = Path(a.workdir)/'chips.npy'
    if not npy.exists(): np.save(npy, z[:])
    mm = np.load(npy, mmap_mode='r')
    rng = np.random.default_rng(0)
    rows = [dict(what='store', chips=n, chunk_chips=a.chunk_chips, chip_bytes=int(np.prod(z.shape[1:]) * z.dtype.itemsize),
                 store_mb=round(sum(f.stat().st_size for f in (store_dir/'chips.zarr').rglob('*') if f.is_file()) / 1e6, 1),
                 npy_mb=round(npy.stat().st_size / 1e6, 1), chipping_s=round(t_chip, 1))]
    ids = lambda: np.sort(rng.choice(n, a.bs, replace=False))
    for f in (lambda: z.oindex[ids()], lambda: np.ascontiguousarray(mm[ids()])): f()          # warm-up
    np.asarray(mm[:]).sum(); z[:]                                                             # page cache
    r_store = rate(lambda: z.oindex[ids()], a.batches, a.bs)
    r_mm = rate(lambda: np.ascontiguousarray(mm[ids()]), a.batches, a.bs)
    cc = a.chunk_chips
    def chunkwise():
        for c in rng.permutation(n // cc):
            block = z[c * cc:(c + 1) * cc]
            for b in range(0, cc, a.bs): yield block[rng.permutation(cc)[b:b + a.bs]]
    t0 = time.perf_counter(); k = sum(len(b) for _, b in zip(range(a.batches * 4), chunkwise()))
    r_chunk = k / (time.perf_counter() - t0)
    rows.append(dict(what='random_batches', bs=a.bs, store_chips_s=round(r_store, 1), memmap_chips_s=round(r_mm, 1),
                     store_vs_memmap=round(r_store / r_mm, 3), chunkwise_store_chips_s=round(r_chunk, 1),
                     chunkwise_vs_memmap=round(r_chunk / r_mm, 3)))
    for r in rows: print(json.dumps(r), flush=True)
    if a.out: write_json(a.out, rows)

if __name__ == '__main__': main()
