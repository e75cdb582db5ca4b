"Tests for eo_nb.download against a local HTTP server on 127.0.0.1 (no internet needed)."
import contextlib, dataclasses, hashlib, http.server, io, os, random, signal, socket, subprocess, sys, tarfile, threading, time, zipfile
from pathlib import Path

import pytest

from eo_nb.core import UnknownNameError
from eo_nb.download import (MARKER, REMOTE_DATASETS, ChecksumError, DownloadError, UnsafeArchiveError,
                            download_dataset, download_url, extract_archive, file_hash, get_remote_dataset)

TIF = 'ds/images/remote_sensing/otherDatasets/sentinel_2/tif'
ROOT = Path(__file__).resolve().parents[1]
case = pytest.mark.case


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        srv, rng = self.server, self.headers.get('Range')
        srv.requests.append((self.path, rng))
        data = srv.files.get(self.path)
        if data is None: return self.send_error(404)
        start = int(rng[6:].split('-')[0]) if rng and rng.startswith('bytes=') and srv.honour_range else 0
        if start >= len(data) > 0:
            self.send_response(416); self.send_header('Content-Range', f'bytes */{len(data)}')
            self.send_header('Content-Length', '0'); return self.end_headers()
        self.send_response(206 if start else 200)
        if start: self.send_header('Content-Range', f'bytes {start}-{len(data)-1}/{len(data)}')
        self.send_header('Content-Length', str(len(data) - start)); self.end_headers()
        body, rate, step = data[start:srv.cut], srv.rate, 1 << 16   # `cut`: the connection drops after that many bytes
        try:
            if not rate: return self.wfile.write(body)
            for i in range(0, len(body), step): self.wfile.write(body[i:i + step]); time.sleep(step / rate)
        except (BrokenPipeError, ConnectionResetError): pass    # the client was killed

    def log_message(self, *args): pass


@contextlib.contextmanager
def serve(files, honour_range=True, rate=None):
    "Serve `files` ({'/path': bytes}) on 127.0.0.1, at most `rate` bytes/s; yields (server, base_url); always shut down."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.files, srv.requests, srv.honour_range, srv.rate, srv.cut = files, [], honour_range, rate, None
    th = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    th.start()
    try: yield srv, f'http://127.0.0.1:{srv.server_address[1]}'
    finally:
        srv.shutdown(); srv.server_close(); th.join(5)


def make_zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for n, b in members.items(): z.writestr(n, b)
    return buf.getvalue()


def closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


_rng = random.Random(0)
ZIP = make_zip({f'{TIF}/Forest/Forest_1.tif': _rng.randbytes(3000), f'{TIF}/Forest/Forest_2.tif': _rng.randbytes(3000),
                f'{TIF}/River/River_1.tif': _rng.randbytes(3000)})
ZIP_MD5, ZIP_SHA256 = hashlib.md5(ZIP).hexdigest(), hashlib.sha256(ZIP).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.fixture
def server():
    with serve({'/a.zip': ZIP, '/EuroSATallBands.zip': ZIP}) as s: yield s


# ---------------------------------------------------------------- download_url
def test_full_download_with_checksums(server, tmp_path):
    srv, base = server
    p = download_url(f'{base}/a.zip', tmp_path/'sub'/'a.zip', md5=ZIP_MD5, sha256=ZIP_SHA256, progress=False, timeout=5)
    assert p == tmp_path/'sub'/'a.zip' and p.read_bytes() == ZIP
    assert os.listdir(p.parent) == ['a.zip']
    assert srv.requests == [('/a.zip', None)]
    assert file_hash(p) == ZIP_MD5 and file_hash(p, 'sha256') == ZIP_SHA256


def test_progress_bar_does_not_break_download(server, tmp_path):
    _, base = server
    assert download_url(f'{base}/a.zip', tmp_path/'a.zip', md5=ZIP_MD5, progress=True, timeout=5).read_bytes() == ZIP


