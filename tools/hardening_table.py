"""The hardening table of the docs: every test marked `@pytest.mark.case(component, kind, guarantee)` counted per
component and kind, with what each group guarantees. It lives in nbs/index.ipynb (hence README.md) between the
markers below; parametrised tests count once per case.

    python tools/hardening_table.py           # collect the tests (no test runs), rewrite the table in nbs/index.ipynb
    python tools/hardening_table.py --check   # exit 1 if the table is out of date
"""
import json, os, subprocess, sys, tempfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = '<!-- hardening-table:start -->', '<!-- hardening-table:end -->'
KINDS = ['fault', 'bad_input', 'property', 'trust']

def collect()->list:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)/'cases.json'
        r = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', str(ROOT/'tests')],
                           cwd=ROOT, env=dict(os.environ, EO_NB_CASES=str(out)), capture_output=True, text=True)
        if not out.exists(): sys.exit(f'pytest collection failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}')
        return json.loads(out.read_text())

def table(cases)->str:
    groups = OrderedDict()
    for c in sorted(cases, key=lambda c: (c.get('component', '?'), KINDS.index(c['kind']) if c.get('kind') in KINDS else 9)):
        g = groups.setdefault((c.get('component', '?'), c.get('kind', '?')), dict(n=0, guarantees=[]))
        g['n'] += 1
        if c.get('guarantee') and c['guarantee'] not in g['guarantees']: g['guarantees'].append(c['guarantee'])
    tot = {k: sum(g['n'] for (_, kk), g in groups.items() if kk == k) for k in KINDS}
    rows = ['| component | kind | cases | what is guaranteed |', '|---|---|---|---|']
    rows += [f"| {comp} | {kind.replace('_', ' ')} | {g['n']} | {'; '.join(g['guarantees'])} |" for (comp, kind), g in groups.items()]
    rows.append(f"| **all** | | **{sum(tot.values())}** | " + ', '.join(f"{v} {k.replace('_', ' ')}" for k, v in tot.items()) + ' |')
    return '\n'.join(rows)

def update(nb_path, text, check=False)->bool:
    nb = json.loads(Path(nb_path).read_text())
    for c in nb['cells']:
        src = ''.join(c['source'])
        if START in src and END in src:
            new = src[:src.index(START) + len(START)] + '\n' + text + '\n' + src[src.index(END):]
            if new == src: return True
            if check: return False
            c['source'] = new.splitlines(True)
            tmp = Path(str(nb_path) + '.tmp'); tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n'); os.replace(tmp, nb_path)
            return True
    sys.exit(f'{nb_path} has no {START} ... {END} block')

if __name__ == '__main__':
    text = table(collect())
    if '--check' in sys.argv:
        if not update(ROOT/'nbs'/'index.ipynb', text, check=True): sys.exit('The hardening table is out of date: run python tools/hardening_table.py')
    else: update(ROOT/'nbs'/'index.ipynb', text); print(text)
