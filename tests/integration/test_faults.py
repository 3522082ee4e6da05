"""S3 misbehaving between the mount and radosgw, played by the test proxy (s3_proxy.Fault):
plain file tools keep working or fail cleanly, nothing wrong is shown as valid, the mount
never dies, and nothing is deleted but the lock that was shown.

Each test ends with the same checks: the mount still answers, every state still reads
back byte for byte, and the bucket holds exactly what it should (ETags compared)."""
import collections
import errno
import json
import os
import subprocess
import threading
import time

import pytest
from conftest import bucket_snapshot, put_objects
from s3_proxy import Fault, S3Proxy

STATES = {"team%d/app%d/terraform.tfstate" % (t, a): json.dumps(
    {"version": 4, "serial": t * 10 + a, "pad": "x" * (t * 3000 + a)}).encode()
    for t in range(4) for a in range(5)}
STATES["big/terraform.tfstate"] = os.urandom(9 * 1024 * 1024 + 7)   # two ranged chunks
LOCKS = {"team%d/app0/terraform.tfstate.tflock" % t: json.dumps(
    {"ID": "lock-%d" % t, "Operation": "OperationTypeApply", "Info": "", "Who": "ci@runner",
     "Version": "1.11.4", "Created": "2026-11-28T09:00:00Z",
     "Path": "b/team%d/app0/terraform.tfstate" % t}).encode() for t in range(4)}


def first_attempts(n, fault, method=None):
    """fault for the first n attempts of each distinct request (method and path, query
    included), so that retries of it meet it and the (n+1)th goes through."""
    seen, lock = collections.Counter(), threading.Lock()

    def choose(m, path, headers):
        if method and m != method:
            return None
        with lock:
            seen[(m, path)] += 1
            return fault if seen[(m, path)] <= n else None
    return choose


def stats(m):
    with open(m.p(".tfstatefs/stats")) as f:
        return {k: int(v) for k, v in (line.rstrip("\n").split("\t") for line in f)}


