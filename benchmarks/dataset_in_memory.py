"""Should small eo_nb datasets be served from RAM instead of their memory-mapped shards? Random batches of 64 through
`eo_nb.loaders.TaskDataset.get_batch` (float32 training batches) from the shards (memmap, warm page cache) and from
the same shards loaded into RAM arrays, interleaved, same process, same batches.

    .venv/bin/python benchmarks/dataset_in_memory.py            # writes benchmarks/results/dataset_in_memory.json
"""
import argparse, os, platform, sys, tempfile, time
from pathlib import Path
import numpy as np

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batches', type=int, default=200)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'dataset_in_memory.json'))
    a = ap.parse_args(argv)
    os.environ.setdefault('EO_NB_DATA', tempfile.mkdtemp(prefix='eo_nb_inmem_'))
    import torch
    from eo_nb.core import write_json, shared_data
    from eo_nb.convert import create_dataset
    from eo_nb.synthetic import make_sample
    from eo_nb.loaders import TaskDataset
    torch.set_num_threads(1)
    sources = [('sample (240 tiles, 13x64x64 uint16)', make_sample(Path(os.environ['EO_NB_DATA'])/'sample'), 'classification', 64)]
    sd = shared_data()
    if sd: sources += [('sits MODIS NDVI (1218 series, 12x1)', sd/'sits_timeseries'/'samples_modis_ndvi.npz', 'pixel_series', 64),
                       ('38-Cloud chips (216 chips, 4x64x64 uint16)', sd/'cloud38_landsat8', 'segmentation', 16)]
    rows = []
    for name, src, task, bs in sources:
        ds = create_dataset(src, progress=False, **({'size': 64} if task == 'segmentation' else {}))
        v = TaskDataset(ds, np.arange(len(ds)), task)
        rng = np.random.default_rng(0)
        batches = [rng.choice(len(ds), min(bs, len(ds)), replace=False) for _ in range(a.batches)]
        def rate():
            t0 = time.perf_counter()
            for b in batches: v.get_batch(b)
            return len(batches) * len(batches[0]) / (time.perf_counter() - t0)
        for b in batches[:10]: v.get_batch(b)                            # warm the page cache and open every shard
        mm = dict(ds._mm); ram = {k: np.array(m) for k, m in mm.items()}
        res = {'memmap': [], 'ram': []}
        for _ in range(a.rounds):                                          # interleaved: both see the same machine state
            ds._mm = mm; res['memmap'].append(rate())
            ds._mm = ram; res['ram'].append(rate())
        ds._mm = mm
        r = dict(dataset=name, task=task, n=len(ds), bs=len(batches[0]), memmap_samples_s=round(float(np.median(res['memmap']))),
                 ram_samples_s=round(float(np.median(res['ram']))), ram_vs_memmap=round(float(np.median(res['ram']) / np.median(res['memmap'])), 3),
                 rounds=res)
        rows.append(r)
        print(f"{name}: memmap {r['memmap_samples_s']} samples/s, RAM {r['ram_samples_s']} samples/s, RAM/memmap {r['ram_vs_memmap']}")
    write_json(a.out, dict(command=' '.join([sys.executable.split('/')[-1], *sys.argv]), machine=dict(cpus=os.cpu_count(), platform=platform.platform()),
                           torch_threads=1, results=rows,
                           notes="Warm page cache: a small dataset's shards are already in RAM as file pages; loading them into anonymous "
                                 "arrays adds a copy and saves nothing. The CPU was shared with other jobs during the measurement."))

if __name__ == '__main__': main()
