"""Trust: nothing in eo_nb runs code from a data file (a static audit of eo_nb/*.py, and pickled checkpoints refused by
every loader), archives cannot write outside their folder, and the JupyterLab the tests start is local and token-protected."""
import ast, builtins, io, os, socket, stat, subprocess, sys, tarfile, tempfile, time, urllib.error, urllib.request, zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from eo_nb.download import MARKER, UnsafeArchiveError, extract_archive

ROOT = Path(__file__).resolve().parents[1]
case = pytest.mark.case


# ---------------------------------------------------------------- static audit of eo_nb/*.py
BANNED = {  # call -> why it is refused
    **{f'{m}.{f}': 'unpickles' for m in ('pickle', '_pickle', 'cloudpickle', 'dill') for f in ('load', 'loads', 'Unpickler')},
    'joblib.load': 'unpickles', 'pandas.read_pickle': 'unpickles', 'shelve.open': 'unpickles',
    'marshal.load': 'loads code objects', 'marshal.loads': 'loads code objects',
    'yaml.unsafe_load': 'builds arbitrary objects', 'yaml.full_load': 'builds arbitrary objects',
    'yaml.unsafe_load_all': 'builds arbitrary objects', 'yaml.full_load_all': 'builds arbitrary objects',
    'torch.hub.load': "runs the repository's hubconf.py", 'runpy.run_path': 'runs a file', 'shutil.unpack_archive': 'extracts unchecked',
    'eval': 'runs code', 'exec': 'runs code',
}
BANNED_MODULES = {'dill', 'shelve', 'marshal', 'cloudpickle'}


def _kw(call, name):
    "The constant value of keyword `name` of `call` (also inside `**{...}`), or '<missing>'."
    for k in call.keywords:
        if k.arg == name: return k.value.value if isinstance(k.value, ast.Constant) else '<not a constant>'
        if k.arg is None:
            for d in ast.walk(k.value):
                if isinstance(d, ast.Dict):
                    for dk, dv in zip(d.keys, d.values):
                        if isinstance(dk, ast.Constant) and dk.value == name and isinstance(dv, ast.Constant): return dv.value
    return '<missing>'


def audit(src:str, fname:str)->list[str]:
    "'file:line: what' for each way the Python source `src` could run code from a data file."
    tree, alias, out = ast.parse(src, fname), {}, []
    for n in ast.walk(tree):                                  # import aliases: np -> numpy, load -> torch.load
        if isinstance(n, ast.Import):
            for a in n.names:
                alias[a.asname or a.name.split('.')[0]] = a.name if a.asname else a.name.split('.')[0]
                if a.name.split('.')[0] in BANNED_MODULES: out.append(f'{fname}:{n.lineno}: imports {a.name}')
        elif isinstance(n, ast.ImportFrom) and n.module:
            for a in n.names: alias[a.asname or a.name] = f'{n.module}.{a.name}'
            if n.module.split('.')[0] in BANNED_MODULES: out.append(f'{fname}:{n.lineno}: imports from {n.module}')
    alias |= {'np': alias.get('np', 'numpy'), 'pd': alias.get('pd', 'pandas')}
    funcs = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    def qual(e):
        parts = []
        while isinstance(e, ast.Attribute): parts.append(e.attr); e = e.value
        if not isinstance(e, ast.Name): return None
        return '.'.join([alias.get(e.id, e.id), *reversed(parts)])
    def where(node):
        fs = [f for f in funcs if f.lineno <= node.lineno <= f.end_lineno]
        return max(fs, key=lambda f: f.lineno) if fs else tree
    for c in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        q, at = qual(c.func), f'{fname}:{c.lineno}'
        if q == 'torch.load' and _kw(c, 'weights_only') is not True: out.append(f'{at}: torch.load without weights_only=True')
        elif q == 'numpy.load' and _kw(c, 'allow_pickle') is not False: out.append(f'{at}: np.load without allow_pickle=False')
        elif q == 'skops.io.load' and 'SKOPS_TRUSTED' not in ast.unparse(where(c)):
            out.append(f'{at}: skops.io.load without checking the file\'s types against SKOPS_TRUSTED (eo_nb.learner)')
        elif q in ('yaml.load', 'yaml.load_all') and 'SafeLoader' not in ast.unparse(c):
            out.append(f'{at}: {q} without a SafeLoader (builds arbitrary objects)')
        elif q in BANNED:
            out.append(f'{at}: {q} {BANNED[q]}')
        elif isinstance(c.func, ast.Attribute) and c.func.attr in ('extractall', 'extract'):
            fn = where(c); body = ast.unparse(fn)
            if 'tarfile' not in body and 'zipfile' not in body: continue
            if '_check_member' not in body: out.append(f'{at}: {c.func.attr} without checking every member first')
            if 'tarfile' in body and _kw(c, 'filter') != 'data': out.append(f"{at}: tar {c.func.attr} without filter='data'")
    return sorted(out, key=lambda o: int(o.split(':')[1]))


