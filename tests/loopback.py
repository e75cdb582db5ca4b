"""A local HTTP server on 127.0.0.1 for the download tests (no internet here): serves bytes by path or by file name."""
import contextlib, dataclasses, hashlib, http.server, threading

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        data = self.server.files.get(self.path.rsplit('/', 1)[-1] if self.server.by_name else self.path)
        if data is None: return self.send_error(404)
        self.send_response(200); self.send_header('Content-Length', str(len(data))); self.end_headers()
        try: self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError): pass     # the client went away
    def log_message(self, *args): pass

@contextlib.contextmanager
def serve(files, by_name=False, prefix=''):
    "Serve `files` ({'/path': bytes}, or {'name': bytes} under any folder with `by_name`); yields (server, base_url + prefix); always shut down."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.files, srv.requests, srv.by_name = dict(files), [], by_name
    th = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    th.start()
    try: yield srv, f'http://127.0.0.1:{srv.server_address[1]}{prefix}'
    finally:
        srv.shutdown(); srv.server_close(); th.join(5)

def patch_entry(monkeypatch, benchmarks, name, files):
    "Re-register catalogue entry `name` with the md5s of the miniature `files` ({filename: bytes}), restored after the test."
    b = benchmarks[name]
    fs = tuple(dataclasses.replace(f, md5=hashlib.md5(files[f.filename]).hexdigest(), sha256='') for f in b.files)
    monkeypatch.setitem(benchmarks, name, dataclasses.replace(b, files=fs))
