"""The explorer as a user sees it: JupyterLab in headless Chromium runs a copy of nbs/explore.ipynb.

Needs Debian's `chromium` (apt-get install chromium), the `playwright` Python package (never `playwright install`:
the browser is Debian's) and the real samples in ../shared/data. Without them the test skips and says why, unless
EO_NB_REQUIRE_BROWSER=1 (as in .ci/run), where a missing browser fails. Screenshots go to tests/artifacts/
(or $EO_NB_ARTIFACTS). Everything is on 127.0.0.1 and every wait is bounded.
"""
import json, os, shutil, socket, subprocess, sys, time, urllib.request, uuid
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('EO_NB_CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
REQUIRE = os.environ.get('EO_NB_REQUIRE_BROWSER') == '1'
ART = Path(os.environ.get('EO_NB_ARTIFACTS') or ROOT/'tests'/'artifacts')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

def _missing():
    miss = []
    if not Path(CHROMIUM).exists(): miss.append(f'Chromium ({CHROMIUM}; Debian: apt-get install chromium)')
    for mod, pkg in (('playwright', 'playwright'), ('jupyterlab', 'jupyterlab')):
        try: __import__(mod)
        except ImportError: miss.append(f'the {pkg} package (pip install {pkg})')
    return miss

def _shared():
    sys.path.insert(0, str(ROOT))
    from eo_nb.core import shared_data
    return shared_data()

@pytest.fixture(scope='module')
def browser():
    miss = _missing()
    if miss: (pytest.fail if REQUIRE else pytest.skip)(f"browser test needs {', '.join(miss)}")
    return CHROMIUM

@pytest.fixture(scope='module')
def browser_env(browser):
    data = _shared()
    if data is None: pytest.skip('the explorer tour needs the real samples in ../shared/data (or $EO_NB_SHARED_DATA)')
    return data

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _settings(d:Path):
    "JupyterLab user settings: every cell rendered (no windowing), no news or update checks (offline)."
    for ext, body in {'@jupyterlab/notebook-extension/tracker': {'windowingMode': 'none'},
                      '@jupyterlab/apputils-extension/notification': {'fetchNews': 'false', 'checkForUpdates': False}}.items():
        p = d/f'{ext}.jupyterlab-settings'
        p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(body))

@pytest.fixture(scope='module')
def lab(browser_env, tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 serving a folder holding a copy of explore.ipynb."
    work = tmp_path_factory.mktemp('lab')
    shutil.copy(ROOT/'nbs'/'explore.ipynb', work/'explore.ipynb')        # autosave must not touch the committed notebook
    _settings(work/'settings')
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ, EO_NB_SHARED_DATA=str(browser_env), JUPYTERLAB_SETTINGS_DIR=str(work/'settings'),
               JUPYTERLAB_WORKSPACES_DIR=str(work/'workspaces'), MPLBACKEND='module://matplotlib_inline.backend_inline',
               JUPYTER_RUNTIME_DIR=str(work/'runtime'), PYTHONWARNINGS='ignore')
    log = open(work/'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work}', '--allow-root',
                             '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(120):                                              # at most 60 s
            if proc.poll() is not None: break
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2) as r:
                    if r.status == 200: break
            except OSError: time.sleep(0.5)
        else: pytest.fail(f'JupyterLab did not start within 60 s; log: {work/"lab.log"}')
        if proc.poll() is not None: pytest.fail(f'JupyterLab exited: {(work/"lab.log").read_text()[-2000:]}')
        yield dict(url=url, token=token, work=work)
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()

def _prompts(page):
    return page.eval_on_selector_all('.jp-CodeCell .jp-InputPrompt', 'els => els.map(e => e.textContent.trim())')

def _shot(loc, name):
    ART.mkdir(parents=True, exist_ok=True)
    loc.scroll_into_view_if_needed(timeout=10_000)
    loc.screenshot(path=str(ART/name), timeout=20_000)
    return ART/name

def _started(page):
    return any(x not in ('[ ]:', '[]:', '') for x in _prompts(page))

