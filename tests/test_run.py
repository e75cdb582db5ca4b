"""End-to-end runs of nbs/run.ipynb under papermill: outputs, relative paths, and bad input failing early."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

papermill = pytest.importorskip('papermill')
from papermill.exceptions import PapermillExecutionError
from eo_nb.core import shared_data
from eo_nb.data import split_folder, resolve_data

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT/'nbs'/'run.ipynb'
SUBSET = (shared_data() or ROOT.parent/'shared'/'data')/'eurosat_ms_subset'
needs_subset = pytest.mark.skipif(not SUBSET.exists(), reason=f'real data {SUBSET} not found (set EO_NB_SHARED_DATA)')

def run(tmp_path, cwd=ROOT, nb=RUN, **params):
    return papermill.execute_notebook(str(nb), str(tmp_path/'out.ipynb'), parameters=params, cwd=str(cwd),
                                      kernel_name='python3', progress_bar=False)

SECTION_KEYS = {'n', 'accuracy', 'balanced_accuracy', 'f1_macro', 'kappa', 'per_class', 'confusion_matrix', 'classes'}

def test_rf_on_sample_with_test_folder(tmp_path):
    train, test = split_folder(resolve_data('sample'), tmp_path/'split', test_pct=0.25, seed=0)
    out = tmp_path/'run'
    run(tmp_path, model='rf', data=str(train), test_data=str(test), out_dir=str(out))
    m = json.loads((out/'metrics.json').read_text())
    assert set(m['valid']) == SECTION_KEYS and set(m['test']) == SECTION_KEYS
    assert m['test']['n'] == 60 and len(m['test']['confusion_matrix']) == 6
    assert sum(map(sum, m['test']['confusion_matrix'])) == 60
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['status'] == 'complete' and cfg['params']['model'] == 'rf' and cfg['versions']['fastai'] == '2.8.7'
    for f in ['history.csv', 'model.skops', 'confusion_matrix.png']: assert (out/f).stat().st_size > 0
    assert not list(out.glob('*.tmp'))

@needs_subset
def test_cnn_from_nbs_folder_with_relative_paths(tmp_path):
    "The user's form: cd nbs && papermill run.ipynb ... with paths relative to nbs/."
    out = tmp_path/'run'
    run(tmp_path, cwd=ROOT/'nbs', model='eo_cnn_small',
        data=os.path.relpath(SUBSET, ROOT/'nbs'), epochs=1, bs=16, bands='B02,B03,B04,B08', out_dir=str(out))
    m = json.loads((out/'metrics.json').read_text())
    assert m['valid']['n'] == 24 and len(m['valid']['classes']) == 10
    import torch
    state = torch.load(out/'model.pth', weights_only=True)
    assert state['bands'] == ['B02', 'B03', 'B04', 'B08'] and len(state['mean']) == 4
    assert state['classes'][0] == 'AnnualCrop'
    hist = (out/'history.csv').read_text().splitlines()
    assert hist[0].startswith('epoch,train_loss,valid_loss') and len(hist) == 2

@pytest.mark.parametrize('params,message', [
    (dict(model='resnet5O'), 'Unknown model'),
    (dict(epochs=-3), 'epochs=-3'),
    (dict(data='no/such/folder'), 'not found'),
    (dict(bands='B04,B99'), "Unknown band 'B99'"),
])
def test_bad_parameters_fail_before_any_output(tmp_path, params, message):
    out = tmp_path/'run'
    with pytest.raises(PapermillExecutionError, match=message): run(tmp_path, out_dir=str(out), **params)
    assert not out.exists()

def test_corrupt_tile_fails_before_any_output(tmp_path):
    src = resolve_data('sample')
    for c in ['Forest', 'River']: shutil.copytree(src/c, tmp_path/'d'/c)
    bad = tmp_path/'d'/'River'/'River_3.tif'
    bad.write_bytes(bad.read_bytes()[:3000])
    out = tmp_path/'run'
    with pytest.raises(PapermillExecutionError, match='River_3.tif'): run(tmp_path, data=str(tmp_path/'d'), out_dir=str(out))
    assert not out.exists()

def test_help_notebook_lists_every_parameter():
    r = subprocess.run([sys.executable, '-m', 'papermill', '--help-notebook', str(RUN)], capture_output=True, text=True, timeout=120)
    for p in ['model: str', 'data: str', 'test_data: str', 'bands: str', 'epochs: int', 'lr: float', 'bs: int',
              'seed: int', 'out_dir: str', 'pretrained: str']:
        assert p in r.stdout, p

@needs_subset
def test_rf_baseline_on_real_eurosat_subset(tmp_path):
    "The baseline on real tiles: far above chance (0.1) on the 10 EuroSAT classes."
    out = tmp_path/'run'
    run(tmp_path, model='rf', data=str(SUBSET), valid_pct=0.25, out_dir=str(out))
    m = json.loads((out/'metrics.json').read_text())['valid']
    assert m['n'] == 30 and m['accuracy'] > 0.4 and m['kappa'] > 0.3
    assert set(m['per_class']) == {'AnnualCrop', 'Forest', 'HerbaceousVegetation', 'Highway', 'Industrial', 'Pasture',
                                   'PermanentCrop', 'Residential', 'River', 'SeaLake'}

def test_interrupted_run_resumes_and_other_parameters_are_refused(tmp_path):
    out = tmp_path/'run'
    params = dict(model='eo_cnn_small', epochs=3, bs=64, tta=False, out_dir=str(out))
    run(tmp_path, **params)
    # make it look like a run killed after its first epoch
    import torch
    state = torch.load(out/'last.pth', weights_only=True); state['epoch'] = 1
    torch.save(state, out/'last.pth')
    hist = (out/'history.csv').read_text().splitlines(True)
    (out/'history.csv').write_text(''.join(hist[:2]))
    (out/'metrics.json').unlink()
    nb = run(tmp_path, **params)
    printed = ''.join(o.get('text', '') for c in nb['cells'] for o in c.get('outputs', []) if o.get('name') == 'stdout')
    assert 'from epoch 1 of 3' in printed
    assert [l.split(',')[0] for l in (out/'history.csv').read_text().splitlines()] == ['epoch', '0', '1', '2']
    assert json.loads((out/'config.json').read_text())['resumed'] is True
    assert (out/'metrics.json').exists()
    with pytest.raises(PapermillExecutionError, match='other parameters'): run(tmp_path, **{**params, 'epochs': 5})

def test_two_process_ddp_run_and_its_resume(tmp_path):
    "processes=2: two gloo processes on the CPU train one run (DDP, keeping the best epoch), and an interrupted DDP run resumes from its checkpoint."
    out = tmp_path/'run'
    params = dict(model='eo_cnn_small', epochs=2, bs=32, tta=False, processes=2, keep='best', out_dir=str(out))
    run(tmp_path, **params)
    cfg = json.loads((out/'config.json').read_text())
    ddp = cfg['ddp']
    assert cfg['status'] == 'complete' and (ddp['processes'], ddp['backend'], ddp['batch_per_process']) == (2, 'gloo', 16)
    assert ddp['weights_identical'] and len(ddp['ranks']) == 2 and ddp['ranks'][0]['samples'] == ddp['ranks'][1]['samples'] > 0
    assert [l.split(',')[0] for l in (out/'history.csv').read_text().splitlines()] == ['epoch', '0', '1']
    assert json.loads((out/'metrics.json').read_text())['valid']['n'] == 48
    assert not (out/'ddp_final.pth').exists() and (out/'model.pth').exists()
    import torch
    state = torch.load(out/'last.pth', weights_only=True); state['epoch'] = 1          # as if killed after epoch 1
    torch.save(state, out/'last.pth')
    (out/'history.csv').write_text(''.join((out/'history.csv').read_text().splitlines(True)[:2]))
    (out/'metrics.json').unlink()
    nb = run(tmp_path, **params)
    printed = ''.join(o.get('text', '') for c in nb['cells'] for o in c.get('outputs', []) if o.get('name') == 'stdout')
    assert 'from epoch 1 of 2' in printed
    assert [l.split(',')[0] for l in (out/'history.csv').read_text().splitlines()] == ['epoch', '0', '1']
    assert json.loads((out/'config.json').read_text())['ddp']['weights_identical']

CLOUD38 = (shared_data() or ROOT.parent/'shared'/'data')/'cloud38_landsat8'

@pytest.mark.skipif(not CLOUD38.exists(), reason=f'real data {CLOUD38} not found (set EO_NB_SHARED_DATA)')
def test_segmentation_run_on_cloud38(tmp_path):
    "task=segmentation: a U-Net on the real 38-Cloud patches, with per-pixel metrics and a prediction figure."
    out = tmp_path/'run'
    run(tmp_path, task='segmentation', data='cloud38_landsat8', model='eo_cnn_small', epochs=1, bs=16, out_dir=str(out))
    m = json.loads((out/'metrics.json').read_text())
    v = m['valid']
    assert {'pixel_accuracy', 'miou', 'f1_macro', 'per_class', 'confusion_matrix', 'n_pixels'} <= set(v)
    assert v['classes'] == ['clear', 'cloud'] and sum(map(sum, v['confusion_matrix'])) == v['n_pixels'] > 0
    assert 0 <= v['miou'] <= 1 and set(v['per_class']['cloud']) == {'iou', 'f1', 'recall', 'support'}
    import torch
    state = torch.load(out/'model.pth', weights_only=True)
    assert state['task'] == 'segmentation' and state['bands'] == ['red', 'green', 'blue', 'nir']
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['status'] == 'complete' and cfg['params']['task'] == 'segmentation' and cfg['params']['mixup'] == -1
    for f in ['history.csv', 'predictions.png', 'confusion_matrix.png', 'best.pth', 'last.pth']: assert (out/f).stat().st_size > 0
    hist = (out/'history.csv').read_text().splitlines()
    assert hist[0].startswith('epoch,train_loss,valid_loss,pixel_accuracy,miou,f1_macro')

@pytest.mark.parametrize('params,message', [
    (dict(task='segmentaton'), "Did you mean 'segmentation'"),
    (dict(task='segmentation', data='sample'), "cannot serve task='segmentation'"),
    (dict(task='segmentation', model='ltae', data=str(CLOUD38)), "model='ltae' does not fit task='segmentation'"),
])
def test_bad_task_parameters_fail_before_any_output(tmp_path, params, message):
    out = tmp_path/'run'
    with pytest.raises(PapermillExecutionError, match=message): run(tmp_path, out_dir=str(out), **params)
    assert not out.exists()

SITS = (shared_data() or ROOT.parent/'shared'/'data')/'sits_timeseries'/'samples_modis_ndvi.npz'

@pytest.mark.skipif(not SITS.exists(), reason=f'real data {SITS} not found (set EO_NB_SHARED_DATA)')
def test_pixel_series_run_on_sits(tmp_path):
    "task=pixel_series: a temporal model on real MODIS NDVI pixel series, classification metrics by class name."
    out = tmp_path/'run'
    run(tmp_path, task='pixel_series', model='tempcnn', data='sits_timeseries/samples_modis_ndvi.npz', epochs=2, bs=64, out_dir=str(out))
    m = json.loads((out/'metrics.json').read_text())
    assert set(m['valid']) == SECTION_KEYS and m['valid']['classes'] == ['Cerrado', 'Forest', 'Pasture', 'Soy_Corn']
    assert m['valid']['n'] == 244
    import torch
    state = torch.load(out/'model.pth', weights_only=True)
    assert state['arch'] == 'tempcnn' and state['bands'] == ['NDVI']

BEN = (shared_data() or ROOT.parent/'shared'/'data')/'bigearthnet_examples'/'BigEarthNet-S2-Example'

@pytest.mark.skipif(not BEN.exists(), reason=f'real data {BEN} not found (set EO_NB_SHARED_DATA)')
def test_multilabel_run_on_bigearthnet_examples(tmp_path):
    "task=multilabel: sigmoid head and per-label scores on the six real BigEarthNet patches (mechanics: six patches prove no accuracy)."
    out = tmp_path/'run'
    run(tmp_path, task='multilabel', data='bigearthnet_examples/BigEarthNet-S2-Example', model='eo_cnn_small', epochs=1, bs=4,
        valid_pct=0.34, bands='B02,B03,B04,B08', out_dir=str(out))
    v = json.loads((out/'metrics.json').read_text())['valid']
    assert {'f1_micro', 'f1_macro', 'map', 'subset_accuracy', 'per_class', 'classes'} <= set(v) and v['n'] == 2
    assert set(next(iter(v['per_class'].values()))) == {'precision', 'recall', 'f1', 'ap', 'support'}
    assert not (out/'confusion_matrix.png').exists() and (out/'model.pth').exists()

EOP = (shared_data() or ROOT.parent/'shared'/'data')/'eolearn_s2_timeseries'/'TestEOPatch'

@pytest.mark.skipif(not EOP.exists(), reason=f'real data {EOP} not found (set EO_NB_SHARED_DATA)')
def test_timeseries_run_on_eopatch(tmp_path):
    "task=timeseries: U-TAE maps from the real 68-date eo-learn patch, cloudy dates masked (mechanics: 25 chips prove no accuracy)."
    out = tmp_path/'run'
    run(tmp_path, task='timeseries', model='utae', data='eolearn_s2_timeseries/TestEOPatch', chip_size=20, epochs=1, bs=4, out_dir=str(out))
    v = json.loads((out/'metrics.json').read_text())['valid']
    assert {'pixel_accuracy', 'miou', 'per_class', 'confusion_matrix'} <= set(v) and v['n_pixels'] > 0
    import torch
    assert torch.load(out/'model.pth', weights_only=True)['arch'] == 'utae'

@needs_subset
def test_finetune_from_a_torchgeo_style_file_by_band_name(tmp_path):
    "-p pretrained with -p pretrained_bands: a raw timm state dict whose bands are in another order (and lack one) fine-tuned on 5 bands, the first layer mapped by name."
    import torch, timm
    from eo_nb.experiment import check_params, task_dataloaders, experiment_learner
    ck = ['B08', 'B11', 'B02', 'B04', 'B03', 'B12']                  # the file's bands: not the data's order, and no B05
    src = timm.create_model('resnet18', in_chans=len(ck), num_classes=10)
    torch.save({'state_dict': {f'model.{k}': v for k, v in src.state_dict().items()}}, tmp_path/'tg.pth')
    bands, w = ['B04', 'B03', 'B02', 'B08', 'B05'], src.conv1.weight.detach()
    want = torch.stack([w[:, ck.index(b)] if b in ck else w.mean(1) for b in bands], 1)   # by name; B05, not in the file: the mean kernel
    params = dict(model='resnet18', data=str(SUBSET), bands=','.join(bands), epochs=1, bs=16, pretrained=str(tmp_path/'tg.pth'),
                  pretrained_bands=','.join(ck))
    # step 0: the learner the run builds (check_params -> task_dataloaders -> experiment_learner), before any training
    p = check_params(**params, out_dir=str(tmp_path/'step0'))
    learn = experiment_learner(p, task_dataloaders(p, device='cpu'), tensorboard=False)
    torch.testing.assert_close(learn.model.conv1.weight.detach().cpu(), want, rtol=0, atol=0)
    # the run itself, with a learning rate too small to move the weights: its model.pth has the same first layer
    out = tmp_path/'run'
    run(tmp_path, **params, lr=1e-9, tta=False, out_dir=str(out))
    torch.testing.assert_close(torch.load(out/'model.pth', weights_only=True)['model']['conv1.weight'], want, rtol=0, atol=1e-5)
    assert json.loads((out/'config.json').read_text())['params']['pretrained_bands'] == ','.join(ck)
    with pytest.raises(PapermillExecutionError, match='give pretrained too'):
        run(tmp_path, pretrained_bands=','.join(ck), out_dir=str(tmp_path/'run2'))
