"""Putting a large scene on a map: eo_nb's `overlay_image` (eo_nb.maps) vs the plain rioxarray route.

A 13-band uint16 Sentinel-2-like GeoTIFF (tiled, DEFLATE, UTM) of `--size`² pixels, with or without overviews, is
rendered as a true-colour Web Mercator overlay for Leaflet:
- eo_nb: `overlay_image(path, 'true_color', max_size=1024)` reads the scene decimated (GDAL overviews when the file
  has them), reprojects, stretches over valid pixels.
- peer: what one writes without it: `rioxarray.open_rasterio` the three bands at full resolution,
  `.rio.reproject('EPSG:3857')`, then stretch (the same `composite`).
Each runs in a fresh process (wall time including imports, and that process's peak RSS, VmHWM). The two images are compared (correlation
of the peer image resized to the eo_nb one) so the speed is not bought with a wrong picture.

    .venv/bin/python benchmarks/viz_overlay.py [--size 8192] [--out benchmarks/results/viz_overlay.json]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BANDS = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12']

def make_scene(path, size, overviews):
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.enums import Resampling
    prof = dict(driver='GTiff', width=size, height=size, count=13, dtype='uint16', crs='EPSG:32633',
                transform=from_origin(500000, 5000000, 10, 10), tiled=True, blockxsize=512, blockysize=512, compress='deflate')
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    with rasterio.open(path, 'w', **prof) as dst:
        for r in range(0, size, 512):
            for c in range(0, size, 512):
                base = 800 + 600 * np.sin((yy + r) / 700) * np.cos((xx + c) / 900)
                blk = np.stack([base * (1 + 0.1 * b) + rng.normal(0, 40, base.shape) for b in range(13)]).clip(1, 10000).astype('uint16')
                dst.write(blk, window=rasterio.windows.Window(c, r, 512, 512))
        if overviews: dst.build_overviews([2, 4, 8, 16, 32], Resampling.average)

CHILD = r'''
import sys, time, json, resource, io, numpy as np, warnings
warnings.simplefilter('ignore')
path, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
BANDS = %r
t0 = time.time()
if mode == 'eo_nb':
    from eo_nb.maps import overlay_image
    png, bounds = overlay_image(path, 'true_color', bands=BANDS, max_size=1024)
else:
    import rioxarray
    from eo_nb.viz import composite, to_png
    da = rioxarray.open_rasterio(path).isel(band=[3, 2, 1]).astype('float32')
    da = da.rio.write_nodata(np.nan).rio.reproject('EPSG:3857')
    png = to_png(composite(da.values, ['red', 'green', 'blue'], 'true_color'))
dt = time.time() - t0
open(out, 'wb').write(png)
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]   # this process's peak (ru_maxrss would include the parent's)
print(json.dumps(dict(seconds=dt, peak_rss_mb=int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
''' % (BANDS,)

def run(path, mode, out):
    r = subprocess.run([sys.executable, '-c', CHILD, str(path), mode, str(out)], capture_output=True, text=True, timeout=3600)
    if r.returncode: raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

def similarity(a_png, b_png):
    from PIL import Image
    a = np.asarray(Image.open(a_png).convert('L'), np.float64)
    b = np.asarray(Image.open(b_png).convert('L').resize(a.shape[::-1]), np.float64)
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=8192)
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'viz_overlay.json'))
    a = ap.parse_args()
    res = dict(size=a.size, bands=13, machine=f'{os.cpu_count()} CPU cores', runs=[])
    with tempfile.TemporaryDirectory() as d:
        for ovr in (False, True):
            scene = Path(d)/f'scene_{int(ovr)}.tif'
            t0 = time.time(); make_scene(scene, a.size, ovr); made = time.time() - t0
            e = run(scene, 'eo_nb', Path(d)/'eo.png'); p = run(scene, 'peer', Path(d)/'peer.png')
            row = dict(overviews=ovr, file_mb=round(scene.stat().st_size / 2**20), eo_nb=e, peer=p,
                       speedup=round(p['seconds'] / e['seconds'], 1), memory_ratio=round(p['peak_rss_mb'] / e['peak_rss_mb'], 1),
                       image_correlation=round(similarity(Path(d)/'eo.png', Path(d)/'peer.png'), 3))
            res['runs'].append(row)
            print(f"{a.size}² x 13 bands, overviews={ovr} ({row['file_mb']} MB, made in {made:.0f} s): eo_nb {e['seconds']:.2f} s "
                  f"{e['peak_rss_mb']:.0f} MB | rioxarray full-res {p['seconds']:.2f} s {p['peak_rss_mb']:.0f} MB | "
                  f"{row['speedup']}x faster, {row['memory_ratio']}x less memory, images r={row['image_correlation']}")
            scene.unlink()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out + '.tmp'); tmp.write_text(json.dumps(res, indent=1)); tmp.rename(a.out)
    print(f'wrote {a.out}')
