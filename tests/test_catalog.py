"""The public benchmarks catalogue (eo_nb.catalog, eo_nb.catalog_sentinel): each entry downloads a miniature archive in
its exact official layout from 127.0.0.1 (checksums patched to the miniature's), converts it with the official splits,
and feeds DataLoaders; bad downloads (wrong checksum, another version or layout, a missing split file, a corrupt
archive) fail clearly with nothing half-extracted; `eo_nb datasets` lists and describes entries; `-p data NAME` of
run.ipynb resolves to the cached dataset (one epoch)."""
import dataclasses, json
from pathlib import Path

import numpy as np, pytest

from catalog_fixtures import (EUROSAT_CLASSES, cache_entry, mini_bigearthnet_v2, mini_eurosat_ms, mini_eurosat_rgb, mini_sen12ms,
                              mini_so2sat, patch_entry, serve)
from eo_nb import catalog
from eo_nb.catalog import (BENCHMARKS, LayoutError, RemoteFile, benchmark_dataset, download_benchmark, get_benchmark, list_benchmarks)
from eo_nb.catalog_sentinel import BEN_S2_BANDS, mini_sen1floods11
from eo_nb.core import UnknownNameError
from eo_nb.download import MARKER, REMOTE_DATASETS, ChecksumError, DownloadError
from eo_nb.loaders import dataloaders

ROOT = Path(__file__).resolve().parents[1]
MINE = ['eurosat_ms', 'eurosat_rgb', 'bigearthnet_v2', 'so2sat', 'sen12ms', 'sen1floods11']   # eo_nb.catalog and eo_nb.catalog_sentinel


# --- the listing and the command -------------------------------------------------------------------------------------

def test_listing_has_every_entry_with_its_facts():
    df = list_benchmarks()
    assert list(df.columns) == ['name', 'task', 'size', 'license', 'citation', 'files']
    assert set(MINE) <= set(df['name'])
    row = df.set_index('name').loc['so2sat']
    assert (row['task'], row['license'], row['citation'], row['files']) == ('classification', 'CC-BY-4.0', 'Zhu et al. (2020)', 3)
    for b in map(BENCHMARKS.get, MINE):
        assert b.files and all(f.md5 or f.sha256 or f.no_checksum for f in b.files) and b.source and b.recipe and b.citation, b.name
    assert [n for n in MINE if any(f.no_checksum for f in BENCHMARKS[n].files)] == ['sen1floods11']


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
    assert main(['datasets', 'breizhcrops']) == 0                        # the no-checksum opt-out says why, file by file
    out = capsys.readouterr().out
    assert out.count('no published checksum: none in the package') == 9 and 'sha256 )' not in out


def test_unknown_names_and_options_are_refused():
    with pytest.raises(UnknownNameError, match="Did you mean 'so2sat'"): get_benchmark('so2sa')
    with pytest.raises(TypeError, match="no option 'band'.*bands: 'all'"): benchmark_dataset('so2sat', band='s2')
    with pytest.raises(ValueError, match='already registered'):
        catalog.register_benchmark(dataclasses.replace(BENCHMARKS['so2sat'], convert=lambda *a, **k: None))
    with pytest.raises(ValueError, match='unknown task'):
        catalog.register_benchmark(dataclasses.replace(BENCHMARKS['so2sat'], name='so2sat_x', task='detection'))
    unsummed = RemoteFile('https://example.org/x.csv', 'x.csv', extract=False)
    with pytest.raises(ValueError, match=r"x\.csv of benchmark 'so2sat_x' has no md5 or sha256.*no_checksum='\.\.\.'"):
        catalog.register_benchmark(dataclasses.replace(BENCHMARKS['so2sat'], name='so2sat_x', files=(unsummed,)))
    with pytest.raises(ValueError, match='has a checksum and no_checksum'):
        catalog.check_file(dataclasses.replace(unsummed, md5='0' * 32, no_checksum='none'), 'so2sat_x')
    assert 'so2sat_x' not in BENCHMARKS


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


