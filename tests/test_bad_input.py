"""Bad input at every public entry point: truncated or corrupt files, a Zarr cube with a chunk missing, wrong dtypes,
NaN / Inf, wrong band counts, CRS mismatches, labels out of range, empty inputs and absurd sizes. Each case ends in
a clear error (naming the file, the band / CRS / value, and the fix) or in a documented recovery.

Real files come from the shared data folder (`eo_nb.core.shared_data`), copied into `tmp_path` before they are
damaged; a test that needs them is skipped, saying so, when they are absent. Cases that need a fix in a notebook this
suite's author does not own are `xfail(strict=True)`, with the fix in the reason."""
import contextlib, json, math, shutil, signal, struct, time, warnings
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import pytest
from eo_nb.core import shared_data, UnknownNameError
from eo_nb.io import RasterReadError, raster_meta, read_raster, write_raster, open_raster, check_pixel_dtype

pytestmark = pytest.mark.filterwarnings('ignore::rasterio.errors.NotGeoreferencedWarning')
SD = shared_data()

def case(component, guarantee): return pytest.mark.case(component=component, kind='bad_input', guarantee=guarantee)

def shared(rel):
    "A file or folder of the shared real data, or a skip saying what is missing."
    p = SD/rel if SD else None
    if p is None or not p.exists(): pytest.skip(f'real data {rel} not found in the shared data folder (set EO_NB_SHARED_DATA)')
    return p

def copy(src, dest):
    "A copy of the real file or folder `src` at `dest` (the original is never touched)."
    dest = Path(dest); dest.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if Path(src).is_dir() else shutil.copy)(src, dest)
    return dest

def truncate(path, frac=0.5):
    b = Path(path).read_bytes(); Path(path).write_bytes(b[:int(len(b) * frac)]); return Path(path)

def flip_bytes(path, n=2000):
    "Invert `n` bytes in the middle of `path` (inside its pixel data)."
    b = bytearray(Path(path).read_bytes()); m = len(b) // 2
    for i in range(m, m + n): b[i] ^= 0xFF
    Path(path).write_bytes(bytes(b)); return Path(path)

def huge_tiff(path, h=10**9, w=10**9):
    "A 160-byte classic TIFF whose header declares `h` x `w` uint8 pixels in one (1-byte) strip."
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8),
            (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, 1), (284, 3, 1, 1)]
    ifd = struct.pack('<H', len(tags)) + b''.join(struct.pack('<HHII', *t) if t[1] == 4 else struct.pack('<HHIHH', *t, 0)
                                                  for t in tags) + struct.pack('<I', 0)
    Path(path).write_bytes(b'II*\x00' + struct.pack('<I', 16) + b'\x00' * 8 + ifd)
    return Path(path)

@contextlib.contextmanager
def time_limit(seconds):
    "Raise TimeoutError in this (main) thread after `seconds`: a bad input must fail fast, not run on."
    def boom(*_): raise TimeoutError(f'still running after {seconds} s')
    old = signal.signal(signal.SIGALRM, boom); signal.setitimer(signal.ITIMER_REAL, seconds)
    try: yield
    finally: signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, old)

def eurosat_folder(dest, classes=('Forest', 'River'), n=4):
    "A small EuroSAT-style folder of real 13-band tiles."
    src = shared('eurosat_ms_subset')
    for c in classes:
        for f in sorted((src/c).glob('*.tif'))[:n]: copy(f, Path(dest)/c/f.name)
    return Path(dest)

def rewrite(path, fn):
    "Rewrite the raster `path` with `fn(pixels)`, keeping its CRS and transform."
    a, m = read_raster(path)
    write_raster(path, fn(a), crs=m['crs'], transform=m['transform'], nodata=m['nodata'])

# ----------------------------------------------------------------------------------------------------------- loaders

@case('loaders', 'a truncated or corrupt GeoTIFF fails with its path, the band GDAL failed on, and the fix')
@pytest.mark.parametrize('damage', ['truncated', 'flipped bytes'])
def test_damaged_geotiff(tmp_path, damage):
    if damage == 'truncated': f = truncate(copy(shared('eurosat_ms_subset/Forest/Forest_1.tif'), tmp_path/'Forest_1.tif'))
    else: f = flip_bytes(copy(shared('hls_chip_terratorch/hls_chip_224x224_10band.tif'), tmp_path/'hls.tif'))   # LZW tiles
    raster_meta(f)                                                    # the header is intact: the pixels are not
    with pytest.raises(RasterReadError, match=rf"{f}.*band 1.*re-download"): read_raster(f)

@case('loaders', 'a file that is not a raster (empty, text) fails at open with its path and the fix')
@pytest.mark.parametrize('content', [b'', b'not a raster\n'])
def test_not_a_raster(tmp_path, content):
    f = tmp_path/'tile.tif'; f.write_bytes(content)
    for fn in (raster_meta, read_raster, open_raster):
        with pytest.raises(RasterReadError, match=rf"Cannot open {f} as a raster.*re-download"): fn(f)

@case('loaders', 'a header declaring 10^9 x 10^9 pixels fails at once at every raster entry point, allocating nothing')
def test_absurd_declared_size_fails_fast(tmp_path):
    from eo_nb.cube import open_cube
    f = huge_tiff(tmp_path/'huge.tif')
    for fn in (raster_meta, read_raster, open_raster, open_cube):
        t = time.time()
        with pytest.raises(RasterReadError, match=r"huge\.tif declares 1,000,000,000 x 1,000,000,000 pixels.*MAX_RASTER_SIDE"): fn(f)
        assert time.time() - t < 2

@case('loaders', 'a class folder whose tile declares 10^9 x 10^9 pixels fails at once in create_dataset, naming the tile')
def test_absurd_declared_size_in_a_class_folder(tmp_path, monkeypatch):
    from eo_nb.convert import create_dataset
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    (tmp_path/'src'/'A').mkdir(parents=True)
    huge_tiff(tmp_path/'src'/'A'/'huge.tif')                          # the one tile of a class folder
    t = time.time()
    with pytest.raises(RasterReadError, match=r"huge\.tif declares 1,000,000,000 x 1,000,000,000 pixels.*MAX_RASTER_SIDE"):
        create_dataset(tmp_path/'src', progress=False)
    assert time.time() - t < 2

@case('loaders', 'reading more pixels than the free memory fails before allocating, naming the size and lazier ways to read')
def test_read_larger_than_memory(tmp_path):
    f = huge_tiff(tmp_path/'big.tif', 5_000_000, 5_000_000)              # 25 TB of uint8: a plausible header, no memory
    assert raster_meta(f)['height'] == 5_000_000
    with pytest.raises(MemoryError, match=r"big\.tif needs 22\.7 TiB .*5,000,000 x 5,000,000 uint8.*window=.*chunks"): read_raster(f)
    from rasterio.windows import Window
    with pytest.raises(RasterReadError, match='big.tif'): read_raster(f, window=Window(0, 0, 8, 8))   # a window passes the check (then finds no pixels)

@case('loaders', 'a band position the file lacks names the file and its band count')
def test_band_index_out_of_range():
    f = shared('eurosat_ms_subset/Forest/Forest_1.tif')
    with pytest.raises(IndexError, match=rf"\[20\] out of range for {f}, which has 13 band"): read_raster(f, indexes=[0, 20])