def workload(m):
    """What a user does: find, cat every state and lock, ls -l. Returns the operations run;
    every one of them must have given the bucket's own bytes."""
    ops = 0
    found = subprocess.run(["find", m.path, "-type", "f"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert sorted(os.path.relpath(f, m.path) for f in found) == sorted({**STATES, **LOCKS})
    ops += 1
    for key, body in STATES.items():
        with open(m.p(key), "rb") as f:
            assert f.read() == body, key
        ops += 1
    for key in LOCKS:
        with open(m.p(key)) as f:
            assert "lock-%s" % key[4] in f.read()
        ops += 1
    subprocess.run(["ls", "-lR", m.path], capture_output=True, check=True)
    return ops + 1


@pytest.fixture
def faulty(stack, s3, bucket, mount):
    """A bucket of states and locks behind the proxy, and a mount through it:
    (proxy, make_mount). Afterwards: the mount answers and the bucket is untouched."""
    put_objects(s3, bucket, {**STATES, **LOCKS})
    before = bucket_snapshot(s3, bucket)
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    made = []

    def make_mount(options=()):
        m = mount(bucket, list(options),
                  endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        made.append(m)
        return m
    yield proxy, make_mount
    proxy.fault = None
    for m in made:
        if not m.unmounted:
            assert workload(m) > 0, "the mount answers once the faults stop"
    proxy.close()
    assert bucket_snapshot(s3, bucket) == before, "nothing in the bucket changed"


TRANSIENT = {
    "500": Fault("error", 500, "InternalError"),
    "502": Fault("error", 502, "BadGateway"),
    "503-slowdown": Fault("error", 503, "SlowDown"),
    "504": Fault("error", 504, "GatewayTimeout"),
    "429": Fault("error", 429, "TooManyRequests"),
    "reset-mid-body": Fault("reset", fraction=0.4),
    "content-length-over-body": Fault("short"),
    "body-cut-short": Fault("truncate", fraction=0.6),
    "delay": Fault("delay", seconds=0.3),
}


@pytest.mark.parametrize("name", sorted(TRANSIENT))
def test_transient_faults_are_retried_and_nothing_wrong_is_shown(faulty, name):
    """Every request (listings, ranged GETs, lock reads) meets the fault twice before it
    goes through: all reads give the bucket's bytes, the retries show in the stats."""
    proxy, make_mount = faulty
    proxy.fault = first_attempts(2, TRANSIENT[name])
    m = make_mount()
    ops = workload(m)
    st = stats(m)
    print("fault %s: %d operations, %d exchanges broken, %d S3 retries" % (
        name, ops, proxy.faults, sum(v for k, v in st.items() if k.endswith("_retries"))))
    met = 1 if name == "delay" else 2   # a delayed answer still comes: no retry to meet it
    assert ops > 20 and proxy.faults >= met * len(STATES), "each GET met it"
    if name != "delay":
        assert st["s3_list_retries"] >= 2 and st["s3_get_retries"] >= 2 * len(STATES)


def test_after_the_retries_a_read_fails_with_eio_and_one_line_naming_it(faulty):
    proxy, make_mount = faulty
    key = "team1/app2/terraform.tfstate"
    m = make_mount()
    proxy.fault = lambda method, path, h: Fault("error", 503, "SlowDown") \
        if method == "GET" and path.endswith("/" + key) else None
    with pytest.raises(OSError) as e:
        open(m.p(key), "rb").read()
    assert e.value.errno == errno.EIO
    lines = [line for line in m.log().splitlines() if key in line]
    assert len(lines) == 1, m.log()
    assert "SlowDown" in lines[0] and "HTTP 503" in lines[0] and "tx-fault-" in lines[0]
    assert stats(m)["s3_get_retries"] >= 3, "4 attempts before giving up"
    with open(m.p("team1/app3/terraform.tfstate"), "rb") as f:
        assert f.read() == STATES["team1/app3/terraform.tfstate"]


def test_a_stalled_server_costs_a_thread_stall_timeout_not_forever(faulty):
    """GETs of one state never get an answer; with stall_timeout=1 the cat fails with EIO
    after its attempts, and other files read meanwhile."""
    proxy, make_mount = faulty
    key = "team2/app1/terraform.tfstate"
    m = make_mount(["stall_timeout=1"])
    proxy.fault = lambda method, path, h: Fault("stall") \
        if method == "GET" and path.endswith("/" + key) else None
    result = {}

    def stalled_cat():
        try:
            open(m.p(key), "rb").read()
            result["rc"] = 0
        except OSError as e:
            result["rc"] = e.errno
    t = threading.Thread(target=stalled_cat)
    t.start()
    time.sleep(0.5)
    with open(m.p("team3/app4/terraform.tfstate"), "rb") as f:   # meanwhile
        assert f.read() == STATES["team3/app4/terraform.tfstate"]
    t.join(60)
    assert not t.is_alive() and result["rc"] == errno.EIO


def test_a_listing_that_changes_between_pages_shows_no_wrong_state(faulty, s3, bucket):
    """States are added and removed while the listing pages (40 keys a page): what the
    mount shows of each state is its real bytes or ENOENT, never another's."""
    proxy, make_mount = faulty
    m = make_mount()
    extra = {"team9/x%02d/terraform.tfstate" % i: b"extra %d" % i for i in range(60)}
    put_objects(s3, bucket, extra)
    churn = iter(range(10**6))

    def change_between_pages(method, path, h):
        if method == "GET" and "list-type=2" in path and ("start-after" in path or "token" in path):
            i = next(churn) % 60
            s3.delete_object(Bucket=bucket, Key="team9/x%02d/terraform.tfstate" % i)
        return None
    proxy.fault = change_between_pages
    found = subprocess.run(["find", m.path, "-type", "f"], capture_output=True, text=True,
                           check=True).stdout.split()
    for f in found:
        key = os.path.relpath(f, m.path)
        try:
            data = open(f, "rb").read()
        except OSError as e:
            assert e.errno == errno.ENOENT and key in extra
            continue
        assert data == {**STATES, **LOCKS, **extra}.get(key, data) or key in LOCKS
    proxy.fault = None
    m.unmount()   # its cache has the extra states; the bucket check follows
    for k in extra:
        s3.delete_object(Bucket=bucket, Key=k)


@pytest.mark.parametrize("where", ["before-radosgw", "after-radosgw"])
def test_a_delete_whose_answer_is_lost_is_checked_and_only_the_shown_lock_goes(
        stack, s3, bucket, mount, tmp_path, where):
    """The DELETE of the lock meets a 503 (before radosgw saw it, or after it deleted):
    the guard reads again; the lock is removed exactly once, nothing else is touched."""
    put_objects(s3, bucket, {**STATES, **LOCKS})
    before = bucket_snapshot(s3, bucket)
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    audit = tmp_path / "audit.jsonl"
    key = "team2/app0/terraform.tfstate.tflock"
    deletes = []

    def lost_answer(method, path, h):
        if method != "DELETE":
            return None
        deletes.append(path)
        if where == "after-radosgw" and len(deletes) == 1:
            s3.delete_object(Bucket=bucket, Key=key)   # it happened, the answer is lost
        return Fault("error", 503, "ServiceUnavailable") if len(deletes) == 1 else None
    proxy.fault = lost_answer
    try:
        m = mount(bucket, ["audit_log=%s" % audit],
                  endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        assert "lock-2" in open(m.p(key)).read()
        os.unlink(m.p(key))
        assert not os.path.exists(m.p(key))
        record = json.loads(audit.read_text().splitlines()[-1])
        assert record["result"] == "unlocked", record
        assert "read again" in record["reason"], record
        assert len(deletes) == (2 if where == "before-radosgw" else 1), deletes
        m.unmount()
    finally:
        proxy.close()
    after = bucket_snapshot(s3, bucket)
    assert key not in after
    assert after == {k: v for k, v in before.items() if k != key}


def test_a_long_listing_shows_its_progress_on_a_terminal(stack, s3, bucket):
    """In the foreground with stderr on a terminal, a listing that takes over a second (each
    page delayed here) says how it gets on, on one line, and ends with the count."""
    import pty
    from conftest import BIN
    put_objects(s3, bucket, {"d%02d/s%d.tfstate" % (i // 10, i % 10): b"{}" for i in range(1500)})
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.fault = lambda method, path, h: Fault("delay", seconds=0.7) \
        if "list-type=2" in path and "max-keys=1000" in path else None
    master, slave = pty.openpty()
    mnt = subprocess.run(["mktemp", "-d"], capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1")
    proc = subprocess.Popen([BIN, bucket, mnt, "-f", "-o", "endpoint=%s,use_path_style"
                             % proxy.endpoint], stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        deadline = time.time() + 30
        while not os.path.ismount(mnt) and time.time() < deadline:
            time.sleep(0.05)
        assert len(os.listdir(mnt)) == 150
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        proc.wait(timeout=30)
        proxy.close()
        os.rmdir(mnt)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    text = out.decode(errors="replace")
    assert "\rtfstatefs: listing /: " in text and "\rtfstatefs: listed /: 1500 keys in " in text, text
