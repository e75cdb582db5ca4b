"""The series and cloud entries of the catalogue (eo_nb.catalog_series: pastis, breizhcrops, cloud38, cloud95): each
downloads its miniature files in the exact official layout from 127.0.0.1 (checksums patched to the miniature's),
converts them with the official splits and feeds DataLoaders; another version, a missing split / metadata file and a
corrupt archive fail clearly, naming the file and the fix, with nothing half-extracted; `-p data pastis` runs one epoch
of run.ipynb on the cached dataset (~20 s)."""
import json
from pathlib import Path

import numpy as np, pytest

import eo_nb.catalog_series as cs
from catalog_fixtures import mini_cloud95, patch_entry, serve
from eo_nb.catalog import BENCHMARKS, LayoutError, benchmark_dataset, describe_benchmark, download_benchmark, list_benchmarks
from eo_nb.catalog_series import mini_breizhcrops, mini_cloud, mini_pastis
from eo_nb.loaders import dataloaders

ROOT = Path(__file__).resolve().parents[1]
MINE = ['pastis', 'breizhcrops', 'cloud38', 'cloud95']


def fetch(monkeypatch, name, files, root, **options):
    patch_entry(monkeypatch, name, files)
    with serve(files) as (srv, url): return benchmark_dataset(name, root=root, base_url=url, progress=False, **options)


def one_batch(ds, bs=4):
    return [tuple(t.shape) for t in dataloaders(ds, bs=bs, device='cpu', progress=False).train.one_batch()]


def test_entries_are_listed_with_their_facts():
    t = list_benchmarks().set_index('name')
    assert t.loc[MINE, 'task'].tolist() == ['timeseries', 'pixel_series', 'segmentation', 'segmentation']
    for n in MINE:
        b = BENCHMARKS[n]
        assert b.size and b.license and b.citation and b.recipe and b.source and b.files
        for f in b.files: assert f.url.startswith('https://') and bool(f.md5) != bool(f.no_checksum), (n, f.filename)
    assert BENCHMARKS['pastis'].files[0].md5 == 'cfc441bf18137ff0bbf4fad58828fb98'    # TorchGeo 0.5 pastis.py
    assert [n for n in MINE if any(f.no_checksum for f in BENCHMARKS[n].files)] == ['breizhcrops', 'cloud38', 'cloud95']
    d = describe_benchmark('cloud95')
    assert d.count('no published checksum: none in the READMEs, Kaggle or TorchGeo') == 2 and 'sha256' not in d


# --- PASTIS ----------------------------------------------------------------------------------------------------------------

def test_pastis_series_padded_folds_as_splits_then_reused(tmp_path, monkeypatch):
    files = mini_pastis(Ts=(3, 5, 4, 3, 4, 5, 3, 4, 5, 3), size=32)
    ds = fetch(monkeypatch, 'pastis', files, tmp_path/'c')
    assert ds.task == 'timeseries' and ds.shape('image') == (10, 5, 10, 32, 32) and ds.keys['image']['dtype'] == 'int16'
    assert ds.read(np.arange(10), 'valid').sum(1).tolist() == [3, 5, 4, 3, 4, 5, 3, 4, 5, 3]
    assert ds.read([0], 'days')[0].tolist() == [0., 5., 10., -1., -1.]
    assert not ds.read([0])[0, 3:].any()                                          # padded steps are zeros
    assert ds.index['split'].tolist() == ['train', 'train', 'train', 'valid', 'test'] * 2   # folds 1-3 / 4 / 5
    assert sorted(np.unique(ds.read(np.arange(10), 'mask')).tolist()) == list(range(19)) + [255]   # void 19 ignored
    assert ds.classes[0] == 'background' and len(ds.classes) == 19 and ds.manifest['ignore_index'] == 255
    assert set(ds.index['group']) == {'t30uxv', 't31tfm'} and ds.index['crs'][0] == 'EPSG:2154'
    assert ds.manifest['provenance']['benchmark'] == 'pastis'
    assert one_batch(ds, 2) == [(2, 5, 10, 32, 32), (2, 5), (2, 32, 32)]
    ds3 = benchmark_dataset('pastis', root=tmp_path/'c', fold=3, progress=False)     # files cached: no server
    assert ds3.index['split'].tolist()[:5] == ['valid', 'test', 'train', 'train', 'train']
    assert benchmark_dataset('pastis', root=tmp_path/'c', progress=False).path == ds.path


