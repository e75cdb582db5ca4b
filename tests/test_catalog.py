"""The public benchmarks catalogue (eo_nb.catalog, eo_nb.catalog_sentinel): each entry downloads a miniature archive in
its exact official layout from 127.0.0.1 (checksums patched to the miniature's), converts it with the official splits,
and feeds DataLoaders; bad downloads (wrong checksum, another version or layout, a missing split file, a corrupt
archive) fail clearly with nothing half-extracted; `eo_nb datasets` lists and describes entries; `-p data NAME` of
run.ipynb resolves to the cached dataset (one epoch)."""
import loopback
import contextlib, dataclasses, hashlib, http.server, io, json, tarfile, threading, zipfile
from pathlib import Path

import numpy as np, pandas as pd, pytest
from rasterio.transform import from_origin

from eo_nb import catalog
from eo_nb.catalog import (BENCHMARKS, LayoutError, benchmark_dataset, download_benchmark, get_benchmark, list_benchmarks)
from eo_nb.catalog_sentinel import BEN19_CLASSES, BEN_S2_BANDS, SEN12MS_SEASONS, SO2SAT_FILES, ben_patch_dirs, sen12ms_path
from eo_nb.core import UnknownNameError
from eo_nb.download import MARKER, REMOTE_DATASETS, ChecksumError, DownloadError
from eo_nb.fixtures import S2_RES, make_tile_folder, write_tif
from eo_nb.loaders import dataloaders

ROOT = Path(__file__).resolve().parents[1]
EUROSAT_CLASSES = catalog.EUROSAT_CLASSES
MINE = ['eurosat_ms', 'eurosat_rgb', 'bigearthnet_v2', 'so2sat', 'sen12ms']   # the entries of eo_nb.catalog and eo_nb.catalog_sentinel


def serve(files):
    "Serve `files` ({filename: bytes}) on 127.0.0.1; yields (server, base_url)."
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


# --- the listing and the command -------------------------------------------------------------------------------------

def test_listing_has_every_entry_with_its_facts():
    df = list_benchmarks()
    assert list(df.columns) == ['name', 'task', 'size', 'license', 'citation', 'files']
    assert set(MINE) <= set(df['name'])
    row = df.set_index('name').loc['so2sat']
    assert (row['task'], row['license'], row['citation'], row['files']) == ('classification', 'CC-BY-4.0', 'Zhu et al. (2020)', 3)
    for b in map(BENCHMARKS.get, MINE):
        assert b.files and all(f.md5 or f.sha256 for f in b.files) and b.source and b.recipe and b.citation, b.name


def test_eo_nb_datasets_command(capsys):
    from eo_nb.sweep import main
    assert main(['datasets']) == 0
    out = capsys.readouterr().out
    assert out.startswith('| name') and '| bigearthnet_v2 | multilabel' in out
    assert main(['datasets', 'bigearthnet_v2']) == 0
    out = capsys.readouterr().out
    assert '94e8ed32065234d3ab46353d814778d1' in out and 'reBEN' in out and "bands: 'all'" in out
    assert main(['datasets', 'bigearthnet']) == 2
    assert "Did you mean 'bigearthnet_v2'" in capsys.readouterr().err


def test_unknown_names_and_options_are_refused():
    with pytest.raises(UnknownNameError, match="Did you mean 'so2sat'"): get_benchmark('so2sa')
    with pytest.raises(TypeError, match="no option 'band'.*bands: 'all'"): benchmark_dataset('so2sat', band='s2')
    with pytest.raises(ValueError, match='already registered'):
        catalog.register_benchmark(dataclasses.replace(BENCHMARKS['so2sat'], convert=lambda *a, **k: None))
    with pytest.raises(ValueError, match='unknown task'):
        catalog.register_benchmark(dataclasses.replace(BENCHMARKS['so2sat'], name='so2sat_x', task='detection'))


# --- each entry: loopback download -> dataset -> DataLoaders ---------------------------------------------------------------

