"""BENCH_LATENCY_MS: an HTTP proxy in front of radosgw that holds every answer for a fixed
time, as a far-away S3 endpoint would, and changes nothing else.

    proxy = LatencyProxy(backend_port, seconds)    # proxy.endpoint: http://127.0.0.1:PORT
    proxy.close()

Requests reach radosgw as the client sent them (method, path and query, every header,
Host included, in order): the SigV4 signature the client made for the proxy's address
still matches. Each client connection keeps one connection to radosgw of its own, so a
client's parallel connections stay parallel and none waits on another's answer. Bodies
are streamed in both directions, and a HEAD's Content-Length goes back as radosgw gave it
(tests/integration/s3_proxy.py, which replies with the length of the body it read, would
tell a HEAD the object is empty).
"""
import http.client
import http.server
import threading
import time

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}
CHUNK = 1 << 20


class LatencyProxy:
    def __init__(self, backend_port, seconds):
        self.backend_port, self.seconds = backend_port, seconds
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            backend = None

            def _ask(self, body):
                conn = self.backend
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body)
                return conn.getresponse()

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.backend is None:
                    self.backend = http.client.HTTPConnection("127.0.0.1", proxy.backend_port,
                                                              timeout=120)
                try:
                    resp = self._ask(body)
                except (OSError, http.client.HTTPException):
                    self.backend.close()   # radosgw closed a kept-alive connection: afresh
                    resp = self._ask(body)
                time.sleep(proxy.seconds)
                self.send_response_only(resp.status, resp.reason)
                headers = resp.getheaders()
                for k, v in headers:
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                if self.command == "HEAD" or resp.status in (204, 304) or resp.length is not None:
                    self.end_headers()
                    while self.command != "HEAD":
                        data = resp.read(CHUNK)
                        if not data:
                            break
                        self.wfile.write(data)
                else:   # chunked from radosgw: whole, with its length
                    data = resp.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                resp.close()
                if resp.will_close:
                    self.backend.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def finish(self):
                super().finish()
                if self.backend is not None:
                    self.backend.close()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
