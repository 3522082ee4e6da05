"""Freezing a state (-o lock_create): creating K.tflock in the mount takes a real Terraform
lock at the create (the S3 lockfile with If-None-Match: *, then, with a table, the
DynamoDB item with attribute_not_exists), each write sets its Info, and rm is the usual
guarded unlock. Checked against the real terraform on each backend configuration, in a
race of eight writers across two mounts, under each policy that refuses it, and through
the audit log and the events stream.

Every bucket here is unversioned: on a versioned bucket radosgw 16 does not honour PUT
conditions (the last test), and neither a freeze nor Terraform's own lockfile is safe."""
import errno
import json
import multiprocessing
import os
import pwd
import socket
import subprocess
import time
import types
import uuid

import pytest
from conftest import bucket_snapshot, put_objects
from test_dynamodb import STATE, create_table, ddb, ddb_options, fields, item, rows  # noqa: F401
from test_dynamodb_terraform import KEY, holder, plan, start_apply, wait_for_item
from test_events import INTERVAL, Reader, no_reader_left, started  # noqa: F401
from test_locks import (assert_rm_ok, audit_records, cat, get, listed, lock_body, wait_for,
                        wait_for_lock_object)
from terraform_helper import kill_tree, needs_terraform

LOCK = KEY + ".tflock"
INFO = "state surgery, ask alice (INC-4711)"
OPERATION = "tfstatefs freeze"


# ---------------------------------------------------------------- helpers

def freeze(path, text, as_user=None):
    """`echo TEXT > PATH` as the shell runs it: its own echo and redirect."""
    cmd = ["sh", "-c", 'echo "$1" > "$2"', "sh", text, path]
    if as_user is not None:
        cmd = ["setpriv", "--reuid=%d" % as_user, "--regid=%d" % as_user, "--clear-groups"] + cmd
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def assert_freeze_fails(m, path, err, text="x", **kw):
    r = freeze(path, text, **kw)
    assert r.returncode != 0, "echo > %s succeeded; expected %s\n%s" % (
        path, errno.errorcode[err], m.log())
    assert os.strerror(err) in r.stderr, "%s (expected %s)\n%s" % (
        r.stderr, errno.errorcode[err], m.log())


def os_error(fn, *args):
    """The errno fn(*args) fails with (an fd it opens is closed), or None."""
    try:
        fd = fn(*args)
    except OSError as e:
        return e.errno
    if isinstance(fd, int):
        os.close(fd)
    return None


def write_error(path, data):
    """Creates path and writes data in one write(2): the write's errno, or None."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)
    return None


def who(uid=None):
    """Who a lock made by uid says: Terraform's user@host."""
    return "%s@%s" % (pwd.getpwuid(os.getuid() if uid is None else uid).pw_name,
                      socket.gethostname())


def lock_id(bucket, key=KEY):
    return "%s/%s" % (bucket, key)


def lock_records(audit, n, **kw):
    """The audit's records of locks made (not rm's), once it has at least n records."""
    return [r for r in audit_records(audit, n, **kw) if r["command"] == "lock"]


def assert_made(s3, bucket, key, info, ddb=None, table=None):  # noqa: F811
    """The lock made on state key: Terraform's JSON with Info info, in S3 and (with a
    table) the same bytes in the DynamoDB item. Returns its document."""
    got = get(s3, bucket, key + ".tflock")
    assert got is not None, "no lock object for " + key
    doc = json.loads(got[0])
    assert list(doc) == ["ID", "Operation", "Info", "Who", "Version", "Created", "Path"], doc
    assert doc["Info"] == info and doc["Who"] == who() and doc["Operation"] == OPERATION, doc
    assert doc["Path"] == lock_id(bucket, key) and doc["Version"].startswith("tfstatefs "), doc
    if table is not None:
        it = item(ddb, table, lock_id(bucket, key))
        assert it is not None and it["Info"]["S"].encode() == got[0], (it, got)
    return doc


# ---------------------------------------------------------------- 1, 2. the real terraform

# use_lockfile, whether Terraform (and the mount) use a DynamoDB table
CONFIGS = {"lockfile": (True, False), "dynamodb": (False, True), "both": (True, True)}


