"""Locks the listing cannot have seen: a DynamoDB lock whose state has no object (a first
apply in progress, a deleted state), and a lock under a directory that is new since the
last listing. Each shows at its path with its directories, by name within lock_ttl even
with a long cache_ttl, is removed by the guarded rm, and a warm find still costs nothing."""
import json
import os
import subprocess
import time

import pytest
from conftest import put_objects
from test_dynamodb import (STATE, ddb, ddb_options, fields, item, put_digest,  # noqa: F401
                           put_lock, rows, table)
from test_dynamodb_terraform import start_apply, wait_for_item
from test_locks import assert_rm_ok, audit_records, cat, get, listed, lock_body, stats, wait_for
from terraform_helper import Terraform, kill_tree, needs_terraform

LOCK_TTL = 1
# A long cache_ttl: a new lock must not wait for the listing to expire.
FRESH = ["lock_ttl=%d" % LOCK_TTL, "cache_ttl=300"]
NEW = "new/app/terraform.tfstate"


def wait_shown(m, paths, since, what):
    """Each path (in the mount) exists by name within lock_ttl + 1 s of `since`."""
    for p in paths:
        wait_for(lambda: os.path.exists(m.p(p)), max(0.1, since + LOCK_TTL + 1 - time.time()),
                 "%s: %s not shown by name within lock_ttl + 1 s\n%s" % (what, p, m.log()))


def wait_gone(m, path, what):
    """path (in the mount) is gone from its parent's listing and by name within lock_ttl + 1 s."""
    wait_for(lambda: not listed(m.p(path)) and not os.path.exists(m.p(path)), LOCK_TTL + 1,
             "%s: %s still shown\n%s" % (what, path, m.log()))


