"""The v0.1 in-memory loader of class folders (`eo_nb.data.eo_dataloaders` before the one dataset on disk), kept ONLY
as the peer that benchmarks compare the current path against (`run_memory.py`: every tile read into one RAM array).

Copied from eo_nb/data.py at v0.1 (commit 4f75c4a), trimmed to what the benchmarks call: `read_tiles`, `band_stats`,
`TileDataset`, `load_folder` and `eo_dataloaders`. Not part of the library, not tested by it, not to be used for
training: use `eo_nb.loaders.dataloaders`. Import it from a benchmark with `sys.path.insert(0, <benchmarks folder>)`.
"""
from __future__ import annotations
import collections, random
from pathlib import Path
import numpy as np, torch
from fasttransform import Pipeline
from fastai.data.load import DataLoader
from fastai.data.core import DataLoaders
from fastai.torch_core import default_device
from eo_nb.core import select_bands
from eo_nb.io import raster_meta, read_raster, check_pixel_dtype
from eo_nb.augment import Normalize, DihedralShift
from eo_nb.splits import stratified_split
from eo_nb.convert import scan_class_folder, default_band_names
from eo_nb.data import resolve_data, parse_indices, AddIndices

__all__ = ['read_tiles', 'band_stats', 'TileDataset', 'load_folder', 'eo_dataloaders']

def _check_same(files, metas, key, what):
    vals = [m[key] for m in metas]
    common = collections.Counter(vals).most_common(1)[0][0]
    for f, v in zip(files, vals):
        if v != common:
            raise ValueError(f"{f} has {what} {v}, but the other tiles have {common}. All tiles must match: "
                             "fix or remove this file (or resample it to the common grid).")
    return common

def read_tiles(files, sensor=None, progress:bool=True, n_threads:int=4):
    "Read `files` into one (N, C, H, W) array; returns (array, band names, CRS list)."
    from concurrent.futures import ThreadPoolExecutor
    from fastprogress.fastprogress import progress_bar
    files = [Path(f) for f in files]
    if not files: raise ValueError("No tiles to read: `files` is empty.")
    with ThreadPoolExecutor(n_threads) as ex: metas = list(ex.map(raster_meta, files))
    n = _check_same(files, metas, 'count', 'band count')
    _check_same(files, metas, 'height', 'height'); _check_same(files, metas, 'width', 'width')
    dtype = _check_same(files, metas, 'dtype', 'data type')
    check_pixel_dtype(dtype, files[0] if len(files) == 1 else f"{files[0]} (and the other {len(files) - 1} tiles)")
    bands = metas[0]['bands'] if metas[0]['bands'] and all(metas[0]['bands']) else default_band_names(n, sensor)
    out = np.empty((len(files), n, metas[0]['height'], metas[0]['width']), dtype=dtype)
    bad = []                                            # float tiles with NaN / Inf: (file, band names, count)
    def _read(i):
        out[i] = read_raster(files[i])[0]
        if out.dtype.kind == 'f' and not np.isfinite(out[i]).all():
            nf = (~np.isfinite(out[i])).sum((1, 2))
            bad.append((files[i], [bands[b] for b in np.flatnonzero(nf)], int(nf.sum())))
    with ThreadPoolExecutor(n_threads) as ex:
        it = ex.map(_read, range(len(files)))
        for _ in (progress_bar(it, total=len(files), leave=False) if progress else it): pass
    if bad:
        bad.sort(key=lambda b: str(b[0]))
        raise ValueError(f"{len(bad)} tile(s) hold NaN or Inf pixels: " + '; '.join(f"{f} ({k} in band(s) {', '.join(b)})" for f, b, k in bad[:5])
                         + (' ...' if len(bad) > 5 else '') + ". Fill those pixels or remove the tiles from the folder.")
    return out, list(bands), [m['crs'] for m in metas]