@pytest.fixture(scope="module", params=list(CONFIGS))
def tf(request, stack, s3, ddb, tmp_path_factory):  # noqa: F811
    """One terraform working directory per configuration, initialised once, whose state
    exists (a first quick apply); its applies hold the lock for 120 s."""
    use_lockfile, with_table = CONFIGS[request.param]
    bucket = "t-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=bucket)
    table = create_table(ddb) if with_table else None
    work = tmp_path_factory.mktemp("tf-" + request.param)
    return types.SimpleNamespace(
        name=request.param, bucket=bucket, table=table, use_lockfile=use_lockfile,
        tf=holder(stack, work, bucket, table, use_lockfile),
        options=ddb_options(stack, table) if table else [])


@needs_terraform
def test_a_freeze_stops_terraform_until_rm(stack, s3, ddb, tf, mount, tmp_path):  # noqa: F811
    audit = str(tmp_path / "audit.jsonl")
    m = mount(tf.bucket, ["lock_create", "audit_log=" + audit] + tf.options)
    lf = m.p(LOCK)
    r = freeze(lf, INFO)
    assert r.returncode == 0 and r.stderr == "", r.stderr + m.log()
    doc = assert_made(s3, tf.bucket, KEY, INFO, ddb, tf.table)
    shown = fields(cat(lf))
    assert shown["Who"] == doc["Who"] and shown["ID"] == doc["ID"] and shown["Info"] == INFO
    assert shown["Backend"] == ("s3 dynamodb" if tf.table else "s3"), shown

    r = plan(tf.tf)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Error acquiring the state lock" in out, out
    for value in (doc["ID"], shown["Who"], INFO, OPERATION):
        assert value in out, "%r not in terraform's message:\n%s" % (value, out)

    assert_rm_ok(m, lf)
    assert get(s3, tf.bucket, LOCK) is None
    if tf.table:
        assert item(ddb, tf.table, lock_id(tf.bucket)) is None
    r = plan(tf.tf)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = audit_records(audit, 2)
    assert [(x["command"], x["result"]) for x in recs] == [("lock", "locked"), ("rm", "unlocked")]
    assert recs[0]["process"] == "sh" and recs[0]["lock_id"] == doc["ID"], recs
    assert recs[0]["key"] == LOCK and recs[0]["errno"] == "", recs


@needs_terraform
def test_a_freeze_while_terraform_holds_the_lock_is_refused(stack, s3, ddb, tf, mount,  # noqa: F811
                                                            tmp_path):
    audit = str(tmp_path / "audit.jsonl")
    cold = mount(tf.bucket, ["lock_create", "lock_ttl=60", "audit_log=" + audit] + tf.options)
    assert not os.path.exists(cold.p(LOCK))
    proc = start_apply(tf.tf)
    try:
        if tf.use_lockfile:
            wait_for_lock_object(s3, tf.bucket, LOCK, proc)
        if tf.table:
            wait_for_item(ddb, tf.table, lock_id(tf.bucket), proc)
        held = (get(s3, tf.bucket, LOCK), tf.table and item(ddb, tf.table, lock_id(tf.bucket)))
        # Seen free before the apply took the lock (and trusted for a minute): the create
        # itself meets the lock, in the table alone for the DynamoDB configuration, where
        # the lockfile written first is removed again.
        assert_freeze_fails(cold, cold.p(LOCK), errno.EEXIST, INFO)
        # Seen held: the open of the lock file shown meets it.
        m = mount(tf.bucket, ["lock_create", "audit_log=" + audit] + tf.options)
        lf = m.p(LOCK)
        assert fields(cat(lf))["Operation"] == "OperationTypeApply"
        assert_freeze_fails(m, lf, errno.EEXIST, INFO)
        assert (get(s3, tf.bucket, LOCK),
                tf.table and item(ddb, tf.table, lock_id(tf.bucket))) == held
        assert proc.poll() is None, "terraform held its lock all along"
        recs = audit_records(audit, 2)
        assert [(x["command"], x["result"], x["errno"]) for x in recs] == \
            [("lock", "refused", "EEXIST")] * 2, recs
        assert all(x["key"] == LOCK and x["path"] == LOCK and x["process"] == "sh"
                   for x in recs), recs
        # A dead runner's lock: rm frees the state for whatever runs next.
        kill_tree(proc)
        assert_rm_ok(m, lf)
        assert get(s3, tf.bucket, LOCK) is None
    finally:
        if proc.poll() is None:
            kill_tree(proc)


# ---------------------------------------------------------------- 3. eight writers at once

RACERS = 8


def racer(path, text, barrier, results):
    """One writer of the race: released with the others, creates the lock file and writes
    its text; puts (text, errno of the create or the write, or 0) in results."""
    barrier.wait()
    try:
        err = write_error(path, text.encode())
    except OSError as e:
        err = e.errno
    results.put((text, err or 0))


