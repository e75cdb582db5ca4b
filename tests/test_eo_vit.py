"Tests for eo_nb.eo_vit (DOFA, Prithvi-EO) loaded through the weights registry, against a local HTTP server on 127.0.0.1 (no internet needed)."
import loopback
import dataclasses, hashlib, io, re
import numpy as np
import pytest
import torch

from eo_nb.eo_vit import DOFA, band_wavelengths, create_eo_vit
from eo_nb.models import create_model
from eo_nb.weights import WEIGHTS, apply_pretrained, expected_keys, get_weights, map_state

case = pytest.mark.case
DOFA_W, PRITHVI_W = 'dofa_base_patch16_224', 'prithvi_eo_v1_100m'
TINY = (('embed_dim', 64), ('depth', 2), ('num_heads', 4))     # the key names of the published sizes, small shapes: a fast test
S2 = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12']


def _bytes(sd)->bytes:
    buf = io.BytesIO(); torch.save(sd, buf); return buf.getvalue()


def official_dofa(seed=0, **kw)->dict:
    "A DOFA file as TorchGeo publishes it: the encoder's keys without `fc_norm` and `head` (dofa.py asserts only those are missing)."
    torch.manual_seed(seed)
    sd = create_eo_vit(DOFA_W, 0, 0, **kw).state_dict()
    return {k: v.clone() for k, v in sd.items() if not k.startswith('fc_norm.')}


def official_prithvi(seed=0, **kw)->dict:
    "A Prithvi-EO-1.0 file as the PrithviMAE of the model card saves it: `encoder.*` (pos_embed for 3 frames) and `decoder.*`."
    torch.manual_seed(seed)
    sd = {'encoder.' + k: v.clone() for k, v in create_eo_vit(PRITHVI_W, 6, 0, **kw).state_dict().items()}
    d = sd['encoder.cls_token'].shape[-1]
    sd['encoder.pos_embed'] = torch.randn(1, 3 * 14 * 14 + 1, d)
    sd.update({'decoder.mask_token': torch.randn(1, 1, 32), 'decoder.decoder_embed.weight': torch.randn(32, d),
               'decoder.decoder_pos_embed': torch.randn(1, 3 * 14 * 14 + 1, 32), 'decoder.decoder_pred.weight': torch.randn(6 * 16 * 16, 32)})
    return sd


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    "Tiny DOFA and Prithvi files with the official key names, their entries carrying the files' checksums, served on 127.0.0.1."
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    sds, files = {DOFA_W: official_dofa(**dict(TINY)), PRITHVI_W: official_prithvi(**dict(TINY))}, {}
    for name, sd in sds.items():
        b = _bytes(sd)
        monkeypatch.setitem(WEIGHTS, name, dataclasses.replace(WEIGHTS[name], kwargs=TINY, sha256=hashlib.sha256(b).hexdigest()[:8]))
        files[get_weights(name).filename] = b
    with loopback.serve(files, by_name=True, prefix='/weights') as (srv, base):
        monkeypatch.setenv('EO_NB_WEIGHTS_MIRROR', base)
        yield srv, sds


def test_published_sizes_have_the_reference_keys():
    "The real entries, on the meta device: the key names and shapes of TorchGeo's dofa_base and the Prithvi-EO-1.0-100M encoder."
    d = expected_keys(DOFA_W)
    assert d['patch_embed.weight_generator.fc_weight.weight'] == (16 * 16 * 768, 128) and d['pos_embed'] == (1, 197, 768)
    assert d['patch_embed.weight_generator.transformer_encoder.layers.0.self_attn.in_proj_weight'] == (384, 128)
    assert d['patch_embed.fclayer.w2.weight'] == (128, 128) and d['blocks.11.mlp.fc2.weight'] == (768, 3072)
    assert not any(k.startswith(('fc_norm.', 'head.')) for k in d) and len(d) == 168
    assert expected_keys('dofa_large_patch16_224')['blocks.23.attn.qkv.weight'] == (3072, 1024)
    p = expected_keys(PRITHVI_W)
    assert p['patch_embed.proj.weight'] == (768, 6, 1, 16, 16) and p['blocks.11.attn.qkv.weight'] == (2304, 768) and p['norm.bias'] == (768,)
    assert 'pos_embed' not in p and len(p) == 149