BAD_SRC = '''import pickle, joblib, yaml, torch, numpy as np, dill, tarfile
from pickle import loads as pl
def f(p):
    torch.load(p)
    torch.load(p, weights_only=False)
    np.load(p)
    pickle.load(open(p, 'rb'))
    pl(b'')
    joblib.load(p)
    yaml.load(p)
    eval('1')
    exec('x = 1')
    torch.hub.load('a/b', 'm')
def g(p):
    with tarfile.open(p) as t: t.extractall('out')
def h(p):
    import skops.io as sio
    return sio.load(p, trusted=sio.get_untrusted_types(file=p))
'''
GOOD_SRC = '''import torch, numpy as np, yaml, joblib, tarfile, zipfile
def f(p, model):
    torch.load(p, map_location='cpu', weights_only=True)
    np.load(p, mmap_mode='r', allow_pickle=False)
    yaml.safe_load(p); yaml.load(p, Loader=yaml.SafeLoader)
    joblib.dump(model, p)
    model.eval()
def g(p, root):
    with tarfile.open(p) as t:
        for m in t.getmembers(): _check_member(root, m.name)
        t.extractall(root, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
'''


@case(component='code', kind='trust', guarantee='the audit finds every unsafe loader (unpickling, eval/exec, unchecked tar extraction, skops files loaded with whatever types they hold) and names file:line')
def test_audit_finds_unsafe_loaders():
    got = audit(BAD_SRC, 'bad.py')
    assert [g.split(':')[1] for g in got] == ['1', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '15', '15', '18']
    assert 'skops.io.load without checking' in got[-1]; got = got[:-1]
    assert all(g.startswith('bad.py:') for g in got) and 'imports dill' in got[0]
    assert 'torch.load without weights_only=True' in got[1] and 'np.load without allow_pickle=False' in got[3]
    assert "tar extractall without filter='data'" in got[-1] and 'checking every member' in got[-2]
    assert audit(GOOD_SRC, 'good.py') == []


@case(component='code', kind='trust', guarantee="no module of eo_nb unpickles, evals or execs data: torch.load only with weights_only=True, "
      "np.load only with allow_pickle=False, tar extraction only after member checks and with filter='data', skops files only with eo_nb's list of trusted types")
def test_eo_nb_loads_no_code_from_data():
    files = sorted(p for p in (ROOT/'eo_nb').glob('*.py') if p.name != '_modidx.py')
    assert len(files) > 10
    found = [f for p in files for f in audit(p.read_text(), str(p.relative_to(ROOT)))]
    assert not found, 'Unsafe loading in eo_nb (fix it in the notebook the file is exported from):\n' + '\n'.join(found)



# ---------------------------------------------------------------- pickled checkpoints
class _Payload:
    "Unpickling this creates the file `marker` (through builtins.open): a stand-in for arbitrary code."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (builtins.open, (self.marker, 'w'))


