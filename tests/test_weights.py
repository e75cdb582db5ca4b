"Tests for eo_nb.weights, the registry of published EO weights, against a local HTTP server on 127.0.0.1 (no internet needed)."
import loopback
import contextlib, dataclasses, hashlib, http.server, io, re, threading, warnings
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from eo_nb.core import shared_data
from eo_nb.download import ChecksumError
from eo_nb.models import create_model, create_segmentation_model, list_models
from eo_nb.weights import WEIGHTS, apply_pretrained, download_weights, expected_keys, get_weights, weight_stats

case = pytest.mark.case
R18 = 'ssl4eo_s12_resnet18_s2_moco'
VIT_S1 = 'ssl4eo_s12_vits16_s1_mae'      # published without a checksum in its name: checked by keys and shapes


def serve(files):
    "Serve `files` ({'name': bytes}) on 127.0.0.1 under any folder; yields (server, base_url + '/weights')."
    return loopback.serve(files, by_name=True, prefix='/weights')



def _bytes(sd)->bytes:
    buf = io.BytesIO(); torch.save(sd, buf); return buf.getvalue()


def official(arch, in_chans, seed=0, **kw)->dict:
    "A state dict with the official (timm) key names and shapes of `arch`, random values, and a pre-training head."
    torch.manual_seed(seed)
    sd = timm.create_model(arch, in_chans=in_chans, num_classes=0, **kw).state_dict()
    if arch.startswith('resnet'): sd.update({'fc.weight': torch.randn(128, sd['layer4.1.bn2.weight'].shape[0]), 'fc.bias': torch.randn(128)})
    return sd


@pytest.fixture(scope='module')
def r18():
    sd = official('resnet18', 13); b = _bytes(sd)
    return sd, b, hashlib.sha256(b).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch, r18):
    "A data root in tmp_path, the registry's resnet18 entry carrying the checksum of our random file, a loopback mirror serving it."
    sd, b, sha = r18
    monkeypatch.setenv('EO_NB_DATA', str(tmp_path/'data'))
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    monkeypatch.setitem(WEIGHTS, R18, dataclasses.replace(WEIGHTS[R18], sha256=sha[:8]))
    with serve({get_weights(R18).filename: b}) as (srv, base):
        monkeypatch.setenv('EO_NB_WEIGHTS_MIRROR', base)
        yield srv, sd, tmp_path


def _leftovers(folder)->list:
    "Partial or unverified downloads left in the weights folder (the lock file aside)."
    return [f for f in (Path(folder)/'.unverified').iterdir() if f.suffix != '.lock']


def test_registry_facts():
    assert len(list_models(pretrained=True)) == len(WEIGHTS) >= 10 and R18 in list_models(pretrained=True)
    assert list_models(pretrained=True, pattern='satlas*') == ['satlas_s2_resnet50_si_ms', 'satlas_s2_resnet50_mi_ms']
    for w in WEIGHTS.values():
        assert w.url.startswith('https://') and w.licence and w.citation and w.source and len(w.mean) == len(w.std) == len(w.bands) or not w.mean
    assert WEIGHTS['ssl4eo_s12_resnet50_s2_dino'].sha256 == 'd6c330e9' and WEIGHTS['ssl4eo_s12_resnet50_s2_dino'].method == 'dino'
    # the architectures' keys and shapes, on the meta device (no memory, no download): ResNet-50 and Satlas included
    assert expected_keys('ssl4eo_s12_resnet50_s2_moco')['conv1.weight'] == (64, 13, 7, 7)
    assert expected_keys('satlas_s2_resnet50_si_ms')['conv1.weight'] == (64, 9, 7, 7)
    assert expected_keys('ssl4eo_s12_vits16_s2_dino')['patch_embed.proj.weight'] == (384, 13, 16, 16)
    assert 'fc.weight' not in expected_keys('ssl4eo_s12_resnet50_s1_moco') and len(expected_keys('ssl4eo_s12_resnet50_s1_moco')) == 318


