"""Notebook rules that keep the docs build fast and correct.

`nbdev_proc_nbs` (used by `nbdev_docs` and tools/build_docs.py) executes every cell that contains an import, to
render `show_doc`. A test cell that mixes imports with other code would then run (training models, reading data)
during the docs build, without the cells it depends on. Imports of examples and tests live in the hidden import
cell at the top of each library notebook instead.
"""
import ast, json
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1]/'nbs'
LIB = sorted(p for p in NBS.glob('[0-9]*.ipynb'))
EXEC_DIRS = {'export', 'exports', 'exporti', 'exec_doc'}

def _mixed_cells(path):
    nb = json.loads(path.read_text())
    for i, c in enumerate(nb['cells']):
        src = ''.join(c['source'])
        if c['cell_type'] != 'code' or 'nbdev.showdoc' in src or 'nbdev_export()' in src: continue
        dirs = {l[3:].split(':')[0].split()[0] for l in src.splitlines() if l.startswith('#| ') and l[3:].strip()}
        if dirs & EXEC_DIRS: continue
        try: tree = ast.parse(src)
        except SyntaxError: continue
        has_import = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
        if has_import and not all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in tree.body): yield i, src.splitlines()[0]

@pytest.mark.parametrize('path', LIB, ids=[p.stem for p in LIB])
def test_no_test_cell_mixes_imports_with_code(path):
    bad = list(_mixed_cells(path))
    assert not bad, (f"{path.name}: cells {[i for i, _ in bad]} mix imports with other code, so nbdev_proc_nbs / nbdev_docs "
                     f"would execute them (first: {bad[0][1]!r}). Move the imports to the hidden import cell at the top.")

def test_the_rule_catches_a_mixed_cell(tmp_path):
    p = tmp_path/'99_x.ipynb'
    p.write_text(json.dumps({'cells': [{'cell_type': 'code', 'source': ['import numpy as np\n', 'x = np.ones(3)'], 'metadata': {}}]}))
    assert [i for i, _ in _mixed_cells(p)] == [0]