def test_dofa_from_the_registry_any_bands(mirror):
    srv, sds = mirror
    sd = sds[DOFA_W]
    net = create_model(DOFA_W, 4, 3, pretrained=DOFA_W, bands=['B02', 'B03', 'B04', 'B08'])
    assert len(srv.requests) == 1 and torch.equal(net.blocks[1].attn.qkv.weight, sd['blocks.1.attn.qkv.weight'])
    assert torch.equal(net.patch_embed.weight_generator.fc_weight.weight, sd['patch_embed.weight_generator.fc_weight.weight'])
    assert torch.equal(net.fc_norm.weight, torch.ones(64)) and net.head.weight.shape == (3, 64)   # not in the file: new
    assert net(torch.randn(2, 4, 64, 64)).shape == (2, 3) and net.wavelengths.tolist() == pytest.approx([0.4924, 0.5598, 0.6646, 0.8328])
    sar = create_model(DOFA_W, 2, 5, pretrained=DOFA_W, bands=['VV', 'VH'])                  # the same file for SAR: cached, no new request
    assert len(srv.requests) == 1 and sar(torch.randn(2, 2, 64, 64)).shape == (2, 5) and sar.wavelengths.tolist() == pytest.approx([5.405] * 2)
    with pytest.raises(ValueError, match=r"read any bands by their wavelengths: pass bands=\[...\]"): create_model(DOFA_W, 4, 3, pretrained=DOFA_W)


def test_dofa_first_layer_follows_the_wavelengths(mirror):
    "Sentinel-2 and RGB get different generated first layers from the same file; permuting the bands permutes its columns."
    s2 = create_model(DOFA_W, 13, 3, pretrained=DOFA_W, bands=S2)
    rgb = create_model(DOFA_W, 3, 3, pretrained=DOFA_W, bands=['B04', 'B03', 'B02'])
    bgr = create_model(DOFA_W, 3, 3, pretrained=DOFA_W, bands=['B02', 'B03', 'B04'])
    w13, w3, w3r = (m.patch_embed.weights(m.wavelengths)[0] for m in (s2, rgb, bgr))
    assert w13.shape == (64, 13, 16, 16) and w3.shape == (64, 3, 16, 16)
    assert not torch.allclose(w3[:, 0], w13[:, 3], atol=1e-4)                          # B04 among 13 bands is not B04 among 3
    torch.testing.assert_close(w3r, w3.flip(1), rtol=1e-4, atol=1e-6)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(bgr.eval().forward_features(x.flip(1)), rgb.eval().forward_features(x), rtol=1e-4, atol=1e-5)


def test_prithvi_from_the_registry_mapped_by_band_name(mirror):
    srv, sds = mirror
    sd = sds[PRITHVI_W]
    net = create_model(PRITHVI_W, 4, 3, pretrained=PRITHVI_W, bands=['B04', 'B03', 'B02', 'B05'])
    w = sd['encoder.patch_embed.proj.weight']                                             # HLS order B02, B03, B04, B8A, B11, B12
    assert torch.equal(net.patch_embed.proj.weight[:, :3], w[:, [2, 1, 0]])
    torch.testing.assert_close(net.patch_embed.proj.weight[:, 3], w.mean(1))             # B05 is not an HLS band: the mean
    assert torch.equal(net.blocks[0].mlp.fc1.weight, sd['encoder.blocks.0.mlp.fc1.weight']) and torch.equal(net.norm.weight, sd['encoder.norm.weight'])
    assert net(torch.randn(2, 4, 64, 64)).shape == (2, 3) and net(torch.randn(2, 3, 4, 32, 32)).shape == (2, 3)   # tiles; a 3-date series
    legacy = {k.replace('encoder.', '').replace('decoder.', ''): v for k, v in sd.items()}   # the older flat MaskedAutoencoderViT layout
    assert torch.equal(map_state(PRITHVI_W, legacy)['patch_embed.proj.weight'], w) and 'pos_embed' not in net.state_dict()


