"""Lock files: Terraform's K.tflock objects shown beside their states, decoded, and removed
only by a guarded force-unlock (the lock that was shown, If-Match on its ETag, policies,
one audit record per attempt)."""
import datetime
import errno
import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.parse
import uuid

import pytest
from conftest import put_objects
from terraform_helper import Terraform, interrupt, kill_tree, needs_terraform

XATTR = "user.tflock.json"
MARGIN = 1.5          # seconds allowed past lock_ttl for a change to show
FIELDS = ("ID", "Path", "Operation", "Who", "Version", "Created", "Info")


# ---------------------------------------------------------------- helpers

def created(ago=0.0):
    """A Created value as Terraform writes it (RFC 3339, nanoseconds, UTC), ago seconds ago."""
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000 + 123)


def lock_body(bucket, state_key, lock_id=None, who="runner@ci-42",
              operation="OperationTypeApply", ago=0.0, info=""):
    """A lock object's bytes, compact JSON in Terraform's field order."""
    doc = {"ID": lock_id or str(uuid.uuid4()), "Operation": operation, "Info": info,
           "Who": who, "Version": "1.11.4", "Created": created(ago),
           "Path": "%s/%s" % (bucket, state_key)}
    return json.dumps(doc, separators=(",", ":")).encode()


def expected_lines(doc, backend="s3"):
    """What cat of a lock file shows for a well-formed lock: value at column offset 11,
    an empty value as the name and its colon only."""
    out = []
    for name in FIELDS + ("Backend",):
        value = backend if name == "Backend" else doc.get(name, "")
        out.append(name + ":" if value == "" else ("%-11s%s" % (name + ":", value)))
    return out


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def cat(path):
    r = subprocess.run(["cat", path], capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def rm(path, as_user=None):
    """rm as a user would run it (no terminal: no prompt for a read-only file)."""
    cmd = ["rm", path]
    if as_user is not None:
        cmd = ["setpriv", "--reuid=%d" % as_user, "--regid=%d" % as_user, "--clear-groups"] + cmd
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def assert_rm_refused(m, path, err, **kw):
    r = rm(path, **kw)
    assert r.returncode != 0, "rm of %s succeeded; expected %s\n%s" % (
        path, errno.errorcode[err], m.log())
    assert os.strerror(err) in r.stderr, "%s (expected %s)\n%s" % (
        r.stderr, errno.errorcode[err], m.log())


def assert_rm_ok(m, path):
    r = rm(path)
    assert r.returncode == 0, "rm of %s: %s\n%s" % (path, r.stderr, m.log())


def get(s3, bucket, key):
    """The object's (bytes, ETag), or None when there is none."""
    try:
        o = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    return o["Body"].read(), o["ETag"]


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while True:
        if cond():
            return
        assert time.time() < deadline, what
        time.sleep(0.05)


def listed(path):
    d, name = os.path.split(path)
    try:
        return name in os.listdir(d)
    except FileNotFoundError:
        return False


def audit_records(path, n, timeout=3):
    """The audit log's records, waiting (briefly) until there are at least n."""
    recs = []
    deadline = time.time() + timeout
    while True:
        try:
            with open(path) as f:
                recs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            recs = []
        if len(recs) >= n or time.time() > deadline:
            return recs
        time.sleep(0.05)


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:?00)$")


def check_record(rec, *, path, key, result, err=None, lock=None, command="rm", uid=0):
    """One audit record as the spec has it; lock: the lock's JSON (dict) when known."""
    for k in ("time", "uid", "pid", "command", "path", "key", "lock_id", "who", "operation",
              "created", "backend", "result", "reason"):
        assert k in rec, "audit record lacks %r: %s" % (k, rec)
    assert ISO_UTC.match(rec["time"]), rec
    t = datetime.datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) < 120, rec
    assert int(rec["uid"]) == uid and int(rec["pid"]) > 0, rec
    assert rec["command"] == command, rec
    assert rec["path"] == path and rec["key"] == key, rec
    assert rec["backend"] == "s3", rec
    assert rec["result"] == result, rec
    if err is None:
        assert rec.get("errno", "") in ("", None), rec
    else:
        assert rec.get("errno") == errno.errorcode[err], rec
    assert isinstance(rec["reason"], str), rec
    if lock is not None:
        assert rec["lock_id"] == lock["ID"] and rec["who"] == lock["Who"], rec
        assert rec["operation"] == lock["Operation"] and rec["created"] == lock["Created"], rec


