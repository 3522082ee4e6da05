"""SSE-C: states and locks encrypted with a customer key (Terraform's sse_customer_key)
are read with the key from -o sse_customer_key_file or AWS_SSE_CUSTOMER_KEY; without it,
or with another key, reading fails with EACCES and one log line saying what to do; the
key never shows in a log.

radosgw needs `rgw crypt require ssl = false` for SSE-C over plain HTTP (tests/stack/start.sh
sets it). Where AWS answers differently from radosgw, a recording proxy plays AWS."""
import base64
import errno
import hashlib
import json
import os
import subprocess

import pytest
from s3_proxy import S3Proxy
from test_locks import cat, expected_lines, lock_body, rm
from test_mount_errors import assert_one_clear_line, local_opts, run_mount

KEY = bytes(range(7, 39))
KEY_B64 = base64.b64encode(KEY).decode()
KEY_MD5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
OTHER_KEY_B64 = base64.b64encode(bytes(range(100, 132))).decode()
NO_KEY = {"AWS_SSE_CUSTOMER_KEY": ""}
SSEC_HEADERS = ("x-amz-server-side-encryption-customer-algorithm",
                "x-amz-server-side-encryption-customer-key",
                "x-amz-server-side-encryption-customer-key-md5")

STATE = "team/app/terraform.tfstate"
LOCK = STATE + ".tflock"
PLAIN = "legacy/terraform.tfstate"
BIG = "big/terraform.tfstate"


def put_ssec(s3, bucket, key, body):
    s3.put_object(Bucket=bucket, Key=key, Body=body, SSECustomerAlgorithm="AES256",
                  SSECustomerKey=KEY)


@pytest.fixture
def states(s3, bucket):
    """An SSE-C state and its SSE-C lock, as Terraform with sse_customer_key writes them,
    and a plain state beside them (written before the key was configured)."""
    objs = {STATE: json.dumps({"version": 4, "serial": 7, "lineage": "ssec"}).encode(),
            LOCK: lock_body(bucket, STATE),
            PLAIN: b'{"version":4,"serial":1}'}
    for key, body in objs.items():
        if key == PLAIN:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        else:
            put_ssec(s3, bucket, key, body)
    return objs


@pytest.fixture
def key_file(tmp_path):
    p = tmp_path / "sse.key"
    p.write_text(KEY_B64 + "\n")
    p.chmod(0o600)
    return str(p)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_reads_everything(m, bucket, states):
    assert read(m.p(STATE)) == states[STATE]
    assert read(m.p(PLAIN)) == states[PLAIN]
    doc = json.loads(states[LOCK])
    assert cat(m.p(LOCK)).decode().splitlines() == expected_lines(doc)
    assert os.getxattr(m.p(LOCK), "user.tflock.json") == states[LOCK]
    assert os.stat(m.p(LOCK)).st_size == len(cat(m.p(LOCK)))


def assert_eacces(path):
    with pytest.raises(PermissionError) as e:
        read(path)
    assert e.value.errno == errno.EACCES
    r = subprocess.run(["cat", path], capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr


def log_lines(m, word):
    return [line for line in m.log().splitlines() if word in line]


# ------------------------------------------------------------------- reading

def test_states_and_locks_read_with_the_key_from_a_file(s3, bucket, mount, states, key_file):
    m = mount(bucket, ["sse_customer_key_file=" + key_file], env=NO_KEY)
    assert_reads_everything(m, bucket, states)
    assert m.log() == ""
    status = open(m.p(".tfstatefs/status")).read()
    assert "sse_customer_key\tset\n" in status and KEY_B64 not in status


def test_the_key_from_aws_sse_customer_key(s3, bucket, mount, states):
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": KEY_B64})
    assert_reads_everything(m, bucket, states)


def test_the_option_wins_over_the_environment(s3, bucket, mount, states, key_file):
    m = mount(bucket, ["sse_customer_key_file=" + key_file],
              env={"AWS_SSE_CUSTOMER_KEY": OTHER_KEY_B64})
    assert_reads_everything(m, bucket, states)


def test_a_large_state_is_read_in_ranges_pinned_to_its_etag(s3, bucket, mount):
    body = os.urandom(8 * 1024 * 1024) + b"tail of the state"   # two ranged GETs
    put_ssec(s3, bucket, BIG, body)
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": KEY_B64})
    assert hashlib.sha256(read(m.p(BIG))).digest() == hashlib.sha256(body).digest()


def test_a_lock_is_removed_with_the_key(s3, bucket, mount, states):
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": KEY_B64})
    cat(m.p(LOCK))
    r = rm(m.p(LOCK))
    assert r.returncode == 0, r.stderr + m.log()
    assert LOCK not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]


