"""Real Terraform (1.11+) taking DynamoDB locks, alone and together with S3 lockfiles
(the migration configuration), seen and removed through the mount."""
import errno
import json
import os
import signal
import time

from test_dynamodb import create_table, ddb, ddb_options, fields, item, rows  # noqa: F401
from test_locks import (assert_rm_ok, assert_rm_refused, audit_records, cat, get, listed,
                        wait_for)
from terraform_helper import Terraform, kill_tree, needs_terraform

KEY = "team/app/terraform.tfstate"


def holder(stack, tmp_path, bucket, table, use_lockfile, hold=120):
    """A terraform whose every apply holds its lock for hold seconds, after a quick first
    apply so that the state (and, with the table, its digest) exists."""
    quick = Terraform(stack, tmp_path / "tf", bucket, KEY, use_lockfile=use_lockfile,
                      dynamodb_table=table)
    quick.init()
    quick.apply(1)
    return Terraform(stack, tmp_path / "tf", bucket, KEY, use_lockfile=use_lockfile,
                     dynamodb_table=table, sleep_seconds=hold)


def start_apply(tf, n=2):
    return tf.popen("apply", "-auto-approve", "-input=false", "-no-color", "-var", "n=%d" % n)


def wait_for_item(ddb, table, lock_id, proc, timeout=30):
    deadline = time.time() + timeout
    while True:
        it = item(ddb, table, lock_id)
        if it and "Info" in it:
            return it["Info"]["S"]
        if proc.poll() is not None:
            raise AssertionError("terraform ended before taking the lock: " + proc.stdout.read())
        assert time.time() < deadline, "terraform never put " + lock_id
        time.sleep(0.05)


def plan(tf):
    return tf.run("plan", "-lock-timeout=0s", "-input=false", "-no-color", check=False)


@needs_terraform
def test_a_legacy_lock_is_shown_removed_and_terraform_runs_again(stack, s3, ddb, bucket, mount,
                                                                  tmp_path):
    table = create_table(ddb)
    audit = str(tmp_path / "audit.jsonl")
    tf = holder(stack, tmp_path, bucket, table, use_lockfile=False)
    proc = start_apply(tf)
    try:
        info = wait_for_item(ddb, table, "%s/%s" % (bucket, KEY), proc)
        doc = json.loads(info)
        m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit] + ddb_options(stack, table))
        lf = m.p(KEY + ".tflock")
        wait_for(lambda: listed(lf), 3, "ls shows the DynamoDB lock")
        got = fields(cat(lf))
        assert got["Backend"] == "dynamodb" and got["ID"] == doc["ID"], got
        assert got["Path"] == "%s/%s" % (bucket, KEY)
        assert get(s3, bucket, KEY + ".tflock") is None, "a legacy config takes no lockfile"
        assert [r[:3] for r in rows(m.p(".tfstatefs/locks"))] == [[KEY, "dynamodb", doc["ID"]]]
        assert rows(m.p(".tfstatefs/migration")) == [[KEY, "free", "held", "match", "-"]]

        kill_tree(proc, signal.SIGKILL)     # a dead CI runner: the item stays
        r = plan(tf)
        assert r.returncode != 0 and "Error acquiring the state lock" in r.stderr, r.stderr
        assert doc["ID"] in r.stderr
        cat(lf)
        assert_rm_ok(m, lf)
        assert item(ddb, table, "%s/%s" % (bucket, KEY)) is None
        assert item(ddb, table, "%s/%s-md5" % (bucket, KEY)) is not None
        assert not listed(lf)
        r = plan(tf)
        assert r.returncode == 0, r.stderr
        rec = audit_records(audit, 1)[-1]
        assert rec["backend"] == "dynamodb" and rec["result"] == "unlocked"
        assert rec["lock_id"] == doc["ID"]
    finally:
        if proc.poll() is None:
            kill_tree(proc)