def state(serial):
    return json.dumps({"version": 4, "terraform_version": "1.11.4", "serial": serial,
                       "lineage": "8e3ef5a2-6a4c-4c0e-9a0e-000000000001", "outputs": {},
                       "resources": [], "check_results": None}).encode() + b"\n"


def lock_holder(stack, tmp_path, bucket, key):
    """A terraform whose every apply holds the lock on key for 120 s (a sleep inside the
    apply), after a first quick apply so that the state exists beside the lock."""
    quick = Terraform(stack, tmp_path / "tf", bucket, key)
    quick.init()
    quick.apply(1)
    return Terraform(stack, tmp_path / "tf", bucket, key, sleep_seconds=120)  # same dir


def start_apply(tf):
    return tf.popen("apply", "-auto-approve", "-input=false", "-no-color", "-var", "n=2")


def wait_for_lock_object(s3, bucket, lock_key, proc, timeout=30):
    deadline = time.time() + timeout
    while True:
        got = get(s3, bucket, lock_key)
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError("terraform ended before taking the lock: " + proc.stdout.read())
        assert time.time() < deadline, "terraform never wrote " + lock_key
        time.sleep(0.05)


# ---------------------------------------------------------------- 1. a real lock, shown

@needs_terraform
def test_a_lock_held_by_terraform_is_shown_while_held(stack, s3, bucket, mount, tmp_path):
    key = "team/app/terraform.tfstate"
    lock_key = key + ".tflock"
    tf = lock_holder(stack, tmp_path, bucket, key)
    m = mount(bucket, ["lock_ttl=1", "lock_list_ttl=1"])
    lf = m.p(lock_key)
    # Before the apply takes its lock: the mount has seen the directory without one.
    assert sorted(os.listdir(m.p("team/app"))) == ["terraform.tfstate"]
    assert not os.path.exists(lf)
    proc = None
    try:
        proc = start_apply(tf)
        body, etag = wait_for_lock_object(s3, bucket, lock_key, proc)
        t0 = time.time()
        # ls first (a lookup would put the name in the tree and make ls trivially right).
        wait_for(lambda: listed(lf), 1 + MARGIN + 3, "ls never showed the lock file\n" + m.log())
        assert time.time() - t0 <= 1 + MARGIN, "ls showed the lock %.1fs after the object" % (
            time.time() - t0)
        # The kernel may still hold the earlier "no such file" for up to lock_ttl.
        wait_for(lambda: os.path.exists(lf), max(0.1, t0 + 1 + MARGIN - time.time()),
                 "stat never showed the lock file that ls shows\n" + m.log())
        assert sorted(os.listdir(m.p("team/app"))) == ["terraform.tfstate",
                                                       "terraform.tfstate.tflock"]
        assert subprocess.run(["test", "-e", lf]).returncode == 0
        doc = json.loads(body)
        assert doc["Path"] == "%s/%s" % (bucket, key) and doc["Operation"] == "OperationTypeApply"
        text = cat(lf)
        assert text.decode().rstrip("\n").split("\n") == expected_lines(doc), text.decode()
        st = os.stat(lf)
        assert st.st_size == len(text)
        assert st.st_mode & 0o7777 == 0o444
        assert os.getxattr(lf, XATTR) == body
        assert XATTR in os.listxattr(lf)
        # Still held (the apply sleeps): the lock is the same object all along.
        assert get(s3, bucket, lock_key) == (body, etag), "the lock was not held long enough"
        assert proc.poll() is None
        # Ctrl-C: terraform stops the apply and removes its lock.
        interrupt(proc)
        assert get(s3, bucket, lock_key) is None, "terraform left its lock after SIGINT"
        t1 = time.time()
        wait_for(lambda: not listed(lf), 1 + MARGIN + 3, "ls kept the lock file\n" + m.log())
        wait_for(lambda: not os.path.exists(lf), 1 + MARGIN + 3,
                 "the lock file never went away\n" + m.log())
        assert time.time() - t1 <= 1 + MARGIN, "lock file went away %.1fs after the object" % (
            time.time() - t1)
        assert subprocess.run(["test", "-e", lf]).returncode != 0
        assert os.listdir(m.p("team/app")) == ["terraform.tfstate"]
    finally:
        if proc is not None and proc.poll() is None:
            kill_tree(proc)