def test_existing_file_with_right_checksum_needs_no_network(tmp_path):
    dest = tmp_path/'a.zip'; dest.write_bytes(ZIP)
    assert download_url(f'http://127.0.0.1:{closed_port()}/a.zip', dest, md5=ZIP_MD5, progress=False) == dest


@case(component='download', kind='fault', guarantee='a file at dest whose checksum is wrong is downloaded again, never trusted')
def test_existing_file_with_wrong_checksum_is_replaced(server, tmp_path):
    _, base = server
    dest = tmp_path/'a.zip'; dest.write_bytes(b'old version')
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert dest.read_bytes() == ZIP


@case(component='download', kind='fault', guarantee='a kept .part is continued with a Range request and gives the exact file')
def test_resume_with_range(server, tmp_path):
    srv, base = server
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(ZIP[:half])
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert srv.requests == [('/a.zip', f'bytes={half}-')]
    assert dest.read_bytes() == ZIP and os.listdir(tmp_path) == ['a.zip']


@case(component='download', kind='fault', guarantee='a server that ignores Range (200) makes the download start over, not append')
def test_resume_when_server_ignores_range(tmp_path):
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(b'x' * half)
    with serve({'/a.zip': ZIP}, honour_range=False) as (srv, base):
        download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert srv.requests == [('/a.zip', f'bytes={half}-')]   # asked for a range, got 200, started over
    assert dest.read_bytes() == ZIP


@case(component='download', kind='fault', guarantee='a stale .part that spoils the checksum is discarded and the file downloaded once from scratch')
def test_resumed_file_with_bad_checksum_restarts_once(server, tmp_path):
    srv, base = server
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(b'x' * half)
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert [r for _, r in srv.requests] == [f'bytes={half}-', None]
    assert dest.read_bytes() == ZIP


@case(component='download', kind='fault', guarantee='a .part longer than the file (HTTP 416) is discarded and the download starts over')
def test_part_longer_than_file_restarts(server, tmp_path):
    srv, base = server
    dest = tmp_path/'a.zip'
    Path(f'{dest}.part').write_bytes(b'x' * (len(ZIP) + 10))  # server answers 416
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert dest.read_bytes() == ZIP and os.listdir(tmp_path) == ['a.zip']


def test_no_resume_discards_part(server, tmp_path):
    srv, base = server
    dest = tmp_path/'a.zip'
    Path(f'{dest}.part').write_bytes(ZIP[:100])
    download_url(f'{base}/a.zip', dest, resume=False, progress=False, timeout=5)
    assert srv.requests == [('/a.zip', None)] and dest.read_bytes() == ZIP


@case(component='download', kind='trust', guarantee='a checksum mismatch raises ChecksumError naming both digests and leaves neither dest nor .part')
def test_wrong_md5_raises_and_cleans_up(server, tmp_path):
    _, base = server
    dest = tmp_path/'a.zip'
    with pytest.raises(ChecksumError) as ei:
        download_url(f'{base}/a.zip', dest, md5='0' * 32, progress=False, timeout=5)
    msg = str(ei.value)
    assert '0' * 32 in msg and ZIP_MD5 in msg and str(dest) in msg and 'Run again' in msg and 'URL' in msg
    assert not dest.exists() and not Path(f'{dest}.part').exists()


@case(component='download', kind='fault', guarantee='an unreachable server gives a DownloadError naming the URL, the dest and the md5 to fetch by hand')
def test_unreachable_url_says_offline(tmp_path):
    url, dest = f'http://127.0.0.1:{closed_port()}/a.zip', tmp_path/'a.zip'
    with pytest.raises(DownloadError) as ei:
        download_url(url, dest, md5=ZIP_MD5, progress=False, timeout=5)
    msg = str(ei.value)
    assert url in msg and 'offline' in msg and f'place it at {dest}' in msg and ZIP_MD5 in msg
    assert not dest.exists()


def test_http_error(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match='HTTP 404'):
        download_url(f'{base}/missing.zip', tmp_path/'a.zip', progress=False, timeout=5)