@pytest.mark.parametrize("with_table", [False, True], ids=["s3", "s3+dynamodb"])
def test_eight_writers_on_two_mounts_make_one_lock(stack, s3, ddb, bucket, mount, tmp_path,  # noqa: F811
                                                    with_table):
    put_objects(s3, bucket, {KEY: STATE})
    table = create_table(ddb) if with_table else None
    audits = [str(tmp_path / ("audit%d.jsonl" % i)) for i in range(2)]
    mounts = [mount(bucket, ["lock_create", "lock_ttl=5", "audit_log=" + a] +
                    (ddb_options(stack, table) if table else [])) for a in audits]
    for m in mounts:   # both know there is no lock file, for lock_ttl: each racer creates
        assert not os.path.exists(m.p(LOCK))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=racer, args=(mounts[i % 2].p(LOCK), "racer%d" % i, barrier,
                                             results)) for i in range(RACERS)]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=10)
    won = [t for t, err in got.items() if err == 0]
    assert len(won) == 1, got
    assert sorted(err for err in got.values() if err) == [errno.EEXIST] * (RACERS - 1), got
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listing) == [KEY, LOCK], listing
    doc = assert_made(s3, bucket, KEY, won[0], ddb, table)
    if table:
        assert [i["LockID"]["S"] for i in ddb.scan(TableName=table)["Items"]] == [lock_id(bucket)]
    recs = [r for a in audits for r in lock_records(a, 1)]
    assert sorted(r["result"] for r in recs) == ["locked"] + ["refused"] * (RACERS - 1), recs
    assert [r["lock_id"] for r in recs if r["result"] == "locked"] == [doc["ID"]], recs
    winner = mounts[int(won[0][len("racer"):]) % 2]
    assert fields(cat(winner.p(LOCK)))["Info"] == won[0]
    assert_rm_ok(winner, winner.p(LOCK))
    assert get(s3, bucket, LOCK) is None
    if table:
        assert item(ddb, table, lock_id(bucket)) is None


# ---------------------------------------------------------------- 4. policies that refuse it

@pytest.mark.parametrize("options", [[], ["lock_create", "ro"], ["lock_create", "unlock=off"]],
                         ids=["no-lock_create", "ro", "unlock=off"])