def test_a_lock_made_is_written_with_the_key(s3, bucket, mount, states):
    """-o lock_create: the lock made is an SSE-C object, as Terraform writes it with
    sse_customer_key; without the key it cannot be read."""
    other = "team/new/terraform.tfstate"
    put_ssec(s3, bucket, other, b'{"version":4,"serial":1}')
    m = mount(bucket, ["lock_create"], env={"AWS_SSE_CUSTOMER_KEY": KEY_B64})
    r = subprocess.run(["sh", "-c", "echo 'frozen for INC-1' > '%s'" % m.p(other + ".tflock")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + m.log()
    got = s3.get_object(Bucket=bucket, Key=other + ".tflock", SSECustomerAlgorithm="AES256",
                        SSECustomerKey=KEY)
    assert got["SSECustomerKeyMD5"] == KEY_MD5
    assert json.loads(got["Body"].read())["Info"] == "frozen for INC-1"
    with pytest.raises(Exception):
        s3.get_object(Bucket=bucket, Key=other + ".tflock")
    assert "Info:      frozen for INC-1" in cat(m.p(other + ".tflock")).decode()
    assert rm(m.p(other + ".tflock")).returncode == 0


# ------------------------------------------------------- missing or wrong key

def test_without_the_key_reading_is_eacces_with_one_line_saying_what_to_do(
        s3, bucket, mount, states):
    m = mount(bucket, env=NO_KEY)
    assert_eacces(m.p(STATE))
    lines = log_lines(m, STATE + " ")
    assert len(lines) == 2, m.log()          # one per cat: Python's open, then cat(1)
    assert "SSE-C" in lines[0], lines[0]
    assert "mount with -o sse_customer_key_file=PATH or AWS_SSE_CUSTOMER_KEY" in lines[0]
    with pytest.raises(PermissionError):
        os.stat(m.p(LOCK))
    assert "sse_customer_key_file=PATH" in log_lines(m, LOCK)[0]
    assert read(m.p(PLAIN)) == states[PLAIN]   # the plain state beside them reads


def test_another_key_is_eacces_and_says_the_key_does_not_match(s3, bucket, mount, states):
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": OTHER_KEY_B64})
    assert_eacces(m.p(STATE))
    line = log_lines(m, STATE + " ")[0]
    assert "does not match" in line and "AWS_SSE_CUSTOMER_KEY" in line, line
    with pytest.raises(PermissionError):
        os.stat(m.p(LOCK))
    assert read(m.p(PLAIN)) == states[PLAIN]


# ------------------------------------------------ what goes on the wire

@pytest.fixture
def proxy(stack):
    p = S3Proxy(int(stack["TFS_S3_PORT"]))
    yield p
    p.close()


def through(proxy):
    return ["endpoint=" + proxy.endpoint, "use_path_style"]


def is_list(path):
    return "list-type=2" in path


def test_gets_of_states_and_locks_carry_the_key_list_and_delete_do_not(
        s3, bucket, mount, states, proxy):
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": KEY_B64}, endpoint_options=through(proxy))
    assert_reads_everything(m, bucket, states)
    assert rm(m.p(LOCK)).returncode == 0, m.log()
    seen = {"GET": 0, "LIST": 0, "DELETE": 0}
    for method, path, headers in proxy.requests:
        h = {k.lower(): v for k, v in headers.items()}
        kind = "LIST" if method == "GET" and is_list(path) else method
        seen[kind] += 1
        if kind == "GET":
            assert h[SSEC_HEADERS[0]] == "AES256"
            assert h[SSEC_HEADERS[1]] == KEY_B64
            assert h[SSEC_HEADERS[2]] == KEY_MD5
            assert all(name in h["authorization"] for name in SSEC_HEADERS)  # signed
        else:
            assert not any(name in h for name in SSEC_HEADERS), (method, path)
    assert seen["GET"] >= 4 and seen["LIST"] >= 1 and seen["DELETE"] == 1, seen


def aws_error(status, code, message):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
            '</Message><RequestId>AWSREQ1</RequestId></Error>' % (code, message)).encode()
    return status, [("Content-Type", "application/xml")], body


def test_a_plain_object_aws_refuses_the_key_for_is_fetched_again_without(
        s3, bucket, mount, states, proxy):
    """AWS answers a key sent for an object that is not SSE-C with 400; radosgw takes it."""
    def play_aws(method, path, headers):
        keyed = SSEC_HEADERS[1] in {k.lower() for k in headers}
        if method == "GET" and path.endswith("/" + PLAIN) and keyed:
            return aws_error(400, "InvalidRequest",
                             "The encryption parameters are not applicable to this object.")
        return None
    proxy.before_forward = play_aws
    m = mount(bucket, env={"AWS_SSE_CUSTOMER_KEY": KEY_B64}, endpoint_options=through(proxy))
    assert read(m.p(PLAIN)) == states[PLAIN]
    assert read(m.p(STATE)) == states[STATE]
    gets = [{k.lower() for k in h} for meth, p, h in proxy.requests
            if meth == "GET" and p.endswith("/" + PLAIN)]
    assert len(gets) == 2 and SSEC_HEADERS[1] in gets[0] and SSEC_HEADERS[1] not in gets[1]
    assert m.log() == ""


@pytest.mark.parametrize("env, answer, says", [
    (NO_KEY, (400, "InvalidRequest", "The object was stored using a form of Server Side "
              "Encryption. The correct parameters must be provided to retrieve the object."),
     "mount with -o sse_customer_key_file=PATH or AWS_SSE_CUSTOMER_KEY"),
    ({"AWS_SSE_CUSTOMER_KEY": OTHER_KEY_B64}, (403, "AccessDenied", "Access Denied"),
     "does not match the object's, or the credentials lack s3:GetObject"),
], ids=["no-key", "wrong-key"])
def test_aws_answers_are_eacces_too(s3, bucket, mount, states, proxy, env, answer, says):
    def play_aws(method, path, headers):
        if method == "GET" and path.endswith("/" + STATE):
            return aws_error(*answer)
        return None
    proxy.before_forward = play_aws
    m = mount(bucket, env=env, endpoint_options=through(proxy))
    assert_eacces(m.p(STATE))
    line = log_lines(m, STATE + " ")[0]
    assert says in line and "HTTP %d" % answer[0] in line, line


# ------------------------------------------------------------- bad keys, secrets

@pytest.mark.parametrize("content, why", [
    ("not base64 at all, but 44 characters long!!!", "not base64"),
    (base64.b64encode(b"x" * 16).decode(), "not 44 characters long"),
    (base64.b64encode(b"x" * 31).decode(), "the base64 of 31 bytes"),
    (None, "No such file or directory"),
], ids=["not-base64", "16-bytes", "31-bytes", "missing"])
def test_a_bad_key_file_fails_the_mount_with_one_line(stack, bucket, tmp_path, content, why):
    path = tmp_path / "sse.key"
    if content is not None:
        path.write_text(content + "\n")
    r, mounted = run_mount(stack, bucket, local_opts(stack) + ["sse_customer_key_file=%s" % path])
    assert r.returncode == 1
    assert_one_clear_line(r, mounted, "sse_customer_key_file=%s" % path, why)
    if content:
        assert content not in r.stderr


def test_a_bad_aws_sse_customer_key_fails_the_mount_with_one_line(stack, bucket):
    r, mounted = run_mount(stack, bucket, local_opts(stack), {"AWS_SSE_CUSTOMER_KEY": "c2VjcmV0"})
    assert r.returncode == 1
    assert_one_clear_line(r, mounted, "AWS_SSE_CUSTOMER_KEY", "not 44 characters long")
    assert "c2VjcmV0" not in r.stderr


@pytest.mark.parametrize("options, extra", [(["debug_s3"], ()), ([], ("-d",))],
                         ids=["debug_s3", "-d"])
def test_the_key_never_shows_in_debug_output(s3, bucket, mount, states, key_file,
                                             options, extra):
    s3.put_object(Bucket=bucket, Key="other/terraform.tfstate", Body=b"{}",
                  SSECustomerAlgorithm="AES256", SSECustomerKey=base64.b64decode(OTHER_KEY_B64))
    m = mount(bucket, options + ["sse_customer_key_file=" + key_file], env=NO_KEY,
              extra_args=extra)
    assert_reads_everything(m, bucket, states)
    with pytest.raises(PermissionError):
        read(m.p("other/terraform.tfstate"))
    m.unmount()
    log = m.log()
    assert "S3: GET" in log, log
    for secret in (KEY_B64, KEY_MD5, KEY_B64[:20], OTHER_KEY_B64):
        assert secret not in log