@pytest.fixture
def data_root(tmp_path, monkeypatch):
    "A data root under tmp_path, where create_dataset writes the datasets of these tests."
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'eo_nb_data'))
    return tmp_path/'eo_nb_data'

@case('loaders', 'a folder mixing band counts or tile sizes names the odd tile and the common value')
@pytest.mark.parametrize('odd', ['4 bands', '32x32'])
def test_folder_with_odd_tile(tmp_path, data_root, odd):
    from eo_nb.convert import create_dataset
    d = eurosat_folder(tmp_path/'data')
    f = sorted((d/'River').glob('*.tif'))[0]
    rewrite(f, (lambda a: a[:4]) if odd == '4 bands' else (lambda a: a[:, :32, :32]))
    msg = 'has 4 bands of 64x64 .* but the other tiles have 13 bands' if odd == '4 bands' else 'has 13 bands of 32x32 .* but the other tiles have 13 bands of 64x64'
    with pytest.raises(ValueError, match=rf"{f} {msg}.*fix or remove this file"): create_dataset(d, progress=False)

@case('loaders', 'NaN / Inf pixels in tiles are refused, naming the tile and band, never turned into NaN statistics or losses')
@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_nan_inf_tiles(tmp_path, data_root, bad):
    from eo_nb.convert import create_dataset
    from eo_nb.loaders import dataloaders
    from eo_nb.data import eo_dataloaders
    d = eurosat_folder(tmp_path/'data')
    files = sorted(d.glob('*/*.tif'))
    for f in files: rewrite(f, lambda a: a.astype(np.float32))
    def poison(a): a[3, 10:12, 10:15] = bad; return a
    rewrite(files[5], poison)
    for fn in (lambda: create_dataset(d, progress=False), lambda: dataloaders(d, bs=4, valid_pct=0.5, progress=False)):
        with pytest.raises(ValueError, match=rf"{files[5]} holds NaN or Inf pixels in band\(s\) \['B04'\]: fill them"): fn()
    with pytest.warns(FutureWarning, match='eo_nb.loaders.dataloaders'), pytest.raises(ValueError, match=rf"{files[5]} holds NaN or Inf"):
        eo_dataloaders(d, bs=4, valid_pct=0.5, progress=False)

@case('loaders', 'band statistics of arrays with NaN / Inf pixels leave them out, never NaN; no pixels at all is an error naming the bands')
@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_band_stats_nan_inf(bad):
    from eo_nb.stats import band_stats_streaming
    from eo_nb.data import band_stats
    from eo_nb.moved import MovedError
    with pytest.raises(MovedError, match=r'compute_stats.*band_stats_streaming'): band_stats(np.zeros((2, 3, 4, 4)))
    x = np.zeros((2, 3, 4, 4)); x[1, 2, 0, 0] = bad
    st = band_stats_streaming(x)
    assert np.isfinite(st['mean'] + st['std']).all() and st['count'][2] == 31
    with pytest.raises(ValueError, match='have no valid pixels'): band_stats_streaming(np.zeros((0, 3, 4, 4)))

@case('loaders', 'complex, boolean or string pixels are refused with the dtype and how to convert them')
def test_wrong_pixel_dtype(tmp_path, data_root):
    from eo_nb.convert import create_dataset
    d = eurosat_folder(tmp_path/'data', n=2)
    for f in d.glob('*/*.tif'): rewrite(f, lambda a: a.astype(np.complex64))
    with pytest.raises(TypeError, match=r"Forest_1\.tif .*holds complex \(complex64\) pixels.*abs\(z\)"): create_dataset(d, progress=False)
    with pytest.raises(TypeError, match=r"labels\.npy holds <U3 values, not numbers"): check_pixel_dtype(np.array(['abc']).dtype, 'labels.npy')
    with pytest.raises(TypeError, match=r"Cannot write .*s\.tif: GDAL has no <U1 rasters"): write_raster(tmp_path/'s.tif', np.array([['a']]))
    write_raster(tmp_path/'m.tif', np.eye(4, dtype=bool))                 # documented: a boolean mask becomes uint8 0/1
    a, m = read_raster(tmp_path/'m.tif')
    assert m['dtype'] == 'uint8' and (a[0] == np.eye(4)).all()
    with pytest.raises(ValueError, match=r"Cannot write .*z\.tif.*shape \(1, 0, 8\)"): write_raster(tmp_path/'z.tif', np.zeros((1, 0, 8), np.uint8))

@case('loaders', 'an empty folder, a class folder without tiles or an empty file list names the folder and the layout expected')
def test_empty_inputs(tmp_path, data_root):
    from eo_nb.data import scan_folder, read_tiles
    from eo_nb.convert import create_dataset
    from eo_nb.moved import MovedError
    (tmp_path/'empty').mkdir()
    with pytest.raises(ValueError, match=rf"{tmp_path/'empty'} has no class sub-folders.*<class name>/<tile>\.tif"): scan_folder(tmp_path/'empty')
    with pytest.raises(ValueError, match=rf"{tmp_path/'empty'} is not a data source eo_nb reads.*one sub-folder of tiles per class"):
        create_dataset(tmp_path/'empty', progress=False)
    (tmp_path/'noclass'/'Forest').mkdir(parents=True)
    with pytest.raises(ValueError, match=rf"{tmp_path/'noclass'/'Forest'} holds no tiles.*Add tiles"): create_dataset(tmp_path/'noclass', progress=False)
    with pytest.raises(MovedError, match=r'eo_nb\.data\.read_tiles was removed.*create_dataset\(folder\)\.read\(rows\)'): read_tiles([])

@case('loaders', 'bs, crop and max_shift outside their range fail before any tile is read, naming the value')
@pytest.mark.parametrize('kw,msg', [(dict(bs=0), 'bs=0'), (dict(bs=-1), 'bs=-1'), (dict(bs=2.5), 'bs=2.5'), (dict(crop=0), 'crop=0'),
                                    (dict(crop=2), 'crop=2'), (dict(max_shift=-0.1), 'max_shift=-0.1'), (dict(max_shift=5), 'max_shift=5')])
def test_absurd_loader_parameters(kw, msg):
    from eo_nb.data import eo_dataloaders
    with pytest.warns(FutureWarning, match='eo_nb.loaders.dataloaders'), pytest.raises(ValueError, match=msg):
        eo_dataloaders('no/such/folder/is/read', progress=False, **kw)

@case('loaders', 'a test folder without the training bands, or statistics of another band count, name the folder / counts')
def test_band_count_mismatch_with_training(tmp_path, data_root):
    from eo_nb.loaders import dataloaders, test_dataloader
    dls = dataloaders(eurosat_folder(tmp_path/'train'), bs=4, valid_pct=0.5, progress=False, device='cpu')
    test = eurosat_folder(tmp_path/'test')
    for f in test.glob('*/*.tif'): rewrite(f, lambda a: a[:4])
    with pytest.raises(UnknownNameError, match=rf"test data {data_root}.* lacks bands the model was trained on \(B01, "):
        test_dataloader(dls, test, progress=False)
    with pytest.raises(ValueError, match=r"stats has 4 means and 4 stds for the 13 bands"):
        dataloaders(tmp_path/'train', stats=dict(mean=[0] * 4, std=[1] * 4), progress=False)

