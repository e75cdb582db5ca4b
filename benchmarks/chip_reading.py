"""Random chips from a scene larger than GDAL's block cache: TorchGeo's RasterDataset + RandomGeoSampler vs eo_nb's
BlockChipSampler, and both against the pure decompression rate of the file.

The scene is synthetic but compresses like real data: a 13-band uint16 4096x4096 GeoTIFF, 512 px tiles, DEFLATE with
horizontal predictor, smooth fields + gradients + a little per-pixel noise (about half the raw size). It is built
once under --workdir. GDAL_CACHEMAX is set (in MB) before rasterio is imported; the default 16 MB is far smaller
than the 436 MB of decoded pixels. With --large_cache the measurements are repeated in a child process with
GDAL_CACHEMAX=4096 (the whole scene fits). All reads are single-threaded (num_workers=0). The compressed file sits
in the OS page cache: disk speed is not measured.

TorchGeo must not be a dependency of eo_nb: run this with a separate environment, e.g.

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 'torchgeo==0.8.*' -e .
    /tmp/benchvenv/bin/python benchmarks/chip_reading.py [--large_cache] --out benchmarks/results/chip_reading.json
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--workdir', default='/tmp/eo_nb_chip_bench', help='where the synthetic scene is built (once)')
p.add_argument('--cache', type=int, default=16, help='GDAL_CACHEMAX in MB for this run')
p.add_argument('--size', type=int, default=64)
p.add_argument('--bs', type=int, default=64)
p.add_argument('--tg_batches', type=int, default=20, help='timed TorchGeo batches (after one warm-up batch)')
p.add_argument('--eo_batches', type=int, default=200, help='timed eo_nb batches (after one warm-up batch)')
p.add_argument('--large_cache', action='store_true', help='also measure with GDAL_CACHEMAX=4096 (child process)')
p.add_argument('--out', default=None)
args = p.parse_args()
os.environ['GDAL_CACHEMAX'] = str(args.cache)          # before rasterio is imported

try:
    import torchgeo
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import RandomGeoSampler
except ImportError as e:
    sys.exit(f"torchgeo is not installed in {sys.prefix} ({e}). This benchmark compares against TorchGeo 0.8, which is not "
             "a dependency of eo_nb: create a separate venv, e.g. python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip "
             "install torch==2.14.1 torchvision==0.29.1 'torchgeo==0.8.*' -e . , and run it with /tmp/benchvenv/bin/python.")
import numpy as np, rasterio, torch
from torch.utils.data import DataLoader
from eo_nb.core import write_json
from eo_nb.random_chips import BlockChipSampler

N, C, TILE = 4096, 13, 512

def build_scene(workdir):
    "The synthetic scene (built once, atomically)."
    from scipy import ndimage
    dest = Path(workdir)/'scene'/'scene_13b_4096.tif'
    if dest.exists(): return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:N, 0:N].astype(np.float32) / N
    fine = ndimage.zoom(ndimage.gaussian_filter(rng.standard_normal((N // 8, N // 8)).astype(np.float32), 3), 8, order=1)
    coarse = ndimage.zoom(ndimage.gaussian_filter(rng.standard_normal((N // 32, N // 32)).astype(np.float32), 2), 32, order=1)
    a = np.empty((C, N, N), np.uint16)
    for b in range(C):
        f = 3000 + 80 * b + 2500 * fine * (1 + 0.05 * b) + 1500 * coarse * (1 if b < 7 else -1) + 600 * xx + 400 * yy * b / C
        f += rng.normal(0, 10, (N, N)).astype(np.float32)
        a[b] = np.clip(f, 1, 65535).astype(np.uint16)
    tmp = dest.with_suffix('.tmp.tif')
    with rasterio.open(tmp, 'w', driver='GTiff', height=N, width=N, count=C, dtype='uint16', crs='EPSG:32633',
                       transform=rasterio.transform.from_origin(500000, 5000000, 10, 10), tiled=True,
                       blockxsize=TILE, blockysize=TILE, compress='deflate', predictor=2) as d:
        d.write(a)
    os.replace(tmp, dest)
    return dest

def emit(rows, **r):
    r = dict(gdal_cachemax_mb=args.cache, **r)
    print(json.dumps(r), flush=True); rows.append(r)

def decompression(path):
    "Read the whole file block by block: uncompressed MB/s."
    with rasterio.open(path) as src:
        t0, nbytes = time.perf_counter(), 0
        for _, w in src.block_windows(1): nbytes += src.read(window=w).nbytes
        dt = time.perf_counter() - t0
    return nbytes / dt / 1e6, dt

def torchgeo_rate(path, n_batches):
    class Scene(RasterDataset):
        filename_glob, is_image = 'scene_*.tif', True
    ds = Scene(paths=str(path.parent))
    sampler = RandomGeoSampler(ds, size=args.size, length=(n_batches + 1) * args.bs)
    torch.manual_seed(0)
    dl = DataLoader(ds, sampler=sampler, batch_size=args.bs, collate_fn=stack_samples, num_workers=0)
    it = iter(dl); b = next(it)                                     # warm-up batch
    assert tuple(b['image'].shape) == (args.bs, C, args.size, args.size), b['image'].shape
    t0, n = time.perf_counter(), 0
    for b in it: n += len(b['image'])
    return n / (time.perf_counter() - t0), n

def eo_nb_rate(path, n_batches, tensor=True):
    "Batches as float32 tensors (like TorchGeo's), or (tensor=False) the sampler alone: uint16 arrays."
    s = BlockChipSampler(path, args.size, seed=0 if tensor else 1)
    get = (lambda: torch.from_numpy(s.batch(args.bs).astype(np.float32))) if tensor else (lambda: s.batch(args.bs))
    x = get()                                                           # warm-up batch
    assert tuple(x.shape) == (args.bs, C, args.size, args.size)
    t0 = time.perf_counter()
    for _ in range(n_batches): x = get()
    return n_batches * args.bs / (time.perf_counter() - t0), n_batches * args.bs, s

def main():
    rows, path = [], build_scene(args.workdir)
    raw = C * N * N * 2
    emit(rows, what='scene', path=str(path), compressed_mb=round(path.stat().st_size / 1e6, 1), raw_mb=round(raw / 1e6, 1),
         ratio=round(path.stat().st_size / raw, 3), tile=TILE, bands=C, torchgeo=torchgeo.__version__,
         rasterio=rasterio.__version__, gdal=rasterio.__gdal_version__)
    decompression(path)                                             # warm the OS page cache
    mbs, dt = decompression(path)
    emit(rows, what='decompression', mb_s=round(mbs, 1), seconds=round(dt, 2))
    tg, ntg = torchgeo_rate(path, args.tg_batches)
    emit(rows, what='torchgeo', chips_s=round(tg, 1), chips=ntg, batch=args.bs, size=args.size)
    eo, neo, s = eo_nb_rate(path, args.eo_batches)
    eff = eo * args.size ** 2 * C * 2 / 1e6
    emit(rows, what='eo_nb', chips_s=round(eo, 1), chips=neo, batch=args.bs, size=args.size, blocks=list(s.blocks),
         chips_per_window=int(s._m.max()), effective_mb_s=round(eff, 1))
    eo16, neo16, _ = eo_nb_rate(path, args.eo_batches, tensor=False)
    eff16 = eo16 * args.size ** 2 * C * 2 / 1e6
    emit(rows, what='eo_nb_uint16', chips_s=round(eo16, 1), chips=neo16, batch=args.bs, size=args.size, effective_mb_s=round(eff16, 1))
    emit(rows, what='summary', eo_nb_vs_torchgeo=round(eo / tg, 1), eo_nb_fraction_of_decompression=round(eff / mbs, 3),
         eo_nb_uint16_fraction_of_decompression=round(eff16 / mbs, 3),
         targets=dict(eo_nb_vs_torchgeo=50, fraction_of_decompression=0.8))
    if args.large_cache:
        cmd = [sys.executable, __file__, '--cache', '4096', '--workdir', args.workdir, '--size', str(args.size),
               '--bs', str(args.bs), '--tg_batches', str(args.tg_batches), '--eo_batches', str(args.eo_batches)]
        for line in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith('{'): r = json.loads(line); print(line, flush=True); rows.append(r)
    if args.out: write_json(args.out, rows)

if __name__ == '__main__': main()