def test_lock_files_follow_the_bucket_within_lock_ttl_by_lookup_and_by_ls(s3, bucket, mount):
    """Each way of looking is measured alone, in its own directory: lookup (stat, test -e)
    for one, ls for the other. No lock_ttl option: the default is 1 s; ls follows
    lock_list_ttl, here 1 s too (by default it is cache_ttl: see the next test)."""
    put_objects(s3, bucket, {"by-stat/terraform.tfstate": state(1),
                             "by-ls/terraform.tfstate": state(2)})
    m = mount(bucket, ["lock_list_ttl=1"])
    by_stat, by_ls = m.p("by-stat/terraform.tfstate.tflock"), m.p("by-ls/terraform.tfstate.tflock")
    assert not os.path.exists(by_stat) and not listed(by_ls)   # seen absent: now cached
    put_objects(s3, bucket, {"by-stat/terraform.tfstate.tflock": lock_body(bucket, "by-stat/x"),
                             "by-ls/terraform.tfstate.tflock": lock_body(bucket, "by-ls/x")})
    t0 = time.time()
    wait_for(lambda: os.path.exists(by_stat), 1 + MARGIN, "stat never showed the lock\n" + m.log())
    wait_for(lambda: listed(by_ls), 1 + MARGIN - (time.time() - t0),
             "ls never showed the lock\n" + m.log())
    wait_for(lambda: subprocess.run(["test", "-e", by_ls]).returncode == 0,
             max(0.1, t0 + 1 + MARGIN - time.time()), "test -e disagrees with ls")
    assert listed(by_stat)
    s3.delete_object(Bucket=bucket, Key="by-stat/terraform.tfstate.tflock")
    s3.delete_object(Bucket=bucket, Key="by-ls/terraform.tfstate.tflock")
    t0 = time.time()
    wait_for(lambda: not os.path.exists(by_stat), 1 + MARGIN,
             "stat kept showing the lock\n" + m.log())
    wait_for(lambda: not listed(by_ls), 1 + MARGIN - (time.time() - t0),
             "ls kept showing the lock\n" + m.log())
    # test -e was answered yes just before the delete: the kernel may keep that for lock_ttl.
    wait_for(lambda: subprocess.run(["test", "-e", by_ls]).returncode != 0,
             max(0.1, t0 + 1 + MARGIN - time.time()), "test -e kept showing the lock")
    assert not listed(by_stat)
    assert os.listdir(m.p("by-ls")) == ["terraform.tfstate"]


def test_by_default_ls_trusts_lock_files_as_long_as_the_listing_and_lookups_stay_fresh(
        s3, bucket, mount):
    """A warm find costs no request; a lookup by name still sees a new lock within
    lock_ttl, and from then on ls shows it too."""
    put_objects(s3, bucket, {"d%d/terraform.tfstate" % i: state(i) for i in range(5)})
    m = mount(bucket)
    find = ["find", m.path, "-name", "*.tflock"]
    assert subprocess.run(find, capture_output=True, text=True, check=True).stdout == ""
    before = stats(m)
    time.sleep(1.5)   # past lock_ttl: only cache_ttl keeps the listing
    assert subprocess.run(find, capture_output=True, text=True, check=True).stdout == ""
    after = stats(m)
    assert sum(after.get(k, 0) for k in after if k.startswith("s3_") and k.endswith("_requests")) \
        == sum(before.get(k, 0) for k in before if k.startswith("s3_") and k.endswith("_requests"))
    lock = "d3/terraform.tfstate.tflock"
    put_objects(s3, bucket, {lock: lock_body(bucket, "d3/terraform.tfstate")})
    assert not listed(m.p(lock)), "ls follows lock_list_ttl (cache_ttl, 30 s here)"
    wait_for(lambda: os.path.exists(m.p(lock)), 1 + MARGIN, "stat shows it within lock_ttl")
    assert listed(m.p(lock))


def stats(m):
    out = {}
    with open(m.p(".tfstatefs/stats")) as f:
        for line in f:
            k, v = line.rstrip("\n").split("\t")
            out[k] = int(v)
    return out


# ---------------------------------------------------------------- 2. a stale lock, removed