@case('loaders', 'tiles of one folder in different CRSs (EuroSAT UTM zones) load, each keeping its own CRS')
def test_folder_of_several_crs_keeps_each(tmp_path, data_root):
    from eo_nb.convert import create_dataset
    d = eurosat_folder(tmp_path/'data', classes=('Forest', 'River', 'SeaLake', 'Highway'), n=3)
    ds = create_dataset(d, progress=False)
    assert ds.index['crs'].nunique() > 1                                 # real tiles from several UTM zones
    assert list(ds.index['crs']) == [raster_meta(d/p)['crs'] for p in ds.index['source']]

# -------------------------------------------------------------------------------------------------------------- cube

def _rgb_cube():
    from eo_nb.cube import open_cube
    return open_cube({'2020-01-01': shared('landsat7_rgb_rasterio/RGB.byte.tif')}, bands=['red', 'green', 'blue'])

@case('cube', 'a Zarr cube with a chunk file deleted is refused, naming the chunk, its date and band, never read as fill values')
def test_zarr_missing_chunk(tmp_path):
    from eo_nb.cube import write_cube, read_cube, CubeReadError
    cube = _rgb_cube()
    write_cube(cube, tmp_path/'c.zarr')
    back = read_cube(tmp_path/'c.zarr').values                        # nodata (0) comes back as NaN (CF decoding)
    assert (np.where(np.isnan(back), 0, back) == cube.values).all()
    (tmp_path/'c.zarr'/'cube'/'0.1.0.0').unlink()
    with pytest.raises(CubeReadError, match=r"c\.zarr is incomplete: 1 chunk file\(s\) are missing: cube/0\.1\.0\.0 \(time 2020-01-01, band 'green'\).*fill value \(0\).*write_cube"):
        read_cube(tmp_path/'c.zarr')

@case('cube', "a Zarr cube whose array metadata is gone is refused instead of returning another variable")
def test_zarr_without_cube_metadata(tmp_path):
    from eo_nb.cube import write_cube, read_cube, CubeReadError
    write_cube(_rgb_cube(), tmp_path/'c.zarr')
    (tmp_path/'c.zarr'/'.zmetadata').unlink(); (tmp_path/'c.zarr'/'cube'/'.zarray').unlink()
    with pytest.raises(CubeReadError, match=r"c\.zarr holds no cube.*write_cube"): read_cube(tmp_path/'c.zarr')

@case('cube', 'a truncated or empty NetCDF cube fails at read_cube with its path and the fix')
@pytest.mark.parametrize('frac', [0.5, 0])
def test_truncated_netcdf(tmp_path, frac):
    from eo_nb.cube import write_cube, read_cube, CubeReadError
    f = truncate(write_cube(_rgb_cube(), tmp_path/'c.nc'), frac)
    with pytest.raises(CubeReadError, match=rf"Cannot open {f} as NetCDF.*truncated or corrupt.*write_cube"): read_cube(f)

@case('cube', 'band files on another CRS fail at open_cube, naming both files and both CRSs, with the resample fix')
def test_open_cube_crs_mismatch(tmp_path):
    from eo_nb.cube import open_cube, GridMismatchError
    vv = shared('sentinel1_vv_pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif')
    a, m = read_raster(vv)
    write_raster(tmp_path/'VH.tif', a, crs='EPSG:32632', transform=m['transform'], nodata=m['nodata'])
    with pytest.raises(GridMismatchError, match=r"VH\.tif and .*VV_grd.*crs EPSG:32632 vs EPSG:32631\. Pass resample="):
        open_cube({'VV': vv, 'VH': tmp_path/'VH.tif'})

@case('cube', 'a truncated band file of a lazy cube fails when read, naming the file, the band and the fix')
def test_open_cube_truncated_band_lazily(tmp_path):
    from eo_nb.cube import open_cube
    vv = shared('sentinel1_vv_pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif')
    bad = truncate(copy(vv, tmp_path/'VH.tif'))
    cube = open_cube({'VV': vv, 'VH': bad})                          # headers are fine: nothing read yet
    assert cube.sel(band='VV').values.shape == (1, 217, 268)          # the intact band reads
    with pytest.raises(RasterReadError, match=rf"band 1 of {bad} .*read lazily by a cube.*re-download"): cube.values

@case('cube', 'open_cube with no files says so')
@pytest.mark.parametrize('src', [[], {}])
def test_open_cube_empty(src):
    from eo_nb.cube import open_cube
    with pytest.raises(ValueError, match='open_cube got no files'): open_cube(src)

@case('cube', "a damaged EOPatch (truncated .npy, corrupt timestamps.json / bbox.geojson) names the file; truncation is not called pickling")
@pytest.mark.parametrize('damage', ['npy', 'timestamps', 'bbox'])
def test_damaged_eopatch(tmp_path, damage):
    from eo_nb.cube import read_eopatch
    ep = copy(shared('eolearn_s2_timeseries/TestEOPatch'), tmp_path/'patch')
    f, msg = {'npy': (ep/'data'/'NDVI.npy', 'cannot be read as a numpy array .*truncated or corrupt'),
              'timestamps': (ep/'timestamps.json', 'is not a JSON list of ISO dates'),
              'bbox': (ep/'bbox.geojson', 'is not a GeoJSON polygon with coordinates')}[damage]
    truncate(f)
    with pytest.raises(ValueError, match=rf"(?i){f} {msg}.*re-save") as e: read_eopatch(ep, data=['NDVI'])
    assert 'pickled' not in str(e.value)

# ---------------------------------------------------------------------------------------------------------- datasets

def cloud38(dest, n=2):
    src = shared('cloud38_landsat8')
    for g in sorted((src/'train_gt').glob('*.TIF'))[:n]:
        sid = g.name[len('gt_'):]
        copy(g, dest/'train_gt'/g.name)
        for b in ('red', 'green', 'blue', 'nir'): copy(src/f'train_{b}'/f'{b}_{sid}', dest/f'train_{b}'/f'{b}_{sid}')
    return dest

@case('datasets', '38-Cloud: a mask value that is no class, a band of another size or a truncated band names the file and value')
@pytest.mark.parametrize('damage', ['mask value 7', 'band 200x200', 'truncated band', 'complex band'])
def test_cloud38_damaged(tmp_path, data_root, damage):
    from eo_nb.readers import read_cloud38
    from eo_nb.convert import create_dataset
    d = cloud38(tmp_path/'c38')
    gt = sorted((d/'train_gt').glob('*.TIF'))[0]
    nir = d/'train_nir'/('nir_' + gt.name[len('gt_'):])
    if damage == 'mask value 7':
        def seven(a): a[0, :10, :10] = 7; return a
        rewrite(gt, seven); err, msg = ValueError, rf"{gt}: The mask holds values \[7\] .*0 \(clear\) and 255 \(cloud\)"
    elif damage == 'band 200x200': rewrite(nir, lambda a: a[:, :200, :200]); err, msg = ValueError, rf"{nir} is 200x200 pixels but its ground truth {gt} is 384x384"
    elif damage == 'complex band': rewrite(nir, lambda a: a.astype(np.complex64)); err, msg = TypeError, rf"{nir} holds complex"
    else: truncate(nir); err, msg = RasterReadError, rf"{nir}.*re-download"
    with pytest.raises(err, match=msg): read_cloud38(d, size=128)
    with pytest.raises(err, match=msg): create_dataset(d, size=128, progress=False)      # streamed, patch by patch: the same error