@pytest.fixture(scope='module')
def evil(tmp_path_factory):
    "A .pth that looks like an eo_nb model file but whose payload runs code when unpickled; and its marker path."
    import torch
    d = tmp_path_factory.mktemp('evil')
    p, marker = d/'model.pth', d/'PWNED'
    torch.save(dict(format='eo_nb.model/1', arch='eo_cnn', model={}, bands=['B04'], classes=['a', 'b'], x=_Payload(marker)), p)
    return p, marker


@case(component='checkpoints', kind='trust', guarantee='the crafted checkpoint really runs code when unpickled (so the refusals below mean something)')
def test_payload_is_live(evil, tmp_path):
    import torch
    marker = tmp_path/'live'
    torch.save({'x': _Payload(marker)}, tmp_path/'m.pth')
    torch.load(tmp_path/'m.pth', weights_only=False)
    assert marker.exists()


def _refused(fn, evil):
    from eo_nb.core import UnsafeFileError
    p, marker = evil
    with pytest.raises(UnsafeFileError) as ei: fn(p)                       # eo_nb's error, via core.load_weights
    assert str(p) in str(ei.value) and 'io.open' in str(ei.value)          # names the file and what it refused to build
    assert not marker.exists()


@case(component='checkpoints', kind='trust', guarantee='load_run_model refuses a checkpoint whose payload needs unpickling; no code runs')
def test_load_run_model_refuses_pickle(evil):
    from eo_nb.learner import load_run_model
    _refused(load_run_model, evil)


@case(component='checkpoints', kind='trust', guarantee='is_model_file says False for a pickled payload without running it')
def test_is_model_file_refuses_pickle(evil):
    from eo_nb.learner import is_model_file
    assert is_model_file(evil[0]) is False and not evil[1].exists()


@case(component='checkpoints', kind='trust', guarantee='load_pretrained refuses a pickled payload; no code runs')
def test_load_pretrained_refuses_pickle(evil):
    from eo_nb.learner import load_pretrained
    from eo_nb.models import create_model
    net = create_model('eo_cnn', 1, 2)
    _refused(lambda p: load_pretrained(net, p, ['B04']), evil)


@case(component='checkpoints', kind='trust', guarantee="create_model(pretrained=path) refuses a pickled payload, for eo_nb's and timm's models; "
      'genuine weights still load')
def test_create_model_refuses_pickle(evil, tmp_path):
    import torch
    from eo_nb.models import create_model
    _refused(lambda p: create_model('eo_cnn', 1, 2, pretrained=p), evil)
    _refused(lambda p: create_model('resnet18', 1, 2, pretrained=p), evil)
    good = create_model('eo_cnn', 1, 2)
    torch.save(good.state_dict(), tmp_path/'ok.pth')
    net = create_model('eo_cnn', 1, 2, pretrained=tmp_path/'ok.pth')
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), good.state_dict().values()))


# ---------------------------------------------------------------- archives
def _zip(path, members):
    "Write a zip: members are (name, bytes) or (name, 'symlink', target)."
    with zipfile.ZipFile(path, 'w') as z:
        for n, *v in members:
            if len(v) == 1: z.writestr(n, v[0]); continue
            zi = zipfile.ZipInfo(n); zi.create_system, zi.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
            z.writestr(zi, v[1])


def _tar(path, members):
    "Write a tar: members are (name, bytes) or (name, kind, linkname) with kind symlink, hardlink, fifo, chr, blk or dir."
    kinds = dict(symlink=tarfile.SYMTYPE, hardlink=tarfile.LNKTYPE, fifo=tarfile.FIFOTYPE, chr=tarfile.CHRTYPE,
                 blk=tarfile.BLKTYPE, dir=tarfile.DIRTYPE)
    with tarfile.open(path, 'w') as t:
        for n, *v in members:
            ti = tarfile.TarInfo(n)
            if len(v) == 1: ti.size = len(v[0]); t.addfile(ti, io.BytesIO(v[0])); continue
            ti.type, ti.linkname = kinds[v[0]], v[1] or ''
            t.addfile(ti)