def test_eurosat_ms_official_splits_then_reused(tmp_path, monkeypatch):
    files = mini_eurosat_ms(tmp_path)
    patch_entry(monkeypatch, 'eurosat_ms', files)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('eurosat_ms', root=tmp_path/'c', base_url=url, progress=False)
    assert ds.shape() == (30, 13, 64, 64) and ds.classes == sorted(EUROSAT_CLASSES)
    assert ds.index['split'].value_counts().to_dict() == {'train': 10, 'valid': 10, 'test': 10}
    r = ds.index.set_index('source').loc[f'Highway/Highway_2.tif']
    assert (EUROSAT_CLASSES[r['label']], r['split']) == ('Highway', 'test')
    assert ds.manifest['sensor'] == 'eurosat_ms' and ds.manifest['provenance']['files'][0]['url'].startswith('https://madm.dfki.de')
    assert sorted(p.name for p in (tmp_path/'c'/'downloads'/'eurosat_ms').iterdir()) == sorted(files)
    again = benchmark_dataset('eurosat_ms', root=tmp_path/'c')          # no server: reused at once
    assert again.path == ds.path
    xb, yb = dataloaders(again, bs=5, device='cpu', progress=False).one_batch()
    assert tuple(xb.shape) == (5, 13, 64, 64) and tuple(yb.shape) == (5,)


def test_eurosat_rgb(tmp_path, monkeypatch):
    files = mini_eurosat_rgb(tmp_path, n=3)
    patch_entry(monkeypatch, 'eurosat_rgb', files)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('eurosat_rgb', root=tmp_path/'c', base_url=url, progress=False)
    assert ds.shape() == (30, 3, 64, 64) and ds.bands == ['B04', 'B03', 'B02'] and ds.keys['image']['dtype'] == 'uint8'
    assert (ds.index['split'] == 'valid').sum() == 10


def test_bigearthnet_v2_s1_s2(tmp_path, monkeypatch):
    files = mini_bigearthnet_v2(tmp_path)
    patch_entry(monkeypatch, 'bigearthnet_v2', files)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('bigearthnet_v2', root=tmp_path/'c', base_url=url, progress=False)
        s1 = benchmark_dataset('bigearthnet_v2', root=tmp_path/'c', base_url=url, progress=False, bands='s1')
    assert ds.shape() == (6, 14, 120, 120) and ds.bands == [*BEN_S2_BANDS, 'VV', 'VH']
    assert ds.index['split'].tolist() == ['train', 'valid', 'test'] * 2
    assert ds.index['group'][0] == 'S2B_MSIL2A_20180421T100029_N9999_R122_T34VFN' and ds.index['time'][0] == '20180421'
    assert [np.flatnonzero(r).tolist() for r in ds.read(range(6), 'labels')] == [[0], [3], [6], [9], [12], [15]]
    raw = tmp_path/'c'/'bigearthnet_v2'
    assert not list(raw.glob('.*.staging')) and not (tmp_path/'c'/'downloads'/'bigearthnet_v2'/'BigEarthNet-S2.tar.gz').exists()
    import rasterio
    s1n = 'S1B_IW_GRDH_1SDV_20180421T043109_34VFN_10_33'      # the S1 patch of row 0
    with rasterio.open(raw/'BigEarthNet-S1'/'S1B_IW_GRDH_1SDV_20180421T043109'/s1n/f'{s1n}_VH.tif') as src: vh = src.read(1)
    assert s1.shape() == (6, 2, 120, 120) and s1.bands == ['VV', 'VH'] and np.array_equal(s1.read([0])[0, 1], vh)
    assert s1.path.name.startswith('bigearthnet_v2-') and s1.path != ds.path
    xb, yb = dataloaders(ds, bs=2, device='cpu', progress=False).one_batch()
    assert tuple(xb.shape) == (2, 14, 120, 120) and tuple(yb.shape) == (2, 19)


def test_so2sat(tmp_path, monkeypatch):
    files = mini_so2sat(tmp_path)
    patch_entry(monkeypatch, 'so2sat', files)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('so2sat', root=tmp_path/'c', base_url=url, progress=False)
    assert ds.shape() == (12, 18, 32, 32) and ds.bands[:2] == ['S1_B1', 'S1_B2'] and ds.bands[-1] == 'B12'
    assert ds.index['split'].tolist() == ['train'] * 6 + ['valid'] * 3 + ['test'] * 3
    assert ds.labels.tolist() == [0, 2, 4, 6, 8, 10, 0, 2, 4, 0, 2, 4]
    import h5py
    with h5py.File(tmp_path/'testing.h5') as f: want = f['sen2'][2].transpose(2, 0, 1).astype('float32')
    assert np.array_equal(ds.read([11])[0, 8:], want)
    xb, yb = dataloaders(ds, bs=4, device='cpu', progress=False).one_batch()
    assert tuple(xb.shape) == (4, 18, 32, 32)