def test_sen1floods11_chips_listed_by_the_split_csvs(tmp_path):
    "No archive, no checksums: the 3 CSVs, then each chip's 3 layers one by one (resumable); -1 and NaN ignored; a bad chip is named."
    files = mini_sen1floods11(tmp_path)
    with serve(files) as (srv, url):
        ds = benchmark_dataset('sen1floods11', root=tmp_path/'c', base_url=url, progress=False)
        assert len(srv.requests) == 3 + 4 * 3 and srv.requests[3].endswith('/S1Hand/Bolivia_103757_S1Hand.tif')
        s1 = benchmark_dataset('sen1floods11', root=tmp_path/'c', base_url=url, progress=False, bands='s1')
        assert len(srv.requests) == 15                                      # nothing fetched again
    assert ds.shape() == (4, 15, 32, 32) and ds.bands[:3] == ['VV', 'VH', 'B01'] and s1.shape() == (4, 2, 32, 32)
    assert ds.index['split'].tolist() == ['train', 'train', 'valid', 'test'] and ds.index['group'][0] == 'Bolivia'
    m = ds.read(np.arange(4), 'mask')
    assert (m[:, :2] == 255).all() and set(np.unique(m[:, 2:]).tolist()) == {0, 1, 255} and m[0, -1, -1] == 255   # -1 rows, NaN pixel
    assert ds.read([0])[0, 0, -1, -1] == 0 and ds.classes == ['not water', 'water'] and ds.manifest['ignore_index'] == 255
    raw = tmp_path/'c'/'sen1floods11'
    chip = raw/'v1.1/data/flood_events/HandLabeled/S2Hand/Ghana_5079_S2Hand.tif'
    kept = tmp_path/'c'/'downloads'/'sen1floods11'/chip.relative_to(raw)
    chip.unlink(); (chip.parent/f'.{chip.name}.done').unlink()
    with serve(files) as (srv, url):                                       # a lost chip: relinked from downloads/, no request
        download_benchmark('sen1floods11', root=tmp_path/'c', base_url=url, progress=False)
        assert srv.requests == [] and chip.is_file()
        chip.unlink(); (chip.parent/f'.{chip.name}.done').unlink(); kept.unlink()  # lost there too: only it is fetched again
        download_benchmark('sen1floods11', root=tmp_path/'c', base_url=url, progress=False)
        assert srv.requests == ['/v1.1/data/flood_events/HandLabeled/S2Hand/Ghana_5079_S2Hand.tif']
    chip.unlink(); chip.write_bytes(b'not a tiff')
    with pytest.raises(LayoutError, match=r'Ghana_5079_S2Hand\.tif cannot be read.*Delete it, .*downloads/sen1floods11/v1\.1/.*\.Ghana_5079_S2Hand\.tif\.done'):
        BENCHMARKS['sen1floods11'].convert(raw, tmp_path/'d', False)
    xb, yb = dataloaders(ds, bs=2, device='cpu', progress=False).one_batch()
    assert tuple(xb.shape) == (2, 15, 32, 32) and tuple(yb.shape) == (2, 32, 32)


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


RUN_ENTRIES = ['eurosat_ms', 'eurosat_rgb', 'bigearthnet_v2', 'sen12ms', 'sen1floods11', 'breizhcrops', 'cloud38', 'cloud95']


@pytest.mark.slow
@pytest.mark.parametrize('name', RUN_ENTRIES)
def test_run_notebook_one_epoch_on_every_entry(name, tmp_path, monkeypatch):
    "Each entry's miniature, downloaded from 127.0.0.1 and cached under EO_NB_DATA, trains one epoch via `-p data NAME` (slow: ~10-60 s each)."
    papermill = pytest.importorskip('papermill')
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    ds = cache_entry(monkeypatch, name, tmp_path)
    assert ds.path == tmp_path/'data'/'datasets'/name                    # where resolve_data looks for `-p data NAME`
    out = tmp_path/'run'
    papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/'out.ipynb'), cwd=str(ROOT/'nbs'), kernel_name='python3',
                               progress_bar=False, parameters=dict(data=name, epochs=1, bs=2, out_dir=str(out)))
    m = json.loads((out/'metrics.json').read_text())
    n_valid, v = int((ds.index['split'] == 'valid').sum()), m['valid']
    assert n_valid > 0 and (v['n'] == n_valid if 'n' in v else 0 < v['n_pixels'] <= n_valid * ds.shape('mask')[-1] ** 2), v
    assert len((out/'history.csv').read_text().splitlines()) == 2