OUT = '@OUTSIDE@'   # replaced by the absolute path of a folder beside the destination
UNSAFE = {  # id: (writer, members, the member the error names)
    'zip_parent':          (_zip, [('ok.txt', b'ok'), ('../evil.txt', b'x')], '../evil.txt'),
    'zip_nested_parent':   (_zip, [('a/../../outside/evil.txt', b'x')], 'a/../../outside/evil.txt'),
    'zip_absolute':        (_zip, [(f'{OUT}/evil.txt', b'x')], f'{OUT}/evil.txt'),
    'zip_windows_drive':   (_zip, [('C:/evil.txt', b'x')], 'C:/evil.txt'),
    'zip_backslash':       (_zip, [('..\\outside\\evil.txt', b'x')], '..\\outside\\evil.txt'),
    'zip_symlink_out':     (_zip, [('ln', 'symlink', '../../outside'), ('ok.txt', b'ok')], 'ln'),
    'zip_symlink_then_write': (_zip, [('ln', 'symlink', OUT), ('ln/evil.txt', b'x')], 'ln'),
    'tar_parent':          (_tar, [('ok.txt', b'ok'), ('../evil.txt', b'x')], '../evil.txt'),
    'tar_absolute':        (_tar, [(f'{OUT}/evil.txt', b'x')], f'{OUT}/evil.txt'),
    'tar_windows_drive':   (_tar, [('C:\\evil.txt', b'x')], 'C:\\evil.txt'),
    'tar_symlink_out':     (_tar, [('data/link', 'symlink', '../../../outside')], 'data/link'),
    'tar_symlink_abs':     (_tar, [('data/link', 'symlink', OUT)], 'data/link'),
    'tar_symlink_then_write': (_tar, [('ln', 'symlink', '../../outside'), ('ln/evil.txt', b'x')], 'ln'),
    'tar_hardlink_out':    (_tar, [('h', 'hardlink', '../../outside/evil.txt')], 'h'),
    'tar_hardlink_abs':    (_tar, [('h', 'hardlink', f'{OUT}/evil.txt')], 'h'),
    'tar_link_chain':      (_tar, [('a', 'symlink', '.'), ('b', 'symlink', 'a/..'), ('b/evil.txt', b'x')], 'b'),
    'tar_link_through_link': (_tar, [('d', 'symlink', 'sub'), ('sub', 'dir', None), ('d/up', 'symlink', '../..')], 'd/up'),
    'tar_link_loop':       (_tar, [('a', 'symlink', 'b'), ('b', 'symlink', 'a'), ('a/evil.txt', b'x')], 'a'),
    'tar_link_is_root':    (_tar, [('.', 'symlink', '.')], '.'),                      # tarfile would recurse for ever
    'tar_link_is_folder':  (_tar, [('b/.', 'symlink', 'a/..')], 'b/.'),
    'tar_hardlink_to_self': (_tar, [('h', 'hardlink', 'h')], 'h'),
    'tar_hardlink_to_dir': (_tar, [('d', 'dir', None), ('h', 'hardlink', 'd')], 'h'),
    'tar_fifo':            (_tar, [('ok.txt', b'ok'), ('pipe', 'fifo', None)], 'pipe'),
    'tar_char_device':     (_tar, [('null', 'chr', None)], 'null'),
    'tar_block_device':    (_tar, [('sda', 'blk', None)], 'sda'),
}


@case(component='archives', kind='trust', guarantee='zip-slip, absolute and drive paths, escaping symlinks/hardlinks (also through other links '
      'or loops), symlinked-dir writes, links replacing the folder, hard links to non-files, devices and fifos are refused naming the member; '
      'nothing is written, no partial folder is left')
@pytest.mark.parametrize('kind', list(UNSAFE))
def test_unsafe_archive_refused(tmp_path, kind):
    write, members, bad = UNSAFE[kind]
    outside, box = tmp_path/'outside', tmp_path/'box'
    outside.mkdir(); box.mkdir()
    sub = lambda v: v.replace(OUT, str(outside)) if isinstance(v, str) else v
    archive = tmp_path/f'a.{write.__name__[1:]}'
    write(archive, [tuple(sub(v) for v in m) for m in members])
    with pytest.raises(UnsafeArchiveError) as ei: extract_archive(archive, box/'out')
    msg = str(ei.value)
    assert repr(sub(bad)) in msg and str(archive) in msg and 'nothing was extracted' in msg
    assert os.listdir(outside) == [] and os.listdir(box) == []          # nothing outside, no dest, no temp folder
    assert sorted(os.listdir(tmp_path)) == sorted([archive.name, 'box', 'outside'])