def test_file_url(tmp_path):
    src = tmp_path/'src.zip'; src.write_bytes(ZIP)
    assert download_url(src.as_uri(), tmp_path/'a.zip', md5=ZIP_MD5, progress=False).read_bytes() == ZIP


# ---------------------------------------------------------------- extract_archive
def test_extract_zip_is_atomic_and_idempotent(tmp_path):
    (tmp_path/'a.zip').write_bytes(ZIP)
    out = extract_archive(tmp_path/'a.zip', tmp_path/'out')
    assert sorted(p.name for p in (out/TIF).iterdir()) == ['Forest', 'River'] and (out/MARKER).exists()
    (tmp_path/'a.zip').unlink()
    assert extract_archive(tmp_path/'a.zip', tmp_path/'out') == out    # done: the archive is not read again
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']


def test_extract_tar_gz(tmp_path):
    src = tmp_path/'src'; (src/'Forest').mkdir(parents=True); (src/'Forest'/'f.tif').write_bytes(b'x')
    with tarfile.open(tmp_path/'b.tar.gz', 'w:gz') as t: t.add(src, arcname='tif')
    with tarfile.open(tmp_path/'c.tar', 'w') as t: t.add(src, arcname='tif')
    assert (extract_archive(tmp_path/'b.tar.gz', tmp_path/'o1')/'tif'/'Forest'/'f.tif').read_bytes() == b'x'
    assert (extract_archive(tmp_path/'c.tar', tmp_path/'o2')/'tif'/'Forest'/'f.tif').read_bytes() == b'x'


