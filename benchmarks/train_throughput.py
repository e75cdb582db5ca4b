"""Training throughput of the eo_nb learner vs a bare PyTorch loop, and data loading vs training.

Both loops train the same model (same initial weights) on the same DataLoader (same batches, same on-device
normalisation and augmentation) with AdamW at a constant learning rate, one epoch at a time, alternating
(eo_nb, bare, eo_nb, bare, ...) so that machine noise hits both alike; the median epoch rate is reported.
Only the training phase is timed (fastai's validation pass is excluded via the learner's timing callback).
The data-loading rate is the DataLoader alone, iterated with the same transforms and no model. The DataLoader is
`eo_nb.loaders.dataloaders` over the folder's eo_nb dataset (memory-mapped shards, converted once); the committed
`results/train_throughput.json` predates it (v0.1's in-memory loader).

    python benchmarks/train_throughput.py [--models eo_cnn resnet18] [--bs 64] [--repeats 5] [--out benchmarks/results/train_throughput.json]
"""
import argparse, copy, json, statistics, time
from pathlib import Path
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from eo_nb.core import write_json
from eo_nb.data import resolve_data
from eo_nb.loaders import dataloaders
from eo_nb.learner import eo_learner

class _TrainTimer(Callback):
    "Wall time of the training phase of each epoch."
    order = -100
    def before_fit(self): self.times = []
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self):
        if self.learn.dls.device.type == 'cuda': torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.t0)

def bare_epoch(model, dl, opt, loss_fn):
    "One epoch of the textbook PyTorch loop over `dl`; returns its wall time."
    model.train(); t0 = time.perf_counter()
    for xb, yb in dl:
        loss = loss_fn(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad()
    if xb.device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0

def loading_epoch(dl):
    t0 = time.perf_counter(); n = 0
    for xb, yb in dl: n += len(xb)
    if xb.device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0

def bench(model_name, dls, repeats, lr=1e-3, wd=0.05):
    n = len(dls.train) * dls.train.bs
    learn = eo_learner(dls, model_name, seed=0, label_smoothing=0, wd=wd)
    learn.remove_cb(ProgressCallback)
    timer = _TrainTimer(); learn.add_cb(timer)
    bare = copy.deepcopy(learn.model)
    opt = torch.optim.AdamW(bare.parameters(), lr=lr, weight_decay=wd)
    loss_fn = torch.nn.CrossEntropyLoss()
    learn.fit(1, lr); bare_epoch(bare, dls.train, opt, loss_fn); loading_epoch(dls.train)   # warm-up
    fa, pt, ld = [], [], []
    for _ in range(repeats):
        learn.fit(1, lr); fa.append(timer.times[-1])
        pt.append(bare_epoch(bare, dls.train, opt, loss_fn))
        ld.append(loading_epoch(dls.train))
    r = dict(model=model_name, images_per_epoch=n, eo_nb_img_s=n / statistics.median(fa), bare_img_s=n / statistics.median(pt),
             loading_img_s=n / statistics.median(ld))
    r['ratio_eo_nb_vs_bare'] = r['eo_nb_img_s'] / r['bare_img_s']
    r['loading_vs_training'] = r['loading_img_s'] / r['eo_nb_img_s']
    return r

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='sample'); ap.add_argument('--models', nargs='+', default=['eo_cnn', 'resnet18'])
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--out', default='')
    a = ap.parse_args()
    torch.manual_seed(0)
    dls = dataloaders(resolve_data(a.data), 'classification', bs=a.bs, valid_pct=0.2, seed=0, progress=False)   # whole tiles (crop 1)
    rows = []
    for m in a.models:
        rows.append(bench(m, dls, a.repeats)); print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()}), flush=True)
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f'CPU ({torch.get_num_threads()} threads)'
    res = dict(args=vars(a), device=dev, torch=torch.__version__, rows=rows)
    if a.out: write_json(a.out, res)

if __name__ == '__main__': main()