@needs_terraform
def test_a_stale_lock_from_a_killed_apply_is_removed_with_rm(stack, s3, bucket, mount, tmp_path):
    key = "team/app/terraform.tfstate"
    lock_key = key + ".tflock"
    audit = str(tmp_path / "audit.jsonl")
    proc = None
    try:
        tf = lock_holder(stack, tmp_path, bucket, key)
        proc = start_apply(tf)
        body, _ = wait_for_lock_object(s3, bucket, lock_key, proc)
        kill_tree(proc, signal.SIGKILL)   # terraform first, then its sh and sleep
        assert get(s3, bucket, lock_key)[0] == body, "the killed apply's lock is gone"
        doc = json.loads(body)
        r = tf.run("plan", "-lock-timeout=0s", "-input=false", "-no-color", check=False)
        assert r.returncode != 0 and "Error acquiring the state lock" in r.stderr, r.stderr
        assert doc["ID"] in r.stderr

        m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit])
        lf = m.p(lock_key)
        assert sorted(os.listdir(m.p("team/app"))) == ["terraform.tfstate",
                                                       "terraform.tfstate.tflock"]
        assert "ID:        " + doc["ID"] in cat(lf).decode()
        assert_rm_ok(m, lf)
        assert get(s3, bucket, lock_key) is None
        assert not os.path.exists(lf)
        assert os.listdir(m.p("team/app")) == ["terraform.tfstate"]
        r = tf.run("plan", "-lock-timeout=0s", "-input=false", "-no-color", check=False)
        assert r.returncode == 0, r.stderr
        recs = audit_records(audit, 1)
        assert len(recs) == 1, recs
        check_record(recs[0], path=lock_key, key=lock_key, result="unlocked", lock=doc)
    finally:
        if proc is not None and proc.poll() is None:
            kill_tree(proc)


# ---------------------------------------------------------------- 3. the guard's re-read

def test_a_lock_that_changed_hands_after_it_was_shown_is_not_removed(s3, bucket, mount, tmp_path):
    audit = str(tmp_path / "audit.jsonl")
    keys = {name: "%s/terraform.tfstate" % name for name in ("new-id", "rewritten", "gone")}
    shown = {n: lock_body(bucket, k, who="alice@laptop") for n, k in keys.items()}
    put_objects(s3, bucket, {k + ".tflock": shown[n] for n, k in keys.items()})
    # A long lock_ttl: the filesystem keeps showing the first lock, so only the guard's
    # own re-read of the object at unlink can see that it changed.
    m = mount(bucket, ["lock_ttl=60", "audit_log=" + audit])
    for n, k in keys.items():
        assert cat(m.p(k + ".tflock")).decode().startswith(
            "ID:        " + json.loads(shown[n])["ID"] + "\n")

    # Another holder took the lock: a new ID.
    other = lock_body(bucket, keys["new-id"], who="bob@ci")
    s3.put_object(Bucket=bucket, Key=keys["new-id"] + ".tflock", Body=other)
    # The same holder rewrote it: same ID, new bytes, new ETag.
    doc = json.loads(shown["rewritten"])
    doc["Created"], doc["Info"] = created(), "rewritten"
    rewritten = json.dumps(doc, separators=(",", ":")).encode()
    old_etag = s3.head_object(Bucket=bucket, Key=keys["rewritten"] + ".tflock")["ETag"]
    s3.put_object(Bucket=bucket, Key=keys["rewritten"] + ".tflock", Body=rewritten)
    assert s3.head_object(Bucket=bucket, Key=keys["rewritten"] + ".tflock")["ETag"] != old_etag
    # Released meanwhile.
    s3.delete_object(Bucket=bucket, Key=keys["gone"] + ".tflock")

    assert_rm_refused(m, m.p(keys["new-id"] + ".tflock"), errno.EBUSY)
    assert get(s3, bucket, keys["new-id"] + ".tflock")[0] == other
    assert_rm_refused(m, m.p(keys["rewritten"] + ".tflock"), errno.EBUSY)
    assert get(s3, bucket, keys["rewritten"] + ".tflock")[0] == rewritten
    assert_rm_refused(m, m.p(keys["gone"] + ".tflock"), errno.ENOENT)

    recs = audit_records(audit, 3)
    assert len(recs) == 3, recs
    by_key = {r["key"]: r for r in recs}
    for n, err in (("new-id", errno.EBUSY), ("rewritten", errno.EBUSY), ("gone", errno.ENOENT)):
        lk = keys[n] + ".tflock"
        assert lk in by_key, recs
        check_record(by_key[lk], path=lk, key=lk, result="refused", err=err)
    assert m.proc.poll() is None