def find_locks(m):
    out = subprocess.run(["find", m.path, "-name", "*.tflock"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(os.path.relpath(p, m.path) for p in out.splitlines())


def requests(m):
    """Requests sent so far, S3 and DynamoDB."""
    return sum(v for k, v in stats(m).items()
               if k.startswith(("s3_", "dynamodb_")) and k.endswith("_requests"))


# ---------------------------------------------------------------- a first apply, by Terraform

@needs_terraform
@pytest.mark.parametrize("use_lockfile, backend, lockfile", [
    (False, "dynamodb", "free"),
    (True, "s3 dynamodb", "held"),
], ids=["dynamodb", "migration"])
def test_the_first_apply_of_a_new_state_shows_its_lock_at_once(
        stack, s3, ddb, bucket, table, mount, tmp_path, use_lockfile, backend, lockfile):
    """The mount has listed the bucket before the apply starts: the lock (and the state's
    directories, which no object makes yet) shows by name within lock_ttl, everywhere, and
    rm removes it while the apply runs, as it would for a state that exists."""
    audit = str(tmp_path / "audit.jsonl")
    put_objects(s3, bucket, {"old/terraform.tfstate": STATE})
    m = mount(bucket, FRESH + ["audit_log=" + audit] + ddb_options(stack, table))
    assert os.listdir(m.path) == ["old"] and find_locks(m) == []
    tf = Terraform(stack, tmp_path / "tf", bucket, NEW, use_lockfile=use_lockfile,
                   dynamodb_table=table, sleep_seconds=300)
    tf.init()
    proc = start_apply(tf)
    try:
        doc = json.loads(wait_for_item(ddb, table, "%s/%s" % (bucket, NEW), proc))
        wait_shown(m, [NEW + ".tflock"], time.time(), "the first apply's lock")
        assert get(s3, bucket, NEW) is None, "a first apply writes its state only at its end"
        lf = m.p(NEW + ".tflock")
        got = fields(cat(lf))
        assert got["Backend"] == backend and got["ID"] == doc["ID"], got
        assert os.getxattr(lf, "user.tflock.id").decode() == doc["ID"]
        assert os.getxattr(lf, "user.tflock.backend").decode() == backend
        assert find_locks(m) == [NEW + ".tflock"]
        assert [r[:3] for r in rows(m.p(".tfstatefs/locks"))] == [[NEW, backend, doc["ID"]]]
        assert rows(m.p(".tfstatefs/migration")) == [
            [NEW, lockfile, "held", "none", "new"],
            ["old/terraform.tfstate", "free", "free", "none", "-"]]

        assert_rm_ok(m, lf)
        assert proc.poll() is None, "the apply was still running"
        assert item(ddb, table, "%s/%s" % (bucket, NEW)) is None
        assert get(s3, bucket, NEW + ".tflock") is None
        rec = audit_records(audit, 1)[-1]
        assert rec["result"] == "unlocked" and rec["backend"] == backend, rec
        assert rec["path"] == NEW + ".tflock" and rec["lock_id"] == doc["ID"], rec
        wait_gone(m, "new", "the directories of a lock that is gone")
        assert os.listdir(m.path) == ["old"]
    finally:
        kill_tree(proc)


# ---------------------------------------------------------------- a deleted state's lock

def test_a_dynamodb_lock_whose_state_was_deleted_shows_and_rm_removes_only_it(
        stack, s3, ddb, bucket, table, mount, tmp_path):
    """gone/deep: its state was deleted, its lock and digest items stay (an orphan).
    first: a lock item alone, no state and no digest (a first apply in progress)."""
    gone, first = "gone/deep/terraform.tfstate", "first/terraform.tfstate"
    put_objects(s3, bucket, {gone: STATE, "kept/terraform.tfstate": STATE})
    body = lock_body(bucket, gone)
    put_lock(ddb, table, bucket, gone, body)
    put_digest(ddb, table, bucket, gone, STATE)
    put_lock(ddb, table, bucket, first, lock_body(bucket, first))
    s3.delete_object(Bucket=bucket, Key=gone)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, FRESH + ["audit_log=" + audit] + ddb_options(stack, table))
    lf = m.p(gone + ".tflock")
    # By name first, through directories never listed: at once, as an S3 lockfile would.
    for lk in (lf, m.p(first + ".tflock")):
        assert os.path.exists(lk), "test -e %s is false on a fresh mount\n%s" % (lk, m.log())
    assert sorted(os.listdir(m.path)) == ["first", "gone", "kept"]
    assert os.listdir(m.p("gone/deep")) == ["terraform.tfstate.tflock"], "no file for a digest"
    got = fields(cat(lf))
    assert got["Backend"] == "dynamodb" and got["ID"] == json.loads(body)["ID"], got
    assert os.getxattr(lf, "user.tflock.id").decode() == json.loads(body)["ID"]
    assert find_locks(m) == [first + ".tflock", gone + ".tflock"]
    assert [r[:2] for r in rows(m.p(".tfstatefs/locks"))] == [[first, "dynamodb"],
                                                                [gone, "dynamodb"]]
    assert rows(m.p(".tfstatefs/migration")) == [
        [first, "free", "held", "none", "new"],
        [gone, "free", "held", "mismatch", "orphan"],
        ["kept/terraform.tfstate", "free", "free", "none", "-"]]

    assert_rm_ok(m, lf)
    assert item(ddb, table, "%s/%s" % (bucket, gone)) is None
    assert item(ddb, table, "%s/%s-md5" % (bucket, gone)) is not None, "the digest stays"
    assert item(ddb, table, "%s/%s" % (bucket, first)) is not None, "other locks stay"
    rec = audit_records(audit, 1)[-1]
    assert rec["result"] == "unlocked" and rec["backend"] == "dynamodb", rec
    assert rec["path"] == gone + ".tflock"
    wait_gone(m, "gone", "the directories of a removed lock")
    assert sorted(os.listdir(m.path)) == ["first", "kept"]
    assert rows(m.p(".tfstatefs/migration"))[1] == [gone, "free", "free", "mismatch", "orphan"]


# ---------------------------------------------------------------- a directory new since the listing

S3_LOCK = "fresh/dir/terraform.tfstate.tflock"
DDB_STATE = "table/dir/terraform.tfstate"


def take_locks(s3, ddb, bucket, table):
    """An S3 lockfile and a DynamoDB lock, each under a directory nothing else makes."""
    put_objects(s3, bucket, {S3_LOCK: lock_body(bucket, S3_LOCK[:-len(".tflock")])})
    put_lock(ddb, table, bucket, DDB_STATE, lock_body(bucket, DDB_STATE))
    return time.time()


def test_a_lock_under_a_directory_new_since_the_listing_shows_by_name_within_lock_ttl(
        stack, s3, ddb, bucket, table, mount):
    """Then a warm find (past lock_ttl, within cache_ttl) sends no request at all."""
    put_objects(s3, bucket, {"old/terraform.tfstate": STATE})
    m = mount(bucket, FRESH + ddb_options(stack, table))
    assert os.listdir(m.path) == ["old"]
    t0 = take_locks(s3, ddb, bucket, table)
    wait_shown(m, [S3_LOCK, DDB_STATE + ".tflock"], t0, "a lock under a new directory")
    assert fields(cat(m.p(DDB_STATE + ".tflock")))["Backend"] == "dynamodb"

    assert find_locks(m) == [S3_LOCK, DDB_STATE + ".tflock"]
    before = requests(m)
    time.sleep(LOCK_TTL + 0.5)
    assert find_locks(m) == [S3_LOCK, DDB_STATE + ".tflock"]
    assert requests(m) == before, "a warm find sent requests: %s" % stats(m)


def test_test_e_that_said_free_sees_a_lock_taken_since_under_a_new_directory(
        stack, s3, ddb, bucket, table, mount):
    """A script polling `test -e` for a lock: its first answer (no such directory) must
    not hide the lock taken after it for longer than lock_ttl."""
    put_objects(s3, bucket, {"old/terraform.tfstate": STATE})
    m = mount(bucket, FRESH + ddb_options(stack, table))
    assert os.listdir(m.path) == ["old"]
    assert not os.path.exists(m.p(S3_LOCK)) and not os.path.exists(m.p(DDB_STATE + ".tflock"))
    t0 = take_locks(s3, ddb, bucket, table)
    wait_shown(m, [S3_LOCK, DDB_STATE + ".tflock"], t0, "a lock polled for before it was taken")