DIALOGS = []
def _dismiss_dialogs(page):
    "Accept any JupyterLab dialog (e.g. kernel selection), keeping its text and a screenshot for the report."
    d = page.locator('.jp-Dialog')
    while d.count() and d.first.is_visible():
        DIALOGS.append(d.first.inner_text()[:300])
        ART.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(ART/f'dialog_{len(DIALOGS)}.png'))
        sel = d.first.locator('select')                                   # kernel selection: under load it can default to 'No Kernel'
        if sel.count():
            opts = sel.first.evaluate("s => Array.from(s.options).map(o => [o.value, o.textContent.trim()])")
            py = next((v for v, t in opts if t.lower().startswith('python')), None)
            if py is not None: sel.first.select_option(value=py)
        btn = d.first.locator('.jp-Dialog-button.jp-mod-accept')
        (btn.first if btn.count() else d.first.locator('.jp-Dialog-button').last).click()
        page.wait_for_timeout(500)

def _run_all(page):
    "Run > Run All Cells, retried when the click did not start anything (the menu can open before Lab is ready)."
    for attempt in range(3):
        _dismiss_dialogs(page)
        page.keyboard.press('Escape')
        page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
        page.locator('.lm-Menu-itemLabel', has_text='Run All Cells').first.click()
        for _ in range(30):                                               # 15 s for the first prompt to change
            if _started(page): return
            page.wait_for_timeout(500)
    pytest.fail(f'Run All Cells did not start after 3 tries; prompts: {_prompts(page)}; dialogs: {DIALOGS}')

def test_explorer_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(lab['work']/'profile'), executable_path=CHROMIUM, headless=True,
                                                   args=ARGS, viewport={'width': 1500, 'height': 1000})
        try:
            for f in ART.glob('dialog_*.png'): f.unlink()
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{lab['url']}/lab/tree/explore.ipynb?token={lab['token']}")
            page.wait_for_selector('.jp-Notebook .jp-CodeCell', timeout=60_000)
            page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
            _run_all(page)
            t0, idle_since, reruns = time.time(), None, 0
            while time.time() - t0 < 240:                                 # Run All: bounded at 4 minutes
                _dismiss_dialogs(page)
                pr = _prompts(page)
                if pr and all(x not in ('[*]:', '[ ]:', '[]:') for x in pr): break
                idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
                if idle and '[*]:' not in pr:      # kernel idle with cells left unrun: the run was cut short
                    idle_since = idle_since or time.time()
                    if time.time() - idle_since > 8 and reruns < 2:
                        reruns += 1; idle_since = None; _run_all(page)
                else: idle_since = None
                time.sleep(1)
            else: pytest.fail(f'Run All did not finish in 240 s; prompts: {_prompts(page)}; dialogs: {DIALOGS}')
            run_s = time.time() - t0
            page.wait_for_timeout(2000)                                   # widgets and maps finish rendering
            body = page.locator('.jp-Notebook').inner_text()
            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            tracebacks = [t for t in errors.all_inner_texts() if 'Traceback' in t or 'Error' in t.split('\n')[0]]
            assert not tracebacks, f'error outputs: {tracebacks[:2]}'
            assert 'Error displaying widget' not in body and 'Failed to load model class' not in body
            # maps: every leaflet map rendered, with its raster image layer(s) and the chip footprints
            n_maps = page.locator('.leaflet-container').count()
            assert n_maps >= 5, n_maps                      # tile browser, scene + chips, two linked maps, predictions
            assert page.locator('img.leaflet-image-layer').count() >= 4
            assert page.locator('.leaflet-overlay-pane path.leaflet-interactive').count() > 10   # chip footprints
            src = page.locator('img.leaflet-image-layer').first.get_attribute('src')
            assert src.startswith('data:image/png;base64,')
            # hvplot (bokeh draws in a shadow DOM: Playwright's locators pierce it)
            assert page.locator('.bk-Canvas').count() >= 3
            # ipywidgets: the tile browser's controls and image
            assert page.locator('.widget-dropdown').count() >= 3 and page.locator('.widget-slider').count() >= 1
            tile = page.locator('.jupyter-widgets.widget-image').first
            before = tile.get_attribute('src')
            page.locator('button.jupyter-button', has_text='next').first.click()
            for _ in range(40):
                if tile.get_attribute('src') != before: break
                page.wait_for_timeout(250)
            assert tile.get_attribute('src') != before, 'the tile browser did not show the next tile'
            # move the cube's time slider: the image must change
            cube = page.locator('.jp-OutputArea-output').filter(has=page.locator('.bk-Canvas')).first
            canvas = cube.locator('.bk-Canvas').first
            _shot(cube, 'explorer_cube_before.png')
            img0 = canvas.screenshot()
            handle = cube.locator('.noUi-handle').last
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            page.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
            page.mouse.down(); page.mouse.move(box['x'] + 150, box['y'] + box['height'] / 2, steps=8); page.mouse.up()
            changed = False
            for _ in range(40):
                page.wait_for_timeout(250)
                if canvas.screenshot() != img0: changed = True; break
            assert changed, 'moving the time slider did not change the cube view'
            _shot(cube, 'explorer_cube_after.png')
            _shot(page.locator('.jp-OutputArea-output').filter(has=page.locator('.widget-image')).first, 'explorer_tiles.png')
            maps = page.locator('.jp-OutputArea-output').filter(has=page.locator('.leaflet-container'))
            _shot(maps.nth(1), 'explorer_map.png'); _shot(maps.nth(2), 'explorer_linked.png'); _shot(maps.nth(3), 'explorer_predictions.png')
            series = page.locator('.jp-OutputArea-output').filter(has=page.locator('.bk-Canvas')).nth(1)
            _shot(series, 'explorer_series.png')
            if DIALOGS or reruns: print(f'dialogs accepted: {DIALOGS}; Run All issued again {reruns}x')
            print(f'Run All {run_s:.0f} s; {n_maps} maps, {page.locator(".bk-Canvas").count()} bokeh canvases; screenshots in {ART}')
        finally:
            ctx.close()