@case('datasets', 'chip sizes of 0, below 0 or larger than the scene are refused, naming the size and the largest that fits')
@pytest.mark.parametrize('size,msg', [(0, r'Chip size \(0\) .* must be positive'), (-5, r'Chip size \(-5\)'),
                                      (1000, r'Chip size 1000x1000 is larger than the scene \(384x384 pixels\): use a chip size of at most 384')])
def test_cloud38_absurd_chip_size(tmp_path, size, msg):
    from eo_nb.readers import read_cloud38, scan_cloud38
    d = cloud38(tmp_path/'c38', n=1)
    with pytest.raises(ValueError, match=msg): read_cloud38(d, size=size)
    with pytest.raises(ValueError, match=msg): scan_cloud38(d, size=size)           # what create_dataset checks before reading any pixel

def _vv_and_mask(tmp_path):
    vv = shared('sentinel1_vv_pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif')
    a, m = read_raster(vv)
    mask = ((a[0] > -12) & (a[0] != -99)).astype(np.uint8)
    return vv, a, m, mask

@case('datasets', 'SAR: a mask on another CRS or with values that are no class names the mask file, the CRSs or the values')
@pytest.mark.parametrize('damage', ['crs', 'value 9'])
def test_sar_mask_mismatch(tmp_path, damage):
    from eo_nb.readers import read_sar_pairs
    vv, a, m, mask = _vv_and_mask(tmp_path)
    f = tmp_path/'mask.tif'
    if damage == 'crs':
        write_raster(f, mask, crs='EPSG:4326', transform=(0.0002, 0, 3.2, 0, -0.0002, 43.6))
        msg = rf"The mask {f} \(217x268, EPSG:4326\) is not on the grid of {vv} \(217x268, EPSG:32631\).*align_to"
    else:
        mask[:5, :5] = 9; write_raster(f, mask, crs=m['crs'], transform=m['transform'])
        msg = rf"{f}: The mask holds values \[9\] that are not in the class values \[0, 1\]"
    with pytest.raises(ValueError, match=msg): read_sar_pairs([(vv, f)], ['land', 'water'], size=64)
    with pytest.raises(ValueError, match='no \\(scene, mask\\) pairs'): read_sar_pairs([], ['land', 'water'])

@case('datasets', 'SAR: Inf pixels (e.g. dB of zero power) are nodata: filled, and their mask pixels set to ignore_index')
def test_sar_inf_is_nodata(tmp_path):
    from eo_nb.readers import read_sar_pairs
    vv, a, m, mask = _vv_and_mask(tmp_path)
    a = a.copy(); a[0, :64, :64] = -np.inf
    write_raster(tmp_path/'vv.tif', a, crs=m['crs'], transform=m['transform'], nodata=m['nodata'])
    write_raster(tmp_path/'mask.tif', mask, crs=m['crs'], transform=m['transform'])
    ds = read_sar_pairs([(tmp_path/'vv.tif', tmp_path/'mask.tif')], ['land', 'water'], size=64, max_ignore=1.)
    assert np.isfinite(ds.image).all()
    assert (ds.mask[0] == 255).all()                                    # the first chip is the Inf block: all ignored
    assert (ds.mask[1:] != 255).any()

@case('datasets', 'segmentation masks with values outside the classes, NaN images or no chips are refused with the values / bands')
def test_segmentation_dataset_bad_arrays(tmp_path):
    from eo_nb.readers import chip_scene
    from eo_nb.convert import dataset_from_arrays
    from eo_nb.loaders import dataloaders
    img = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"values \[2, 7\] outside the class indices 0\.\.1 .*ignore_index=255"):
        chip_scene(img, np.array([0, 2, 7, 255] * 16).reshape(8, 8), 4, ['a', 'b'], ['r', 'n'])
    nan = img.copy(); nan[1, 4, 4] = np.nan                              # band 'n' of the 4th chip (row 1, column 1)
    with pytest.raises(ValueError, match=r"1 NaN or Inf values \(band\(s\) \['n'\], samples \[3\]\).*ignore_index"):
        chip_scene(nan, np.zeros((8, 8), np.uint8), 4, ['a', 'b'], ['r', 'n'])
    with pytest.raises(ValueError, match='the source holds none'):
        dataset_from_arrays(img[None, :, :4, :4][:0], 'segmentation', np.zeros((0, 4, 4), np.uint8), ['a', 'b'], ['r', 'n'], dest=tmp_path/'none')
    one = dataset_from_arrays(img[None], 'segmentation', np.zeros((1, 8, 8), np.uint8), ['a', 'b'], ['r', 'n'], dest=tmp_path/'one')
    with pytest.raises(ValueError, match='holds 1 sample: a train / valid split needs at least 2'): dataloaders(one, device='cpu')
    with pytest.raises(ValueError, match=r"No chip kept: all 4 chips of 4x4 .*max_ignore=0\.5"):
        chip_scene(img, np.full((8, 8), 255, np.uint8), 4, ['a', 'b'], ['r', 'n'], max_ignore=0.5)

def _npz(path, **kw): np.savez(path, **kw); return Path(path)

@case('datasets', 'a sits .npz that is empty, truncated, pickled, has string / fractional labels or labels out of range names the file')
@pytest.mark.parametrize('kind', ['empty', 'truncated', 'object', 'string labels', 'fractional labels', 'label 7', 'no series', 'string X'])
def test_sits_npz_bad(tmp_path, kind):
    from eo_nb.readers import read_sits
    X, c, b = np.random.default_rng(0).random((10, 5, 2)).astype(np.float32), np.array(['crop', 'forest']), np.array(['ndvi', 'evi'])
    f = tmp_path/'s.npz'
    if kind == 'truncated': f = truncate(copy(shared('sits_timeseries/cerrado_2classes.npz'), f))
    arrays = {'empty': {}, 'object': dict(X=np.array([None, 1], dtype=object), y=[0], classes=c, bands=b),
              'string labels': dict(X=X, y=np.array(['crop', 'forest'] * 5), classes=c, bands=b),
              'fractional labels': dict(X=X, y=np.array([0.5, 1.0] * 5), classes=c, bands=b),
              'label 7': dict(X=X, y=np.array([0, 7] * 5), classes=c, bands=b),
              'no series': dict(X=X[:0], y=np.zeros(0, int), classes=c, bands=b),
              'string X': dict(X=np.array([[['a', 'b']]]), y=[0], classes=c, bands=b)}.get(kind)
    if arrays is not None: _npz(f, **arrays)
    err, msg = {'empty': (ValueError, "lacks \\['X', 'y', 'classes', 'bands'\\]"), 'truncated': (ValueError, 'truncated, corrupt'),
                'object': (ValueError, 'pickled objects'), 'string labels': (TypeError, 'holds labels y of dtype <U6'),
                'fractional labels': (TypeError, r'labels y of dtype float64 \(e\.g\. \[0\.5'),
                'label 7': (ValueError, r'Labels \[7\] are outside the class indices 0\.\.1'),
                'no series': (ValueError, 'holds no series'), 'string X': (TypeError, r'\(X\) holds <U1 values')}[kind]
    with pytest.raises(err, match=rf"{f}.*{msg}"): read_sits(f)

