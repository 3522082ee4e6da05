"""HTTPS endpoints: the certificate is verified; -o ca_file= adds a private CA."""
import pytest
from conftest import put_objects
from test_mount_errors import assert_one_clear_line, run_mount
from tls_proxy import TlsProxy, make_cert


@pytest.fixture
def https(stack, s3, bucket, tmp_path):
    """A state behind an HTTPS proxy with a self-signed certificate: (cert, port, endpoint)."""
    put_objects(s3, bucket, {"tls/terraform.tfstate": b"over https"})
    cert, key = make_cert(tmp_path)
    proxy = TlsProxy(int(stack["TFS_S3_PORT"]), cert, key)
    yield cert, proxy.port, "endpoint=https://127.0.0.1:%d" % proxy.port
    proxy.close()


def test_untrusted_certificate_is_refused_and_ca_file_trusts_it(stack, bucket, mount, https):
    cert, _, endpoint = https
    r, mounted = run_mount(stack, bucket, [endpoint, "use_path_style"])
    assert_one_clear_line(r, mounted, "cannot reach", "certificate", "-o ca_file=")
    m = mount(bucket, ["ca_file=" + cert], endpoint_options=[endpoint, "use_path_style"])
    with open(m.p("tls/terraform.tfstate"), "rb") as f:
        assert f.read() == b"over https"
    m.unmount()


def test_insecure_tls_skips_the_check_only_when_asked_and_says_so(bucket, mount, https):
    _, port, endpoint = https
    m = mount(bucket, ["insecure_tls"], endpoint_options=[endpoint, "use_path_style"])
    with open(m.p("tls/terraform.tfstate"), "rb") as f:
        assert f.read() == b"over https"
    assert "insecure_tls: certificates of https://127.0.0.1:%d are NOT checked" % port in m.log()
    m.unmount()