# ---------------------------------------------------------------- 4. the race inside DELETE

def test_delete_carries_if_match_and_a_lock_taken_in_the_last_moment_survives(
        stack, s3, bucket, mount, tmp_path):
    from s3_proxy import S3Proxy
    audit = str(tmp_path / "audit.jsonl")
    race_key = "race/terraform.tfstate.tflock"
    plain_key = "plain/terraform.tfstate.tflock"
    first = lock_body(bucket, "race/terraform.tfstate", who="alice@laptop")
    plain = lock_body(bucket, "plain/terraform.tfstate", who="carol@laptop")
    put_objects(s3, bucket, {race_key: first, plain_key: plain})
    shown_etag = {race_key: s3.head_object(Bucket=bucket, Key=race_key)["ETag"],
                  plain_key: s3.head_object(Bucket=bucket, Key=plain_key)["ETag"]}
    second = lock_body(bucket, "race/terraform.tfstate", who="bob@ci")

    def object_key(path):
        parts = urllib.parse.urlsplit(path)
        prefix = "/%s/" % bucket
        p = urllib.parse.unquote(parts.path)
        return (p[len(prefix):] if p.startswith(prefix) else None), parts.query

    def steal_then_enforce_if_match(method, path, headers):
        key, _ = object_key(path)
        if method != "DELETE" or key not in (race_key, plain_key):
            return None
        if key == race_key:
            # Another terraform takes the lock after the guard's re-read, before the DELETE.
            s3.put_object(Bucket=bucket, Key=race_key, Body=second)
        # radosgw ignores If-Match on DELETE: play S3, which honours it.
        if_match = next((v for k, v in headers.items() if k.lower() == "if-match"), None)
        current = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        if if_match is not None and if_match.strip('"') != current.strip('"'):
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed'
                   '</Code><Message>At least one of the pre-conditions you specified did not '
                   'hold</Message><Condition>If-Match</Condition><RequestId>tfs-test-412'
                   '</RequestId></Error>').encode()
            return 412, [("Content-Type", "application/xml"),
                         ("x-amz-request-id", "tfs-test-412")], xml
        return None

    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.before_forward = steal_then_enforce_if_match
    try:
        m = mount(bucket, ["lock_ttl=60", "audit_log=" + audit],
                  endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        assert json.loads(first)["ID"] in cat(m.p(race_key)).decode()
        assert json.loads(plain)["ID"] in cat(m.p(plain_key)).decode()

        assert_rm_refused(m, m.p(race_key), errno.EBUSY)
        assert get(s3, bucket, race_key)[0] == second, "the new holder's lock was removed"
        assert_rm_ok(m, m.p(plain_key))
        assert get(s3, bucket, plain_key) is None

        deletes = [(object_key(p), h) for meth, p, h in proxy.requests if meth == "DELETE"]
        assert [k for (k, _), _ in deletes] == [race_key, plain_key], deletes
        for (k, query), h in deletes:
            if_match = next((v for n, v in h.items() if n.lower() == "if-match"), None)
            assert if_match is not None, "DELETE of %s without If-Match: %s" % (k, h)
            assert if_match.strip('"') == shown_etag[k].strip('"'), (if_match, shown_etag[k])
            assert "versionid" not in query.lower(), query
        recs = audit_records(audit, 2)
        assert len(recs) == 2, recs
        assert recs[0]["key"] == race_key and recs[0]["result"] != "unlocked", recs
        assert recs[0].get("errno") == "EBUSY", recs
        assert recs[0]["lock_id"] == json.loads(first)["ID"], recs
        check_record(recs[1], path=plain_key, key=plain_key, result="unlocked",
                     lock=json.loads(plain))
        m.unmount()
    finally:
        proxy.close()


# ---------------------------------------------------------------- 5. policies

@pytest.mark.parametrize("options, cases", [
    # (lock's age in seconds, expected errno or None for unlocked)
    (["unlock_min_age=1h"], [(5, errno.EPERM), (2 * 3600, None)]),
    (["unlock_min_age=90"], [(60, errno.EPERM), (2 * 3600, None)]),
    (["unlock_min_age=15m"], [(14 * 60, errno.EPERM), (16 * 60, None)]),
    (["unlock=off"], [(5, errno.EROFS), (2 * 3600, errno.EROFS)]),
    (["ro"], [(5, errno.EROFS), (2 * 3600, errno.EROFS)]),
], ids=["min_age_1h", "min_age_90", "min_age_15m", "unlock_off", "ro"])
def test_unlock_policies(s3, bucket, mount, tmp_path, options, cases):
    audit = str(tmp_path / "audit.jsonl")
    objs = {}
    for i, (ago, _) in enumerate(cases):
        objs["p%d/terraform.tfstate" % i] = state(i)
        objs["p%d/terraform.tfstate.tflock" % i] = lock_body(
            bucket, "p%d/terraform.tfstate" % i, ago=ago)
    put_objects(s3, bucket, objs)
    m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit] + options)
    for i, (ago, err) in enumerate(cases):
        lk = "p%d/terraform.tfstate.tflock" % i
        doc = json.loads(objs[lk])
        assert cat(m.p(lk)).decode().startswith("ID:        " + doc["ID"] + "\n")
        if err is None:
            assert_rm_ok(m, m.p(lk))
            assert get(s3, bucket, lk) is None
        else:
            assert_rm_refused(m, m.p(lk), err)
            assert get(s3, bucket, lk)[0] == objs[lk], "refused, yet the lock changed"
            assert os.path.exists(m.p(lk))
    recs = audit_records(audit, len(cases))
    assert len(recs) == len(cases), recs
    for i, ((ago, err), rec) in enumerate(zip(cases, recs)):
        lk = "p%d/terraform.tfstate.tflock" % i
        check_record(rec, path=lk, key=lk, result="unlocked" if err is None else "refused",
                     err=err, lock=json.loads(objs[lk]))
    # The state beside is untouched and still refused as before.
    assert read_bytes(m.p("p0/terraform.tfstate")) == state(0)


