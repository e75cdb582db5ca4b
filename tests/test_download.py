"Tests for eo_nb.download against a local HTTP server on 127.0.0.1 (no internet needed)."
import contextlib, dataclasses, hashlib, http.server, io, os, random, socket, tarfile, threading, zipfile
from pathlib import Path

import pytest

from eo_nb.core import UnknownNameError
from eo_nb.download import (MARKER, REMOTE_DATASETS, ChecksumError, DownloadError, UnsafeArchiveError,
                            download_dataset, download_url, extract_archive, file_hash, get_remote_dataset)

TIF = 'ds/images/remote_sensing/otherDatasets/sentinel_2/tif'


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
        self.wfile.write(data[start:])

    def log_message(self, *args): pass


@contextlib.contextmanager
def serve(files, honour_range=True):
    "Serve `files` ({'/path': bytes}) on 127.0.0.1; yields (server, base_url); always shut down."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.files, srv.requests, srv.honour_range = files, [], honour_range
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


def test_existing_file_with_wrong_checksum_is_replaced(server, tmp_path):
    _, base = server
    dest = tmp_path/'a.zip'; dest.write_bytes(b'old version')
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert dest.read_bytes() == ZIP


def test_resume_with_range(server, tmp_path):
    srv, base = server
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(ZIP[:half])
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert srv.requests == [('/a.zip', f'bytes={half}-')]
    assert dest.read_bytes() == ZIP and os.listdir(tmp_path) == ['a.zip']


def test_resume_when_server_ignores_range(tmp_path):
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(b'x' * half)
    with serve({'/a.zip': ZIP}, honour_range=False) as (srv, base):
        download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert srv.requests == [('/a.zip', f'bytes={half}-')]   # asked for a range, got 200, started over
    assert dest.read_bytes() == ZIP


def test_resumed_file_with_bad_checksum_restarts_once(server, tmp_path):
    srv, base = server
    dest, half = tmp_path/'a.zip', len(ZIP) // 2
    Path(f'{dest}.part').write_bytes(b'x' * half)
    download_url(f'{base}/a.zip', dest, md5=ZIP_MD5, progress=False, timeout=5)
    assert [r for _, r in srv.requests] == [f'bytes={half}-', None]
    assert dest.read_bytes() == ZIP


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


def test_wrong_md5_raises_and_cleans_up(server, tmp_path):
    _, base = server
    dest = tmp_path/'a.zip'
    with pytest.raises(ChecksumError) as ei:
        download_url(f'{base}/a.zip', dest, md5='0' * 32, progress=False, timeout=5)
    msg = str(ei.value)
    assert '0' * 32 in msg and ZIP_MD5 in msg and str(dest) in msg and 'Run again' in msg and 'URL' in msg
    assert not dest.exists() and not Path(f'{dest}.part').exists()


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


@pytest.mark.parametrize('name', ['../evil.txt', 'a/../../evil.txt', '/tmp/evil.txt'])
def test_zip_slip_refused(tmp_path, name):
    (tmp_path/'slip.zip').write_bytes(make_zip({'ok.txt': b'ok', name: b'evil'}))
    with pytest.raises(UnsafeArchiveError, match='outside'):
        extract_archive(tmp_path/'slip.zip', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['slip.zip']   # nothing extracted, no temp folder
    assert not (tmp_path.parent/'evil.txt').exists()


@pytest.mark.parametrize('target', ['../../etc', '/etc'])
def test_tar_symlink_outside_refused(tmp_path, target):
    with tarfile.open(tmp_path/'link.tar', 'w') as t:
        ti = tarfile.TarInfo('data/link'); ti.type, ti.linkname = tarfile.SYMTYPE, target; t.addfile(ti)
    with pytest.raises(UnsafeArchiveError, match="link 'data/link'"):
        extract_archive(tmp_path/'link.tar', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['link.tar']


def test_not_an_archive(tmp_path):
    (tmp_path/'a.zip').write_bytes(ZIP[:200])   # truncated
    with pytest.raises(ValueError, match='neither a zip nor a tar'):
        extract_archive(tmp_path/'a.zip', tmp_path/'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.zip']


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