@case(component='archives', kind='trust', guarantee='links that stay inside the folder, and hard links to members, are extracted as they are')
def test_safe_links_extracted(tmp_path):
    _tar(tmp_path/'a.tar', [('v1/data.bin', b'abc'), ('latest', 'symlink', 'v1'), ('v1/self', 'symlink', '../v1/data.bin'),
                            ('copy.bin', 'hardlink', 'v1/data.bin'), ('latest/more.bin', b'def')])
    out = extract_archive(tmp_path/'a.tar', tmp_path/'out')
    assert os.readlink(out/'latest') == 'v1' and (out/'latest'/'data.bin').read_bytes() == b'abc'
    assert (out/'v1'/'self').read_bytes() == b'abc' and (out/'copy.bin').read_bytes() == b'abc'
    assert (out/'v1'/'more.bin').read_bytes() == b'def' and (out/MARKER).exists()
    _zip(tmp_path/'b.zip', [('d/f.txt', b'x'), ('d/ln', 'symlink', 'f.txt')])
    out = extract_archive(tmp_path/'b.zip', tmp_path/'zout')
    assert (out/'d'/'ln').read_text() == 'f.txt' and not (out/'d'/'ln').is_symlink()   # zip links land as plain files


_parts = st.sampled_from(['a', 'b', '..', '.', 'a/..', '../..', 'b/a', '', 'c/'])
_paths = st.lists(_parts, min_size=1, max_size=4).map('/'.join)
_member = st.tuples(_paths, st.sampled_from(['file', 'symlink', 'hardlink', 'dir']), _paths)


@case(component='archives', kind='trust', guarantee='for any tar of files, folders, symlinks and hard links with random ../. paths: either it is refused '
      'with nothing written, or every extracted path resolves inside the destination; nothing is ever written outside')
@settings(max_examples=int(os.environ.get('EO_NB_TAR_EXAMPLES', 300)), deadline=None, derandomize='EO_NB_TAR_EXAMPLES' not in os.environ,
          database=None, suppress_health_check=[HealthCheck.too_slow])   # CI: a fixed 300; EO_NB_TAR_EXAMPLES=5000 explores afresh
@given(st.lists(_member, min_size=1, max_size=5))
def test_random_tar_never_escapes(members):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); outside, box = d/'outside', d/'box'/'deep'
        outside.mkdir(); box.mkdir(parents=True)
        _tar(d/'a.tar', [(n, b'x') if k == 'file' else (n, k, t) for n, k, t in members])
        try: out = extract_archive(d/'a.tar', box/'out')
        except (UnsafeArchiveError, OSError): assert os.listdir(box) == []   # refused, or e.g. a file where a folder goes
        else:
            root = os.path.realpath(out)
            for dp, dns, fns in os.walk(out):
                for n in dns + fns:
                    p = os.path.join(dp, n)
                    if os.path.islink(p) and not os.path.exists(p): continue   # dangling inside link: harmless
                    assert os.path.commonpath([root, os.path.realpath(p)]) == root, (members, p)
            assert os.listdir(box) == ['out']
        assert os.listdir(outside) == [] and os.listdir(d/'box') == ['deep']