@case('datasets', 'a NaN or Inf step of a pixel series is a missing step: masked, never in the statistics')
def test_sits_inf_is_a_missing_step(tmp_path, data_root):
    from eo_nb.readers import read_sits
    from eo_nb.loaders import dataloaders
    z = np.load(shared('sits_timeseries/cerrado_2classes.npz'))
    X = z['X'].copy(); X[0, 3, 1] = np.inf; X[5, :2, 0] = np.nan
    f = _npz(tmp_path/'s.npz', X=X, y=z['y'], classes=z['classes'], bands=z['bands'], dates_days_since_1970=z['dates_days_since_1970'])
    ds = read_sits(f)
    assert not ds.valid[0, 3] and not ds.valid[5, :2].any() and ds.valid[0, [2, 4]].all()
    assert (ds.days[0, 3], ds.days[5, 0]) == (-1, -1)
    dls = dataloaders(f, bs=32, device='cpu', progress=False)
    assert np.isfinite(dls.eo['mean'] + dls.eo['std']).all()
    xb, tb, yb = dls.valid.one_batch()
    assert bool(xb.isfinite().all())

@case('datasets', 'BigEarthNet: a patch missing a band, a corrupt labels JSON or a truncated band names the patch / file')
@pytest.mark.parametrize('damage', ['missing band', 'labels json', 'truncated band'])
def test_bigearthnet_damaged(tmp_path, data_root, damage):
    from eo_nb.readers import read_bigearthnet
    from eo_nb.convert import create_dataset
    src = shared('bigearthnet_examples/BigEarthNet-S2-Example')
    d = tmp_path/'ben'
    for p in sorted(src.iterdir())[:3]: copy(p, d/p.name)
    patch = sorted(d.iterdir())[1]
    if damage == 'missing band':
        next(patch.glob('*_B02.tif')).unlink(); err, msg = ValueError, rf"The patch {patch} has bands .*missing here: \['B02'\].*remove the patch"
    elif damage == 'labels json':
        f = truncate(next(patch.glob('*_labels_metadata.json'))); err, msg = ValueError, rf"{f} does not hold a JSON object.*restore it"
    else: f = truncate(next(patch.glob('*_B03.tif'))); err, msg = RasterReadError, rf"{f}.*re-download"
    with pytest.raises(err, match=msg): read_bigearthnet(d)
    with pytest.raises(err, match=msg): create_dataset(d, progress=False)                # streamed, patch by patch: the same error

@case('datasets', 'chip-store label values become classes by name (a stray value shows as a class, never merged); the old ChipStoreDataset names the new call')
def test_chip_store_labels_out_of_range(tmp_path, data_root):
    from eo_nb.chips import make_chip_store
    from eo_nb.convert import create_dataset
    from eo_nb.datasets import ChipStoreDataset
    from eo_nb.moved import MovedError
    l7 = shared('landsat7_rgb_rasterio/RGB.byte.tif')
    a, m = read_raster(l7, window=((0, 256), (0, 256)))
    write_raster(tmp_path/'s.tif', a, crs=m['crs'], transform=m['transform'])
    lab = (a[0] > 60).astype(np.uint8); lab[:8, :8] = 7
    write_raster(tmp_path/'lab.tif', lab, crs=m['crs'], transform=m['transform'])
    st = make_chip_store(tmp_path/'s.tif', tmp_path/'store', size=64, labels=tmp_path/'lab.tif', max_nodata=1, progress=False)
    with pytest.raises(MovedError, match=r"create_dataset\(store\.path\)"): ChipStoreDataset(st, task='segmentation', values=[0, 1])
    ds = create_dataset(st.path, progress=False)
    assert ds.classes == ['0', '1', '7']
    raw, m = st.read([0], 'labels')[0], ds.read([0], 'mask')[0]
    assert (m[raw == 7] == 2).all() and (m[:8, :8] == 2).all()

# -------------------------------------------------------------------------------------------------------- chip store

@pytest.fixture
def scene(tmp_path):
    "A 256 x 300 window of the real Landsat-7 RGB scene, as a GeoTIFF."
    a, m = read_raster(shared('landsat7_rgb_rasterio/RGB.byte.tif'), window=((200, 456), (200, 500)))
    return write_raster(tmp_path/'scene.tif', a, crs=m['crs'], transform=m['transform'], nodata=m['nodata']), a, m

@case('chip store', 'chip size or stride 0, negative or larger than the scene fails before anything is written')
@pytest.mark.parametrize('kw,msg', [(dict(size=0), r'Chip size \(0\) and stride \(0\) must be positive'),
                                    (dict(size=-3), r'Chip size \(-3\)'), (dict(size=64, stride=-1), r'stride \(-1\) must be positive'),
                                    (dict(size=5000), r'5000x5000 is larger than the scene \(256x300 pixels\): use a chip size of at most 256')])
def test_chip_store_absurd_sizes(tmp_path, scene, kw, msg):
    from eo_nb.chips import make_chip_store
    with pytest.raises(ValueError, match=msg): make_chip_store(scene[0], tmp_path/'store', progress=False, **kw)
    assert not (tmp_path/'store').exists()

@case('chip store', 'a label raster on another CRS or with several bands names the file, the CRSs / band count and the fix')
@pytest.mark.parametrize('damage', ['crs', '3 bands'])
def test_chip_store_bad_labels(tmp_path, scene, damage):
    from eo_nb.chips import make_chip_store
    f, a, m = scene
    lab = (a[0] > 60).astype(np.uint8)
    if damage == 'crs':
        write_raster(tmp_path/'lab.tif', lab, crs='EPSG:32617', transform=m['transform'])
        msg = rf"{tmp_path/'lab.tif'} is in EPSG:32617 but the source {f} is in EPSG:32618: reproject the labels"
    else:
        write_raster(tmp_path/'lab.tif', np.stack([lab] * 3), crs=m['crs'], transform=m['transform'])
        msg = rf"The label raster {tmp_path/'lab.tif'} has 3 bands; it must have one"
    with pytest.raises(ValueError, match=msg): make_chip_store(f, tmp_path/'store', size=64, labels=tmp_path/'lab.tif', progress=False)

@case('chip store', 'a truncated source or one declaring 10^9 x 10^9 pixels fails at once, naming the file')
@pytest.mark.parametrize('damage', ['truncated', 'absurd size'])
def test_chip_store_bad_source(tmp_path, damage):
    from eo_nb.chips import make_chip_store
    if damage == 'truncated': f, msg = truncate(copy(shared('landsat7_rgb_rasterio/RGB.byte.tif'), tmp_path/'s.tif')), 're-download'
    else: f, msg = huge_tiff(tmp_path/'s.tif'), 'declares 1,000,000,000 x 1,000,000,000 pixels'
    t = time.time()
    with pytest.raises(RasterReadError, match=rf"{f}.*{msg}"): make_chip_store(f, tmp_path/'store', size=64, progress=False)
    assert time.time() - t < 2

