"""The sweep files shipped in sweeps/ stay valid as run.ipynb's parameters change (checked, not run)."""
from pathlib import Path
import pytest
from eo_nb.sweep import load_sweep

FILES = sorted(p for p in (Path(__file__).resolve().parents[1]/'sweeps').glob('*') if p.suffix in ('.yaml', '.yml', '.toml'))

@pytest.mark.parametrize('path', FILES, ids=[p.name for p in FILES])
def test_sweep_file_is_valid(path, tmp_path):
    sw = load_sweep(path, out_root=tmp_path)
    assert sw['runs'] and len({r['id'] for r in sw['runs']}) == len(sw['runs'])

def test_example_exists():
    assert any(p.name == 'example.yaml' for p in FILES)