@case(component='weights', kind='bad_input', guarantee='a checkpoint whose keys or shapes differ from its registry entry is refused naming the key; the model is unchanged')
@pytest.mark.parametrize('name, key', [(DOFA_W, 'patch_embed.fclayer.w1.weight'), (PRITHVI_W, 'blocks.1.attn.proj.weight')])
def test_wrong_shape_refused(mirror, monkeypatch, name, key):
    srv, sds = mirror
    bad = dict(sds[name]); k = next(k for k in bad if k.endswith(key))
    bad[k] = torch.zeros(64, 65)
    srv.files[get_weights(name).filename] = b = _bytes(bad)
    monkeypatch.setitem(WEIGHTS, name, dataclasses.replace(WEIGHTS[name], sha256=hashlib.sha256(b).hexdigest()[:8]))
    bands = ['B04', 'B03', 'B02']
    net = create_eo_vit(name, 3, 2, bands=bands, **dict(TINY))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(f"{key!r} has shape (64, 65)")) as e: apply_pretrained(net, name, bands)
    assert f'is not the {name} checkpoint' in str(e.value)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_dofa_built_for_other_bands_refused(mirror):
    net = create_eo_vit(DOFA_W, 2, 2, bands=['VV', 'VH'], **dict(TINY))
    with pytest.raises(ValueError, match=re.escape("does not read the bands ['B04', 'B03']: create it with create_model('dofa_base_patch16_224', 2")):
        apply_pretrained(net, DOFA_W, ['B04', 'B03'])


def test_one_epoch_with_dofa(mirror, tmp_path):
    "As run.ipynb with -p pretrained dofa_base_patch16_224 (tiny shapes) on the 13-band fixture: its arch, the data's stats, loaded, one epoch."
    from eo_nb.experiment import check_params, task_dataloaders, experiment_learner
    from eo_nb.fixtures import make_tile_folder
    srv, sds = mirror
    p = check_params(data=str(make_tile_folder(tmp_path/'tiles', n=6, size=32)), pretrained=DOFA_W, epochs=1, bs=8, out_dir=str(tmp_path/'run'))
    assert p.model == DOFA_W
    dls = task_dataloaders(p, device='cpu')
    assert dls.eo['std'][0] != 10000.                                                    # DOFA: the data's own statistics
    learn = experiment_learner(p, dls, tensorboard=False)
    assert torch.equal(learn.model.blocks[0].attn.qkv.weight, sds[DOFA_W]['blocks.0.attn.qkv.weight'])
    assert learn.model.wavelengths.tolist() == pytest.approx(band_wavelengths(dls.eo['bands']))
    learn.fit(1, 1e-4)
    assert np.isfinite(learn.recorder.values[-1]).all() and (tmp_path/'run'/'history.csv').exists() and len(srv.requests) == 1
    from eo_nb.learner import save_run_model, load_run_model                            # the model file rebuilds DOFA without band names
    net, meta = load_run_model(save_run_model(learn, tmp_path/'model.pth'))
    x = dls.one_batch()[0][:2].cpu()
    with torch.no_grad(): torch.testing.assert_close(net(x), learn.model.eval().cpu()(x))
    assert net.wavelengths.tolist() == pytest.approx(band_wavelengths(meta['bands']))


@pytest.mark.slow
def test_full_size_dofa_base_loads(tmp_path, monkeypatch):
    "A full-size DOFA-base file (~450 MB, random values, official keys) downloads, verifies and loads; Sentinel-2 forward on 64 px tiles."
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    b = _bytes(official_dofa())
    monkeypatch.setitem(WEIGHTS, DOFA_W, dataclasses.replace(WEIGHTS[DOFA_W], sha256=hashlib.sha256(b).hexdigest()[:8]))
    with loopback.serve({get_weights(DOFA_W).filename: b}, by_name=True, prefix='/weights') as (srv, base):
        net = create_eo_vit(DOFA_W, 13, 10, bands=S2)
        done = apply_pretrained(net, DOFA_W, S2, root=tmp_path, url=f'{base}/{get_weights(DOFA_W).filename}')
    assert done['loaded'] == 168 and done['reinitialised'] == ['fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight']
    with torch.no_grad(): assert net(torch.randn(2, 13, 64, 64)).shape == (2, 10)