def band_stats(X:np.ndarray, chunk:int=1024)->dict:
    "Per-band mean and std of (N, C, H, W) `X`, computed in float64 chunks."
    if X.ndim != 4 or not X.size: raise ValueError(f"No pixels to compute band statistics from: X has shape {X.shape}, expected (N, C, H, W).")
    s = np.zeros(X.shape[1]); s2 = np.zeros(X.shape[1]); n = 0
    for i in range(0, len(X), chunk):
        c = X[i:i+chunk].astype(np.float64)
        s += c.sum((0, 2, 3)); s2 += (c**2).sum((0, 2, 3)); n += c.shape[0] * c.shape[2] * c.shape[3]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 0))
    bad = np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std))
    if len(bad): raise ValueError(f"Band(s) {bad.tolist()} (0-based) hold NaN or Inf values: fill or mask those pixels.")
    return dict(mean=mean.tolist(), std=np.maximum(std, 1e-6).tolist())

class TileDataset(torch.utils.data.Dataset):
    "Classification tiles held in memory (v0.1)."
    n_inp = 1
    def __init__(self, X:np.ndarray, labels, classes, bands, paths=None, crs=None):
        self.X, self.classes, self.bands, self.paths, self.crs = X, list(classes), list(bands), paths, crs
        self.labels = np.asarray(labels, dtype=np.int64)
    def __len__(self): return len(self.X)
    def get_batch(self, idxs):
        "Images (float32) and labels of the samples `idxs`, as a tuple of tensors."
        idxs = np.asarray(idxs)
        return torch.from_numpy(self.X[idxs].astype(np.float32)), torch.from_numpy(self.labels[idxs])
    def subset(self, idxs):
        "A new `TileDataset` holding the samples `idxs`."
        idxs = np.asarray(idxs)
        return TileDataset(self.X[idxs], self.labels[idxs], self.classes, self.bands,
                           [self.paths[i] for i in idxs] if self.paths is not None else None,
                           [self.crs[i] for i in idxs] if self.crs else None)
    def __repr__(self): return f"TileDataset({len(self)} tiles, {len(self.classes)} classes, bands={self.bands})"

def load_folder(path, bands='all', sensor=None, progress=True)->TileDataset:
    "Read the EuroSAT-style folder `path` into a `TileDataset` holding the selected `bands`."
    files, labels, classes = scan_class_folder(path)
    X, names, crs = read_tiles(files, sensor=sensor, progress=progress)
    idx = select_bands(names, bands)
    if idx != list(range(len(names))): X = np.ascontiguousarray(X[:, idx])
    return TileDataset(X, labels, classes, [names[i] for i in idx], files, crs)

def _norm_tfms(stats, bands, indices):
    k = len(indices)
    return ([AddIndices(indices, bands)] if k else []) + [Normalize(list(stats['mean']) + [0.] * k, list(stats['std']) + [1.] * k)]

def _dl(ds, bs, shuffle, drop_last, tfms, device, **kw):
    return DataLoader(ds, bs=bs, shuffle=shuffle, drop_last=drop_last, create_item=lambda i: i,
                      create_batch=lambda idxs: ds.get_batch(idxs), retain=lambda res, b: res, device=device,
                      after_batch=Pipeline(tfms, split_idx=0 if shuffle else 1), **kw)

def eo_dataloaders(data, bands='all', valid_pct:float=0.2, seed:int=42, bs:int=64, aug:bool=True, max_shift:float=0.125,
                   crop:float=1., indices=None, stats:dict=None, sensor=None, device=None, progress:bool=True)->DataLoaders:
    "v0.1: every tile of a class folder read into one array, stratified split, training-split statistics, fastai DataLoaders."
    ds = data if isinstance(data, TileDataset) else load_folder(resolve_data(data), bands, sensor, progress)
    tr, va = stratified_split(ds.labels, valid_pct, seed)
    train_ds, valid_ds = ds.subset(tr), ds.subset(va)
    stats = stats or band_stats(train_ds.X)
    device = device or default_device()
    idx = parse_indices(indices)
    tfms = _norm_tfms(stats, ds.bands, idx) + ([DihedralShift(max_shift=max_shift, crop=crop)] if aug else [])
    train_dl = _dl(train_ds, bs, True, len(train_ds) > bs, tfms, device)
    train_dl.rng = random.Random(seed)
    dls = DataLoaders(train_dl, _dl(valid_ds, bs, False, False, tfms, device), device=device)
    dls.eo = dict(classes=list(ds.classes), bands=list(ds.bands), indices=idx, n_in=len(ds.bands) + len(idx),
                  mean=list(stats['mean']), std=list(stats['std']))
    dls.c = len(ds.classes)
    return dls
