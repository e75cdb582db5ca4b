"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs Quarto, which cannot be installed here).

Markdown cells are copied; code cells become ```python blocks followed by their text outputs.
    python tools/make_readme.py [--check]   # --check: exit 1 if README.md is out of date
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb')->str:
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb['cells']:
        src = ''.join(c['source']).rstrip()
        if c['cell_type'] == 'markdown': out.append(src.replace('](images/', '](nbs/images/'))   # pictures live in nbs/images
        elif c['cell_type'] == 'code' and src and not src.startswith('#| hide'):
            out.append(f"```python\n{src}\n```")
            for o in c.get('outputs', []):
                txt = ''.join(o.get('text', '') or o.get('data', {}).get('text/markdown', '') or o.get('data', {}).get('text/plain', ''))
                if txt.strip(): out.append(f"```\n{txt.rstrip()}\n```")
    return '<!-- WARNING: generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook, not this file -->\n\n' + '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text: sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: readme.write_text(text); print(f'wrote {readme}')