@pytest.fixture(scope='module')
def site(browser, tmp_path_factory):
    "The docs site: $EO_NB_SITE or _site/ when built (CI builds it first), else built here into a temporary folder."
    built = Path(os.environ.get('EO_NB_SITE') or ROOT/'_site')
    if (built/'index.html').exists(): return built
    out = tmp_path_factory.mktemp('site')/'html'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out

def test_docs_site(site):
    "The built site opens in a browser: the home page with its results tables and explorer pictures, an API page, the benchmarks."
    from playwright.sync_api import sync_playwright
    port = _free_port()
    srv = subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1', '-d', str(site)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f'http://127.0.0.1:{port}'
        for _ in range(40):
            try: urllib.request.urlopen(url, timeout=1); break
            except OSError: time.sleep(0.25)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = b.new_page(viewport={'width': 1300, 'height': 1000})
                page.set_default_timeout(20_000)
                page.goto(f'{url}/index.html')
                assert page.locator('h1').first.inner_text().strip().startswith('eo_nb')
                assert page.locator('article table').count() >= 5                      # parameters, results, speed tables
                pics = page.locator('article img[src*="explorer_"]')
                assert pics.count() >= 2
                assert all(pics.nth(i).evaluate('i => i.complete && i.naturalWidth > 100') for i in range(pics.count()))
                ART.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(ART/'docs_index.png'))
                page.locator('article a[href="75_viz.html"]').first.click()            # the API page, through the site's links
                page.wait_for_url('**/75_viz.html*')
                assert page.locator('#composite').count() == 1 and page.locator('#show-batch').count() == 1
                sig = page.locator('#composite').locator('xpath=following::pre[1]').inner_text()
                assert 'def composite(' in sig and 'nodata' in sig                    # show_doc signature with its parameters
                page.screenshot(path=str(ART/'docs_viz.png'))
                page.goto(f'{url}/index.html')
                page.locator('article a[href="75_viz.html#show-batch"]').first.click()  # a name in backticks links to its entry
                page.wait_for_url('**/75_viz.html#show-batch')
                page.goto(f'{url}/77_browse.html')
                assert page.locator('#tilebrowser').count() == 1 and page.locator('#cube-view').count() == 1
                page.goto(f'{url}/benchmarks.html')
                assert page.locator('article table').count() >= 3
            finally: b.close()
    finally:
        srv.terminate(); srv.wait(10)
