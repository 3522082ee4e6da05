"""Extended attributes for scripts: `getfattr -d` on a state shows its serial, lineage,
versions and resources count, read once per version, and its ETag and time; on a lock file
the lock's fields. Nothing else of a state ever shows."""
import ctypes
import datetime
import errno
import json
import os
import shutil
import subprocess
import time

import pytest
from conftest import put_objects
from test_browse import read_stats
from test_locks import lock_body

LINEAGE = "8e3ef5a2-6a4c-4c0e-9a0e-0000000000aa"
SECRET = "hunter2-Sup3rS3cret-output"
ATTR_SECRET = "AKIAEXAMPLESECRETATTR"
STATE_NAMES = {"user.tfstate.serial", "user.tfstate.lineage", "user.tfstate.terraform_version",
               "user.tfstate.resources", "user.s3.etag", "user.s3.last_modified"}
S3_NAMES = {"user.s3.etag", "user.s3.last_modified"}
LOCK_NAMES = {"user.tflock.json", "user.tflock.id", "user.tflock.who", "user.tflock.operation",
              "user.tflock.created", "user.tflock.backend"}


def state(serial, resources=2, lineage=LINEAGE):
    """A state as terraform writes it, with a sensitive output and a resource attribute
    that must never show."""
    doc = {"version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage,
           "outputs": {"db_password": {"value": SECRET, "type": "string", "sensitive": True}},
           "resources": [{"mode": "managed", "type": "aws_iam_access_key", "name": "k%d" % i,
                          "instances": [{"attributes": {"id": ATTR_SECRET, "secret": SECRET}}]}
                         for i in range(resources)],
           "check_results": None}
    return json.dumps(doc, indent=2).encode() + b"\n"


ENCRYPTED = json.dumps({
    "serial": 3, "lineage": LINEAGE,
    "meta": {"key_provider.pbkdf2.main": "eyJzYWx0IjoiQUFBQSJ9"},
    "encrypted_data": "c2VjcmV0IHN0YXRlIGJ5dGVz", "encryption_version": "v0"}).encode()


@pytest.fixture(scope="module")
def getfattr():
    """getfattr (Debian package attr), installed when missing and apt-get can."""
    if not shutil.which("getfattr") and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "attr"], capture_output=True)
    path = shutil.which("getfattr")
    if not path:
        pytest.skip("getfattr is not installed (apt-get install attr) and could not be")
    return path


