"""History from S3 versioning (issue 15): /.tfstatefs/history/<state>/ (a file per version,
`index`, `locks`), /.tfstatefs/lock-history and the versioning lines of /.tfstatefs/status,
checked against what boto3's ListObjectVersions and GetObject(VersionId) say.

One versioned bucket is shared by the tests of this file (Terraform runs are what take
time): real applies with lockfile locking change the state three times, the state is
deleted with boto3 and an apply writes it again, and a last apply is left running (it
holds its lock) until the file's tests end. A second state gets its versions and locks
from boto3, so that lock-history mixes two states.
"""
import datetime
import json
import os
import subprocess
import time
import uuid

import pytest
from test_locks import lock_body, state, stats
from terraform_helper import Terraform, kill_tree, needs_terraform

KEY = "team/app/terraform.tfstate"
OTHER = "team/other/terraform.tfstate"      # written by boto3 only
NEIGHBOUR = KEY + "-old"    # lists between KEY and KEY.tflock in a listing by KEY's prefix
LOCK_SUFFIX = ".tflock"


# ---------------------------------------------------------------- helpers

def ms_time(dt):
    """A LastModified as tfstatefs writes it: RFC 3339, UTC, milliseconds."""
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ms_of(dt):
    """Milliseconds since the epoch, exactly (no float)."""
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def versions(s3, bucket, key):
    """(versions, delete markers) of exactly key, each list oldest first."""
    vs, dms = [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        vs += [v for v in page.get("Versions", []) if v["Key"] == key]
        dms += [d for d in page.get("DeleteMarkers", []) if d["Key"] == key]
    vs.sort(key=lambda v: v["LastModified"])
    dms.sort(key=lambda v: v["LastModified"])
    return vs, dms


def all_entries(s3, bucket, key):
    """Every entry of key (versions and delete markers) oldest first, each a dict with
    'dm' saying which."""
    vs, dms = versions(s3, bucket, key)
    out = [dict(v, dm=False) for v in vs] + [dict(d, dm=True) for d in dms]
    out.sort(key=lambda v: v["LastModified"])
    times = [e["LastModified"] for e in out]
    assert len(set(times)) == len(times), "two entries of %s in one millisecond" % key
    return out


def body(s3, bucket, key, version_id):
    return s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()


def version_name(v):
    return "%s_%s" % (ms_time(v["LastModified"]), v["VersionId"])


def ls(path):
    r = subprocess.run(["ls", "-1", path], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def rows(path):
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), repr(text)
    return [line.split("\t") for line in text.splitlines()]


def status(m):
    with open(m.p(".tfstatefs/status")) as f:
        return dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)


def requests(m):
    st = stats(m)
    return {k: v for k, v in st.items()
            if (k.startswith("s3_") and k.endswith("_requests")) or k == "history_version_gets"}


def lock_entries(s3, bucket):
    """{lock key: its entries oldest first} for every .tflock key of the bucket."""
    keys = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for e in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if e["Key"].endswith(LOCK_SUFFIX):
                keys.add(e["Key"])
    return {k: all_entries(s3, bucket, k) for k in keys}