def test_no_lock_is_made_without_lock_create_or_under_ro_or_unlock_off(s3, bucket, mount,
                                                                      tmp_path, options):
    held = "held/terraform.tfstate"
    put_objects(s3, bucket, {KEY: STATE, held: STATE,
                             held + ".tflock": lock_body(bucket, held)})
    before = bucket_snapshot(s3, bucket)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["audit_log=" + audit] + options)
    lf = m.p(LOCK)
    assert_freeze_fails(m, lf, errno.EROFS)
    r = subprocess.run(["touch", lf], capture_output=True, text=True)
    assert r.returncode != 0 and os.strerror(errno.EROFS) in r.stderr, r.stderr
    assert os_error(os.open, lf, os.O_WRONLY | os.O_CREAT, 0o644) == errno.EROFS
    assert os_error(os.open, lf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EROFS
    # A lock that is there: refused as the mount refuses every lock made, not as held.
    assert os.path.exists(m.p(held + ".tflock"))
    assert_freeze_fails(m, m.p(held + ".tflock"), errno.EROFS)
    assert os.stat(m.p(held + ".tflock")).st_mode & 0o777 == 0o444
    assert not os.path.exists(lf) and not listed(lf)
    assert bucket_snapshot(s3, bucket) == before
    # Without lock_create a create is any write: nothing tried, nothing audited. With it,
    # each of the five attempts is a lock refused.
    recs = lock_records(audit, 5 if options else 0, timeout=1 if options else 0)
    assert [(r["result"], r["errno"]) for r in recs] == \
        [("refused", "EROFS")] * (5 if options else 0), recs


def test_only_the_owner_or_unlock_gid_may_make_a_lock(s3, bucket, mount, tmp_path):
    """umask=0 lets the kernel pass another user's create through: the policy refuses it
    (EPERM, audited), unless the caller is in unlock_gid; Who is then that user."""
    put_objects(s3, bucket, {KEY: STATE})
    audit = str(tmp_path / "audit.jsonl")
    nobody = 65534
    m = mount(bucket, ["lock_create", "allow_other", "umask=0", "audit_log=" + audit])
    assert_freeze_fails(m, m.p(LOCK), errno.EPERM, as_user=nobody)
    assert get(s3, bucket, LOCK) is None
    rec = lock_records(audit, 1)[-1]
    assert (rec["result"], rec["errno"], rec["uid"]) == ("refused", "EPERM", nobody), rec
    m.unmount()
    m = mount(bucket, ["lock_create", "allow_other", "umask=0", "unlock_gid=%d" % nobody])
    r = freeze(m.p(LOCK), "nobody's freeze", as_user=nobody)
    assert r.returncode == 0, r.stderr + m.log()
    assert json.loads(get(s3, bucket, LOCK)[0])["Who"] == who(nobody)
    assert_rm_ok(m, m.p(LOCK))


# ---------------------------------------------------------------- 5. the lock file itself

def test_touch_cat_rm_and_what_a_write_may_hold(s3, bucket, mount, tmp_path):
    put_objects(s3, bucket, {KEY: STATE})
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["lock_create", "watch_interval=%d" % INTERVAL, "audit_log=" + audit])
    reader = Reader(m)
    started(m)
    lf = m.p(LOCK)
    made = []

    # touch: a lock with an empty Info, shown at once everywhere.
    r = subprocess.run(["touch", lf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + m.log()
    doc = assert_made(s3, bucket, KEY, "")
    made.append(doc["ID"])
    text = cat(lf).decode()
    assert "\nInfo:\n" in text and fields(text.encode())["ID"] == doc["ID"], text
    assert os.stat(lf).st_size == len(text) and listed(lf)
    assert rows(m.p(".tfstatefs/locks")) == [
        [KEY, "s3", doc["ID"], who(), OPERATION, doc["Created"]]]
    assert os.getxattr(lf, "user.tflock.json") == get(s3, bucket, LOCK)[0]
    # A lock that is there is never written over, whatever the open's flags.
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_CREAT, os.O_WRONLY | os.O_TRUNC,
                  os.O_WRONLY | os.O_APPEND):
        assert os_error(os.open, lf, flags, 0o644) == errno.EEXIST, flags
    assert os_error(os.open, lf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    assert_freeze_fails(m, lf, errno.EEXIST)
    assert assert_made(s3, bucket, KEY, "")["ID"] == doc["ID"]
    assert_rm_ok(m, lf)
    assert get(s3, bucket, LOCK) is None and not listed(lf)
    assert rows(m.p(".tfstatefs/locks")) == []

    # Two writes: the Info is the text of both, trimmed.
    r = subprocess.run(["sh", "-c", '{ echo a; echo b; } > "$1"', "sh", lf],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + m.log()
    doc = assert_made(s3, bucket, KEY, "a\nb")
    made.append(doc["ID"])
    assert fields(cat(lf))["ID"] == doc["ID"]
    assert_rm_ok(m, lf)

    # Text that cannot be an Info fails the write and leaves no lock.
    for data, err in ((b"x" * 2000, errno.EFBIG), (b"\xff\xfe", errno.EILSEQ),
                      (b"bell\x07", errno.EILSEQ)):
        assert write_error(lf, data) == err, (data, m.log())
        assert get(s3, bucket, LOCK) is None, data
        wait_for(lambda: not os.path.exists(lf), 2, "%r left a lock file" % data[:10])
    # No lock in /.tfstatefs, and nothing but lock files.
    for path in (m.p(".tfstatefs", "x.tflock"), m.p("team/app/notes.txt")):
        assert os_error(os.open, path, os.O_WRONLY | os.O_CREAT, 0o644) == errno.EROFS, path
    assert bucket_snapshot(s3, bucket).keys() == {KEY}

    # Each lock made is told once as locked, by whom, and once as unlocked.
    time.sleep(INTERVAL + 1.5)
    locked = [f for f in reader.lines if f[1] == "locked"]
    assert [f[4] for f in locked if f[4] in made] == made, reader.lines
    assert all(f[2:4] == [KEY, "s3"] and f[5:8] == [who(), OPERATION, "uid=0"]
               for f in locked), locked
    unlocked = [f for f in reader.lines if f[1] == "unlocked"]
    assert [f[4] for f in unlocked] == [f[4] for f in locked], reader.lines
    assert [f[7] for f in unlocked] == ["uid=0"] * 2 + [
        "uid=0 EFBIG", "uid=0 EILSEQ", "uid=0 EILSEQ"], unlocked
    reader.stop()
    # Each attempt audited (O_EXCL is the kernel's own EEXIST: it asks nothing), and the
    # two rm.
    recs = lock_records(audit, 16)
    assert [(r["result"], r["errno"], r["process"]) for r in recs] == [
        ("locked", "", "touch")] + [("refused", "EEXIST", "python3")] * 5 + [
        ("refused", "EEXIST", "sh"), ("locked", "", "sh")] + [
        x for e in ("EFBIG", "EILSEQ", "EILSEQ")
        for x in (("locked", "", "python3"), ("failed", e, "python3"))], recs
    assert all(r["key"] == LOCK and r["path"] == LOCK for r in recs), recs


def test_a_lock_that_changed_hands_is_never_written_over(s3, bucket, mount, tmp_path):
    """Force-unlocked and taken by another between two writes: the next write is EBUSY
    (If-Match on the lock as made) and the other lock stays as it is."""
    put_objects(s3, bucket, {KEY: STATE})
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["lock_create", "audit_log=" + audit])
    fd = os.open(m.p(LOCK), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"first\n")
        assert_made(s3, bucket, KEY, "first")
        theirs = lock_body(bucket, KEY, who="bob@ci")
        s3.put_object(Bucket=bucket, Key=LOCK, Body=theirs)
        with pytest.raises(OSError) as e:
            os.write(fd, b"second\n")
        assert e.value.errno == errno.EBUSY, m.log()
    finally:
        os.close(fd)
    assert get(s3, bucket, LOCK)[0] == theirs
    assert [(r["result"], r["errno"]) for r in lock_records(audit, 2)] == [
        ("locked", ""), ("failed", "EBUSY")]


# ---------------------------------------------------------------- 6. workspaces and prefixes

@pytest.mark.parametrize("source, options, path, key", [
    ("", [], "env:/dev/app/terraform.tfstate", "env:/dev/app/terraform.tfstate"),
    (":/teams/p", [], "app/terraform.tfstate", "teams/p/app/terraform.tfstate"),
    (":/teams/p", [], "env:/dev/app/terraform.tfstate", "env:/dev/teams/p/app/terraform.tfstate"),
    (":/teams/p", ["workspace_key_prefix=ws"], "ws/dev/app/terraform.tfstate",
     "ws/dev/teams/p/app/terraform.tfstate"),
], ids=["workspace", "prefix", "prefix-workspace", "workspace_key_prefix"])
def test_a_lock_made_in_a_workspace_has_terraforms_path(stack, s3, ddb, bucket, mount,  # noqa: F811
                                                        tmp_path, source, options, path, key):
    put_objects(s3, bucket, {key: STATE})
    table = create_table(ddb)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket + source, ["lock_create", "audit_log=" + audit] + options +
              ddb_options(stack, table))
    r = freeze(m.p(path + ".tflock"), INFO)
    assert r.returncode == 0, r.stderr + m.log()
    doc = assert_made(s3, bucket, key, INFO, ddb, table)
    assert doc["Path"] == "%s/%s" % (bucket, key)
    assert rows(m.p(".tfstatefs/locks"))[0][:3] == [path, "s3 dynamodb", doc["ID"]]
    rec = lock_records(audit, 1)[0]
    assert (rec["path"], rec["key"], rec["state"]) == (path + ".tflock", key + ".tflock", path)
    assert_rm_ok(m, m.p(path + ".tflock"))
    assert get(s3, bucket, key + ".tflock") is None
    assert item(ddb, table, lock_id(bucket, key)) is None


# ---------------------------------------------------------------- the server's part

def test_radosgw_16_ignores_put_conditions_on_a_versioned_bucket(s3, bucket, mount):
    """Documents the test server, not tfstatefs (README, "The server must honour
    conditional writes"; s3/s3put.c): on a versioned bucket radosgw 16 checks a PUT's
    conditions against the version it writes, so If-None-Match: * always writes (a create
    there overwrites a lock, as Terraform's own lockfile would) and If-Match always fails
    (the first write of the Info is EBUSY). AWS S3, and radosgw on an unversioned bucket
    as every other test here uses, refuse the first and take the second. If this fails,
    radosgw honours the conditions now: say so in the README."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put_objects(s3, bucket, {KEY: STATE})
    m = mount(bucket, ["lock_create", "lock_ttl=60"])
    assert not os.path.exists(m.p(LOCK))     # seen free, trusted: the create is sent
    theirs = lock_body(bucket, KEY, who="bob@ci")
    s3.put_object(Bucket=bucket, Key=LOCK, Body=theirs)
    assert write_error(m.p(LOCK), b"mine") == errno.EBUSY, m.log()
    doc = json.loads(get(s3, bucket, LOCK)[0])
    assert (doc["Who"], doc["Info"]) == (who(), ""), "bob's lock was overwritten by the create"
