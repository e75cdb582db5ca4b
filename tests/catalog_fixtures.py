"""Miniature downloads of every catalogue entry, in the exact official layouts (file names, folders, dtypes, band counts,
metadata columns), shared by tests/test_catalog.py and tests/test_catalog_series.py; `cache_entry` serves one on
127.0.0.1 and converts it (download -> dataset), as `-p data NAME` of run.ipynb then finds it."""
import io, tarfile, zipfile
from pathlib import Path

import numpy as np, pandas as pd
from rasterio.transform import from_origin

import loopback
from eo_nb import catalog
from eo_nb.catalog import BENCHMARKS, benchmark_dataset, download_benchmark
from eo_nb.catalog_sentinel import (BEN19_CLASSES, SEN12MS_SEASONS, SO2SAT_FILES, ben_patch_dirs, mini_sen1floods11,
                                    sen12ms_path)
from eo_nb.catalog_series import BREIZHCROPS_H5_BYTES, BREIZHCROPS_REGIONS, mini_breizhcrops, mini_cloud, mini_pastis
from eo_nb.download import REMOTE_DATASETS
from eo_nb.fixtures import S2_RES, make_tile_folder, write_tif

EUROSAT_CLASSES = catalog.EUROSAT_CLASSES


def serve(files):
    "Serve `files` ({filename or bucket path: bytes}) on 127.0.0.1; yields (server, base_url)."
    return loopback.serve({'/' + k: v for k, v in files.items()})


def patch_entry(monkeypatch, name, files): loopback.patch_entry(monkeypatch, BENCHMARKS, name, files)


def zip_folder(folder):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for p in sorted(Path(folder).rglob('*')):
            if p.is_file(): z.write(p, p.relative_to(folder).as_posix())
    return buf.getvalue()


def split_lists(names, n):
    "TorchGeo's eurosat-{train,val,test}.txt: one .jpg name per line (for both variants)."
    ls = {'eurosat-train.txt': names[0::3], 'eurosat-val.txt': names[1::3], 'eurosat-test.txt': names[2::3]}
    return {k: ''.join(f'{v}\n' for v in vs).encode() for k, vs in ls.items()}


def mini_eurosat_ms(tmp, n=3, size=64):
    "The EuroSAT MS download in miniature: the zip in the official nested layout (13-band uint16 GeoTIFFs) + split lists."
    spec = REMOTE_DATASETS['eurosat_ms']
    make_tile_folder(tmp/'ms'/spec.subdir, EUROSAT_CLASSES, n=n, bands=13, size=size)
    return {spec.filename: zip_folder(tmp/'ms'), **split_lists([f'{c}_{i}.jpg' for c in EUROSAT_CLASSES for i in range(n)], n)}


def mini_eurosat_rgb(tmp, n=3):
    "The EuroSAT RGB download in miniature: 2750/<Class>/<Class>_<i>.jpg (8-bit RGB 64x64) + split lists."
    from PIL import Image
    rng = np.random.default_rng(0)
    for k, c in enumerate(EUROSAT_CLASSES):
        (tmp/'rgb'/'2750'/c).mkdir(parents=True)
        for i in range(n): Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp/'rgb'/'2750'/c/f'{c}_{i}.jpg')
    spec = REMOTE_DATASETS['eurosat_rgb']
    return {spec.filename: zip_folder(tmp/'rgb'), **split_lists([f'{c}_{i}.jpg' for c in EUROSAT_CLASSES for i in range(n)], n)}


def _targz(root, top):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t: t.add(Path(root)/top, top)
    return buf.getvalue()


