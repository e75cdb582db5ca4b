"""Check that every figure quoted in README.md and benchmarks/README.md is backed by a committed results file.

    python tools/check_figures.py            # report; exit 1 if a figure is unbacked or a named command is missing
    python tools/check_figures.py --list     # also list every figure found and what backs it

What is a figure (the rule, applied line by line outside code):
- every decimal number (0.835, 1.94×, 63.1, 5.0 s), and every whole number that carries a unit of measure
  (%, ×, s, ms, min, MB, GB, KB, MB/s, chips/s, tiles/s, samples/s, series/s, runs/min, points), also in a table
  column whose header names such a unit (e.g. `chips/s`);
- ranges (66–378 s, 0.7–1.6 points) count as two figures, each with the range's unit; a leading minus (-3.4, −3.4)
  is part of the figure; a table column headed "(% points)" gives its cells the unit points;
- table header rows count too (e.g. "share of pure decompression (388 MB/s)").
Not figures (skipped, each for a stated reason):
- code: fenced and indented code blocks, `inline code`, link targets, HTML comments (commands and names);
- whole numbers without a unit: counts and dataset facts (120 tiles, 13 bands, 3 seeds, 30 epochs, 2 cores);
- parts of names and dimensions: Landsat-8, ResNet-18, B04, 13-band, 64×64, 32768²;
- versions (torch 2.14.1, Python 3.11, v0.1, "what 0.2 removed"), thresholds and goals (≥ 0.97, < 2 GB,
  goal columns), settings named by their parameter (lr 3e-3, temperature 0.2, MixUp 0.4, dropout 0.1),
  confidence levels ("95 % confidence interval", "95 % CI");
- the parameter table (its defaults are checked against `eo_nb.params.PARAMS` instead) and the generated
  hardening table (checked by `tools/hardening_table.py --check`).
A figure is backed when a number in a results file of its block, rounded to the digits shown, equals it
(a percentage or "points" figure may also be 100× the stored number; MB/GB/KB and ms allow the unit's scale). A block
is the text under one heading; its results files are those it names (`results/NAME.json`) and those of the scripts
it names (`benchmarks/NAME.py` or `NAME.py` → results/NAME.json, results/NAME_*.json). Every named script and results
file must exist. Means and margins over seeds are `summary` entries the benchmark scripts compute from their rows.
Any other figure needs its own entry in benchmarks/published.json (figure, doc, a text of its line, kind, source);
an entry is consulted before the results files, so a published number is never "backed" by a coincidence:
- published: another paper's number, with its citation;
- history: an earlier measurement, naming its commit; with `results`, checked in that file at that commit (git show);
- notebook: checked in the saved outputs of the named notebook;
- setting / fact / reference: a chosen value of the method, a fact of the data or machine (with `results`, checked
  there), the 1× of a ratio column.
An entry that matches no line is an error, so the list cannot go stale.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ['README.md', 'benchmarks/README.md']
RESULTS = ROOT/'benchmarks'/'results'
ALLOW = ROOT/'benchmarks'/'published.json'

UNIT = r'(?:%|×(?!\d)|ms\b|s\b|min\b|MB/s|GB/s|MB\b|GB\b|KB\b|chips/s|tiles/s|samples/s|series/s|runs/min|points?\b)'
HEADER_UNIT = re.compile(r'chips/s|tiles/s|samples/s|series/s|\bMB\b|\bGB\b|\bseconds\b|\bs\b|\btime\b|\btraining\b|%')
NUM = r'\d{1,3}(?: \d{3})+(?!\d)|\d+(?:\.\d+)?'                 # 64 597 (thin groups), 0.835, 42
FIG = re.compile(rf'(?P<num>{NUM})(?:\s*–\s*(?P<num2>{NUM}))?(?P<unit>\s?{UNIT})?')
NAME_BEFORE = re.compile(r'[A-Za-z0-9_/.:\-]$|[×²]\s*$')        # Landsat-8, B04, 64×64, 1/36
NAME_AFTER = re.compile(r'^(?:[A-Za-z_\-/²]|\.\d|\s?×\s*[\d(]|:\d|\'s)')  # 13-band, 32N, 2.14.1, 64×64, 2 433 × (40, ..), 0.1's
VERSION_BEFORE = re.compile(r'(?:python|torch|torchgeo|torchvision|fastai|nbdev|timm|numpy|rasterio|kornia|lightning|'
                            r'tested on|upgrading from|what|before|measured before|TorchGeo)\s*[≥>=]*\s*$', re.I)
BOUND_BEFORE = re.compile(r'(?:[≥≤<>]|at least|at most|goal|below|above|under)\s*$', re.I)
SETTING_BEFORE = re.compile(r'(?:\bvalid|\blr|\bwd|dropout|noise|temperature|smoothing|α|MixUp|crop|valid_pct|every|gain ±|'
                            r'threshold|stride|overlap|bs|batch)\s*$', re.I)

LEVEL_AFTER = re.compile(r'^\s*(?:confidence|CIs?\b)', re.I)

def strip_code(line):
    "The line with inline code, link targets and HTML comments blanked (same length, so columns stay put)."
    blank = lambda m: ' ' * len(m.group(0))
    line = re.sub(r'`[^`]*`', blank, line)
    line = re.sub(r'\]\([^)]*\)', blank, line)
    return re.sub(r'<!--.*?-->', blank, line)

def doc_lines(path):
    "Yield (line number, text, table context) of a markdown file's prose and table lines, code blocks left out."
    lines = (ROOT/path).read_text().splitlines()
    fenced, generated, header = False, False, None
    for i, raw in enumerate(lines, 1):
        if raw.lstrip().startswith('```'): fenced = not fenced; continue
        if 'hardening-table:start' in raw: generated = True
        if 'hardening-table:end' in raw: generated = False; continue
        if fenced or generated or raw.startswith('    '): continue
        if raw.startswith('|'):
            cells = [c.strip() for c in raw.strip().strip('|').split('|')]
            nxt = lines[i] if i < len(lines) else ''
            if re.match(r'^\|[\s\-:|]+\|$', nxt.strip()): header = cells; yield i, raw, ('header', header); continue
            if re.match(r'^\|[\s\-:|]+\|$', raw.strip()): continue
            yield i, raw, ('row', header)
        else:
            header = None
            yield i, raw, None

def cell_spans(raw):
    "Character spans of a table row's cells."
    bars = [m.start() for m in re.finditer(r'(?<!\\)\|', raw)]
    return list(zip(bars[:-1], bars[1:]))

def parse_num(s): return float(s.replace(' ', ''))

def figures_in(raw, table=None):
    "The figures of one line: dicts with text, value, decimals, unit, col."
    text = strip_code(raw)
    spans = cell_spans(raw) if table else []
    out = []
    for m in FIG.finditer(text):
        before = text[:m.start()]
        num, num2, unit = m.group('num'), m.group('num2'), (m.group('unit') or '').strip()
        col = next((k for k, (a, b) in enumerate(spans) if a < m.start() < b), None)
        neg = bool(re.search(r'(?:^|[\s(\[|])[−-]$', before))          # a signed figure: -3.4, −3.4 (not B04-3)
        if neg: before = before[:-1] + ' '
        if NAME_BEFORE.search(before) or NAME_AFTER.match(text[m.end('num2') if num2 else m.end('num'):]): continue
        if VERSION_BEFORE.search(before) or BOUND_BEFORE.search(before) or SETTING_BEFORE.search(before): continue
        if LEVEL_AFTER.match(text[m.end():]): continue                # "95 % confidence interval": a chosen level, not a result
        head = table[1][col] if table and table[0] == 'row' and col is not None and table[1] and col < len(table[1]) else ''
        if re.match(r'\W*goal', head, re.I): continue                  # a column of goals
        if not unit and re.search(r'\bpoints\b', head): unit = 'points'   # a column of "% points"
        for i, n in enumerate([num, num2] if num2 else [num]):
            dec = '.' in n
            if not (dec or unit or (head and HEADER_UNIT.search(head))): continue
            out.append(dict(text=('-' if neg and i == 0 else '') + n, value=(-1 if neg and i == 0 else 1) * parse_num(n), decimals=len(n.split('.')[1]) if dec else 0, unit=unit, col=col))
    return out

def numbers(obj):
    "Every number in a parsed JSON value (booleans are not numbers)."
    if isinstance(obj, bool): return
    if isinstance(obj, (int, float)): yield float(obj)
    elif isinstance(obj, dict):
        for v in obj.values(): yield from numbers(v)
    elif isinstance(obj, list):
        for v in obj: yield from numbers(v)

def load_results():
    "results file name -> sorted numbers it holds; a file that is not JSON is an error naming it."
    out = {}
    for f in sorted(RESULTS.glob('*.json')):
        try: out[f.name] = sorted(set(numbers(json.loads(f.read_text()))))
        except json.JSONDecodeError as e: sys.exit(f'{f}: not valid JSON ({e}); rewrite it with the command that makes it')
    return out

SCALES = {'%': (1, 100), 'points': (1, 100), 'point': (1, 100), 'ms': (1, 1000), 'GB': (1, 1/1000, 1/1024), 'MB': (1, 1000, 1024), 'KB': (1, 1/1000, 1/1024)}

def backs(x, fig):
    "Does stored number `x` back the figure (equal after rounding to the digits shown, with the unit's scales)?"
    tol = 0.5 * 10**-fig['decimals'] * (1 + 1e-9) + 1e-12
    return any(abs(round(x * k, 12) - fig['value']) <= tol for k in SCALES.get(fig['unit'], (1,)))

KINDS = {'published': "another paper's number, with its citation",
         'history': 'an earlier measurement (name the commit; with `results`, checked in that commit\'s file)',
         'notebook': 'a value printed by a notebook (checked in its saved outputs)',
         'setting': 'a chosen setting of the method, not a result',
         'fact': 'a fact of the data or machine, not a result (with `results`, checked there)',
         'reference': 'the reference of a ratio column (1× by definition)'}

def load_allowlist():
    "The explicit entries of benchmarks/published.json, each checked for its fields."
    if not ALLOW.exists(): return []
    entries = json.loads(ALLOW.read_text())['figures']
    for e in entries:
        miss = [k for k in ('figure', 'doc', 'context', 'kind', 'source') if not str(e.get(k, '')).strip()]
        if miss: sys.exit(f'{ALLOW}: entry {e} lacks {miss}: every allowed figure names its line (context), kind and source')
        if e['kind'] not in KINDS: sys.exit(f"{ALLOW}: entry {e['figure']!r} has kind {e['kind']!r}; use one of {sorted(KINDS)}")
        if e['kind'] == 'history' and not e.get('commit'): sys.exit(f"{ALLOW}: history entry {e['figure']!r} names no commit")
        if e['kind'] == 'notebook' and not e.get('notebook'): sys.exit(f"{ALLOW}: notebook entry {e['figure']!r} names no notebook")
    return entries

def _git_show(commit, path):
    import subprocess
    r = subprocess.run(['git', '-C', str(ROOT), 'show', f'{commit}:{path}'], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def _has_commit(commit):
    import subprocess
    r = subprocess.run(['git', '-C', str(ROOT), 'cat-file', '-e', f'{commit}^{{commit}}'], capture_output=True)
    return r.returncode == 0

def entry_holds(e, fig):
    "True when the entry's own evidence backs the figure, False when it contradicts it, None when it cannot be read here."
    if e.get('commit') and not _has_commit(e['commit']): return None      # no git here, or a shallow clone
    if e.get('results') and (e.get('commit') or (ROOT/e['results']).exists()):
        text = _git_show(e['commit'], e['results']) if e.get('commit') else (ROOT/e['results']).read_text()
        if text is None: return None                                   # a shallow clone: the commit is not here
        return any(backs(x, fig) for x in numbers(json.loads(text)))
    if e.get('notebook'):
        nb = json.loads((ROOT/e['notebook']).read_text())
        outs = ' '.join(''.join(o.get('text', '')) for c in nb['cells'] for o in c.get('outputs', []))
        return any(backs(parse_num(n), fig) for n in re.findall(r'\d+(?:\.\d+)?', outs))
    return True

SCRIPT = re.compile(r'(?<![\w/.])((?:[A-Za-z0-9_\-]+/)*[A-Za-z0-9_]+\.py)\b')
RESULT = re.compile(r'results/([A-Za-z0-9_.\-]+\.json)')

def blocks(doc):
    "Split a document into blocks (the lines under one heading): list of dicts with heading, lines, scripts, results."
    out, cur, fenced = [], None, False
    for i, raw in enumerate((ROOT/doc).read_text().splitlines(), 1):
        if raw.lstrip().startswith('```'): fenced = not fenced
        if (re.match(r'#{1,6} ', raw) and not fenced) or cur is None:
            cur = dict(heading=raw.strip('# ').strip() or '(top)', line=i, scripts=set(), results=set()); out.append(cur)
        cur['scripts'] |= {(m, i) for m in SCRIPT.findall(raw)}
        cur['results'] |= {(m, i) for m in RESULT.findall(raw)}
    return out

def script_path(name, doc):
    "Where a named script lives: as written when it has a folder, else in benchmarks/."
    return ROOT/name if '/' in name else ROOT/'benchmarks'/name

def block_files(block, doc, results):
    "The results files a block names, directly or through its benchmark scripts."
    files = {r for r, _ in block['results'] if r in results}
    for s, _ in block['scripts']:
        p = script_path(s, doc)
        if p.parent.name != 'benchmarks': continue
        files |= {f for f in results if f == p.stem + '.json' or f.startswith(p.stem + '_')}
    return files

def check_params_table(doc, problems):
    "The parameter table's defaults against eo_nb.params.PARAMS (its numbers are code defaults, not results)."
    rows = [(i, raw) for i, raw, t in doc_lines(doc) if t and t[0] == 'row' and t[1][:2] == ['parameter', 'default']]
    try: from eo_nb.params import PARAMS
    except ImportError: return rows                                     # eo_nb not installed: the table is skipped unchecked
    for i, raw in rows:
        cells = [c.strip() for c in raw.strip().strip('|').split('|')]
        names = re.findall(r'`([a-z_0-9]+)`', cells[0])
        vals = [v.strip().strip('`') for v in cells[1].split(', ')] if len(names) > 1 else [cells[1].strip().strip('`')]
        if len(vals) == 1: vals = vals * len(names)                     # one default shared by all the row's names
        if len(vals) != len(names): problems.append((f'{doc}:{i}', cells[1], f'{len(names)} parameters but {len(vals)} defaults')); continue
        for n, v in zip(names, vals):
            if n not in PARAMS: problems.append((f'{doc}:{i}', n, 'not a parameter of eo_nb.params.PARAMS')); continue
            d = PARAMS[n].default
            v = '' if v == '""' else v
            same = (str(d) == v) if isinstance(d, (str, bool)) else (float(v) == float(d) if re.fullmatch(r'-?[\d.e\-+]+', v) else False)
            if not same: problems.append((f'{doc}:{i}', f'{n} = {v}', f'the code default is {d!r} (eo_nb.params.PARAMS)'))
    return rows

def check():
    "Every figure of the documents with what backs it; returns (figures, problems)."
    results, allow = load_results(), load_allowlist()
    used, figs, problems = set(), [], []
    for doc in DOCS:
        bl = blocks(doc)
        for b in bl:
            for s, i in sorted(b['scripts']):
                if not script_path(s, doc).exists(): problems.append((f'{doc}:{i}', s, 'names a script that does not exist'))
            for r, i in sorted(b['results']):
                if r not in results: problems.append((f'{doc}:{i}', r, 'names a results file that is not in benchmarks/results/'))
        params_lines = {i for i, _ in (check_params_table(doc, problems) or [])}
        starts = [b['line'] for b in bl]
        for i, raw, t in doc_lines(doc):
            if i in params_lines: continue
            b = bl[max(k for k, s in enumerate(starts) if s <= i)]
            files = block_files(b, doc, results)
            for f in figures_in(raw, t):
                where, shown = f'{doc}:{i}', f['text'] + (' ' + f['unit'] if f['unit'] else '')
                hit = None                       # an explicit entry comes first: a published figure is never "backed" by a coincidence
                e = next((k for k, e in enumerate(allow) if e['doc'] == doc and e['figure'] == f['text'] and e['context'] in raw), None)
                if e is not None:
                    used.add(e); held = entry_holds(allow[e], f)
                    note = f" (commit {allow[e].get('commit')} absent here: not checked)" if held is None else ''
                    hit = 'UNBACKED' if held is False else f"{allow[e]['kind']}{note}: {allow[e]['source']}"
                    if held is False:
                        src = allow[e].get('results') or allow[e].get('notebook') or 'git'
                        problems.append((where, shown, f"allowlisted as {allow[e]['kind']}, but {src} at {allow[e].get('commit', 'HEAD')} does not hold it"))
                if hit is None: hit = next((f'results/{n}' for n in sorted(files) if any(backs(x, f) for x in results[n])), None)
                if hit is None:
                    other = [n for n in results if n not in files and any(backs(x, f) for x in results[n])]
                    if not b['scripts'] and not b['results']: why = f"block '{b['heading']}' names no command or results file"
                    elif other: why = f"only in results/{other[0]}, which block '{b['heading']}' does not name"
                    else: why = f"in no results file of block '{b['heading']}' ({', '.join(sorted(files)) or 'none'})"
                    problems.append((where, shown, why))
                figs.append((where, shown, hit or 'UNBACKED'))
    for k, e in enumerate(allow):
        if k not in used: problems.append((str(ALLOW.relative_to(ROOT)), e['figure'], f"allowlist entry matches no line of {e['doc']} containing {e['context']!r}: remove it or fix its context"))
    return figs, problems

def main():
    figs, problems = check()
    if '--list' in sys.argv:
        for w, s, h in figs: print(f'{w:28} {s:>14}  {h}')
        print()
    backed = sum(h != 'UNBACKED' for _, _, h in figs)
    print(f'{len(figs)} figures in {", ".join(DOCS)}: {backed} backed, {len(figs) - backed} not; {len(problems)} problems')
    for w, s, why in problems: print(f'  {w}: {s}: {why}')
    sys.exit(1 if problems else 0)

if __name__ == '__main__': main()