@case(component='archives', kind='trust', guarantee="zip members with '..' or absolute paths are refused before anything is written")
@pytest.mark.parametrize('name', ['../evil.txt', 'a/../../evil.txt', '/tmp/evil.txt'])
def test_zip_slip_refused(tmp_path, name):
    (tmp_path/'slip.zip').write_bytes(make_zip({'ok.txt': b'ok', name: b'evil'}))
    with pytest.raises(UnsafeArchiveError, match='outside'):
        extract_archive(tmp_path/'slip.zip', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['slip.zip']   # nothing extracted, no temp folder
    assert not (tmp_path.parent/'evil.txt').exists()


@case(component='archives', kind='trust', guarantee='tar symlinks pointing outside are refused before anything is written')
@pytest.mark.parametrize('target', ['../../etc', '/etc'])
def test_tar_symlink_outside_refused(tmp_path, target):
    with tarfile.open(tmp_path/'link.tar', 'w') as t:
        ti = tarfile.TarInfo('data/link'); ti.type, ti.linkname = tarfile.SYMTYPE, target; t.addfile(ti)
    with pytest.raises(UnsafeArchiveError, match="link 'data/link'"):
        extract_archive(tmp_path/'link.tar', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['link.tar']


@case(component='archives', kind='fault', guarantee='a truncated archive is refused with a hint to download it again; nothing is left behind')
def test_not_an_archive(tmp_path):
    (tmp_path/'a.zip').write_bytes(ZIP[:200])   # truncated
    with pytest.raises(ValueError, match='neither a zip nor a tar'):
        extract_archive(tmp_path/'a.zip', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.zip']


@case(component='archives', kind='fault', guarantee='a folder without the completion marker is never taken as a finished extraction nor overwritten')
def test_existing_dest_without_marker(tmp_path):
    (tmp_path/'a.zip').write_bytes(ZIP)
    (tmp_path/'out').mkdir(); (tmp_path/'out'/'x').write_text('mine')
    with pytest.raises(FileExistsError, match=MARKER):
        extract_archive(tmp_path/'a.zip', tmp_path/'out')
    assert (tmp_path/'out'/'x').read_text() == 'mine'


# ---------------------------------------------------------------- datasets
def test_specs():
    ms, rgb = REMOTE_DATASETS['eurosat_ms'], REMOTE_DATASETS['eurosat_rgb']
    assert ms.md5 == '5ac12b3b2557aa56e1826e981e8e200e' and ms.subdir == TIF and ms.filename == 'EuroSATallBands.zip'
    assert ms.mirrors and all(m.endswith('EuroSATallBands.zip') for m in ms.mirrors)
    assert rgb.md5 == 'c8fa014336c82ac7804f0398fcb19387' and rgb.subdir == '2750'
    assert 'Helber' in ms.citation and ms.license == 'MIT'


def test_download_dataset(server, tmp_path, monkeypatch):
    srv, base = server
    monkeypatch.setitem(REMOTE_DATASETS, 'eurosat_ms', dataclasses.replace(REMOTE_DATASETS['eurosat_ms'], md5=ZIP_MD5))
    folder = download_dataset('eurosat_ms', root=tmp_path, url=f'{base}/EuroSATallBands.zip', progress=False)
    assert folder == tmp_path/'eurosat_ms'/TIF
    assert (folder/'Forest').is_dir() and sorted(p.name for p in folder.iterdir()) == ['Forest', 'River']
    assert (tmp_path/'downloads'/'EuroSATallBands.zip').read_bytes() == ZIP
    # a second call uses the cache: no network
    assert download_dataset('eurosat_ms', root=tmp_path, url=f'http://127.0.0.1:{closed_port()}/x', progress=False) == folder
    assert len(srv.requests) == 1


def test_download_dataset_tries_mirrors(server, tmp_path, monkeypatch):
    srv, base = server
    dead = f'http://127.0.0.1:{closed_port()}/EuroSATallBands.zip'
    spec = dataclasses.replace(REMOTE_DATASETS['eurosat_ms'], url=dead, md5=ZIP_MD5,
                               mirrors=(f'{base}/missing.zip', f'{base}/EuroSATallBands.zip'))
    monkeypatch.setitem(REMOTE_DATASETS, 'eurosat_ms', spec)
    assert (download_dataset('eurosat_ms', root=tmp_path, progress=False)/'Forest').is_dir()
    monkeypatch.setitem(REMOTE_DATASETS, 'eurosat_rgb', dataclasses.replace(spec, name='eurosat_rgb', mirrors=(f'{base}/missing.zip',)))
    with pytest.raises(DownloadError) as ei:
        download_dataset('eurosat_rgb', root=tmp_path/'r2', progress=False)
    msg = str(ei.value)
    assert dead in msg and 'HTTP 404' in msg and str(tmp_path/'r2'/'downloads'/spec.filename) in msg and ZIP_MD5 in msg


def test_unknown_dataset():
    with pytest.raises(UnknownNameError) as ei: download_dataset('eurosat-ms')
    assert "Did you mean 'eurosat_ms'" in str(ei.value) and 'eurosat_rgb' in str(ei.value)
    with pytest.raises(KeyError): get_remote_dataset('nope')


# ---------------------------------------------------------------- corruption and truncation
@case(component='download', kind='trust', guarantee='a corrupted transfer raises ChecksumError and leaves nothing at dest; the next call with the good file recovers')
def test_corrupted_download_then_recovers(server, tmp_path):
    srv, base = server
    dest, bad = tmp_path/'a.zip', bytearray(ZIP)
    bad[len(bad) // 2] ^= 0xFF                                # one flipped byte in transit
    srv.files['/a.zip'] = bytes(bad)
    with pytest.raises(ChecksumError, match=ZIP_MD5):
        download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert os.listdir(tmp_path) == []                         # neither dest nor .part
    srv.files['/a.zip'] = ZIP
    assert download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5).read_bytes() == ZIP
    assert os.listdir(tmp_path) == ['a.zip']


@case(component='download', kind='trust', guarantee='a server that keeps serving a corrupted file fails after one fresh retry, deleting the bad bytes')
def test_resumed_and_fresh_download_both_corrupt(server, tmp_path):
    srv, base = server
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(ZIP[:half])
    srv.files['/a.zip'] = ZIP[:-1] + bytes([ZIP[-1] ^ 1])
    with pytest.raises(ChecksumError, match='was deleted'):
        download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert [r for _, r in srv.requests] == [f'bytes={half}-', None] and os.listdir(tmp_path) == []


@case(component='download', kind='fault', guarantee='a connection that drops mid-file keeps the bytes in .part (dest absent); the next call resumes to the exact file')
def test_dropped_connection_resumes(server, tmp_path):
    srv, base = server
    dest, srv.cut = tmp_path/'a.zip', 5000
    with pytest.raises(DownloadError, match='run again to resume'):
        download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert not dest.exists() and Path(f'{dest}.part').read_bytes() == ZIP[:5000]
    srv.cut = None
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert srv.requests[-1] == ('/a.zip', 'bytes=5000-') and dest.read_bytes() == ZIP and os.listdir(tmp_path) == ['a.zip']


@case(component='download', kind='fault', guarantee='a corrupted archive in the download cache is downloaded again before extraction')
def test_download_dataset_replaces_corrupt_cached_archive(server, tmp_path, monkeypatch):
    srv, base = server
    monkeypatch.setitem(REMOTE_DATASETS, 'eurosat_ms', dataclasses.replace(REMOTE_DATASETS['eurosat_ms'], md5=ZIP_MD5))
    (tmp_path/'downloads').mkdir(); (tmp_path/'downloads'/'EuroSATallBands.zip').write_bytes(ZIP[:len(ZIP) // 3])
    folder = download_dataset('eurosat_ms', root=tmp_path, url=f'{base}/EuroSATallBands.zip', progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ['Forest', 'River'] and len(srv.requests) == 1
    assert (tmp_path/'downloads'/'EuroSATallBands.zip').read_bytes() == ZIP


# ---------------------------------------------------------------- kill -9
BIG = random.Random(1).randbytes(8 << 20)
BIG_MD5 = hashlib.md5(BIG).hexdigest()
RATE = 4 << 20                                                # bytes/s: the whole file takes 2 s
GET = ("import sys; from eo_nb.download import download_url as d; "
       "d(sys.argv[1], sys.argv[2], md5=sys.argv[3], progress=False, timeout=10)")
GET_DS = ("import sys, dataclasses; from eo_nb import download as d; s = d.REMOTE_DATASETS['eurosat_ms']; "
          "d.REMOTE_DATASETS['eurosat_ms'] = dataclasses.replace(s, md5=sys.argv[3]); "
          "d.download_dataset('eurosat_ms', root=sys.argv[2], url=sys.argv[1], progress=False)")


def _wait(cond, what, timeout=20):
    "Poll `cond` every 2 ms until it holds; fail after `timeout` s."
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end: pytest.fail(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.002)


@contextlib.contextmanager
def _child(code, *args):
    "A Python process running `code` with `args`; always SIGKILLed and reaped on exit."
    proc = subprocess.Popen([sys.executable, '-c', code, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try: yield proc
    finally:
        if proc.poll() is None: proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)


def _kill(proc, delay):
    time.sleep(delay)
    assert proc.poll() is None, f'the process ended before the kill: {proc.stderr.read().decode()[-2000:]}'
    proc.send_signal(signal.SIGKILL); proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


@case(component='download', kind='fault', guarantee='kill -9 at 3 random moments of a download never leaves a partial dest (only a prefix in .part); '
      'resuming with Range gives a byte-identical file with the right md5')
def test_download_survives_kill9(tmp_path):
    rng, dest, part, sizes = random.Random(7), tmp_path/'big.bin', tmp_path/'big.bin.part', [0]
    with serve({'/big.bin': BIG}, rate=RATE) as (srv, base):
        for i in range(3):
            with _child(GET, f'{base}/big.bin', dest, BIG_MD5) as proc:
                _wait(lambda: len(srv.requests) > i or proc.poll() is not None, 'the download to start')
                _kill(proc, rng.uniform(0.3, 0.55))           # at most 3 x 2.2 MB of the 8 MB: always mid-file
            assert srv.requests[i] == ('/big.bin', f'bytes={sizes[-1]}-' if sizes[-1] else None)   # resumed where the last stopped
            got = part.read_bytes()
            assert not dest.exists() and os.listdir(tmp_path) == ['big.bin.part']
            assert len(got) >= sizes[-1] and len(got) < len(BIG) and BIG.startswith(got)   # a prefix, never garbage
            sizes.append(len(got))
        assert sizes[-1] > 0
        download_url(f'{base}/big.bin', dest, md5=BIG_MD5, progress=False, timeout=10)   # uninterrupted
        assert srv.requests[3:] == [('/big.bin', f'bytes={sizes[-1]}-')]
    assert dest.read_bytes() == BIG and file_hash(dest) == BIG_MD5 and os.listdir(tmp_path) == ['big.bin']


def _tree(d:Path)->dict:
    "{relative path: md5} of every file under `d`."
    return {str(p.relative_to(d)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(d.rglob('*')) if p.is_file()}


@case(component='download', kind='fault', guarantee='kill -9 during a dataset download and twice during its extraction never leaves a dataset folder '
      'that looks complete; the next call finishes with the same files as an uninterrupted run and removes the dead temp folders')
def test_download_dataset_survives_kill9(tmp_path, monkeypatch):
    r = random.Random(11)
    big = make_zip({f'{TIF}/C{i % 10}/f{i}.tif': r.randbytes(3000) for i in range(4000)})   # 12 MB, ~0.5 s to extract
    md5, root, ref = hashlib.md5(big).hexdigest(), tmp_path/'root', tmp_path/'ref'
    monkeypatch.setitem(REMOTE_DATASETS, 'eurosat_ms', dataclasses.replace(REMOTE_DATASETS['eurosat_ms'], md5=md5))
    dest, rng = root/'eurosat_ms', random.Random(5)
    tmps = lambda: sorted(root.glob('.eurosat_ms.*.extracting'))
    with serve({'/e.zip': big}, rate=8 << 20) as (srv, base):
        url = f'{base}/e.zip'
        with _child(GET_DS, url, root, md5) as proc:          # 1: during the download
            _wait(lambda: srv.requests or proc.poll() is not None, 'the download to start')
            _kill(proc, rng.uniform(0.2, 0.6))
        assert not dest.exists() and os.listdir(root/'downloads') == ['EuroSATallBands.zip.part']
        for i in range(2):                                    # 2, 3: during the extraction
            with _child(GET_DS, url, root, md5) as proc:
                k = rng.randint(50, 2000)                     # kill once k of the 4000 files are out: surely mid-extraction
                _wait(lambda: any(f'-{proc.pid}.' in t.name and sum(1 for _ in t.rglob('*.tif')) >= k for t in tmps())
                      or proc.poll() is not None, f'{k} files extracted')
                _kill(proc, 0)
            assert not dest.exists()                          # never a dataset folder without its marker
            left = tmps()                                     # half-done, hidden, unmarked; the one of the earlier kill removed
            assert [f'-{proc.pid}.' in t.name for t in left] == [True] and not (left[0]/MARKER).exists()
            assert (root/'downloads'/'EuroSATallBands.zip').read_bytes() == big
        n = len(srv.requests)
        folder = download_dataset('eurosat_ms', root=root, url=url, progress=False)
        assert len(srv.requests) == n                         # the verified archive is reused
        srv.rate = None
        assert download_dataset('eurosat_ms', root=ref, url=url, progress=False) == ref/'eurosat_ms'/TIF   # uninterrupted
    assert folder == dest/TIF and (dest/MARKER).exists()
    assert sorted(os.listdir(root)) == sorted(os.listdir(ref)) == ['downloads', 'eurosat_ms']   # dead temp folders removed
    assert _tree(dest) == _tree(ref/'eurosat_ms') and len(_tree(dest)) == 4001
