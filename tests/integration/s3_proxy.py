"""An HTTP proxy of the tests' own in front of radosgw: it records every request and can
change what passes, to play S3 behaviours and faults radosgw does not have.

    proxy = S3Proxy(backend_port)
    proxy.rewrite_response = lambda method, path, req_headers, status, headers, body: \
        (status, headers, body)                  # may answer something else
    proxy.before_forward = lambda method, path, req_headers: \
        None                                     # forward as usual, or
        (status, [(name, value), ...], body)     # answer this instead, radosgw never asked
    proxy.requests      -> [(method, path, headers), ...]
    proxy.bodies        -> [request body bytes, ...] (same order)

It speaks plain HTTP to any backend port: in front of dynalite it plays DynamoDB faults
the same way (the operation is in the X-Amz-Target header).

Requests go through unchanged: every header the client signed must reach radosgw as it
was, or the signature would not match.
"""
import http.client
import http.server
import threading


class S3Proxy:
    def __init__(self, backend_port):
        self.backend_port = backend_port
        self.requests = []
        self.bodies = []
        self.rewrite_response = None
        self.before_forward = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()}
                proxy.requests.append((self.command, self.path, dict(headers)))
                proxy.bodies.append(body or b"")
                if proxy.before_forward:
                    answer = proxy.before_forward(self.command, self.path, dict(headers))
                    if answer is not None:
                        self._reply(*answer)
                        return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.backend_port, timeout=30)
                # Host stays as the client sent and signed it.
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body)
                resp = conn.getresponse()
                status, rheaders, data = resp.status, resp.getheaders(), resp.read()
                if proxy.rewrite_response:
                    status, rheaders, data = proxy.rewrite_response(
                        self.command, self.path, headers, status, rheaders, data)
                conn.close()
                self._reply(status, rheaders, data)

            def _reply(self, status, rheaders, data):
                self.send_response_only(status)
                for k, v in rheaders:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.endpoint = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