def test_download_is_verified_and_cached(env):
    srv, sd, tmp = env
    p = download_weights(R18, progress=False)
    assert p == tmp/'data'/'weights'/get_weights(R18).filename and p.stat().st_size > 40e6
    assert len(srv.requests) == 1 and not _leftovers(p.parent)
    assert download_weights(R18, progress=False) == p and len(srv.requests) == 1          # cached: no second request


@case(component='weights', kind='bad_input', guarantee='a download whose sha256 does not match the registry is refused and removed; nothing is put in place')
def test_corrupt_download_refused_and_removed(env):
    srv, sd, tmp = env
    name = get_weights(R18).filename
    good = srv.files[name]
    srv.files[name] = good[:-1000] + bytes(1000)
    with pytest.raises(ChecksumError, match=f"does not start with {get_weights(R18).sha256}"): download_weights(R18, progress=False)
    folder = tmp/'data'/'weights'
    assert not (folder/name).exists() and not _leftovers(folder)
    srv.files[name] = good
    assert download_weights(R18, progress=False).is_file()                                   # a later run downloads it again


def test_first_layer_mapped_by_band_name(env):
    srv, sd, tmp = env
    net = create_model('resnet18', 3, 7, pretrained=R18, bands=['B04', 'B03', 'B02'])
    assert torch.equal(net.conv1.weight, sd['conv1.weight'][:, [3, 2, 1]])                 # 13 bands in TorchGeo's order: B04 is column 3
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items() if k not in ('conv1.weight', 'fc.weight', 'fc.bias'))
    assert net.fc.weight.shape == (7, 512)
    seg = create_segmentation_model('resnet18', 3, 2, img_size=32, pretrained=R18, bands=['B04', 'B03', 'B02'])   # the U-Net's encoder too
    assert torch.equal(seg[0][0].weight, sd['conv1.weight'][:, [3, 2, 1]]) and seg(torch.randn(2, 3, 32, 32)).shape == (2, 2, 32, 32)


def test_vit_checkpoint_any_tile_size(tmp_path, monkeypatch):
    "ViT-S/16 S1 weights (no checksum published): first layer mapped by name (VH, VV swapped), run on 32-pixel tiles."
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    sd = official('vit_small_patch16_224', 2, dynamic_img_size=True)
    del sd['norm.weight'], sd['norm.bias']                                # an MAE encoder file may lack the final norm (TorchGeo's KEYS)
    sd = {'encoder.' + k: v for k, v in sd.items()}                        # and carry a prefix: mapped in one place
    with serve({get_weights(VIT_S1).filename: _bytes(sd)}) as (srv, base):
        net = timm.create_model('vit_small_patch16_224', in_chans=2, num_classes=4, dynamic_img_size=True)
        done = apply_pretrained(net, VIT_S1, ['VH', 'VV'], root=tmp_path, url=f'{base}/{get_weights(VIT_S1).filename}')
    w = sd['encoder.patch_embed.proj.weight']
    assert torch.equal(net.patch_embed.proj.weight, w[:, [1, 0]]) and torch.equal(net.blocks[3].attn.qkv.weight, sd['encoder.blocks.3.attn.qkv.weight'])
    assert done['weights'] == VIT_S1 and done['from_checkpoint'] == ['VH', 'VV']
    assert net(torch.randn(2, 2, 32, 32)).shape == (2, 4)
    sd = {k[len('encoder.'):]: v for k, v in sd.items()}
    sd.update({'norm.weight': torch.rand(384), 'norm.bias': torch.rand(384), 'head.weight': torch.rand(1000, 384), 'head.bias': torch.rand(1000)})
    with serve({get_weights(VIT_S1).filename: _bytes(sd)}) as (srv, base):   # with its final norm and an ImageNet-size head
        net = timm.create_model('vit_small_patch16_224', in_chans=2, num_classes=4, dynamic_img_size=True)
        apply_pretrained(net, VIT_S1, ['VV', 'VH'], root=tmp_path/'2', url=f'{base}/{get_weights(VIT_S1).filename}')
    assert torch.equal(net.norm.weight, sd['norm.weight']) and net.head.weight.shape == (4, 384)   # the trained norm kept, the head new


