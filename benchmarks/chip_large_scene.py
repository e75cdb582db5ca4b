"""Chipping a scene larger than the memory it is given: peak memory of `make_chip_store`.

Builds (once, atomically, block row by block row) a synthetic 13-band uint16 GeoTIFF of `--size`² pixels, tiled
512 px, DEFLATE + predictor 2, with a 300 px nodata (0) frame, then chips it into 64 px chips (max_nodata=0) in a
child process. Where the cgroup-v1 memory controller is writable (`/sys/fs/cgroup/memory`), the child runs in a
cgroup limited to `--limit_mb` (default 2048 MB; page cache included), so the whole scene cannot be held in
memory; the peak RSS of the child (VmHWM) and the cgroup's peak usage are reported, with the chipping rate and a
check of random chips against direct windowed reads. Prints JSON lines; --out writes them.

    .venv/bin/python benchmarks/chip_large_scene.py [--size 16384] [--limit_mb 2048] [--workdir /tmp/eo_nb_big] [--out benchmarks/results/chip_large_scene.json]
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np
import rasterio

C, TILE, BORDER = 13, 512, 300
CG = Path('/sys/fs/cgroup/memory')

def build_scene(path, n):
    "The synthetic scene, written block row by block row (memory: one block row)."
    from scipy import ndimage
    if path.exists(): return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    P = 4096                                                          # the texture repeats every 4096 px
    fine = ndimage.zoom(ndimage.gaussian_filter(rng.standard_normal((P // 8, P // 8)).astype(np.float32), 3), 8, order=1)
    coarse = ndimage.zoom(ndimage.gaussian_filter(rng.standard_normal((P // 32, P // 32)).astype(np.float32), 2), 32, order=1)
    tmp = path.with_suffix('.tmp.tif')
    with rasterio.Env(GDAL_NUM_THREADS='ALL_CPUS'), rasterio.open(
            tmp, 'w', driver='GTiff', height=n, width=n, count=C, dtype='uint16', crs='EPSG:32633', nodata=0,
            transform=rasterio.transform.from_origin(500000, 5000000, 10, 10), tiled=True, blockxsize=TILE,
            blockysize=TILE, compress='deflate', predictor=2, zlevel=1, num_threads='all_cpus', bigtiff='yes') as d:
        for r0 in range(0, n, TILE):
            rows = np.arange(r0, r0 + TILE) % P
            f, c = np.tile(fine[rows], (1, n // P)), np.tile(coarse[rows], (1, n // P))
            xx = np.broadcast_to(np.arange(n, dtype=np.float32) / n, f.shape)
            a = np.empty((C, TILE, n), np.uint16)
            for b in range(C):
                v = 3000 + 80 * b + 2500 * f * (1 + 0.05 * b) + 1500 * c * (1 if b < 7 else -1) + 600 * xx
                a[b] = np.clip(v, 1, 60000).astype(np.uint16) + rng.integers(0, 24, (TILE, n), dtype=np.uint16)
            yy = np.arange(r0, r0 + TILE)
            a[:, (yy < BORDER) | (yy >= n - BORDER)] = 0
            a[:, :, :BORDER] = 0; a[:, :, n - BORDER:] = 0
            d.write(a, window=((r0, r0 + TILE), (0, n)))
            print(f"\rbuilding {path.name}: {min(r0 + TILE, n)}/{n} rows", end='', file=sys.stderr, flush=True)
    print(file=sys.stderr)
    os.replace(tmp, path)
    return path

def child(scene, dest, cgroup):
    "Runs in the (limited) child process: chip and report."
    if cgroup: (cgroup/'cgroup.procs').write_text(str(os.getpid()))
    from eo_nb.chips import make_chip_store
    t0 = time.perf_counter()
    st = make_chip_store(scene, dest, size=64, max_nodata=0.0, chunk_chips=256, progress=False, overwrite=True)
    dt = time.perf_counter() - t0
    hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM')][0].split()[1]
    print(json.dumps(dict(chips=len(st), seconds=round(dt, 1), peak_rss_mb=round(int(hwm) / 1024, 1))))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', type=int, default=16384); ap.add_argument('--limit_mb', type=int, default=2048)
    ap.add_argument('--workdir', default='/tmp/eo_nb_big'); ap.add_argument('--out', default='')
    ap.add_argument('--keep', action='store_true', help='keep the chip store (default: removed after the checks)')
    ap.add_argument('--child', nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(Path(a.child[0]), Path(a.child[1]), Path(a.child[2]) if a.child[2] != '-' else None)
    if a.size % 4096: raise SystemExit('--size must be a multiple of 4096')
    wd = Path(a.workdir); scene = wd/f'scene_13b_{a.size}.tif'; dest = wd/'store'
    t0 = time.perf_counter(); build_scene(scene, a.size); t_build = time.perf_counter() - t0
    raw_gb = C * a.size * a.size * 2 / 1e9
    cg = CG/'eo_nb_bench'
    try:
        cg.mkdir(exist_ok=True)
        (cg/'memory.limit_in_bytes').write_text(str(a.limit_mb * 2**20))
        try: (cg/'memory.memsw.limit_in_bytes').write_text(str(a.limit_mb * 2**20))
        except OSError: pass
        (cg/'memory.max_usage_in_bytes').write_text('0')
    except OSError as e:
        print(f"no writable cgroup-v1 memory controller ({e}): measuring peak RSS without a limit", file=sys.stderr); cg = None
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    p = subprocess.run([sys.executable, __file__, '--child', str(scene), str(dest), str(cg) if cg else '-'],
                       capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(f"chipping failed (rc {p.returncode}; -9 = killed by the memory limit):\n{p.stderr[-3000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    cg_peak = int((cg/'memory.max_usage_in_bytes').read_text()) / 2**20 if cg else None
    from eo_nb.chips import open_chip_store, chip_windows
    st = open_chip_store(dest)
    inner = a.size - 2 * BORDER
    with rasterio.open(scene) as src:
        for i in np.random.default_rng(0).choice(len(st), 20, replace=False):
            r = st.index.iloc[i]
            assert (st.read([i])[0] == src.read(window=((r['row'], r['row'] + 64), (r['col'], r['col'] + 64)))).all()
    want = sum(1 for r, c in chip_windows(a.size, a.size, 64, edge='shift')
               if r >= BORDER and c >= BORDER and r + 64 <= a.size - BORDER and c + 64 <= a.size - BORDER)
    assert len(st) == want, (len(st), want)
    store_gb = sum(f.stat().st_size for f in (dest/'chips').glob('*.npy')) / 1e9
    row = dict(scene_px=a.size, bands=C, raw_gb=round(raw_gb, 2), file_gb=round(scene.stat().st_size / 1e9, 2),
               build_s=round(t_build, 1), memory_limit_mb=a.limit_mb if cg else None, chips=res['chips'],
               chipping_s=res['seconds'], chips_per_s=round(res['chips'] / res['seconds']),
               raw_mb_per_s=round(raw_gb * 1e3 / res['seconds']), store_gb=round(store_gb, 2),
               peak_rss_mb=res['peak_rss_mb'], cgroup_peak_mb=round(cg_peak, 1) if cg_peak else None,
               checked_chips=20, cpu_count=os.cpu_count())
    print(json.dumps(row), flush=True)
    if a.out:
        from eo_nb.core import write_json
        write_json(a.out, [row])
    if not a.keep: shutil.rmtree(dest, ignore_errors=True)
    if cg:
        try: cg.rmdir()
        except OSError: pass

if __name__ == '__main__': main()