# ---------------------------------------------------------------- JupyterLab in the tests
def _lab_fixture():
    "The JupyterLab command line (AST list) and the token expression of tests/test_browser.py's `lab` fixture."
    tree = ast.parse((ROOT/'tests'/'test_browser.py').read_text())
    fx = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == 'lab')
    popen = next(n for n in ast.walk(fx) if isinstance(n, ast.Call) and ast.unparse(n.func) == 'subprocess.Popen')
    tok = None
    for a in (n for n in ast.walk(fx) if isinstance(n, ast.Assign)):
        names = [t.id for t in ast.walk(a.targets[0]) if isinstance(t, ast.Name)]
        if 'token' in names:
            tok = a.value.elts[names.index('token')] if isinstance(a.value, ast.Tuple) else a.value
    return popen.args[0], ast.unparse(tok) if tok is not None else None


def _arg(node, ns):
    "The string value of one command-line element (constants, f-strings of `ns` names, sys.executable)."
    if isinstance(node, ast.Constant): return node.value
    if isinstance(node, ast.JoinedStr):
        return ''.join(v.value if isinstance(v, ast.Constant) else str(ns[v.value.id]) for v in node.values)
    if ast.unparse(node) == 'sys.executable': return sys.executable
    raise ValueError(f'unexpected element {ast.unparse(node)} in the JupyterLab command line')


@case(component='jupyterlab', kind='trust', guarantee='the JupyterLab the browser test starts binds 127.0.0.1 only and needs a random 128-bit token')
def test_lab_command_is_local_with_token():
    cmd, tok = _lab_fixture()
    args = [ast.unparse(e) for e in cmd.elts]
    assert "'--ip=127.0.0.1'" in args and sum('--ip' in a or 'ServerApp.ip' in a for a in args) == 1
    assert "f'--IdentityProvider.token={token}'" in args and tok.startswith(('uuid.uuid4()', 'secrets.token_', 'os.urandom('))
    assert not [a for a in args if any(w in a for w in ('allow_remote', 'disable_check_xsrf', "token=''", 'password', '0.0.0.0'))]


def _listening(port):
    "Addresses (hex, as in /proc/net/tcp*) listening on `port`."
    out = []
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        if not os.path.exists(f): continue
        for line in Path(f).read_text().splitlines()[1:]:
            local, st_ = line.split()[1], line.split()[3]
            addr, p = local.split(':')
            if int(p, 16) == port and st_ == '0A': out.append(addr)
    return out


def _get(url, headers=None):
    "(status, final URL) of a GET that does not raise on HTTP errors."
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r: return r.status, r.url
    except urllib.error.HTTPError as e: return e.code, url
    except OSError: return None, url                          # not listening yet


@case(component='jupyterlab', kind='trust', guarantee='that JupyterLab listens on 127.0.0.1 only, answers 403 without or with a wrong token '
      'and 200 with it, and sends browsers without it to the login page')
def test_lab_rejects_requests_without_token(tmp_path, monkeypatch):
    pytest.importorskip('jupyterlab', reason='needs the jupyterlab package (pip install jupyterlab)')
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    cmd, _ = _lab_fixture()
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    token = os.urandom(16).hex()
    argv = [_arg(e, dict(port=port, token=token, work=tmp_path)) for e in cmd.elts]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path/'runtime'), JUPYTER_CONFIG_DIR=str(tmp_path/'config'),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'))
    url, log = f'http://127.0.0.1:{port}', open(tmp_path/'lab.log', 'w')
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 15
        while proc.poll() is None and _get(f'{url}/api/status?token={token}')[0] != 200:
            if time.monotonic() > end: pytest.skip('JupyterLab did not start within 15 s on this machine')
            time.sleep(0.25)
        assert proc.poll() is None, (tmp_path/'lab.log').read_text()[-2000:]
        assert _listening(port) == ['0100007F']                          # 127.0.0.1, IPv4 only, no wildcard
        assert _get(f'{url}/api/contents')[0] == 403
        assert _get(f'{url}/api/contents?token={"0" * 32}')[0] == 403
        assert _get(f'{url}/api/contents', {'Authorization': f'token {"0" * 32}'})[0] == 403
        assert _get(f'{url}/api/contents', {'Authorization': f'token {token}'})[0] == 200
        status, final = _get(f'{url}/lab')
        assert status == 200 and '/login' in final                       # a browser without the token gets the login page
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(10)
        log.close()
