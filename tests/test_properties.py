"""Property-based tests (hypothesis) of the geometry code: chip windows, their bounds and task order, train/valid/test
splits, the block-window chip sampler, and the blending of overlapping windows in `predict_scene`. Each property holds
for every generated input, or the input is refused with an error that names the bad value."""
import math, re, tempfile
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from hypothesis import given, settings, assume, HealthCheck, strategies as st

from eo_nb.chips import chip_windows, _starts, _task_order, _bounds
from eo_nb.splits import _rect_dist, split_random, split_stratified, split_spatial_blocks, split_temporal

# reproducible in CI: the same examples on every run, no example database written into the project
PROP = settings(deadline=None, derandomize=True, database=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(PROP, max_examples=25)        # examples that write rasters or fit k-means

EDGES = ('drop', 'pad', 'shift')
pct = st.integers(0, 20).map(lambda k: k / 20)                       # 0, 0.05, ..., 1: exact shares
case = pytest.mark.case

def coverage(n, starts, size):
    "How many windows cover each of the `n` pixels of an axis."
    cov = np.zeros(n, int)
    for s in starts: cov[max(0, s):min(n, s + size)] += 1
    return cov

# ---------------------------------------------------------------- chip windows
scene_dims = st.tuples(st.integers(1, 120), st.integers(1, 120))

@st.composite
def grids(draw, max_stride_factor=2):
    h, w = draw(scene_dims)
    size = draw(st.integers(1, min(h, w)))
    stride = draw(st.one_of(st.none(), st.integers(1, max_stride_factor * size)))
    return h, w, size, stride, draw(st.sampled_from(EDGES))

@case(component='chip windows', kind='property', guarantee="'drop'/'shift' windows lie inside the scene, 'pad' windows start inside it; "
      "row-major, no duplicates, counts as the formula")
@PROP
@given(grids())
def test_windows_inside_and_counted(g):
    h, w, size, stride, edge = g
    wins = chip_windows(h, w, size, stride, edge)
    step = stride or size
    assert wins == sorted(set(wins))                                      # row by row, each once
    rows, cols = sorted({r for r, _ in wins}), sorted({c for _, c in wins})
    assert len(wins) == len(rows) * len(cols)                             # a full grid
    for n, starts in ((h, rows), (w, cols)):
        assert starts[0] == 0 and all(0 <= s < n for s in starts)
        if edge != 'pad': assert all(s + size <= n for s in starts)
        drop = (n - size) // step + 1
        want = {'drop': drop, 'shift': drop + ((n - size) % step > 0),
                'pad': max(0, math.ceil((n - max(size, step)) / step)) + 1}[edge]
        assert len(starts) == want, (n, size, step, edge, starts)

@case(component='chip windows', kind='property', guarantee="origins step by exactly the stride (the 'shift' edge window by less); "
      "'pad'/'shift' cover every pixel when stride <= size, 'drop' exactly the full-stride region")
@PROP
@given(grids(max_stride_factor=1))
def test_windows_stride_and_cover(g):
    h, w, size, stride, edge = g
    step = stride or size
    for n in (h, w):
        s = _starts(n, size, step, edge)
        d = np.diff(s)
        if edge == 'shift' and s[-1] == n - size and (n - size) % step: assert (d[:-1] == step).all() and 0 < d[-1] < step
        else: assert (d == step).all()
        cov = coverage(n, s, size)
        if edge == 'drop':                                                # pixels [0, last start + size), no more
            end = (n - size) // step * step + size
            assert (cov[:end] > 0).all() and (cov[end:] == 0).all()
        else: assert (cov > 0).all()
        assert cov.max() <= math.ceil(size / step) + (edge == 'shift')   # overlaps as requested
    assert len(chip_windows(h, w, size, step, edge)) == len(_starts(h, size, step, edge)) * len(_starts(w, size, step, edge))

@case(component='chip windows', kind='property', guarantee="a size or stride <= 0, a chip larger than the scene or an unknown edge "
      "is a ValueError naming the value")
@PROP
@given(scene_dims, st.integers(-5, 130), st.one_of(st.none(), st.integers(-5, 10)), st.sampled_from(EDGES + ('crop', 'Pad', '')))
def test_windows_bad_args(dims, size, stride, edge):
    h, w = dims
    if edge not in EDGES: msg = f"Unknown edge {edge!r}"
    elif size < 1: msg = f"Chip size ({size})"
    elif stride is not None and stride < 1: msg = f"stride ({stride})"
    elif size > min(h, w): msg = f"{size}x{size} is larger than the scene ({h}x{w} pixels)"
    else:
        assert len(chip_windows(h, w, size, stride, edge)) >= 1
        return
    with pytest.raises(ValueError, match=re.escape(msg)): chip_windows(h, w, size, stride, edge)

@case(component='chip windows', kind='property', guarantee='task order is a permutation of the windows, block bands in order')
@PROP
@given(grids(), st.tuples(st.integers(1, 64), st.integers(1, 64)), st.integers(1, 300))
def test_task_order_is_permutation(g, block, chunk):
    h, w, size, stride, edge = g
    wins = chip_windows(h, w, size, stride, edge)
    out = _task_order(wins, stride or size, block, chunk)
    assert sorted(out) == sorted(wins) and len(out) == len(wins)
    bh = max(block[0], stride or size)
    assert [r // bh for r, _ in out] == sorted(r // bh for r, _ in out)   # one band of source blocks after another

@case(component='chip windows', kind='property', guarantee='bounds on a north-up grid are size*res wide and high, inside the scene, '
      'and neighbouring windows share their edges exactly')
@PROP
@given(grids(max_stride_factor=1), st.sampled_from([0.5, 10, 20, 30, 60, 1 / 3600]),
       st.floats(-1e6, 1e6, allow_nan=False), st.floats(-1e7, 1e7, allow_nan=False))
def test_bounds_north_up(g, res, x0, y0):
    h, w, size, stride, edge = g
    assume(edge != 'pad')
    tr = (res, 0.0, x0, 0.0, -res, y0)
    wins = chip_windows(h, w, size, size, edge)
    b = {rc: _bounds(tr, *rc, size) for rc in wins}
    for (r, c), (minx, miny, maxx, maxy) in b.items():
        assert math.isclose(maxx - minx, size * res, rel_tol=1e-9, abs_tol=1e-9 * abs(x0) + 1e-12)
        assert math.isclose(maxy - miny, size * res, rel_tol=1e-9, abs_tol=1e-9 * abs(y0) + 1e-12)
        assert minx == x0 + c * res and maxy == y0 - r * res                              # top-left corner at the origin
        assert x0 <= minx and maxx <= x0 + w * res + 1e-9 * abs(x0) + 1e-9 and y0 - h * res - 1e-9 * abs(y0) - 1e-9 <= miny and maxy <= y0
        if (r, c + size) in b: assert b[(r, c + size)][0] == maxx                     # right neighbour: shared edge
        if (r + size, c) in b: assert b[(r + size, c)][3] == miny                     # neighbour below

# ---------------------------------------------------------------- splits
shares = st.tuples(pct, pct).filter(lambda vt: vt[0] + vt[1] <= 1)

def _counts(s): return {k: int((s == k).sum()) for k in ('train', 'valid', 'test')}

@case(component='splits', kind='property', guarantee='split_random is a partition with each share within one chip of its fraction, '
      'and the same for the same seed')
@PROP
@given(st.integers(0, 300), shares, st.integers(0, 2**31 - 1))
def test_split_random_partition(n, vt, seed):
    v, t = vt
    ix = pd.DataFrame({'x': np.arange(n)}, index=np.arange(n) * 3 + 7)
    s = split_random(ix, v, t, seed)
    assert list(s.index) == list(ix.index) and set(s) <= {'train', 'valid', 'test'}
    c = _counts(s)
    assert sum(c.values()) == n
    for k, p in (('valid', v), ('test', t), ('train', 1 - v - t)): assert abs(c[k] - p * n) < 1, (k, c, n, v, t)
    assert s.equals(split_random(ix, v, t, seed))

@case(component='splits', kind='property', guarantee='split_stratified puts every class with at least 1/(smallest share) chips in '
      'every split, each class share within one chip; the same for the same seed')
@PROP
@given(st.lists(st.integers(0, 4), min_size=1, max_size=200), shares, st.integers(0, 1000))
def test_split_stratified_keeps_classes(y, vt, seed):
    v, t = vt
    ix = pd.DataFrame({'cls': y})
    s = split_stratified(ix, 'cls', v, t, seed)
    assert s.equals(split_stratified(ix, np.array(y), v, t, seed))
    for cls, n in pd.Series(y).value_counts().items():
        c = _counts(s[ix['cls'] == cls])
        assert sum(c.values()) == n
        for k, p in (('valid', v), ('test', t), ('train', 1 - v - t)):
            assert abs(c[k] - p * n) < 1, (cls, k, c, n, v, t)
            if p * n >= 1 - 1e-9: assert c[k] >= 1, (cls, k, c, n, v, t)    # a big enough class is in every split

@case(component='splits', kind='property', guarantee='bad split fractions (negative, NaN, summing above 1) are a ValueError naming them')
@PROP
@given(st.one_of(st.floats(-1, 2), st.just(float('nan'))), st.one_of(st.floats(-1, 2), st.just(float('nan'))))
def test_split_bad_fractions(v, t):
    ok = v >= 0 and t >= 0 and v + t <= 1
    if ok:
        assert len(split_random(range(10), v, t)) == 10
        return
    for f in (lambda: split_random(range(10), v, t), lambda: split_stratified(pd.DataFrame({'c': [0] * 10}), 'c', v, t)):
        with pytest.raises(ValueError, match=re.escape(f'valid_pct={v}')): f()

@st.composite
def chip_indexes(draw):
    "A chip index as make_chip_store writes it: a grid of windows on a north-up UTM grid, some chips skipped."
    h, w = draw(st.integers(4, 30)), draw(st.integers(4, 30))
    size = draw(st.integers(2, 8)); assume(size <= min(h, w))
    stride = draw(st.sampled_from([size, max(1, size // 2)]))
    res = draw(st.sampled_from([10., 20., 30.]))
    tr = (res, 0., 500000. + draw(st.integers(0, 1000)) * res, 0., -res, 4000000. + draw(st.integers(0, 1000)) * res)
    wins = chip_windows(h, w, size, stride, 'shift')
    keep = draw(st.lists(st.booleans(), min_size=len(wins), max_size=len(wins)))
    wins = [rc for rc, k in zip(wins, keep) if k] or wins[:1]
    bb = np.array([_bounds(tr, r, c, size) for r, c in wins])
    ix = pd.DataFrame(dict(id=np.arange(len(wins)), minx=bb[:, 0], miny=bb[:, 1], maxx=bb[:, 2], maxy=bb[:, 3], crs='EPSG:32632'))
    return ix, size * res

@case(component='splits', kind='property', guarantee='split_spatial_blocks: no two chips of different splits closer than the buffer; '
      "chips of one block share a split; n_dropped = number of ''; the same for the same seed")
@SLOW
@given(chip_indexes(), st.sampled_from([0.5, 1, 2, 3]), st.sampled_from([None, 0., 0.5, 1., 2.]), shares,
       st.sampled_from([None, 0, 2, 3]), st.integers(0, 5))
def test_split_spatial_blocks_buffer(ixc, blk, buf, vt, n_regions, seed):
    ix, chip_m = ixc
    v, t = vt
    block, buffer = blk * chip_m, (None if buf is None else buf * chip_m)
    s = split_spatial_blocks(ix, block, v, t, seed=seed, buffer_m=buffer, n_regions=n_regions)
    lab = s.to_numpy()
    assert set(lab) <= {'train', 'valid', 'test', ''} and s.attrs['n_dropped'] == (lab == '').sum()
    I, J = np.triu_indices(len(ix), 1)
    bb = ix[['minx', 'miny', 'maxx', 'maxy']].to_numpy()
    d = _rect_dist(bb[I], bb[J])
    diff = (lab[I] != lab[J]) & (lab[I] != '') & (lab[J] != '')
    assert not diff.any() or d[diff].min() >= (block if buffer is None else buffer)
    cx, cy = (bb[:, 0] + bb[:, 2]) / 2, (bb[:, 1] + bb[:, 3]) / 2           # blocks, by chip centre
    key = pd.Series(list(zip(np.floor((cx - cx.min()) / block), np.floor((cy - cy.min()) / block))))
    kept = lab != ''
    assert (pd.Series(lab[kept]).groupby(key[kept].values).nunique() <= 1).all()
    assert s.equals(split_spatial_blocks(ix, block, v, t, seed=seed, buffer_m=buffer, n_regions=n_regions))

@case(component='splits', kind='property', guarantee='split_spatial_blocks refuses a block size <= 0, a negative buffer or bad '
      'fractions with a ValueError naming the value')
@PROP
@given(st.sampled_from([0., -10., float('nan'), float('inf')]), st.sampled_from([None, -1., float('nan')]))
def test_split_spatial_blocks_bad_args(block, buf):
    ix = pd.DataFrame(dict(minx=[0., 10.], miny=[0., 0.], maxx=[10., 20.], maxy=[10., 10.]))
    with pytest.raises(ValueError, match=re.escape(f'block_size_m={block}')): split_spatial_blocks(ix, block)
    if buf is not None:
        with pytest.raises(ValueError, match=re.escape(f'buffer_m={buf}')): split_spatial_blocks(ix, 10., buffer_m=buf)
    with pytest.raises(ValueError, match=re.escape('valid_pct=0.8')): split_spatial_blocks(ix, 10., 0.8, 0.3)

dates = st.dates(pd.Timestamp('2015-01-01').date(), pd.Timestamp('2024-12-31').date())

@case(component='splits', kind='property', guarantee="split_temporal: every train date < every valid date < every test date, at "
      "the cutoffs; chips without a date are left out ('')")
@PROP
@given(st.lists(st.one_of(dates.map(str), st.just('')), min_size=1, max_size=60), st.lists(dates, min_size=1, max_size=2))
def test_split_temporal_order(times, cuts):
    assume(any(times))
    cuts = sorted(cuts)
    ix = pd.DataFrame({'time': times})
    s = split_temporal(ix, [str(c) for c in cuts] if len(cuts) == 2 else str(cuts[0]))
    t = pd.to_datetime(pd.Series(times).replace('', None))
    c0, c1 = pd.Timestamp(cuts[0]), pd.Timestamp(cuts[-1]) if len(cuts) == 2 else None
    assert ((s == '') == t.isna()).all()                                  # no date: not in any split
    assert (t[s == 'train'] < c0).all() and (t[s == 'valid'] >= c0).all()
    if c1 is not None: assert (t[s == 'valid'] < c1).all() and (t[s == 'test'] >= c1).all()
    else: assert not (s == 'test').any()
    for a, b in (('train', 'valid'), ('valid', 'test'), ('train', 'test')):
        if (s == a).any() and (s == b).any(): assert t[s == a].max() < t[s == b].min()

# ---------------------------------------------------------------- sampling
from eo_nb.random_chips import _axis_plan, BlockChipSampler

@case(component='sampling', kind='property', guarantee='the per-axis plan counts, for every chip origin, exactly the read windows '
      'that hold the chip, and every origin is held by at least one')
@PROP
@given(st.integers(1, 300), st.sampled_from([1, 3, 16, 32, 64, 128, 512]), st.data())
def test_axis_plan_coverage(n, b, data):
    size = data.draw(st.integers(1, n))
    k0 = max(2, math.ceil((size - 1) / b) + 1)                             # the sampler's default number of blocks
    k = data.draw(st.integers(k0, k0 + 3))
    starts, ends, cov = _axis_plan(n, b, k, size)
    assert (starts % b == 0).all() and (ends <= n).all() and (ends - starts >= size).all()
    brute = np.array([sum(s <= o and o + size <= e for s, e in zip(starts, ends)) for o in range(n - size + 1)])
    assert (cov == brute).all() and (cov >= 1).all()

@st.composite
def tiled_scenes(draw):
    tiled = draw(st.booleans())
    h, w = draw(st.integers(16, 96)), draw(st.integers(16, 96))
    bs = draw(st.sampled_from([16, 32])) if tiled else draw(st.integers(1, 40))      # tile side, or rows per strip
    size = draw(st.integers(1, min(h, w, 40)))
    return dict(h=h, w=w, tiled=tiled, bs=bs, size=size, cpb=draw(st.one_of(st.none(), st.integers(1, 20))),
                seed=draw(st.integers(0, 10**6)), nodata_frac=draw(st.sampled_from([0., 0.2, 0.6])),
                max_nodata=draw(st.sampled_from([1.0, 0.5, 0.1, 0.0])))

def write_scene(path, p):
    import rasterio
    rng = np.random.default_rng(p['seed'])
    a = rng.integers(1, 1000, (2, p['h'], p['w'])).astype('uint16')
    a[:, rng.random((p['h'], p['w'])) < p['nodata_frac']] = 0
    prof = dict(driver='GTiff', height=p['h'], width=p['w'], count=2, dtype='uint16', nodata=0, crs='EPSG:32633',
                transform=rasterio.transform.from_origin(400000, 5000000, 10, 10))
    prof.update(dict(tiled=True, blockxsize=p['bs'], blockysize=p['bs']) if p['tiled'] else dict(blockysize=p['bs']))
    with rasterio.open(path, 'w', **prof) as d: d.write(a)
    return a

@case(component='sampling', kind='property', guarantee='BlockChipSampler: every chip origin of the scene is exactly equally likely')
@SLOW
@given(tiled_scenes())
def test_sampler_uniform(p):
    with tempfile.TemporaryDirectory() as d:
        write_scene(f'{d}/s.tif', p)
        s = BlockChipSampler(f'{d}/s.tif', p['size'], chips_per_block=p['cpb'])
    H, W, S, nx = s.height, s.width, s.size, len(s._xs)
    dens = np.zeros((H - S + 1, W - S + 1))
    for wi, pw in enumerate(s._p):                 # P(window) x chips cut x P(origin | window)
        iy, ix = divmod(wi, nx)
        py, px = [np.diff(cw)[lo:hi - S + 1] / (cw[hi - S + 1] - cw[lo])
                  for cw, lo, hi in ((s._cwy, s._ys[iy], s._ye[iy]), (s._cwx, s._xs[ix], s._xe[ix]))]
        dens[s._ys[iy]:s._ye[iy] - S + 1, s._xs[ix]:s._xe[ix] - S + 1] += pw * s._m[iy, ix] * py[:, None] * px[None, :]
    assert dens.min() > 0 and math.isclose(dens.min(), dens.max(), rel_tol=1e-9)

@case(component='sampling', kind='property', guarantee='BlockChipSampler: chips lie inside the scene, equal the raster at their '
      'window, respect max_nodata, and the stream is a function of the seed (reset replays it)')
@SLOW
@given(tiled_scenes())
def test_sampler_stream(p):
    with tempfile.TemporaryDirectory() as d:
        a = write_scene(f'{d}/s.tif', p)
        S, bad = p['size'], (a == 0).any(0)
        fr = np.lib.stride_tricks.sliding_window_view(bad, (S, S)).mean((-1, -2))      # nodata fraction per origin
        s = BlockChipSampler(f'{d}/s.tif', S, chips_per_block=p['cpb'], seed=p['seed'], max_nodata=p['max_nodata'])
        if p['max_nodata'] < 1 and not (fr <= p['max_nodata'] + 1e-12).any():
            with pytest.raises(RuntimeError, match='No chip with at most'): s.batch(1)
            return
        got = [x for _, x in zip(range(40), s)]
        for x in got:
            r, c = x['row'], x['col']
            assert 0 <= r <= p['h'] - S and 0 <= c <= p['w'] - S
            assert (x['image'] == a[:, r:r + S, c:c + S]).all()
            assert fr[r, c] <= p['max_nodata'] + 1e-12
        again = BlockChipSampler(f'{d}/s.tif', S, chips_per_block=p['cpb'], seed=p['seed'], max_nodata=p['max_nodata'])
        b = again.batch(40)
        assert (b == np.stack([x['image'] for x in got])).all()
        again.reset(); assert (again.batch(40) == b).all()
        del s, again

# ---------------------------------------------------------------- blending
import torch
from eo_nb.inference import _ramp, blend_weights, predict_scene

@case(component='blending', kind='property', guarantee='blend weights are in (0, 1], symmetric, 1 in the interior, rising over '
      'min(overlap, n//2) pixels at each border')
@PROP
@given(st.integers(1, 300), st.integers(1, 300), st.integers(-3, 200))
def test_blend_weights(h, w, overlap):
    for n in (h, w):
        r, k = _ramp(n, overlap), max(0, min(overlap, n // 2))
        assert r.shape == (n,) and (r > 0).all() and (r <= 1).all() and (r == r[::-1]).all()
        assert (r[k:n - k] == 1).all() and (r[:k] < 1).all() and (np.diff(r[:k]) > 0).all()
    b = blend_weights(h, w, overlap)
    assert b.shape == (h, w) and (b == np.outer(_ramp(h, overlap), _ramp(w, overlap))).all() and (b == b[::-1, ::-1]).all()

class PixelNet(torch.nn.Module):
    "A per-pixel 'model': the logits are the (normalised) bands of each pixel; counts the windows it sees."
    def __init__(self): super().__init__(); self.shapes = []
    def forward(self, x): self.shapes.append(tuple(x.shape)); return x * 1.0

META = dict(task='segmentation', classes=['a', 'b', 'c'], bands=['B1', 'B2', 'B3'], mean=[0., 0., 0.], std=[1., 1., 1.])

@case(component='blending', kind='property', guarantee='predict_scene with a per-pixel model reproduces the per-pixel result on '
      'every pixel for any scene size, tile and overlap (no seams, every pixel covered, nodata 255, TTA too); windows at '
      'least half a window apart when overlap <= tile/2, also on scenes smaller than the tile')
@SLOW
@given(st.integers(1, 48), st.integers(1, 48), st.integers(2, 40), st.data(), st.booleans(), st.integers(0, 10**6))
def test_predict_scene_blends_without_seams(H, W, tile, data, tta, seed):
    overlap = data.draw(st.integers(0, tile - 1))
    from eo_nb.io import read_raster, write_raster
    rng = np.random.default_rng(seed)
    scene = rng.integers(1, 6, (3, H, W)).astype('float32')
    scene[:, rng.random((H, W)) < 0.05] = 0                              # nodata pixels
    x = scene.astype(np.float64)
    p = np.exp(x - x.max(0)); p /= p.sum(0)
    want = p.argmax(0).astype(np.uint8)                                  # first of the tied classes, as torch's argmax
    nd = (scene == 0).any(0); want[nd] = 255
    net = PixelNet()
    with tempfile.TemporaryDirectory() as d:
        write_raster(f'{d}/s.tif', scene, crs='EPSG:32632', transform=(10, 0, 500000, 0, -10, 4000000), nodata=0, bands=META['bands'])
        predict_scene((net, META), f'{d}/s.tif', f'{d}/p.tif', tile=tile, overlap=overlap, bs=64, tta=tta, progress=False, device='cpu')
        cls, m = read_raster(f'{d}/p.tif'); pr = read_raster(f'{d}/p_probs.tif')[0]
        assert sorted(q.name for q in Path(d).iterdir()) == ['p.tif', 'p_probs.tif', 's.tif']
    assert (m['height'], m['width']) == (H, W)
    tie = np.sort(p, 0)[-1] - np.sort(p, 0)[-2] < 1e-6                  # exact ties: either class is right
    assert ((cls[0] == want) | (tie & ~nd)).all()
    assert (pr[:, nd] == 255).all()
    assert (np.abs(pr[:, ~nd].astype(int) - np.round(p[:, ~nd] * 100)) <= 1).all()
    t = min(tile, H, W)
    n_views = 8 if tta else 1
    assert all(s[-2:] == (t, t) for s in net.shapes)
    n_win = sum(s[0] for s in net.shapes) // n_views
    if overlap <= tile // 2: assert n_win <= max_windows(H, W, t), (n_win, t, H, W)

def max_windows(H, W, t):
    "Most windows of side `t` on an HxW scene when they are at least t/2 apart (the 'shift' edge window aside)."
    return (2 * (H - t) / t + 2) * (2 * (W - t) / t + 2)

@case(component='blending', kind='property', guarantee='a scene smaller than the tile is predicted in windows of its smaller side '
      'at least half a window apart (not one window per pixel), every pixel still exact')
@SLOW
@given(st.integers(1, 24), st.integers(1, 120), st.integers(8, 64), st.data(), st.booleans())
def test_predict_scene_small_scene(a, b, tile, data, transpose):
    H, W = (b, a) if transpose else (a, b)
    assume(min(H, W) < tile)
    overlap = data.draw(st.integers(0, tile // 2))
    from eo_nb.io import read_raster, write_raster
    want = np.indices((H, W)).sum(0) % 3                                 # diagonal stripes of the 3 classes
    scene = np.stack([(want == k) * 5 + 1 for k in range(3)]).astype('float32')
    net = PixelNet()
    with tempfile.TemporaryDirectory() as d:
        write_raster(f'{d}/s.tif', scene, crs='EPSG:32632', transform=(10, 0, 500000, 0, -10, 4000000), bands=META['bands'])
        predict_scene((net, META), f'{d}/s.tif', f'{d}/p.tif', tile=tile, overlap=overlap, bs=64, probs=False, progress=False, device='cpu')
        cls = read_raster(f'{d}/p.tif')[0][0]
    t = min(H, W)
    assert (cls == want).all()
    assert all(s[-2:] == (t, t) for s in net.shapes)
    n_win = sum(s[0] for s in net.shapes)
    assert n_win <= max_windows(H, W, t), (n_win, t, H, W, tile, overlap)

@case(component='blending', kind='property', guarantee='predict_scene refuses tile < 1, overlap < 0 or overlap >= tile with a '
      'ValueError naming the values, before writing anything')
@PROP
@given(st.integers(-2, 64), st.integers(-2, 80))
def test_predict_scene_bad_grid(tile, overlap):
    assume(tile < 1 or overlap < 0 or overlap >= tile)
    from eo_nb.io import write_raster
    with tempfile.TemporaryDirectory() as d:
        write_raster(f'{d}/s.tif', np.ones((3, 20, 30), 'float32'), crs='EPSG:32632', transform=(10, 0, 500000, 0, -10, 4000000), bands=META['bands'])
        with pytest.raises(ValueError, match=re.escape(f'tile={tile}') + '|' + re.escape(f'overlap={overlap}')):
            predict_scene((PixelNet(), META), f'{d}/s.tif', f'{d}/p.tif', tile=tile, overlap=overlap, progress=False, device='cpu')
        assert sorted(q.name for q in Path(d).iterdir()) == ['s.tif']