@pytest.fixture
def store(tmp_path, scene):
    from eo_nb.chips import make_chip_store
    return make_chip_store(scene[0], tmp_path/'store', size=64, max_nodata=1, chunk_chips=8, progress=False)

@case('chip store', 'a deleted or truncated shard, or a corrupt store.json, names the file and says to rebuild the store')
@pytest.mark.parametrize('damage', ['deleted shard', 'truncated shard', 'store.json'])
def test_chip_store_damaged(store, damage):
    from eo_nb.chips import open_chip_store
    f = {'deleted shard': store.path/'chips'/'00001.npy', 'truncated shard': store.path/'chips'/'00001.npy',
         'store.json': store.path/'store.json'}[damage]
    f.unlink() if damage == 'deleted shard' else truncate(f)
    with pytest.raises((OSError, ValueError), match=rf"{f}.*make_chip_store"):
        open_chip_store(store.path).read(np.arange(len(store)))

# ---------------------------------------------------------------------------------------------------- run parameters

@pytest.fixture(scope='module')
def sample():
    from eo_nb.data import resolve_data
    return str(resolve_data('sample'))

@case('run parameters', 'wrong types and out-of-range run.ipynb parameters fail in check_params, naming the parameter and value, before any output')
@pytest.mark.parametrize('kw,msg', [
    (dict(epochs='3'), "epochs='3' must be an integer"), (dict(epochs=0), 'epochs=0 must be at least 1'),
    (dict(epochs=2.0), 'epochs=2.0 must be an integer'), (dict(bs=-1), r"bs=-1 must be 0 \(the task's default\) or at least 1"), (dict(bs=True), 'bs=True'),
    (dict(lr=-1), 'lr=-1 must be a positive number'), (dict(lr=float('nan')), 'lr=nan'), (dict(lr='0.1'), "lr='0.1'"),
    (dict(valid_pct=0), 'valid_pct=0 must be between 0 and 1'), (dict(valid_pct=1.5), 'valid_pct=1.5'),
    (dict(crop=0), r'crop=0 must be in \(0, 1\]'), (dict(crop=1.5), 'crop=1.5'), (dict(keep='worst'), "keep='worst'"),
    (dict(mixup=-2), 'mixup=-2'), (dict(processes=0), 'processes=0'), (dict(processes=3, bs=32), 'bs=32 is the global batch of 3'),
    (dict(bands=''), 'No band names given'), (dict(bands='B04,B99'), "Unknown band 'B99'"),
    (dict(task='segmentation', chip_size=8), r"chip_size=8 must be 0 \(the task's default\) or at least 16"),
    (dict(task='segmentatoin'), "Unknown task 'segmentatoin'"),
    (dict(seed=-1), 'seed=-1'), (dict(seed=2**40), 'seed=1099511627776'), (dict(wd=-1), 'wd=-1'), (dict(wd='x'), "wd='x'"),
    (dict(label_smoothing=1.5), 'label_smoothing=1.5'), (dict(aug='yes'), "aug='yes'"), (dict(lr=True), 'lr=True'), (dict(data=''), "data=''"),
])
def test_bad_run_parameters(tmp_path, sample, kw, msg):
    from eo_nb.experiment import check_params
    data = shared('cloud38_landsat8') if kw.get('task') == 'segmentation' else sample
    params = {**dict(model='eo_cnn_small', data=str(data), out_dir=str(tmp_path/'run')), **kw}
    with pytest.raises(ValueError, match=msg): check_params(**params)
    assert not (tmp_path/'run').exists()

@case('run parameters', 'a segmentation chip_size larger than the 38-Cloud patches fails in check_params, naming the largest that fits')
def test_chip_size_larger_than_patches(tmp_path):
    from eo_nb.experiment import check_params
    with pytest.raises(ValueError, match='chip_size=1000.*384'):
        check_params(model='eo_cnn_small', task='segmentation', data=str(shared('cloud38_landsat8')), chip_size=1000, out_dir=str(tmp_path/'run'))

# ------------------------------------------------------------------------------------------------------- sweep files

@pytest.fixture(scope='module')
def run_ipynb_params():
    from eo_nb.sweep import run_params
    return run_params()            # also imports papermill once, so timed cases time the sweep only

def sweep_file(tmp_path, text, suffix='.yaml'):
    p = tmp_path/f'sweep{suffix}'
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p

@case('sweep files', 'a sweep file that is not YAML / TOML, not a mapping, has unknown keys or parameters, wrong types or empty lists names the file and the entry')
@pytest.mark.parametrize('text,msg', [
    ('grid:\n  lr: [0.1, 0.2\n', 'is not valid YAML'), ('', 'must hold a mapping'), ('- a\n- b\n', 'must hold a mapping'),
    ('grdi:\n  lr: [0.1]\n', r"unknown keys \['grdi'\]"), ('grid:\n  lrr: [0.1]\n', "grid sets 'lrr', which is not a parameter of run.ipynb. Did you mean 'lr'"),
    ('grid:\n  epochs: [1, "two"]\n', "grid.epochs: epochs='two' is a str but run.ipynb's epochs is a int"),
    ('grid:\n  lr: []\n', 'grid.lr must be a non-empty list'), ('grid:\n  lr: 0.1\n', 'grid.lr must be a non-empty list of values; got 0.1'),
    ('fixed:\n  epochs:\n', 'fixed.epochs: epochs=None is a NoneType'), ('fixed:\n  epochs: true\n', 'epochs=True is a bool'),
    ('grid:\n  bs: [16.5]\n', 'bs=16.5 is a float'), ('fixed:\n  out_dir: x\n', 'sets out_dir, which the sweep chooses'),
    ('runs: [1, 2]\n', r'runs\[0\] must be a mapping'),
    (('grid = [', '.toml'), 'is not valid TOML'),
    ('grid: [1, 2]\n', 'grid must be a mapping'),
    (b'\xff\xfe\x00garbage', 'not .*UTF-8|not valid YAML'),
    ('fixed:\n  epochs: -3\n', 'epochs=-3'),
])
def test_bad_sweep_file(tmp_path, run_ipynb_params, text, msg):
    from eo_nb.sweep import load_sweep, SweepError
    p = sweep_file(tmp_path, *text) if isinstance(text, tuple) else sweep_file(tmp_path, text)
    with pytest.raises((SweepError, UnknownNameError), match=rf"{p}.*{msg}"): load_sweep(p, out_root=tmp_path/'runs')
    assert not (tmp_path/'runs').exists()

@case('sweep files', 'a sweep name with path separators stays a folder under out_root')
def test_sweep_name_cannot_escape(tmp_path, run_ipynb_params):
    from eo_nb.sweep import load_sweep
    sw = load_sweep(sweep_file(tmp_path, 'name: "../../etc"\ngrid:\n  lr: [0.1, 0.2]\n'), out_root=tmp_path/'runs')
    root = Path(sw['root']).resolve()
    assert root.parent == (tmp_path/'runs').resolve() and len(sw['runs']) == 2
    assert all(Path(r['out_dir']).resolve().parent == root for r in sw['runs'])

