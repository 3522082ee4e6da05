"""A TLS-terminating TCP proxy in front of the local radosgw, with a throwaway CA, so the
tests can check that certificates are verified (radosgw itself serves plain HTTP here)."""
import socket
import ssl
import subprocess
import threading


def make_cert(dirpath):
    """A self-signed certificate for 127.0.0.1; returns (cert, key) paths."""
    cert, key = str(dirpath / "cert.pem"), str(dirpath / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class TlsProxy:
    def __init__(self, backend_port, cert, key):
        self.backend_port = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # the client refused our certificate: what the test wants to see
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        threading.Thread(target=self._pipe, args=(backend, tls), daemon=True).start()
        self._pipe(tls, backend)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.running = False
        self.sock.close()