def expected_lock_lines(s3, bucket):
    """lock-history as boto3 sees the bucket: one line per .tflock version (not delete
    markers), its JSON's ID, Who, Operation and Version, taken at its LastModified,
    released by the next entry of its key, held while it is the latest; sorted by the
    time taken. held_seconds of a held lock runs to now: None here."""
    out = []
    for key, entries in lock_entries(s3, bucket).items():
        for i, e in enumerate(entries):
            if e["dm"]:
                continue
            doc = json.loads(body(s3, bucket, key, e["VersionId"]))
            nxt = entries[i + 1] if i + 1 < len(entries) else None
            assert (nxt is None) == e["IsLatest"]
            acquired = ms_of(e["LastModified"])
            released = ms_of(nxt["LastModified"]) if nxt else None
            out.append([key[:-len(LOCK_SUFFIX)], doc["ID"], doc["Who"], doc["Operation"],
                        doc["Version"], ms_time(e["LastModified"]),
                        ms_time(nxt["LastModified"]) if nxt else "held",
                        str((released - acquired) // 1000) if nxt else None])
    out.sort(key=lambda r: (r[5], r[0]))
    return out


def same_lock_lines(got, want):
    """got equals want; a held line's held_seconds only runs to about now."""
    assert len(got) == len(want), "%d lines, expected %d:\n%s\n%s" % (len(got), len(want),
                                                                     got, want)
    now = datetime.datetime.now(datetime.timezone.utc)
    for g, w in zip(got, want):
        assert len(g) == 8, g
        assert g[:7] == w[:7], "%s\nexpected %s" % (g, w)
        if w[7] is None:
            taken = datetime.datetime.fromisoformat(g[5].replace("Z", "+00:00"))
            assert abs(int(g[7]) - (now - taken).total_seconds()) <= 5, g
        else:
            assert g[7] == w[7], g


# ---------------------------------------------------------------- the shared history

@pytest.fixture(scope="module")
def tf_history(stack, s3, tmp_path_factory):
    """The versioned bucket and what happened in it: each Terraform run's time window
    [start, end] (end None: still running) and its n."""
    bucket = "t-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    d = tmp_path_factory.mktemp("tf")
    tf = Terraform(stack, d, bucket, KEY)
    tf.init()
    runs = []

    def apply(n):
        t0 = time.time()
        tf.apply(n)
        runs.append({"n": n, "start": t0, "end": time.time()})
        time.sleep(0.01)    # no two runs' entries in one millisecond

    s3.put_object(Bucket=bucket, Key=NEIGHBOUR, Body=state(40))
    s3.put_object(Bucket=bucket, Key=NEIGHBOUR, Body=state(41))
    # The other state: two locks taken and released, around two versions of its own.
    s3.put_object(Bucket=bucket, Key=OTHER, Body=state(1))
    s3.put_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX,
                  Body=lock_body(bucket, OTHER, who="alice@laptop"))
    s3.put_object(Bucket=bucket, Key=OTHER, Body=state(2))
    s3.delete_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX)
    for n in (1, 2, 3):
        apply(n)
    s3.put_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX,
                  Body=lock_body(bucket, OTHER, who="bob@ci", operation="OperationTypePlan"))
    s3.delete_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX)
    deleted_at = time.time()
    s3.delete_object(Bucket=bucket, Key=KEY)            # the state deleted...
    time.sleep(0.01)
    apply(4)                                            # ...and written again by an apply
    # The last apply holds its lock (a 600 s sleep inside it) until the tests end.
    holder = Terraform(stack, d, bucket, KEY, sleep_seconds=600)    # same directory
    t0 = time.time()
    proc = holder.popen("apply", "-auto-approve", "-input=false", "-no-color", "-var", "n=5")
    try:
        deadline = time.time() + 60
        while True:
            try:
                got = s3.get_object(Bucket=bucket, Key=KEY + LOCK_SUFFIX)
                held = json.loads(got["Body"].read())
                break
            except s3.exceptions.NoSuchKey:
                pass
            if proc.poll() is not None:
                raise AssertionError("terraform ended before taking the lock: "
                                     + proc.stdout.read())
            assert time.time() < deadline, "terraform never took its lock"
            time.sleep(0.05)
        runs.append({"n": 5, "start": t0, "end": None})
        yield {"bucket": bucket, "runs": runs, "held": held, "state_deleted_after": deleted_at}
    finally:
        kill_tree(proc)


def run_of(runs, dt):
    """The Terraform run whose time window holds dt, or None."""
    t = dt.timestamp()
    for r in runs:
        if r["start"] <= t and (r["end"] is None or t <= r["end"] + 0.002):
            return r
    return None


def apply_locks(s3, bucket, runs):
    """Each run's lock: the single .tflock version written within its window."""
    entries = lock_entries(s3, bucket)[KEY + LOCK_SUFFIX]
    by_run = {}
    for e in entries:
        if e["dm"]:
            continue
        r = run_of(runs, e["LastModified"])
        assert r is not None, "a lock version outside every apply: %s" % e
        assert r["n"] not in by_run, "two lock versions in apply %d" % r["n"]
        by_run[r["n"]] = json.loads(body(s3, bucket, KEY + LOCK_SUFFIX, e["VersionId"]))
    assert sorted(by_run) == [1, 2, 3, 4, 5], by_run
    return by_run


# ---------------------------------------------------------------- versioned bucket

