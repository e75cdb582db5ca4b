"""What `pip install eo_nb` gets: settings.ini's version, description and author in the wheel's metadata, and the experiment
notebook inside the package (`eo_nb/run.ipynb`, in the repository a symlink to `nbs/run.ipynb`), which `run_notebook()` and
`eo_nb notebook` find in an install outside any checkout.

The wheel and sdist are built from a copy of the sources in tmp_path, so that no build/ or egg-info is written into the
checkout (nor shared with another build running at the same time)."""
import configparser, email, json, os, shutil, subprocess, sys, tarfile, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ['setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'MANIFEST.in', 'nbs/run.ipynb']
CFG = configparser.ConfigParser(delimiters=['=']); CFG.read(ROOT/'settings.ini', encoding='utf-8')
CFG = CFG['DEFAULT']
RUN_NB = json.loads((ROOT/'nbs'/'run.ipynb').read_text(encoding='utf-8'))

def _sh(*cmd, cwd=None, env=None):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout

def _pip_wheel(src, dest):
    _sh(sys.executable, '-m', 'pip', 'wheel', src, '--no-deps', '--no-build-isolation', '--disable-pip-version-check', '-q', '-w', dest)
    whl, = Path(dest).glob('eo_nb-*.whl')
    return whl

@pytest.fixture(scope='module')
def src(tmp_path_factory):
    "A copy of what the build reads, eo_nb/run.ipynb still a symlink to ../nbs/run.ipynb."
    d = tmp_path_factory.mktemp('pkg')/'src'
    for f in SOURCES:
        (d/f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT/f, d/f)
    shutil.copytree(ROOT/'eo_nb', d/'eo_nb', symlinks=True, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    return d

@pytest.fixture(scope='module')
def wheel(src): return _pip_wheel(src, src.parent/'dist')

def test_the_notebook_has_one_source():
    "eo_nb/run.ipynb is nbs/run.ipynb (a relative symlink), not a second copy that could drift."
    p = ROOT/'eo_nb'/'run.ipynb'
    assert p.is_symlink() and os.readlink(p) == '../nbs/run.ipynb', f"{p} must be a symlink to ../nbs/run.ipynb"

def test_wheel_metadata_is_settings_ini(wheel):
    assert wheel.name.startswith(f"eo_nb-{CFG['version']}-"), wheel.name
    with zipfile.ZipFile(wheel) as z: meta = email.message_from_bytes(z.read(f"eo_nb-{CFG['version']}.dist-info/METADATA"))
    assert meta['Version'] == CFG['version']
    assert meta['Summary'] == CFG['description']
    assert meta['Author'] == CFG['author'] and meta['Author-email'] == CFG['author_email']
    assert meta['Keywords'] == CFG['keywords']

def test_wheel_carries_the_experiment_notebook(wheel):
    with zipfile.ZipFile(wheel) as z:
        info = z.getinfo('eo_nb/run.ipynb')
        assert (info.external_attr >> 16) & 0o170000 != 0o120000, "packed as a symlink, not as the notebook"
        assert json.loads(z.read(info)) == RUN_NB

def test_sdist_builds_the_same_wheel(src, tmp_path):
    "The sdist holds what setup.py reads (settings.ini, README.md) and the notebook as a file; its wheel carries the notebook."
    _sh(sys.executable, 'setup.py', '-q', 'sdist', '-d', tmp_path, cwd=src)
    sdist, = tmp_path.glob('eo_nb-*.tar.gz')
    with tarfile.open(sdist) as t:
        top = f"eo_nb-{CFG['version']}"
        names = set(t.getnames())
        for f in ['settings.ini', 'README.md', 'setup.py', 'nbs/run.ipynb']: assert f'{top}/{f}' in names, f
        m = t.getmember(f'{top}/eo_nb/run.ipynb')
        assert m.isfile() and json.loads(t.extractfile(m).read()) == RUN_NB
    with zipfile.ZipFile(_pip_wheel(sdist, tmp_path/'dist')) as z: assert json.loads(z.read('eo_nb/run.ipynb')) == RUN_NB

@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory):
    "The wheel installed into a folder of its own: (site folder, environment that imports from it, no EO_NB_* variables)."
    target = tmp_path_factory.mktemp('site')
    _sh(sys.executable, '-m', 'pip', 'install', '--no-deps', '--disable-pip-version-check', '-q', '--target', target, wheel)
    env = {k: v for k, v in os.environ.items() if not k.startswith('EO_NB_')}
    env['PYTHONPATH'] = str(target)
    return target, env

def test_installed_package_finds_its_notebook(installed, tmp_path):
    "Installed outside any checkout (cwd tmp_path): run_notebook() and `eo_nb notebook` give the package's copy; runs start in the cwd."
    target, env = installed
    work = tmp_path/'work'; work.mkdir()
    out = _sh(sys.executable, '-c', "import eo_nb, eo_nb.sweep as s, json; nb = s.run_notebook(); "
              "print(json.dumps([eo_nb.__file__, str(nb), s._run_cwd(nb), eo_nb.core.project_root() is None]))", cwd=work, env=env)
    init, nb, cwd, outside = json.loads(out.strip().splitlines()[-1])
    assert Path(init).parent == target/'eo_nb', f"imported {init}, not the installed package"
    assert outside, "an eo_nb checkout was found from the install: the test would not show the installed case"
    assert Path(nb) == target/'eo_nb'/'run.ipynb' and json.loads(Path(nb).read_text()) == RUN_NB
    assert Path(cwd) == work
    out = _sh(sys.executable, '-m', 'eo_nb.sweep', 'notebook', cwd=work, env=env)
    assert Path(out.strip()) == target/'eo_nb'/'run.ipynb'

def test_installed_package_imports_every_module(installed, tmp_path):
    "Every module of the checkout's eo_nb/ is in the wheel and imports from the install alone (no notebook, test or benchmark file needed)."
    target, env = installed
    mods = sorted(p.stem for p in (ROOT/'eo_nb').glob('*.py') if p.stem != '__init__')
    out = _sh(sys.executable, '-c', "import importlib, json, sys, eo_nb; mods = sys.argv[1:]; "
              "print(json.dumps([eo_nb.__file__] + [importlib.import_module(f'eo_nb.{m}').__file__ for m in mods]))", *mods, cwd=tmp_path, env=env)
    files = json.loads(out.strip().splitlines()[-1])
    assert [Path(f) for f in files] == [target/'eo_nb'/'__init__.py'] + [target/'eo_nb'/f'{m}.py' for m in mods]