# ---------------------------------------------------------------- 6. odd lock objects

def odd_locks(bucket):
    good = json.loads(lock_body(bucket, "x/terraform.tfstate"))
    rnd = random.Random(7)
    missing = {k: v for k, v in good.items() if k not in ("ID", "Who")}
    unknown = dict(good, Extra="surprise", Nested={"a": [1, 2]})
    return {
        "truncated": json.dumps(good).encode()[:60],
        "binary": bytes(rnd.randrange(256) for _ in range(300)),
        "huge": json.dumps(dict(good, Info="i" * (100 * 1024))).encode(),
        "missing": json.dumps(missing).encode(),
        "unknown": json.dumps(unknown).encode(),
        "bad-utf8": json.dumps(dict(good, Who="WHO")).encode().replace(b"WHO", b"r\xff\xfeot"),
        "empty": b"",
        "array": b"[1, 2, 3]",
        "id-number": json.dumps(dict(good, ID=12345)).encode(),
    }, good


def test_odd_lock_objects_are_shown_with_a_problem_line(s3, bucket, mount):
    odd, good = odd_locks(bucket)
    put_objects(s3, bucket, {"odd/%s/terraform.tfstate.tflock" % n: b for n, b in odd.items()})
    m = mount(bucket, ["lock_ttl=1"])
    assert sorted(os.listdir(m.p("odd"))) == sorted(odd)
    for name, body in odd.items():
        lf = m.p("odd", name, "terraform.tfstate.tflock")
        assert os.listdir(m.p("odd", name)) == ["terraform.tfstate.tflock"], name
        text = cat(lf)
        assert os.stat(lf).st_size == len(text), name
        assert read_bytes(lf) == text, name
        lines = text.decode("utf-8").split("\n")   # shown as text, whatever the bytes
        assert any(line.startswith("Problem:   ") for line in lines), (name, text, m.log())
        assert "Backend:   s3" in lines, (name, text)
        if len(body) <= 64 * 1024:                  # an xattr value is at most 64 KiB
            assert os.getxattr(lf, XATTR) == body, name
    # What could be read is shown.
    t = cat(m.p("odd/missing/terraform.tfstate.tflock")).decode()
    assert "Operation: " + good["Operation"] in t and "Created:   " + good["Created"] in t
    assert re.search(r"^ID:\s*$", t, re.M), t
    t = cat(m.p("odd/unknown/terraform.tfstate.tflock")).decode()
    assert "ID:        " + good["ID"] in t and "Who:       " + good["Who"] in t
    t = cat(m.p("odd/bad-utf8/terraform.tfstate.tflock")).decode()
    assert "ID:        " + good["ID"] in t
    # Never a crash: the mount still answers.
    assert m.proc.poll() is None, m.log()
    assert sorted(os.listdir(m.path)) == ["odd"]