def dump(getfattr, path):
    """getfattr -d of every namespace: {name: value} and the raw output."""
    r = subprocess.run([getfattr, "-d", "-m", "-", "--absolute-names", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    attrs = {}
    for line in r.stdout.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            attrs[name] = json.loads(value)    # "..." with \" escapes, as JSON strings
    return attrs, r.stdout


def gets(m):
    return read_stats(m).get("s3_get_requests", 0)   # listed once there was one


def head(s3, bucket, key):
    h = s3.head_object(Bucket=bucket, Key=key)
    return h["ETag"].strip('"'), h["LastModified"].astimezone(
        datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_getfattr_shows_a_states_fields_read_once(s3, bucket, mount, getfattr):
    key = "team/app/terraform.tfstate"
    put_objects(s3, bucket, {key: state(42, resources=3)})
    m = mount(bucket)
    path = m.p(key)
    before = gets(m)
    attrs, out = dump(getfattr, path)
    etag, modified = head(s3, bucket, key)
    assert attrs == {
        "user.tfstate.serial": "42", "user.tfstate.lineage": LINEAGE,
        "user.tfstate.terraform_version": "1.11.4", "user.tfstate.resources": "3",
        "user.s3.etag": etag, "user.s3.last_modified": modified}, out
    assert gets(m) == before + 1, "one GET of the state"
    # Asked again, by getfattr and one name at a time: from the cache.
    assert dump(getfattr, path)[0] == attrs
    assert set(os.listxattr(path)) == STATE_NAMES
    for name, value in attrs.items():
        assert os.getxattr(path, name) == value.encode()
    assert gets(m) == before + 1, "the state was read again for the same ETag"


def test_nothing_else_of_a_state_shows(s3, bucket, mount, getfattr):
    key = "prod/terraform.tfstate"
    put_objects(s3, bucket, {key: state(1)})
    m = mount(bucket)
    attrs, out = dump(getfattr, m.p(key))
    assert set(attrs) == STATE_NAMES
    for secret in (SECRET, ATTR_SECRET, "db_password", "aws_iam_access_key"):
        assert secret not in out
    with pytest.raises(OSError) as e:
        os.getxattr(m.p(key), "user.tfstate.outputs")
    assert e.value.errno == errno.ENODATA


def test_a_lock_files_fields(s3, bucket, mount, getfattr):
    key = "team/app/terraform.tfstate"
    body = lock_body(bucket, key, lock_id="0b7e-lock-id", who="runner@ci-7",
                     operation="OperationTypePlan")
    put_objects(s3, bucket, {key: state(1), key + ".tflock": body})
    m = mount(bucket)
    lf = m.p(key + ".tflock")
    attrs, out = dump(getfattr, lf)
    doc = json.loads(body)
    assert set(attrs) == LOCK_NAMES, out
    assert attrs["user.tflock.id"] == "0b7e-lock-id"
    assert attrs["user.tflock.who"] == "runner@ci-7"
    assert attrs["user.tflock.operation"] == "OperationTypePlan"
    assert attrs["user.tflock.created"] == doc["Created"]
    assert attrs["user.tflock.backend"] == "s3"
    assert os.getxattr(lf, "user.tflock.json") == body
    assert set(os.listxattr(lf)) == LOCK_NAMES
    # The same fields as the file's content.
    with open(lf) as f:
        text = f.read()
    for field, name in (("ID", "id"), ("Who", "who"), ("Operation", "operation"),
                        ("Created", "created"), ("Backend", "backend")):
        assert ("%-11s%s\n" % (field + ":", attrs["user.tflock." + name])) in text
    for name in ("user.tfstate.serial", "user.s3.etag"):
        with pytest.raises(OSError) as e:
            os.getxattr(lf, name)
        assert e.value.errno == errno.ENODATA


def test_a_changed_state_shows_its_new_serial(s3, bucket, mount):
    key = "app/terraform.tfstate"
    put_objects(s3, bucket, {key: state(1)})
    m = mount(bucket, ["cache_ttl=1"])
    assert os.getxattr(m.p(key), "user.tfstate.serial") == b"1"
    s3.put_object(Bucket=bucket, Key=key, Body=state(2, resources=5))
    deadline = time.time() + 20
    while os.getxattr(m.p(key), "user.tfstate.serial") != b"2":
        assert time.time() < deadline, "the new serial never showed\n" + m.log()
        time.sleep(0.3)
    assert os.getxattr(m.p(key), "user.tfstate.resources") == b"5"
    assert os.getxattr(m.p(key), "user.s3.etag").decode() == head(s3, bucket, key)[0]


def test_an_encrypted_opentofu_state(s3, bucket, mount, getfattr):
    key = "tofu/terraform.tfstate"
    put_objects(s3, bucket, {key: ENCRYPTED})
    m = mount(bucket)
    attrs, out = dump(getfattr, m.p(key))
    assert attrs.pop("user.tfstate.encrypted") == "v0", out
    assert attrs.pop("user.tfstate.serial") == "3"
    assert attrs.pop("user.tfstate.lineage") == LINEAGE
    assert set(attrs) == S3_NAMES, out
    assert "c2VjcmV0" not in out


def test_objects_that_are_not_states_have_only_s3_names(s3, bucket, mount, getfattr):
    objects = {"junk/notes.tfstate": b"this is not JSON\n",
               "junk/array.tfstate": b"[1, 2, 3]\n",
               "junk/empty.tfstate": b"",
               "junk/other.json": json.dumps({"serial": 5, "lineage": "x"}).encode()}
    put_objects(s3, bucket, objects)
    m = mount(bucket, extra_args=["-d"])
    for key in objects:
        attrs, out = dump(getfattr, m.p(key))
        assert set(attrs) == S3_NAMES, out
        with pytest.raises(OSError) as e:
            os.getxattr(m.p(key), "user.tfstate.serial")
        assert e.value.errno == errno.ENODATA
    dump(getfattr, m.p("junk/notes.tfstate"))
    m.unmount()
    log = m.log()
    assert log.count("junk/notes.tfstate (ETag") == 1, "logged once per version:\n" + log
    assert "no user.tfstate.* attributes: not JSON" in log


def test_ls_stat_and_find_read_no_state(s3, bucket, mount):
    put_objects(s3, bucket, {"a/%d/terraform.tfstate" % i: state(i) for i in range(5)})
    m = mount(bucket)
    before = gets(m)
    subprocess.run(["ls", "-lR", m.path], check=True, capture_output=True)
    subprocess.run(["find", m.path, "-type", "f", "-ls"], check=True, capture_output=True)
    os.stat(m.p("a/0/terraform.tfstate"))
    # The S3 names come from the listing too.
    assert os.getxattr(m.p("a/1/terraform.tfstate"), "user.s3.etag")
    assert gets(m) == before, "ls, find, stat or user.s3.etag sent a GET"


def test_directories_and_reports_have_no_attributes(s3, bucket, mount):
    put_objects(s3, bucket, {"a/terraform.tfstate": state(1)})
    m = mount(bucket)
    for path in (m.path, m.p("a"), m.p(".tfstatefs/stats")):
        assert os.listxattr(path) == [], path
        with pytest.raises(OSError) as e:
            os.getxattr(path, "user.s3.etag")
        assert e.value.errno == errno.ENODATA


def libc_getxattr(path, name, size):
    """getxattr(2) with a buffer of size bytes: (length, errno)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(path.encode(), name.encode(), buf if size else None, ctypes.c_size_t(size))
    return n, ctypes.get_errno() if n < 0 else 0


def test_size_probes_and_small_buffers(s3, bucket, mount):
    key = "app/terraform.tfstate"
    put_objects(s3, bucket, {key: state(123456)})
    m = mount(bucket)
    assert libc_getxattr(m.p(key), "user.tfstate.serial", 0) == (6, 0)
    assert libc_getxattr(m.p(key), "user.tfstate.serial", 3) == (-1, errno.ERANGE)
    assert libc_getxattr(m.p(key), "user.tfstate.serial", 6) == (6, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    n = libc.listxattr(m.p(key).encode(), None, ctypes.c_size_t(0))
    assert n == sum(len(x) + 1 for x in STATE_NAMES)
    small = ctypes.create_string_buffer(8)
    assert libc.listxattr(m.p(key).encode(), small, ctypes.c_size_t(8)) == -1
    assert ctypes.get_errno() == errno.ERANGE


def test_a_state_over_the_cap_gets_only_s3_names_from_one_byte(s3, bucket, mount):
    key = "big/terraform.tfstate"
    body = state(9)[:-3] + b', "pad": "' + b"x" * (16 << 20) + b'"}\n'
    put_objects(s3, bucket, {key: body})
    m = mount(bucket)
    before = read_stats(m)
    assert set(os.listxattr(m.p(key))) == S3_NAMES
    after = read_stats(m)
    assert after["s3_get_requests"] == before.get("s3_get_requests", 0) + 1
    assert after["s3_get_bytes_in"] - before.get("s3_get_bytes_in", 0) == 1


def test_a_versioned_bucket_names_the_version_read(s3, bucket, mount, getfattr):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "v/terraform.tfstate"
    vid = s3.put_object(Bucket=bucket, Key=key, Body=state(4))["VersionId"]
    m = mount(bucket)
    attrs, out = dump(getfattr, m.p(key))
    assert attrs["user.s3.version_id"] == vid, out
    assert set(attrs) == STATE_NAMES | {"user.s3.version_id"}


def test_a_state_deleted_after_listing_is_enoent(s3, bucket, mount):
    key = "gone/terraform.tfstate"
    put_objects(s3, bucket, {key: state(1)})
    m = mount(bucket, ["cache_ttl=60"])
    assert os.path.exists(m.p(key))
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(OSError) as e:
        os.getxattr(m.p(key), "user.tfstate.serial")
    assert e.value.errno == errno.ENOENT


def test_a_get_refused_is_eacces_and_one_that_keeps_failing_eio(stack, s3, bucket, mount):
    from s3_proxy import Fault, S3Proxy
    put_objects(s3, bucket, {"refused/terraform.tfstate": state(1),
                             "failing/terraform.tfstate": state(2)})
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))

    def fault(method, path, headers):
        if method == "GET" and "/refused/" in path:
            return Fault("error", 403, "AccessDenied")
        if method == "GET" and "/failing/" in path:
            return Fault("error", 500, "InternalError")
        return None
    proxy.fault = fault
    try:
        m = mount(bucket, endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        for d, err in (("refused", errno.EACCES), ("failing", errno.EIO)):
            path = m.p(d, "terraform.tfstate")
            for call in (lambda: os.getxattr(path, "user.tfstate.serial"),
                         lambda: os.listxattr(path)):
                with pytest.raises(OSError) as e:
                    call()
                assert e.value.errno == err, d
            assert os.getxattr(path, "user.s3.etag"), "the listing's names need no GET"
        assert "reading failing/terraform.tfstate failed" in m.log()
        # A failure is not cached: once S3 answers, the state is read.
        proxy.fault = None
        assert os.getxattr(m.p("failing/terraform.tfstate"), "user.tfstate.serial") == b"2"
        m.unmount()
    finally:
        proxy.close()