@case(component='weights', kind='bad_input', guarantee='a checkpoint whose keys or shapes differ from its registry entry is refused naming the key; the model is unchanged')
@pytest.mark.parametrize('how, msg', [
    ('rename', "unexpected key 'layer2.0.conv9.weight'"),
    ('missing', "key 'layer3.1.bn1.running_var' (256,) is missing"),
    ('shape', "'layer4.0.conv2.weight' has shape (512, 512, 1, 1), resnet18 needs (512, 512, 3, 3)"),
])
def test_wrong_keys_or_shapes_refused(env, how, msg):
    srv, sd, tmp = env
    bad = dict(sd)
    if how == 'rename': bad['layer2.0.conv9.weight'] = bad.pop('layer2.0.conv1.weight')
    if how == 'missing': del bad['layer3.1.bn1.running_var']
    if how == 'shape': bad['layer4.0.conv2.weight'] = torch.zeros(512, 512, 1, 1)
    srv.files[get_weights(R18).filename] = b = _bytes(bad)
    WEIGHTS[R18] = dataclasses.replace(WEIGHTS[R18], sha256=hashlib.sha256(b).hexdigest()[:8])   # monkeypatched by `env`: restored after
    net = timm.create_model('resnet18', in_chans=13, num_classes=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(msg)) as e: apply_pretrained(net, R18, list(get_weights(R18).bands))
    assert 'is not the ssl4eo_s12_resnet18_s2_moco checkpoint' in str(e.value) and 'download it again' in str(e.value)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())             # nothing half-loaded


@pytest.fixture(scope='module')
def tiles(tmp_path_factory):
    "Real EuroSAT MS tiles (shared data) when present, else the 13-band fixture folder."
    sd = shared_data()
    if sd is not None and (sd/'eurosat_ms_subset').is_dir(): return sd/'eurosat_ms_subset'
    print('eurosat_ms_subset is not in ../shared/data: using the make_tile_folder fixture')
    from eo_nb.fixtures import make_tile_folder
    return make_tile_folder(tmp_path_factory.mktemp('tiles')/'tiles', n=6, size=32)


def test_run_normalises_as_the_weights_expect_and_fits(env, tiles):
    "check_params + task_dataloaders + experiment_learner, as run.ipynb: the entry's arch, its normalisation, one epoch."
    from eo_nb.experiment import check_params, task_dataloaders, experiment_learner
    srv, sd, tmp = env
    p = check_params(data=str(tiles), pretrained=R18, epochs=1, bs=32, out_dir=str(tmp/'run'))
    assert p.model == 'resnet18' and p.pretrained == R18                                   # an empty model takes the weights' arch
    dls = task_dataloaders(p, device='cpu')
    assert dls.eo['mean'] == [0.] * 13 and dls.eo['std'] == [10000.] * 13 and dls.eo['bands'][-1] == 'B8A'
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)                                         # no 'normalised with other stats' warning
        learn = experiment_learner(p, dls, tensorboard=False)
    assert torch.equal(learn.model.conv1.weight[:, 12].cpu(), sd['conv1.weight'][:, 8])     # the data's B8A (last) is the checkpoint's 9th band
    learn.fit(1, 1e-3)
    assert np.isfinite(learn.recorder.values[-1]).all() and (tmp/'run'/'history.csv').exists()
    assert learn.eo['model'] == 'resnet18'