def test_a_value_cannot_forge_a_line(s3, bucket, mount):
    good = json.loads(lock_body(bucket, "f/terraform.tfstate"))
    forged = dict(good, Who="eve\nBackend:   dynamodb\nProblem:   none", Info="a\tb\x1b[31m")
    body = json.dumps(forged).encode()
    put_objects(s3, bucket, {"f/terraform.tfstate.tflock": body})
    m = mount(bucket, ["lock_ttl=1"])
    text = cat(m.p("f/terraform.tfstate.tflock"))
    lines = text.decode().rstrip("\n").split("\n")
    assert [ln.split(":", 1)[0] for ln in lines if not ln.startswith("Problem:")] == \
        list(FIELDS) + ["Backend"], text
    assert "Backend:   s3" in lines and "Backend:   dynamodb" not in lines
    assert b"\x1b" not in text
    assert os.stat(m.p("f/terraform.tfstate.tflock")).st_size == len(text)
    assert os.getxattr(m.p("f/terraform.tfstate.tflock"), XATTR) == body


# ---------------------------------------------------------------- 7. orphans, workspaces, prefixes

def test_orphan_workspace_and_prefixed_locks_are_shown_and_removable(s3, bucket, mount, tmp_path):
    audit = str(tmp_path / "audit.jsonl")
    orphan = "newstack/terraform.tfstate.tflock"
    ws = "env:/staging/app/terraform.tfstate.tflock"
    pre = "teams/platform/dns/terraform.tfstate.tflock"
    objs = {
        orphan: lock_body(bucket, "newstack/terraform.tfstate"),
        ws: lock_body(bucket, "env:/staging/app/terraform.tfstate"),
        "env:/staging/app/terraform.tfstate": state(4),
        pre: lock_body(bucket, "teams/platform/dns/terraform.tfstate"),
        "teams/platform/dns/terraform.tfstate": state(2),
    }
    put_objects(s3, bucket, objs)
    m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit])
    assert os.listdir(m.p("newstack")) == ["terraform.tfstate.tflock"]
    assert sorted(os.listdir(m.p("env:/staging/app"))) == ["terraform.tfstate",
                                                           "terraform.tfstate.tflock"]
    for lk in (orphan, ws):
        doc = json.loads(objs[lk])
        assert cat(m.p(lk)).decode().rstrip("\n").split("\n") == expected_lines(doc)
        assert_rm_ok(m, m.p(lk))
        assert get(s3, bucket, lk) is None
        assert not os.path.exists(m.p(lk))
    assert get(s3, bucket, "env:/staging/app/terraform.tfstate")[0] == state(4)

    # A prefix mount: the audit has the path in the mount and the key in the bucket.
    audit2 = str(tmp_path / "audit2.jsonl")
    m2 = mount(bucket + ":/teams/platform", ["lock_ttl=1", "audit_log=" + audit2])
    assert sorted(os.listdir(m2.p("dns"))) == ["terraform.tfstate", "terraform.tfstate.tflock"]
    assert_rm_ok(m2, m2.p("dns/terraform.tfstate.tflock"))
    assert get(s3, bucket, pre) is None

    recs = audit_records(audit, 2)
    assert len(recs) == 2, recs
    check_record(recs[0], path=orphan, key=orphan, result="unlocked", lock=json.loads(objs[orphan]))
    check_record(recs[1], path=ws, key=ws, result="unlocked", lock=json.loads(objs[ws]))
    recs2 = audit_records(audit2, 1)
    assert len(recs2) == 1, recs2
    check_record(recs2[0], path="dns/terraform.tfstate.tflock", key=pre, result="unlocked",
                 lock=json.loads(objs[pre]))


# ---------------------------------------------------------------- 8. other users