def test_pastis_r_or_broken_metadata_is_named(tmp_path, monkeypatch):
    files = {'PASTIS.zip': mini_pastis(Ts=(3, 4), top='PASTIS-R')['PASTIS.zip']}
    with pytest.raises(LayoutError, match=r'holds PASTIS-R .*zenodo record 5012942'):
        fetch(monkeypatch, 'pastis', files, tmp_path/'c')
    raw = tmp_path/'raw'; (raw/'PASTIS').mkdir(parents=True)
    with pytest.raises(LayoutError, match=r'metadata\.geojson is missing.*download again'): cs.scan_pastis(raw)
    (raw/'PASTIS'/'metadata.geojson').write_text(json.dumps({'type': 'FeatureCollection', 'features': [{'properties': {'ID_PATCH': 7}}]}))
    with pytest.raises(LayoutError, match='lacks Fold'): cs.scan_pastis(raw)
    feat = {'properties': {'ID_PATCH': 7, 'Fold': 2, 'dates-S2': json.dumps({'0': 20180917})}}
    (raw/'PASTIS'/'metadata.geojson').write_text(json.dumps({'type': 'FeatureCollection', 'features': [feat]}))
    with pytest.raises(LayoutError, match=r'S2_7\.npy is missing'): cs.scan_pastis(raw)
    with pytest.raises(ValueError, match='official folds 1-5'): cs.pastis_splits(0)