def test_sen12ms_all_bands(tmp_path, monkeypatch):
    files = mini_sen12ms(tmp_path)
    patch_entry(monkeypatch, 'sen12ms', files)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('sen12ms', root=tmp_path/'c', base_url=url, progress=False, bands='all', valid_pct=0.25)
    assert ds.shape() == (12, 15, 32, 32) and ds.bands[:3] == ['VV', 'VH', 'B01'] and ds.keys['image']['dtype'] == 'float32'
    assert ds.index['split'].value_counts().to_dict() == {'train': 6, 'test': 4, 'valid': 2}
    assert ds.index.groupby('group')['split'].nunique().max() == 1 and ds.index['group'][0] == 'ROIs1158_spring_3'
    sp = ds.index.set_index('source')['split']
    assert (sp[[n for n in sp.index if '_s2_5_' in n]] == 'test').all()
    masks = ds.read(range(12), 'mask')[:, 0, 0]                 # IGBP 10 grassland -> 3, 13 urban -> 6, 16 barren -> 8
    assert sorted(set(masks.tolist())) == [3, 6, 8] and ds.classes[6] == 'Urban/Built-up'
    xb, yb = dataloaders(ds, bs=4, device='cpu', progress=False).one_batch()
    assert tuple(xb.shape) == (4, 15, 32, 32) and tuple(yb.shape) == (4, 32, 32)


# --- bad downloads ------------------------------------------------------------------------------------------------------

def test_wrong_checksum_names_the_file_and_keeps_nothing(tmp_path, monkeypatch):
    files = mini_so2sat(tmp_path)
    patch_entry(monkeypatch, 'so2sat', files)
    bad = dict(files, **{'validation.h5': files['testing.h5']})         # another file served under this name
    with serve(bad) as (srv, url), pytest.raises(ChecksumError, match=r'validation\.h5.*expected md5'):
        download_benchmark('so2sat', root=tmp_path/'c', base_url=url, progress=False)
    dl = tmp_path/'c'/'downloads'/'so2sat'
    assert sorted(p.name for p in dl.iterdir()) == ['training.h5']       # the bad one deleted, the good one kept
    with serve(files) as (srv, url):                                     # a rerun fetches only what is missing
        download_benchmark('so2sat', root=tmp_path/'c', base_url=url, progress=False)
        assert srv.requests == ['/validation.h5', '/testing.h5']


def test_another_version_or_layout_is_named(tmp_path, monkeypatch):
    "EuroSAT RGB's archive given to the MS entry, and BigEarthNet v1 folders given to the v2 entry."
    rgb = mini_eurosat_rgb(tmp_path, n=1)
    files = {REMOTE_DATASETS['eurosat_ms'].filename: rgb['EuroSAT.zip'], **{k: v for k, v in rgb.items() if k.endswith('.txt')}}
    patch_entry(monkeypatch, 'eurosat_ms', files)
    with serve(files) as (srv, url), pytest.raises(LayoutError, match=r"sentinel_2/tif is missing.*another archive"):
        benchmark_dataset('eurosat_ms', root=tmp_path/'c', base_url=url, progress=False)
    assert not (tmp_path/'c'/'datasets'/'eurosat_ms').exists()
    from eo_nb.fixtures import make_bigearthnet
    make_bigearthnet(tmp_path/'v1', n=2, size=12, s1=False)
    with pytest.raises(LayoutError, match='BigEarthNet v1 patch folders.*create_dataset'):
        catalog.BENCHMARKS['bigearthnet_v2'].convert(tmp_path/'v1', tmp_path/'d', False)