@case('sweep files', 'an absurd grid (10^5 runs) is refused at once with the run count, not expanded')
def test_absurd_sweep_grid(tmp_path, run_ipynb_params):
    from eo_nb.sweep import load_sweep, SweepError
    p = sweep_file(tmp_path, f"grid:\n  seed: {list(range(1000))}\n  lr: {[round(0.001 * i, 3) for i in range(1, 101)]}\n")
    with time_limit(3), pytest.raises(SweepError, match=r'100,?000 runs'): load_sweep(p, out_root=tmp_path/'runs')

# ------------------------------------------------------------------------------------------------------- checkpoints

def _eo_model_file(path, arch='eo_cnn_small', n_in=13, classes=('a', 'b', 'c')):
    from eo_nb.models import create_model
    from eo_nb.learner import save_run_model
    net = create_model(arch, n_in, len(classes))
    learn = SimpleNamespace(model=net, eo=dict(model=arch, model_kwargs={}, classes=list(classes), bands=[f'B{i:02d}' for i in range(1, n_in + 1)],
                                               mean=[0.] * n_in, std=[1.] * n_in))
    return save_run_model(learn, path)

@case('checkpoints', 'a file that is not an eo_nb model, or whose bands share nothing with the data, is refused naming the file')
def test_not_an_eo_nb_model(tmp_path):
    import torch
    from eo_nb.models import create_model
    from eo_nb.learner import load_run_model, load_pretrained
    torch.save(create_model('eo_cnn_small', 13, 3).state_dict(), tmp_path/'raw.pth')
    with pytest.raises(ValueError, match=rf"{tmp_path/'raw.pth'} is not an eo_nb model file"): load_run_model(tmp_path/'raw.pth')
    f = _eo_model_file(tmp_path/'m.pth')
    with pytest.raises(ValueError, match=rf"{f} was trained on bands \['B01'.*none of \['VV', 'VH'\]"):
        load_pretrained(create_model('eo_cnn_small', 2, 2), f, ['VV', 'VH'])
    with pytest.raises(ValueError, match=rf"{tmp_path/'raw.pth'} does not say which bands.*ckpt_bands"):
        load_pretrained(create_model('eo_cnn_small', 2, 2), tmp_path/'raw.pth', ['VV', 'VH'])

@case('checkpoints', 'a truncated, non-PyTorch or wrong-architecture model file names the file and what it holds')
@pytest.mark.parametrize('damage', ['truncated', 'text', 'wrong arch'])
def test_damaged_model_file(tmp_path, damage):
    import torch
    from eo_nb.learner import load_run_model
    f = _eo_model_file(tmp_path/'model.pth')
    if damage == 'truncated': truncate(f)
    elif damage == 'text': f.write_text('not a model\n')
    else: st = torch.load(f, weights_only=True); st['arch'] = 'eo_cnn'; torch.save(st, f)
    with pytest.raises((ValueError, OSError), match=rf"{f}"): load_run_model(f)

@case('checkpoints', 'pretrained weights of another architecture are refused, not silently half-loaded')
def test_pretrained_wrong_architecture(tmp_path):
    from eo_nb.models import create_model
    from eo_nb.learner import load_pretrained
    f = _eo_model_file(tmp_path/'small.pth')
    with pytest.raises(ValueError, match=rf"{f}.*does not fit"): load_pretrained(create_model('eo_cnn', 4, 2), f, ['B02', 'B03', 'B04', 'B08'])

@pytest.fixture(scope='module')
def sample_dls():
    from eo_nb.data import resolve_data
    from eo_nb.loaders import dataloaders
    return dataloaders(resolve_data('sample'), bs=16, progress=False, device='cpu')

@case('checkpoints', 'resuming from a truncated or wrong-architecture last.pth names the file and how to start over')
@pytest.mark.parametrize('damage', ['truncated', 'wrong arch'])
def test_damaged_checkpoint_on_resume(tmp_path, sample_dls, damage):
    import torch
    from eo_nb.models import create_model
    from eo_nb.learner import eo_learner
    out = tmp_path/'run'; out.mkdir()
    state = dict(model=create_model('eo_cnn' if damage == 'wrong arch' else 'eo_cnn_small', 13, 6).state_dict(), epoch=1, n_epoch=2,
                 opt=dict(state=[], hypers=[]), best=None)
    torch.save(state, out/'last.pth')
    if damage == 'truncated': truncate(out/'last.pth')
    with pytest.raises((ValueError, OSError, RuntimeError), match=r"last\.pth.*(resume=False|delete|remove)"):
        eo_learner(sample_dls, 'eo_cnn_small', out_dir=out, resume=True)

# --------------------------------------------------------------------------------------------------------- inference

def _seg_model(bands, n_classes=2):
    "A tiny per-pixel model and its metadata, as `predict_scene` takes them."
    import torch
    torch.manual_seed(0)
    net = torch.nn.Conv2d(len(bands), n_classes, 1)
    return net, dict(task='segmentation', classes=[f'c{i}' for i in range(n_classes)], bands=list(bands),
                     mean=[100.] * len(bands), std=[50.] * len(bands))

@case('inference', "a scene with fewer bands than the model, unnamed or named, fails naming the file and both band lists")
@pytest.mark.parametrize('named', [False, True])
def test_predict_scene_missing_bands(tmp_path, scene, named):
    from eo_nb.inference import predict_scene
    f = scene[0]
    model = _seg_model([f'B{i:02d}' for i in range(1, 14)])
    kw = dict(bands=['red', 'green', 'blue']) if named else {}
    msg = rf"The model needs bands \['B01'.*but {f} has \['red', 'green', 'blue'\]" if named else rf"{f} has 3 unnamed bands; the model needs \['B01'"
    with pytest.raises(ValueError, match=msg): predict_scene(model, f, tmp_path/'out.tif', progress=False, device='cpu', **kw)
    assert not (tmp_path/'out.tif').exists()

@case('inference', 'a scene without CRS is predicted on its own pixel grid (no CRS invented); NaN pixels become class 255 (nodata)')
def test_predict_scene_no_crs_and_nan(tmp_path):
    from eo_nb.inference import predict_scene
    red = shared('cloud38_landsat8/train_red')
    f = copy(sorted(red.glob('*.TIF'))[0], tmp_path/'red.tif')          # 38-Cloud patches carry no georeferencing
    assert raster_meta(f)['crs'] is None
    out = predict_scene(_seg_model(['red']), f, tmp_path/'cls.tif', tile=128, overlap=16, progress=False, probs=False, device='cpu')
    m = raster_meta(out)
    assert (m['crs'], m['height'], m['width'], m['transform']) == (None, 384, 384, raster_meta(f)['transform'])
    a = read_raster(f)[0].astype(np.float32); a[0, 100:140, 50:90] = np.nan
    write_raster(tmp_path/'nan.tif', a)
    c = read_raster(predict_scene(_seg_model(['red']), tmp_path/'nan.tif', tmp_path/'cls2.tif', tile=128, overlap=16, progress=False,
                                  probs=False, device='cpu'))[0][0]
    assert (c[100:140, 50:90] == 255).all() and (c[:100] != 255).all()