@needs_terraform
def test_a_lock_that_changed_hands_between_stat_and_rm_survives(stack, s3, ddb, bucket, mount,
                                                                tmp_path):
    """The stale lock is force-unlocked elsewhere and a new apply takes the state after
    `stat` showed the old one: rm is refused with EBUSY and the new lock stays."""
    table = create_table(ddb)
    tf = holder(stack, tmp_path, bucket, table, use_lockfile=False)
    first = start_apply(tf)
    second = None
    try:
        old = json.loads(wait_for_item(ddb, table, "%s/%s" % (bucket, KEY), first))
        kill_tree(first, signal.SIGKILL)
        m = mount(bucket, ["lock_ttl=60"] + ddb_options(stack, table))
        lf = m.p(KEY + ".tflock")
        os.stat(lf)
        assert fields(cat(lf))["ID"] == old["ID"]
        r = tf.run("force-unlock", "-force", old["ID"], check=False)
        assert r.returncode == 0, r.stderr
        second = start_apply(tf, 3)
        new = json.loads(wait_for_item(ddb, table, "%s/%s" % (bucket, KEY), second))
        assert new["ID"] != old["ID"]
        assert_rm_refused(m, lf, errno.EBUSY)
        assert json.loads(item(ddb, table, "%s/%s" % (bucket, KEY))["Info"]["S"]) == new
        assert second.poll() is None, "the new apply still holds its lock"
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                kill_tree(p)


@needs_terraform
def test_the_migration_config_takes_both_and_one_rm_frees_both(stack, s3, ddb, bucket, mount,
                                                               tmp_path):
    table = create_table(ddb)
    tf = holder(stack, tmp_path, bucket, table, use_lockfile=True)
    proc = start_apply(tf)
    try:
        info = wait_for_item(ddb, table, "%s/%s" % (bucket, KEY), proc)
        doc = json.loads(info)
        body, _ = get(s3, bucket, KEY + ".tflock")
        assert json.loads(body)["ID"] == doc["ID"], "terraform takes both with one ID"
        kill_tree(proc, signal.SIGKILL)
        m = mount(bucket, ddb_options(stack, table))
        lf = m.p(KEY + ".tflock")
        assert os.listdir(m.p("team/app")).count("terraform.tfstate.tflock") == 1
        got = fields(cat(lf))
        assert got["Backend"] == "s3 dynamodb" and got["ID"] == doc["ID"]
        assert "Problem" not in got
        assert [r[:3] for r in rows(m.p(".tfstatefs/locks"))] == [[KEY, "s3 dynamodb", doc["ID"]]]
        assert rows(m.p(".tfstatefs/migration")) == [[KEY, "held", "held", "match", "-"]]
        r = plan(tf)
        assert r.returncode != 0 and "Error acquiring the state lock" in r.stderr
        assert_rm_ok(m, lf)
        assert get(s3, bucket, KEY + ".tflock") is None
        assert item(ddb, table, "%s/%s" % (bucket, KEY)) is None
        r = plan(tf)
        assert r.returncode == 0, r.stderr
    finally:
        if proc.poll() is None:
            kill_tree(proc)


@needs_terraform
def test_migration_digest_matches_then_a_lockfile_only_apply_breaks_it(stack, s3, ddb, bucket,
                                                                       mount, tmp_path):
    table = create_table(ddb)
    legacy = Terraform(stack, tmp_path / "legacy", bucket, KEY, use_lockfile=False,
                       dynamodb_table=table)
    legacy.init()
    legacy.apply(1)
    m = mount(bucket, ["cache_ttl=0"] + ddb_options(stack, table))
    assert rows(m.p(".tfstatefs/migration")) == [[KEY, "free", "free", "match", "-"]]
    migrated = Terraform(stack, tmp_path / "migrated", bucket, KEY, use_lockfile=True)
    migrated.init()
    migrated.apply(2)   # a new output value: the state's bytes change, the digest does not
    wait_for(lambda: rows(m.p(".tfstatefs/migration")) == [[KEY, "free", "free", "mismatch", "-"]],
             5, "migration shows the digest mismatch: " + open(m.p(".tfstatefs/migration")).read())