def test_missing_split_file_is_named_with_the_fix(tmp_path, monkeypatch):
    files = mini_eurosat_ms(tmp_path, n=1, size=16)
    patch_entry(monkeypatch, 'eurosat_ms', files)
    with serve(files) as (srv, url): raw = download_benchmark('eurosat_ms', root=tmp_path/'c', base_url=url, progress=False)
    (raw/'eurosat-val.txt').unlink()
    with pytest.raises(LayoutError, match=r"eurosat-val\.txt is missing.*hf\.co/datasets/torchgeo/eurosat.*95de90f2"):
        benchmark_dataset('eurosat_ms', root=tmp_path/'c', progress=False)
    for d in ('BigEarthNet-S2', 'BigEarthNet-S1'): (tmp_path/'b'/d).mkdir(parents=True)   # v2 folders, no metadata.parquet
    with pytest.raises(LayoutError, match=r'metadata\.parquet is missing'):
        catalog.BENCHMARKS['bigearthnet_v2'].convert(tmp_path/'b', tmp_path/'d', False)


def test_corrupt_archive_leaves_nothing_half_extracted(tmp_path, monkeypatch):
    files = mini_eurosat_ms(tmp_path, n=1, size=16)
    zname = REMOTE_DATASETS['eurosat_ms'].filename
    files[zname] = files[zname][:len(files[zname]) // 2]                 # truncated, with a matching checksum
    patch_entry(monkeypatch, 'eurosat_ms', files)
    with serve(files) as (srv, url), pytest.raises(ValueError, match='neither a zip nor a tar'):
        download_benchmark('eurosat_ms', root=tmp_path/'c', base_url=url, progress=False)
    raw = tmp_path/'c'/'eurosat_ms'
    assert not raw.exists() or [p.name for p in raw.iterdir()] == []


def test_interrupted_move_resumes_without_downloading(tmp_path, monkeypatch):
    "Killed while moving an extracted archive into place: the staging folder (complete, marked) is moved on the next run."
    files = mini_eurosat_ms(tmp_path, n=1, size=16)
    patch_entry(monkeypatch, 'eurosat_ms', files)
    with serve(files) as (srv, url): raw = download_benchmark('eurosat_ms', root=tmp_path/'c', base_url=url, progress=False)
    zname = REMOTE_DATASETS['eurosat_ms'].filename
    stage = raw/f'.{zname}.staging'; stage.mkdir()
    (stage/MARKER).write_text(zname); (raw/'ds').rename(stage/'ds'); (raw/f'.{zname}.done').unlink()
    (tmp_path/'c'/'downloads'/'eurosat_ms'/zname).unlink()               # the archive is not needed any more
    assert download_benchmark('eurosat_ms', root=tmp_path/'c', progress=False) == raw   # no server, no base_url
    assert not stage.exists() and len(list((raw/REMOTE_DATASETS['eurosat_ms'].subdir).rglob('*.tif'))) == 10


def test_resolve_data_gives_the_cached_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    files = mini_so2sat(tmp_path, counts=(4, 2, 2))
    patch_entry(monkeypatch, 'so2sat', files)
    from eo_nb.data import resolve_data
    assert resolve_data('so2sat', download=False) == tmp_path/'data'/'datasets'/'so2sat'
    with serve(files) as (srv, url): ds = benchmark_dataset('so2sat', base_url=url, progress=False)
    assert resolve_data('so2sat') == ds.path == tmp_path/'data'/'datasets'/'so2sat'


# --- one epoch through run.ipynb ------------------------------------------------------------------------------------------

def test_run_notebook_one_epoch_on_a_catalogue_name(tmp_path, monkeypatch):
    "`-p data so2sat` in run.ipynb: the catalogue name resolves to the dataset cached under EO_NB_DATA; one epoch runs (~15 s)."
    papermill = pytest.importorskip('papermill')
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    files = mini_so2sat(tmp_path, counts=(24, 8, 8))
    patch_entry(monkeypatch, 'so2sat', files)
    with serve(files) as (srv, url): benchmark_dataset('so2sat', base_url=url, progress=False)
    out = tmp_path/'run'
    papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/'out.ipynb'), cwd=str(ROOT/'nbs'), kernel_name='python3',
                               progress_bar=False, parameters=dict(data='so2sat', model='eo_cnn_small', epochs=1, bs=8, out_dir=str(out)))
    m = json.loads((out/'metrics.json').read_text())
    assert m['valid']['n'] == 8 and len(m['valid']['classes']) == 17
    assert len((out/'history.csv').read_text().splitlines()) == 2