@case('inference', 'tile, overlap and bs outside their range, or a truncated scene, fail naming the value / file')
@pytest.mark.parametrize('kw,msg', [(dict(tile=0), 'tile=0'), (dict(tile=-5), 'tile=-5'), (dict(overlap=-5), 'overlap=-5'),
    (dict(bs=0), 'bs=0'), ('truncated', 're-download')])
def test_predict_scene_bad_arguments(tmp_path, scene, kw, msg):
    from eo_nb.inference import predict_scene
    f = scene[0]
    if kw == 'truncated': truncate(f); kw = {}
    with pytest.raises((ValueError, OSError), match=msg):
        predict_scene(_seg_model(['red', 'green', 'blue']), f, tmp_path/'out.tif', progress=False, device='cpu', **kw)

# ---- datasets on disk -----------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_dataset(tmp_path, monkeypatch):
    "The offline sample (240 tiles, 6 classes) converted into an eo_nb dataset under tmp_path."
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    from eo_nb.synthetic import make_sample
    from eo_nb.convert import create_dataset
    src = make_sample(tmp_path/'sample')
    return src, create_dataset(src, progress=False)

@case('datasets on disk', 'a dataset of another format version, a manifest that is corrupt or of another format, a missing or truncated index or shard: each names the file and says to rebuild, never read as data')
@pytest.mark.parametrize('damage,msg', [('version', 'format version 7'), ('manifest', 'not valid JSON'), ('format', 'not an eo_nb dataset manifest'),
                                        ('index', 'index.parquet is missing'), ('index_truncated', 'truncated or corrupt'),
                                        ('shard', 'is missing'), ('shard_truncated', 'truncated or corrupt')])
def test_damaged_dataset(tiny_dataset, damage, msg):
    from eo_nb.store import open_dataset
    _, ds = tiny_dataset
    p, m = ds.path, json.loads((ds.path/'manifest.json').read_text())
    if damage == 'version': (p/'manifest.json').write_text(json.dumps(dict(m, version=7)))
    elif damage == 'manifest': truncate(p/'manifest.json')
    elif damage == 'format': (p/'manifest.json').write_text(json.dumps(dict(m, format='something')))
    elif damage == 'index': (p/'index.parquet').unlink()
    elif damage == 'index_truncated': truncate(p/'index.parquet')
    elif damage == 'shard': (p/'image'/'00000.npy').unlink()
    else: truncate(p/'image'/'00000.npy', 0.3)
    with pytest.raises(ValueError, match=msg) as e: open_dataset(p).read([0])
    assert str(p) in str(e.value) and ('build it again' in str(e.value) or 'rebuild' in str(e.value) or 'eo_nb that wrote it' in str(e.value))

@case('datasets on disk', 'a dataset asked for a task its samples cannot serve, or for bands it lacks, names what it holds and what to use')
def test_dataset_wrong_task_or_bands(tiny_dataset):
    from eo_nb.loaders import dataloaders
    _, ds = tiny_dataset
    with pytest.raises(ValueError, match=r"holds images \(C, H, W\) \(classification\), but task 'timeseries' needs image series"): dataloaders(ds, 'timeseries')
    with pytest.raises(ValueError, match="has no 'labels' arrays"): dataloaders(ds, 'multilabel')
    with pytest.raises(UnknownNameError, match="'B13'"): dataloaders(ds, bands='B02,B13')

@case('datasets on disk', 'a source mixing tile sizes or band counts, a tile that is not a raster, or NaN pixels name the tile and the fix; nothing is taken as a complete dataset')
@pytest.mark.parametrize('bad,msg', [('bands', 'has 4 bands of 64x64'), ('size', 'has 13 bands of 32x32'), ('text', 'cannot be read as a raster'),
                                     ('nan', 'holds NaN or Inf pixels in band')])
def test_mixed_source(tmp_path, monkeypatch, bad, msg):
    import rasterio
    from eo_nb.synthetic import make_sample
    from eo_nb.convert import create_dataset
    from eo_nb.store import is_dataset, read_manifest
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    src = make_sample(tmp_path/'sample')
    f = sorted((src/'Forest').glob('*.tif'))[5]
    with rasterio.open(f) as r: prof, a = r.profile, r.read()
    if bad == 'text': f.write_text('not a tile')
    else:
        if bad == 'bands': a = a[:4]
        if bad == 'size': a = a[:, :32, :32]
        if bad == 'nan': a = a.astype('float32'); a[2, 5, 5] = np.nan
        f.unlink()
        with rasterio.open(f, 'w', **dict(prof, count=len(a), height=a.shape[1], width=a.shape[2], dtype=a.dtype)) as w: w.write(a)
    if bad == 'nan':                                                     # every tile float, one with a NaN
        for g in src.rglob('*.tif'):
            if g != f:
                with rasterio.open(g) as r: p2, b = r.profile, r.read()
                g.unlink()
                with rasterio.open(g, 'w', **dict(p2, dtype='float32')) as w: w.write(b.astype('float32'))
    with pytest.raises(ValueError, match=msg) as e: create_dataset(src, progress=False)
    assert str(f) in str(e.value)
    for d in (tmp_path/'data'/'datasets').iterdir(): assert not (is_dataset(d) and read_manifest(d)['complete'])

@case('datasets on disk', 'test_data of other classes or without the training bands is refused before training, naming the difference')
def test_test_data_other_classes_or_bands(tiny_dataset, tmp_path):
    from eo_nb.loaders import dataloaders, test_dataloader
    src, ds = tiny_dataset
    dls = dataloaders(ds, bs=16, device='cpu')
    other = copy(src, tmp_path/'other'); shutil.rmtree(other/'Forest')
    with pytest.raises(ValueError, match=r"missing \['Forest'\]"): test_dataloader(dls, other, progress=False)
    dls4 = dataloaders(ds, bs=16, bands='B02,B03,B04,B08', device='cpu')
    tds = SimpleNamespace(**vars(ds)); tds.manifest = dict(ds.manifest, bands=[b.replace('B08', 'X8') for b in ds.bands])
    import eo_nb.store
    rebranded = eo_nb.store.EODataset.__new__(eo_nb.store.EODataset); rebranded.__dict__.update(tds.__dict__)
    with pytest.raises(UnknownNameError, match="lacks bands the model was trained on"): test_dataloader(dls4, rebranded)

@case('datasets on disk', 'a build into a folder that holds a dataset of another source or parameters, or other files, is refused; nothing is mixed')
def test_dataset_folder_taken(tiny_dataset, tmp_path):
    from eo_nb.convert import create_dataset
    src, ds = tiny_dataset
    with pytest.raises(FileExistsError, match='another source or with other parameters'): create_dataset(src, dest=ds.path, chunk_mb=1, progress=False)
    (tmp_path/'busy').mkdir(); (tmp_path/'busy'/'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='is not an eo_nb dataset'): create_dataset(src, dest=tmp_path/'busy', progress=False)
    assert (tmp_path/'busy'/'notes.txt').read_text() == 'mine'