@case(component='weights', kind='bad_input', guarantee='registry weights with another model, bands or an unavailable architecture are refused before training')
def test_mismatches_refused(env, tiles):
    from eo_nb.experiment import check_params
    from eo_nb.learner import eo_learner
    from eo_nb.loaders import dataloaders
    with pytest.raises(ValueError, match="are for model 'resnet18', not 'resnet50': use model='resnet18'"):
        check_params(data=str(tiles), model='resnet50', pretrained=R18)
    facts_only = dataclasses.replace(WEIGHTS['prithvi_eo_v1_100m'], available=False)          # an entry eo_nb has no architecture for
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(WEIGHTS, 'prithvi_eo_v1_100m', facts_only)
        with pytest.raises(NotImplementedError, match="'prithvi_eo_v1_100m' .*not available in eo_nb yet"):
            check_params(data=str(tiles), pretrained='prithvi_eo_v1_100m')
    with pytest.raises(ValueError, match="are for model 'prithvi_eo_v1_100m', not 'resnet18'"):
        check_params(data=str(tiles), model='resnet18', pretrained='prithvi_eo_v1_100m')
    with pytest.raises(ValueError, match='name their own bands'):
        check_params(data=str(tiles), pretrained=R18, pretrained_bands='B01')
    dls = dataloaders(str(tiles), bs=16, device='cpu', progress=False)
    with pytest.warns(UserWarning, match=r"stats=eo_nb.weights.weight_stats\('ssl4eo_s12_resnet18_s2_moco', bands\)"):
        eo_learner(dls, 'resnet18', pretrained=R18)
    with pytest.raises(ValueError, match="use model='resnet18'"): eo_learner(dls, 'eo_cnn', pretrained=R18)


def test_sweep_pretrained_vs_scratch(tmp_path, tiles):
    "A sweep file comparing pretrained and scratch is accepted (eo_nb sweep --check), and each of its runs passes check_params."
    from eo_nb.sweep import load_sweep, main
    from eo_nb.experiment import check_params
    f = tmp_path/'compare.yaml'
    f.write_text(f"name: pretrained_vs_scratch\nfixed: {{data: '{tiles}', model: resnet18, epochs: 1}}\n"
                 f"grid:\n  pretrained: ['', {R18}]\n  seed: [0, 1]\n")
    sw = load_sweep(f, out_root=tmp_path/'runs')
    assert len(sw['runs']) == 4 and set(sw['varying']) == {'pretrained', 'seed'}
    assert sorted({r['params']['pretrained'] for r in sw['runs']}) == ['', R18]
    for r in sw['runs']: assert check_params(**r['params']).model == 'resnet18'
    assert main(['sweep', str(f), '--check', '--out', str(tmp_path/'runs')]) == 0


def test_weight_stats_by_band_name():
    assert weight_stats('ssl4eo_s12_resnet50_s1_moco', ['VH', 'VV']) == dict(mean=[-20.26, -12.59], std=[5.91, 5.26])
    s = weight_stats('satlas_s2_resnet50_si_ms', ['B02', 'B8A', 'B12'])
    assert s['std'][0] == 255. and s['std'][2] == 8160. and s['std'][1] == 8160.          # B8A is not a Satlas band: the median
    assert weight_stats('dofa_base_patch16_224', ['B04']) is None


@pytest.mark.slow
def test_resnet50_checkpoint_loads(tmp_path, monkeypatch):
    "A full-size ResNet-50 S1 checkpoint (~95 MB) with official keys loads, VV/VH mapped by name."
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    name = 'ssl4eo_s12_resnet50_s1_moco'
    sd = official('resnet50', 2); b = _bytes(sd)
    monkeypatch.setitem(WEIGHTS, name, dataclasses.replace(WEIGHTS[name], sha256=hashlib.sha256(b).hexdigest()[:8]))
    with serve({get_weights(name).filename: b}) as (srv, base):
        net = timm.create_model('resnet50', in_chans=3, num_classes=2)
        apply_pretrained(net, name, ['VH', 'VV', 'HH'], root=tmp_path, url=f'{base}/{get_weights(name).filename}')
    w = sd['conv1.weight']
    assert torch.equal(net.conv1.weight[:, :2], w[:, [1, 0]]) and torch.allclose(net.conv1.weight[:, 2], w.mean(1))