@needs_terraform
def test_the_history_directory_holds_exactly_the_versions_s3_lists(s3, mount, tf_history):
    """One file per version of the state (delete markers have none), named by time and
    version id so that ls lists them oldest first, each byte for byte that version, with
    its size, its LastModified as mtime, and its version and serial as xattrs."""
    bucket = tf_history["bucket"]
    vs, dms = versions(s3, bucket, KEY)
    assert len(vs) == 4 and len(dms) == 1, (vs, dms)    # applies 1-4; the running one wrote none
    m = mount(bucket)
    h = m.p(".tfstatefs/history", KEY)
    assert os.path.isdir(h)
    names = [version_name(v) for v in vs]               # oldest first
    assert ls(h) == names + ["index", "locks"], "ls sorts the versions oldest first"
    assert sorted(os.listdir(h)) == sorted(names + ["index", "locks"])
    for v, name in zip(vs, names):
        p = os.path.join(h, name)
        with open(p, "rb") as f:
            got = f.read()
        want = body(s3, bucket, KEY, v["VersionId"])
        assert got == want, "%s: not the bytes of version %s" % (name, v["VersionId"])
        st = os.stat(p)
        assert st.st_size == v["Size"] == len(want), name
        assert int(st.st_mtime) == int(v["LastModified"].timestamp()), name
        assert os.getxattr(p, "user.s3.version_id").decode() == v["VersionId"]
        assert os.getxattr(p, "user.tfstate.serial").decode() == str(json.loads(want)["serial"])
    # A name no version has, and a deleted version (its delete marker), are no files.
    assert not os.path.exists(os.path.join(h, version_name(dms[0])))
    assert not os.path.exists(os.path.join(h, names[0].replace("Z_", "Z_x")))
    # The neighbouring key, which a listing by the state's key as prefix also returns,
    # has a history of its own.
    nb = versions(s3, bucket, NEIGHBOUR)[0]
    assert ls(m.p(".tfstatefs/history", NEIGHBOUR)) == [version_name(v) for v in nb] + [
        "index", "locks"]


@needs_terraform
def test_index_names_the_lock_of_the_apply_that_wrote_each_version(s3, mount, tf_history):
    """One line per version and delete marker, oldest first; each version's serial,
    lineage and Terraform version are its own, and its lock is the one its apply took
    (found here by time: the apply's .tflock version, read with boto3). The state's
    delete marker is a `deleted` line."""
    bucket, runs = tf_history["bucket"], tf_history["runs"]
    locks = apply_locks(s3, bucket, runs)
    entries = all_entries(s3, bucket, KEY)
    m = mount(bucket)
    got = rows(m.p(".tfstatefs/history", KEY, "index"))
    assert len(got) == len(entries), got
    seen_deleted = 0
    for line, e in zip(got, entries):
        assert len(line) == 9, line
        assert line[0] == ms_time(e["LastModified"]) and line[1] == e["VersionId"], (line, e)
        if e["dm"]:
            seen_deleted += 1
            assert line[2:] == ["deleted"] + ["-"] * 6, line
            assert e["LastModified"].timestamp() >= tf_history["state_deleted_after"] - 0.002
            continue
        doc = json.loads(body(s3, bucket, KEY, e["VersionId"]))
        assert line[2:6] == [str(e["Size"]), str(doc["serial"]), doc["lineage"],
                             doc["terraform_version"]], line
        run = run_of(runs, e["LastModified"])
        assert run is not None, "a state version outside every apply: %s" % e
        assert str(doc["outputs"]["n"]["value"]) == str(run["n"]), "the window found its apply"
        lock = locks[run["n"]]
        assert line[6:] == [lock["ID"], lock["Who"], lock["Operation"]], (
            "version %s written by apply n=%d names %s, expected its lock %s"
            % (e["VersionId"], run["n"], line[6:], lock["ID"]))
    assert seen_deleted == 1
    # The new lineage after the delete: a re-created state is a new state.
    lineages = [r[4] for r in got if r[2] != "deleted"]
    assert lineages[0] == lineages[2] != lineages[3]


@needs_terraform
def test_lock_history_has_one_line_per_lock_version(s3, mount, tf_history):
    """lock-history: every .tflock version of the bucket (both states), its JSON's fields,
    taken at its LastModified, released at its delete marker's, `held` for the apply
    still running; a state's `locks` file is its lines of it."""
    bucket, runs = tf_history["bucket"], tf_history["runs"]
    want = expected_lock_lines(s3, bucket)
    locks = apply_locks(s3, bucket, runs)
    assert len(want) == 5 + 2, want
    m = mount(bucket)
    got = rows(m.p(".tfstatefs/lock-history"))
    same_lock_lines(got, want)
    mine = [r for r in got if r[0] == KEY]
    assert [r[1] for r in mine] == [locks[n]["ID"] for n in (1, 2, 3, 4, 5)]
    assert all(r[6] != "held" for r in mine[:4]), "every finished apply released its lock"
    assert mine[4][1] == tf_history["held"]["ID"] and mine[4][6] == "held"
    assert [r[0] for r in got].count(OTHER) == 2
    # The state's own locks file: its lines of the lock history.
    own = rows(m.p(".tfstatefs/history", KEY, "locks"))
    same_lock_lines(own, [w for w in want if w[0] == KEY])
    other = rows(m.p(".tfstatefs/history", OTHER, "locks"))
    same_lock_lines(other, [w for w in want if w[0] == OTHER])


