"""A mount that cannot work says why in one line and exits non-zero before daemonizing."""
import http.server
import os
import socket
import subprocess
import tempfile
import threading

import pytest
from conftest import BIN
from s3_proxy import S3Proxy


def run_mount(stack, source, opts, env=None, timeout=60):
    mnt = tempfile.mkdtemp(prefix="tfs-mnt-")
    penv = dict(os.environ)
    penv.update({"AWS_ACCESS_KEY_ID": stack["AWS_ACCESS_KEY_ID"],
                 "AWS_SECRET_ACCESS_KEY": stack["AWS_SECRET_ACCESS_KEY"], "AWS_REGION": "us-east-1"})
    penv.update(env or {})
    r = subprocess.run([BIN, source, mnt, "-o", ",".join(opts)], capture_output=True, text=True,
                       env=penv, timeout=timeout)
    mounted = os.path.ismount(mnt)
    if mounted:
        subprocess.run(["fusermount3", "-u", mnt])
    os.rmdir(mnt)
    return r, mounted


def assert_one_clear_line(r, mounted, *words, skip_lines=0):
    """One line says what is wrong (after skip_lines of log that came before)."""
    assert r.returncode != 0 and not mounted
    lines = r.stderr.strip().splitlines()[skip_lines:]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def local_opts(stack):
    return ["endpoint=" + stack["TFS_S3_ENDPOINT"], "use_path_style"]


def test_wrong_bucket(stack):
    r, mounted = run_mount(stack, "no-such-bucket-here", local_opts(stack))
    assert_one_clear_line(r, mounted, "no-such-bucket-here", "does not exist")


def test_wrong_secret(stack, bucket):
    r, mounted = run_mount(stack, bucket, local_opts(stack), {"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert_one_clear_line(r, mounted, "secret key is wrong", "SignatureDoesNotMatch")


def test_unknown_access_key(stack, bucket):
    r, mounted = run_mount(stack, bucket, local_opts(stack), {"AWS_ACCESS_KEY_ID": "NOSUCHKEY"})
    assert_one_clear_line(r, mounted, "access key", "InvalidAccessKeyId")


def test_unreachable_endpoint(stack):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r, mounted = run_mount(stack, "tfstate", ["endpoint=http://127.0.0.1:%d" % port, "use_path_style"])
    assert_one_clear_line(r, mounted, "cannot reach", "127.0.0.1:%d" % port)


def test_no_credentials(stack, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": str(tmp_path),
           "AWS_PROFILE": ""}
    r, mounted = run_mount(stack, "tfstate", local_opts(stack), env)
    assert_one_clear_line(r, mounted, "credentials")


class RedirectingS3(http.server.BaseHTTPRequestHandler):
    """Plays AWS S3 answering for a bucket that lives in another region (radosgw
    does not check regions, so this is the only way to see AWS's answer here)."""
    def do_GET(self):
        body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
                b'<Message>The bucket you are attempting to access must be addressed using the '
                b'specified endpoint.</Message><Endpoint>tf.s3.eu-west-1.amazonaws.com</Endpoint>'
                b'<Bucket>tf</Bucket><RequestId>R1</RequestId></Error>')
        self.send_response(301)
        self.send_header("x-amz-bucket-region", "eu-west-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_a_bucket_that_keeps_redirecting_is_named(stack):
    """The region is followed once; a server that redirects there too is an endpoint
    problem, said in one line."""
    srv = http.server.HTTPServer(("127.0.0.1", 0), RedirectingS3)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r, mounted = run_mount(stack, "tf", ["endpoint=http://127.0.0.1:%d" % srv.server_port,
                                             "use_path_style", "region=us-east-1"])
    finally:
        srv.shutdown()
    assert "is in region eu-west-1, not us-east-1: using eu-west-1" in r.stderr
    assert_one_clear_line(r, mounted, "still redirects to region eu-west-1", "-o endpoint",
                          skip_lines=1)


def region_proxy(stack, answer):
    """radosgw behind a proxy that plays a bucket living in eu-west-1: a request signed
    for another region gets AWS's answer (answer: "301" or "400"), one signed for
    eu-west-1 goes through."""
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))

    def redirect(method, path, headers):
        if "/eu-west-1/s3/aws4_request" in headers.get("Authorization", ""):
            return None
        if answer == "301":
            return (301, [("x-amz-bucket-region", "eu-west-1")],
                    b"<Error><Code>PermanentRedirect</Code><Message>The bucket you are "
                    b"attempting to access must be addressed using the specified endpoint."
                    b"</Message></Error>")
        return (400, [], b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region "
                b"'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region>"
                b"</Error>")
    proxy.before_forward = redirect
    return proxy


@pytest.mark.parametrize("answer", ["301", "400"])
def test_a_bucket_in_another_region_is_found_and_followed(stack, s3, bucket, mount, answer):
    s3.put_object(Bucket=bucket, Key="app/terraform.tfstate", Body=b"{}")
    proxy = region_proxy(stack, answer)
    try:
        m = mount(bucket, ["region=us-east-1"],
                  endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        with open(m.p("app/terraform.tfstate"), "rb") as f:
            assert f.read() == b"{}"
        assert "bucket %s is in region eu-west-1, not us-east-1: using eu-west-1" % bucket in m.log()
        signed = [h["Authorization"] for _, _, h in proxy.requests]
        assert all("/eu-west-1/" in a for a in signed[1:]), "one detour, then the right region"
        assert sum("/us-east-1/" in a for a in signed) == 1
    finally:
        proxy.close()


@pytest.mark.parametrize("value", ["0", "lots", "2000000"])
def test_max_cache_mb_must_be_a_size_in_range(stack, bucket, value):
    r, mounted = run_mount(stack, bucket, local_opts(stack) + ["max_cache_mb=" + value])
    assert r.returncode != 0 and not mounted
    assert "max_cache_mb" in r.stderr


def test_help_and_version():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for opt in ("region=", "endpoint=", "use_path_style", "profile=", "workspace_key_prefix=",
                "cache_ttl=", "max_cache_mb=", "uid=", "umask=", "role_arn=", "sts_endpoint=", "dynamodb_table="):
        assert opt in r.stdout
    # A summary that fits a tall terminal; the README has the whole table.
    assert len(r.stdout.splitlines()) <= 36
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("tfstatefs ")


def test_missing_arguments():
    r = subprocess.run([BIN], capture_output=True, text=True)
    assert r.returncode != 0 and "usage" in r.stderr


def test_daemonized_mount_and_unmount(stack, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/terraform.tfstate", Body=b"{}")
    mnt = tempfile.mkdtemp(prefix="tfs-mnt-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack["AWS_SECRET_ACCESS_KEY"])
    r = subprocess.run([BIN, bucket, mnt, "-o", ",".join(local_opts(stack) + ["region=us-east-1"])],
                       env=env, capture_output=True, text=True, timeout=30)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mnt)
        with open(os.path.join(mnt, "a/terraform.tfstate"), "rb") as f:
            assert f.read() == b"{}"
        assert "tfstatefs" in open("/proc/mounts").read()
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        os.rmdir(mnt)