def mini_bigearthnet_v2(tmp, n=6, size=120):
    "BigEarthNet v2 in miniature: S2 (12 bands at 10/20/60 m) and S1 (VV, VH) patch folders in the v2 layout, each "
    "archive cut in two parts like TorchGeo's, and metadata.parquet with the official columns."
    rng, rows = np.random.default_rng(0), []
    for i in range(n):
        pid, s1n = f'S2B_MSIL2A_20180421T100029_N9999_R122_T34VFN_{10 + i}_33', f'S1B_IW_GRDH_1SDV_20180421T043109_34VFN_{10 + i}_33'
        s2d, s1d = ben_patch_dirs(tmp/'ben', pid, s1n)
        x0 = 600000 + 1200 * i
        for b, r in S2_RES.items():
            m = size * 10 // r
            write_tif(s2d/f'{pid}_{b}.tif', rng.integers(1, 10000, (m, m)).astype('uint16'), transform=from_origin(x0, 6600000, r, r))
        for p in ('VV', 'VH'):
            write_tif(s1d/f'{s1n}_{p}.tif', rng.normal(-12, 3, (size, size)).astype('float32'), transform=from_origin(x0, 6600000, 10, 10))
        rows.append(dict(patch_id=pid, labels=np.array([BEN19_CLASSES[(3 * i) % 19]]), split=['train', 'validation', 'test'][i % 3],
                         country='Finland', s1_name=s1n, s2v1_name=pid, contains_seasonal_snow=False, contains_cloud_or_shadow=False))
    buf = io.BytesIO(); pd.DataFrame(rows).to_parquet(buf, index=False)
    out = {'metadata.parquet': buf.getvalue()}
    for top in ('BigEarthNet-S2', 'BigEarthNet-S1'):
        t = _targz(tmp/'ben', top)
        out[f'{top}.tar.gzaa'], out[f'{top}.tar.gzab'] = t[:len(t) // 3], t[len(t) // 3:]
    return out


def mini_so2sat(tmp, counts=(6, 3, 3)):
    "So2Sat LCZ42 v2 in miniature: training / validation / testing .h5 with sen1 (N,32,32,8), sen2 (N,32,32,10), one-hot label (N,17), float64."
    import h5py
    rng, out = np.random.default_rng(0), {}
    for (fn, _), n in zip(SO2SAT_FILES.values(), counts):
        with h5py.File(tmp/fn, 'w') as f:
            f['sen1'] = rng.normal(0, 1e-4, (n, 32, 32, 8)); f['sen2'] = rng.uniform(0, .5, (n, 32, 32, 10))
            f['label'] = np.eye(17)[(np.arange(n) * 2) % 17]
        out[fn] = (tmp/fn).read_bytes()
    return out


def mini_sen12ms(tmp, size=32):
    "SEN12MS in miniature: the 12 season / source .tar.gz (ROIsXXXX_season/<src>_<scene>/ROIsXXXX_season_<src>_<scene>_p<i>.tif; "
    "S1 float32 x2, S2 uint16 x13, LC uint16 x4 with IGBP first) and the official split lists naming the S2 files."
    rng, out, train, test = np.random.default_rng(0), {}, [], []
    for k, season in enumerate(SEN12MS_SEASONS):
        for scene in (3, 4, 5):
            name = f'{season}_s2_{scene}_p{100 + k}.tif'
            write_tif(sen12ms_path(tmp/'sen', name, 's1'), rng.normal(-15, 3, (2, size, size)).astype('float32'))
            write_tif(sen12ms_path(tmp/'sen', name, 's2'), rng.integers(0, 5000, (13, size, size)).astype('uint16'))
            lc = np.stack([np.full((size, size), [10, 13, 16][scene - 3], 'uint16')] * 4)
            write_tif(sen12ms_path(tmp/'sen', name, 'lc'), lc)
            (test if scene == 5 else train).append(name)
        for src in ('lc', 's1', 's2'):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode='w:gz') as t:
                for f in sorted((tmp/'sen'/season).glob(f'{src}_*/*.tif')): t.add(f, f.relative_to(tmp/'sen').as_posix())
            out[f'{season}_{src}.tar.gz'] = buf.getvalue()
    out['train_list.txt'], out['test_list.txt'] = (''.join(f'{n}\n' for n in l).encode() for l in (train, test))
    return out


def mini_cloud95(tmp=None):
    "95-Cloud in miniature: the 38-Cloud training archive and the additional one (one more scene)."
    extra = mini_cloud('95-cloud_training_only_additional_to38-cloud', scenes=('LC08_L1TP_029041_20160720_20170222_01_T1',),
                       filename='95-cloud_training_only_additional_to38-cloud.zip', seed=1)
    return {**mini_cloud(), **extra}


MINIATURES = {   # entry -> builder(tmp) -> {filename: bytes}
    'eurosat_ms': mini_eurosat_ms, 'eurosat_rgb': mini_eurosat_rgb, 'bigearthnet_v2': mini_bigearthnet_v2,
    'so2sat': lambda tmp: mini_so2sat(tmp, counts=(24, 8, 8)), 'sen12ms': mini_sen12ms, 'sen1floods11': mini_sen1floods11,
    'pastis': lambda tmp: mini_pastis(size=32), 'breizhcrops': lambda tmp: mini_breizhcrops(n=6), 'cloud38': lambda tmp: mini_cloud(),
    'cloud95': mini_cloud95}


def cache_entry(monkeypatch, name, tmp, root=None, **options):
    "Serve entry `name`'s miniature on 127.0.0.1 (checksums patched to it), download and convert it; the dataset."
    files = MINIATURES[name](tmp)
    if not BENCHMARKS[name].listed: patch_entry(monkeypatch, name, files)   # listed (Sen1Floods11): no checksums to patch
    with serve(files) as (srv, url):
        raw = download_benchmark(name, root=root, base_url=url, progress=False)
        if name == 'breizhcrops':                                # the miniature's .h5 sizes stand in for the official ones
            for reg in BREIZHCROPS_REGIONS: monkeypatch.setitem(BREIZHCROPS_H5_BYTES, reg, (raw/f'{reg}.h5').stat().st_size)
        return benchmark_dataset(name, root=root, base_url=url, progress=False, **options)