@needs_terraform
def test_status_says_versioning_and_counts_the_lock_clutter(s3, mount, tf_history):
    bucket = tf_history["bucket"]
    noncurrent = markers = 0
    for entries in lock_entries(s3, bucket).values():
        noncurrent += sum(1 for e in entries if not e["dm"] and not e["IsLatest"])
        markers += sum(1 for e in entries if e["dm"])
    # 4 finished applies and 2 boto3 locks, each released with a delete marker.
    assert (noncurrent, markers) == (6, 6)
    m = mount(bucket)
    st = status(m)
    assert st.get("versioning") == "Enabled", st
    assert st.get("lock_versions_noncurrent") == str(noncurrent), st
    assert st.get("lock_delete_markers") == str(markers), st


@needs_terraform
def test_a_warm_find_does_not_walk_history_and_sends_nothing(s3, mount, tf_history):
    """History is reached by name: with it read (directories, index, a version), a find
    of the mount lists no history and, warm, sends no request at all."""
    bucket = tf_history["bucket"]
    m = mount(bucket)

    def find():
        out = subprocess.run(["find", m.path], capture_output=True, text=True, check=True).stdout
        return sorted(os.path.relpath(p, m.path) for p in out.splitlines())

    cold = find()
    assert ".tfstatefs" not in os.listdir(m.path)
    h = m.p(".tfstatefs/history")
    assert sorted(os.listdir(h)) == ["team"]
    assert sorted(os.listdir(os.path.join(h, "team"))) == ["app", "other"]
    assert sorted(os.listdir(os.path.join(h, "team/app"))) == ["terraform.tfstate",
                                                               "terraform.tfstate-old"]
    names = ls(os.path.join(h, KEY))
    with open(os.path.join(h, KEY, "index")) as f:
        assert len(f.read().splitlines()) == len(names) - 2 + 1    # + the delete marker
    with open(os.path.join(h, KEY, names[0]), "rb") as f:
        f.read()
    before = requests(m)
    warm = find()
    assert requests(m) == before, "a warm find sent requests: %s -> %s" % (before, requests(m))
    assert warm == cold
    assert not [p for p in warm if ".tfstatefs" in p or "history" in p], warm
    assert "team/app/terraform.tfstate" in warm


# ---------------------------------------------------------------- unversioned bucket

def test_an_unversioned_bucket_shows_the_current_version_and_the_locks_held_now(
        s3, bucket, mount):
    for serial in (1, 2, 3):
        s3.put_object(Bucket=bucket, Key=KEY, Body=state(serial))
    s3.put_object(Bucket=bucket, Key=OTHER, Body=state(7))
    s3.put_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX, Body=lock_body(bucket, OTHER))
    s3.delete_object(Bucket=bucket, Key=OTHER + LOCK_SUFFIX)      # released: gone for good
    held = lock_body(bucket, KEY, who="carol@ci")
    s3.put_object(Bucket=bucket, Key=KEY + LOCK_SUFFIX, Body=held)
    vs, dms = versions(s3, bucket, KEY)
    assert len(vs) == 1 and not dms, vs

    m = mount(bucket)
    st = status(m)
    assert st.get("versioning") == "off", st
    assert st.get("lock_versions_noncurrent") == "0" and st.get("lock_delete_markers") == "0", st
    h = m.p(".tfstatefs/history", KEY)
    name = version_name(vs[0])
    assert ls(h) == [name, "index", "locks"]
    with open(os.path.join(h, name), "rb") as f:
        assert f.read() == state(3)
    assert os.getxattr(os.path.join(h, name), "user.tfstate.serial") == b"3"
    idx = rows(os.path.join(h, "index"))
    assert len(idx) == 1 and idx[0][1] == vs[0]["VersionId"] and idx[0][3] == "3", idx
    assert idx[0][6:] == ["-", "-", "-"], "the lock was taken after the state was written"
    assert ls(m.p(".tfstatefs/history", OTHER)) == [version_name(versions(s3, bucket, OTHER)[0][0]),
                                                    "index", "locks"]
    got = rows(m.p(".tfstatefs/lock-history"))
    assert [r[:4] + r[6:7] for r in got] == [[KEY, json.loads(held)["ID"], "carol@ci",
                                              "OperationTypeApply", "held"]], got