def test_another_user_cannot_remove_a_lock(s3, bucket, mount, tmp_path):
    audit = str(tmp_path / "audit.jsonl")
    lk = "shared/terraform.tfstate.tflock"
    body = lock_body(bucket, "shared/terraform.tfstate")
    put_objects(s3, bucket, {lk: body, "shared/terraform.tfstate": state(1)})
    m = mount(bucket, ["lock_ttl=1", "allow_other", "audit_log=" + audit])
    nobody = 65534
    # They can read it (0444) ...
    r = subprocess.run(["setpriv", "--reuid=%d" % nobody, "--regid=%d" % nobody,
                        "--clear-groups", "cat", m.p(lk)], capture_output=True)
    assert r.returncode == 0 and json.loads(body)["ID"].encode() in r.stdout, r.stderr
    # ... but not remove it.
    assert_rm_refused(m, m.p(lk), errno.EACCES, as_user=nobody)
    assert get(s3, bucket, lk)[0] == body
    assert os.path.exists(m.p(lk))
    recs = audit_records(audit, 1, timeout=1)
    assert all(r["result"] != "unlocked" for r in recs), recs


def test_even_with_open_modes_only_the_owner_or_unlock_gid_may_unlock(s3, bucket, mount, tmp_path):
    """umask=0 lets the kernel pass another user's unlink through (0777 directories); the
    guard itself refuses it (EPERM, audited), unless the caller is in -o unlock_gid."""
    audit = str(tmp_path / "audit.jsonl")
    keys = ["shared/a/terraform.tfstate", "shared/b/terraform.tfstate"]
    bodies = {k + ".tflock": lock_body(bucket, k) for k in keys}
    put_objects(s3, bucket, {**bodies, **{k: state(1) for k in keys}})
    nobody = 65534
    m = mount(bucket, ["allow_other", "umask=0", "audit_log=" + audit])
    assert_rm_refused(m, m.p(keys[0] + ".tflock"), errno.EPERM, as_user=nobody)
    assert get(s3, bucket, keys[0] + ".tflock")[0] == bodies[keys[0] + ".tflock"]
    rec = audit_records(audit, 1)[-1]
    assert rec["result"] == "refused" and rec["uid"] == nobody, rec
    assert "only the mount's owner (uid 0) may unlock" in rec["reason"], rec
    m.unmount()

    m = mount(bucket, ["allow_other", "umask=0", "unlock_gid=%d" % nobody, "audit_log=" + audit])
    r = rm(m.p(keys[1] + ".tflock"), as_user=nobody)
    assert r.returncode == 0, r.stderr + m.log()
    assert get(s3, bucket, keys[1] + ".tflock") is None
    assert get(s3, bucket, keys[0] + ".tflock")[0] == bodies[keys[0] + ".tflock"]
    assert audit_records(audit, 2)[-1]["result"] == "unlocked"


def test_unlock_gid_takes_a_group_name_and_refuses_an_unknown_one(stack, bucket, mount):
    import grp
    name = grp.getgrgid(65534).gr_name
    m = mount(bucket, ["unlock_gid=" + name])
    with open(m.p(".tfstatefs/status")) as f:
        assert "unlock_gid\t65534" in f.read()
    m.unmount()
    from test_mount_errors import run_mount, local_opts
    r, mounted = run_mount(stack, bucket, local_opts(stack) + ["unlock_gid=no-such-group-here"])
    assert r.returncode != 0 and not mounted and "unlock_gid=no-such-group-here" in r.stderr


# ---------------------------------------------------------------- 9. states stay read-only

def test_rm_of_a_state_is_still_erofs(s3, bucket, mount, tmp_path):
    audit = str(tmp_path / "audit.jsonl")
    put_objects(s3, bucket, {"s/terraform.tfstate": state(3),
                             "s/terraform.tfstate.tflock": lock_body(bucket, "s/terraform.tfstate")})
    m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit])
    assert_rm_refused(m, m.p("s/terraform.tfstate"), errno.EROFS)
    with pytest.raises(OSError) as e:
        os.unlink(m.p("s/terraform.tfstate"))
    assert e.value.errno == errno.EROFS
    assert get(s3, bucket, "s/terraform.tfstate")[0] == state(3)
    assert read_bytes(m.p("s/terraform.tfstate")) == state(3)
    assert all(r["result"] != "unlocked" for r in audit_records(audit, 0, timeout=0))