def test_truncated_archive_leaves_nothing_half_extracted(tmp_path, monkeypatch):
    z = mini_pastis(Ts=(3, 4))['PASTIS.zip']
    files = {'PASTIS.zip': z[:len(z) // 2]}                          # truncated, with a matching checksum
    patch_entry(monkeypatch, 'pastis', files)
    with serve(files) as (srv, url), pytest.raises(ValueError, match='neither a zip nor a tar'):
        download_benchmark('pastis', root=tmp_path/'c', base_url=url, progress=False)
    raw = tmp_path/'c'/'pastis'
    assert not raw.exists() or [p.name for p in raw.iterdir()] == []
    assert not (tmp_path/'c'/'datasets').exists()


# --- BreizhCrops -----------------------------------------------------------------------------------------------------------

def test_breizhcrops_regions_as_splits_with_the_size_check(tmp_path, monkeypatch):
    files = mini_breizhcrops(n=6)
    with pytest.raises(LayoutError, match=r'frh01\.h5 has \d+ bytes, but .* has 2559635960'):
        fetch(monkeypatch, 'breizhcrops', files, tmp_path/'c')
    raw = tmp_path/'c'/'breizhcrops'
    for reg in cs.BREIZHCROPS_REGIONS: monkeypatch.setitem(cs.BREIZHCROPS_H5_BYTES, reg, (raw/f'{reg}.h5').stat().st_size)
    ds = benchmark_dataset('breizhcrops', root=tmp_path/'c', progress=False)
    assert ds.task == 'pixel_series' and len(ds) == 4 * 5                    # per region one parcel of an unmapped code dropped
    assert ds.index.groupby('split').size().to_dict() == {'test': 5, 'train': 10, 'valid': 5}
    assert ds.classes == ['barley', 'wheat', 'corn', 'permanent meadows'] and ds.bands[0] == 'B01' and len(ds.bands) == 13
    x, v, d = ds.read(np.arange(len(ds))), ds.read(np.arange(len(ds)), 'valid'), ds.read(np.arange(len(ds)), 'days')
    assert 0.04 < x[v].min() and x[v].max() < 0.41 and not x[~v].any()      # reflectance x 1e-4; padding zeros
    assert (d[:, 0] == 0).all() and all((np.diff(r[m]) > 0).all() for r, m in zip(d, v))   # days rise from 0
    assert ds.index['group'].is_unique and ds.index['source'][0].startswith('frh01/')
    assert one_batch(ds)[0][0] == 4


def test_breizhcrops_missing_index_is_named_with_the_fix(tmp_path, monkeypatch):
    files = mini_breizhcrops(n=2)
    patch_entry(monkeypatch, 'breizhcrops', files)
    with serve(files) as (srv, url): raw = download_benchmark('breizhcrops', root=tmp_path/'c', base_url=url, progress=False)
    (raw/'frh03.csv').unlink()
    with pytest.raises(LayoutError, match=r'frh03\.csv is missing.*the valid split.*2017/L1C/frh01\.csv'):
        BENCHMARKS['breizhcrops'].convert(raw, tmp_path/'d', False)
    assert not (tmp_path/'d').exists()


# --- 38-Cloud, 95-Cloud ----------------------------------------------------------------------------------------------------

def test_cloud38_chips_grouped_by_scene(tmp_path, monkeypatch):
    ds = fetch(monkeypatch, 'cloud38', mini_cloud(patches=2), tmp_path/'c')
    assert ds.task == 'segmentation' and ds.shape('image') == (36, 4, 128, 128) and ds.bands == ['red', 'green', 'blue', 'nir']
    assert ds.index['group'].nunique() == 2 and ds.index.groupby('split').size().to_dict() == {'train': 18, 'valid': 18}
    assert set(np.unique(ds.read(np.arange(36), 'mask')).tolist()) == {0, 1}
    assert len(benchmark_dataset('cloud38', root=tmp_path/'c', nonempty=True, progress=False)) == 18
    assert one_batch(ds) == [(4, 4, 128, 128), (4, 128, 128)]


def test_cloud95_joins_both_training_archives(tmp_path, monkeypatch):
    ds = fetch(monkeypatch, 'cloud95', mini_cloud95(), tmp_path/'c', size=192)
    assert ds.shape('image') == (24, 4, 192, 192) and ds.index['group'].nunique() == 3
    assert sorted(ds.index.groupby('split').size().tolist()) == [8, 16]
    ne = benchmark_dataset('cloud95', root=tmp_path/'c', size=192, nonempty=True, progress=False)   # both archives' lists of informative patches
    assert len(ne) == 3 * 4 and ne.index['group'].nunique() == 3


def test_cloud_missing_patch_list_is_named(tmp_path, monkeypatch):
    with pytest.raises(LayoutError, match=r'training_patches_38-Cloud\.csv is missing.*official training split'):
        fetch(monkeypatch, 'cloud38', mini_cloud(lists=False), tmp_path/'c')
    assert not (tmp_path/'c'/'datasets').exists()


# --- one epoch through run.ipynb ---------------------------------------------------------------------------------------------

def test_run_notebook_one_epoch_on_pastis(tmp_path, monkeypatch):
    "`-p data pastis` in run.ipynb: the name resolves to the dataset cached under EO_NB_DATA; one U-TAE epoch runs (~20 s: not slow)."
    papermill = pytest.importorskip('papermill')
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    fetch(monkeypatch, 'pastis', mini_pastis(size=32), None)
    out = tmp_path/'run'
    papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/'out.ipynb'), cwd=str(ROOT/'nbs'), kernel_name='python3',
                               progress_bar=False, parameters=dict(data='pastis', model='utae', epochs=1, bs=2, out_dir=str(out)))
    m = json.loads((out/'metrics.json').read_text())
    assert 0 < m['valid']['n_pixels'] < 2 * 32 * 32                              # the 2 fold-4 patches, void pixels left out
    assert len((out/'history.csv').read_text().splitlines()) == 2
