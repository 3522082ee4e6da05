"""An HTTP proxy of the tests' own in front of radosgw: it records every request and can
change what passes, to play S3 behaviours and faults radosgw does not have.

    proxy = S3Proxy(backend_port)
    proxy.rewrite_response = lambda method, path, req_headers, status, headers, body: \
        (status, headers, body)                  # may answer something else
    proxy.before_forward = lambda method, path, req_headers: \
        None                                     # forward as usual, or
        (status, [(name, value), ...], body)     # answer this instead, radosgw never asked
    proxy.fault = lambda method, path, req_headers: \
        None or Fault(kind, ...)                 # break this exchange (see Fault)
    proxy.ack_waits = []                         # a GET's headers and body written apart,
                                                 # the body only once the client has acked
                                                 # the headers: how long each ack took (s)
    proxy.requests      -> [(method, path, headers), ...]
    proxy.faults        -> how many exchanges a Fault broke
    proxy.bodies        -> [request body bytes, ...] (same order)

It speaks plain HTTP to any backend port: in front of dynalite it plays DynamoDB faults
the same way (the operation is in the X-Amz-Target header).

Requests go through unchanged: every header the client signed must reach radosgw as it
was, or the signature would not match.
"""
import fcntl
import http.client
import http.server
import socket
import struct
import termios
import threading
import time


class Fault:
    """One way to break an exchange:
      error     answer status with an S3 error document of code; radosgw never asked
      delay     wait seconds, then pass it on
      stall     never answer (until the client gives up or the proxy closes)
      reset     pass it on, send the headers and `fraction` of the body, then reset the
                connection (TCP RST)
      short     pass it on with a Content-Length 100 bytes over the body, then close
      truncate  pass it on cut to `fraction` of its body, Content-Length saying so: a
                complete HTTP answer whose document is cut short
    """

    def __init__(self, kind, status=503, code="SlowDown", seconds=0.0, fraction=0.5):
        self.kind, self.status, self.code = kind, status, code
        self.seconds, self.fraction = seconds, fraction

    def error_body(self):
        return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>"
                "injected by the test proxy</Message><RequestId>tx-fault-%d</RequestId></Error>"
                % (self.code, id(self) % 100000)).encode()


class S3Proxy:
    def __init__(self, backend_port):
        self.backend_port = backend_port
        self.requests = []
        self.bodies = []
        self.rewrite_response = None
        self.before_forward = None
        self.fault = None
        self.faults = 0
        self.ack_waits = None
        self.closed = threading.Event()
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
                fault = proxy.fault(self.command, self.path, dict(headers)) if proxy.fault else None
                if fault:
                    proxy.faults += 1
                    if fault.kind == "error":
                        self._reply(fault.status, [("Content-Type", "application/xml")],
                                    fault.error_body())
                        return
                    if fault.kind == "stall":
                        proxy.closed.wait(300)
                        self.close_connection = True
                        return
                    if fault.kind == "delay":
                        time.sleep(fault.seconds)
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
                if fault and fault.kind in ("reset", "short", "truncate"):
                    self._break(fault, status, rheaders, data)
                    return
                self._reply(status, rheaders, data)

            def _break(self, fault, status, rheaders, data):
                cut = data[:int(len(data) * fault.fraction)]
                if fault.kind == "truncate":
                    self._reply(status, rheaders, cut)
                    return
                self.send_response_only(status)
                for k, v in rheaders:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                length = len(data) + 100 if fault.kind == "short" else len(data)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(data if fault.kind == "short" else cut)
                self.wfile.flush()
                if fault.kind == "reset":   # RST, not FIN: SO_LINGER with a zero timeout
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _reply(self, status, rheaders, data):
                self.send_response_only(status)
                for k, v in rheaders:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if proxy.ack_waits is not None and self.command == "GET" and data:
                    proxy.ack_waits.append(self._wait_for_ack())
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _wait_for_ack(self, limit=1.0):
                """As Nagle's algorithm holds a small write back while anything sent is
                unacknowledged: waits until the client has acked all sent (TIOCOUTQ: bytes
                not yet acked), at most limit seconds; returns how long that took."""
                start = time.monotonic()
                while time.monotonic() - start < limit:
                    out = fcntl.ioctl(self.connection.fileno(), termios.TIOCOUTQ, b"\0" * 4)
                    if struct.unpack("i", out)[0] == 0:
                        break
                    time.sleep(0.0002)
                return time.monotonic() - start

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.endpoint = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()
