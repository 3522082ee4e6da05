"""DynamoDB locks (Terraform's dynamodb_table) in the same view as S3 lockfiles, their
guarded removal, and the /.tfstatefs/ reports (locks, migration, status)."""
import errno
import hashlib
import io
import json
import os
import subprocess
import time
import uuid

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from conftest import put_objects
from s3_proxy import Fault, S3Proxy
from test_locks import (assert_rm_ok, assert_rm_refused, audit_records, cat, lock_body,
                        listed, wait_for)

STATE = b'{"version":4,"serial":1}'


@pytest.fixture(scope="session")
def ddb(stack):
    return boto3.client("dynamodb", endpoint_url=stack["TFS_DDB_ENDPOINT"],
                        region_name="us-east-1",
                        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"])


def create_table(ddb, name=None, hash_key="LockID"):
    name = name or "tflocks-" + uuid.uuid4().hex[:10]
    ddb.create_table(TableName=name,
                     KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    # boto3's waiter sleeps 20 s between polls; dynalite needs milliseconds.
    wait_for(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
             10, "table %s becomes ACTIVE" % name)
    return name


@pytest.fixture
def table(ddb):
    return create_table(ddb)


def ddb_options(stack, table, endpoint=None):
    return ["dynamodb_table=" + table,
            "dynamodb_endpoint=" + (endpoint or stack["TFS_DDB_ENDPOINT"])]


def put_lock(ddb, table, bucket, key, body):
    ddb.put_item(TableName=table, Item={"LockID": {"S": "%s/%s" % (bucket, key)},
                                        "Info": {"S": body.decode()}})


def put_digest(ddb, table, bucket, key, data):
    ddb.put_item(TableName=table, Item={"LockID": {"S": "%s/%s-md5" % (bucket, key)},
                                        "Digest": {"S": hashlib.md5(data).hexdigest()}})


def item(ddb, table, lock_id):
    return ddb.get_item(TableName=table, Key={"LockID": {"S": lock_id}},
                        ConsistentRead=True).get("Item")


def fields(text):
    """A lock file's text as {name: value}."""
    out = {}
    for line in text.decode().splitlines():
        name, _, value = line.partition(":")
        out[name] = value.strip()
    return out


def rows(path):
    """A report's lines split on tabs."""
    with open(path, "rb") as f:
        return [line.split("\t") for line in f.read().decode().splitlines()]


def exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


# ---------------------------------------------------------------- showing

def test_a_dynamodb_lock_shows_beside_its_state(stack, s3, ddb, bucket, table, mount):
    put_objects(s3, bucket, {"legacy/terraform.tfstate": STATE})
    body = lock_body(bucket, "legacy/terraform.tfstate", ago=120)
    put_lock(ddb, table, bucket, "legacy/terraform.tfstate", body)
    m = mount(bucket, ddb_options(stack, table))
    assert sorted(os.listdir(m.p("legacy"))) == ["terraform.tfstate",
                                                 "terraform.tfstate.tflock"]
    text = cat(m.p("legacy/terraform.tfstate.tflock"))
    doc = json.loads(body)
    got = fields(text)
    assert got["ID"] == doc["ID"] and got["Who"] == doc["Who"], text
    assert got["Backend"] == "dynamodb", text
    assert "Problem" not in got, text
    st = os.stat(m.p("legacy/terraform.tfstate.tflock"))
    assert st.st_size == len(text)
    assert abs(st.st_mtime - (time.time() - 120)) < 5, "mtime is the lock's Created"
    assert json.loads(os.getxattr(m.p("legacy/terraform.tfstate.tflock"),
                                  "user.tflock.json")) == doc


def test_a_lock_in_both_backends_is_one_file(stack, s3, ddb, bucket, table, mount):
    key = "app/terraform.tfstate"
    body = lock_body(bucket, key)
    put_objects(s3, bucket, {key: STATE, key + ".tflock": body})
    put_lock(ddb, table, bucket, key, body)
    m = mount(bucket, ddb_options(stack, table))
    assert os.listdir(m.p("app")).count("terraform.tfstate.tflock") == 1
    got = fields(cat(m.p(key + ".tflock")))
    assert got["Backend"] == "s3 dynamodb" and got["ID"] == json.loads(body)["ID"]
    assert "Problem" not in got


def test_backends_that_disagree_on_the_id_say_so(stack, s3, ddb, bucket, table, mount):
    key = "app/terraform.tfstate"
    s3_body = lock_body(bucket, key, who="alice@laptop")
    ddb_body = lock_body(bucket, key, who="bob@ci")
    put_objects(s3, bucket, {key: STATE, key + ".tflock": s3_body})
    put_lock(ddb, table, bucket, key, ddb_body)
    m = mount(bucket, ddb_options(stack, table))
    got = fields(cat(m.p(key + ".tflock")))
    assert got["Backend"] == "s3 dynamodb"
    assert got["ID"] == json.loads(s3_body)["ID"]
    assert "disagree" in got["Problem"] and json.loads(ddb_body)["ID"] in got["Problem"]
    lines = rows(m.p(".tfstatefs/locks"))
    assert sorted((r[1], r[3]) for r in lines) == [("dynamodb", "bob@ci"), ("s3", "alice@laptop")]


def test_without_a_table_no_dynamodb_request_is_made(stack, s3, ddb, bucket, table, mount):
    """No -o dynamodb_table: not one request to DynamoDB, even with its endpoint in the
    environment, and its locks are not shown."""
    put_objects(s3, bucket, {"legacy/terraform.tfstate": STATE})
    put_lock(ddb, table, bucket, "legacy/terraform.tfstate", lock_body(bucket, "x"))
    proxy = S3Proxy(int(stack["TFS_DDB_PORT"]))
    try:
        m = mount(bucket, env={"AWS_ENDPOINT_URL_DYNAMODB": proxy.endpoint})
        assert os.listdir(m.p("legacy")) == ["terraform.tfstate"]
        assert rows(m.p(".tfstatefs/migration")) == [
            ["legacy/terraform.tfstate", "free", "unknown", "unknown", "-"]]
        assert "dynamodb_table\tnone" in open(m.p(".tfstatefs/status")).read()
        m.unmount()
        assert proxy.requests == []
    finally:
        proxy.close()


def test_a_lock_taken_and_released_in_the_table_comes_and_goes(stack, s3, ddb, bucket, table,
                                                                mount):
    key = "app/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    m = mount(bucket, ["lock_ttl=1", "lock_list_ttl=1"] + ddb_options(stack, table))
    lock = m.p(key + ".tflock")
    assert not listed(lock) and not os.path.exists(lock)
    put_lock(ddb, table, bucket, key, lock_body(bucket, key))
    wait_for(lambda: listed(lock), 3, "a new DynamoDB lock shows in readdir")
    ddb.delete_item(TableName=table, Key={"LockID": {"S": "%s/%s" % (bucket, key)}})
    wait_for(lambda: not listed(lock) and not os.path.exists(lock), 3,
             "a released DynamoDB lock leaves readdir and lookup")


def test_workspace_and_prefix_lock_ids_map_to_their_paths(stack, s3, ddb, bucket, table, mount):
    keys = ["teams/p/app/terraform.tfstate", "env:/dev/teams/p/app/terraform.tfstate",
            "teams/q/app/terraform.tfstate"]
    put_objects(s3, bucket, {k: STATE for k in keys})
    for k in keys:
        put_lock(ddb, table, bucket, k, lock_body(bucket, k))
    m = mount(bucket + ":/teams/p", ddb_options(stack, table))
    assert "terraform.tfstate.tflock" in os.listdir(m.p("app"))
    assert "terraform.tfstate.tflock" in os.listdir(m.p("env:/dev/app"))
    assert sorted(r[0] for r in rows(m.p(".tfstatefs/locks"))) == [
        "app/terraform.tfstate", "env:/dev/app/terraform.tfstate"]


def test_scan_pages_are_all_read(stack, s3, ddb, bucket, table, mount):
    """dynalite answers a Scan with at most 1 MB: 1,500 locks of 1 KB take pages."""
    n = 1500
    states = {"s%04d/terraform.tfstate" % i: STATE for i in range(n)}
    put_objects(s3, bucket, states)
    items = [{"PutRequest": {"Item": {
        "LockID": {"S": "%s/%s" % (bucket, k)},
        "Info": {"S": lock_body(bucket, k, info="x" * 900).decode()}}}} for k in states]
    for i in range(0, n, 25):
        ddb.batch_write_item(RequestItems={table: items[i:i + 25]})
    m = mount(bucket, ddb_options(stack, table))
    got = rows(m.p(".tfstatefs/locks"))
    assert len(got) == n and {r[0] for r in got} == set(states)
    assert os.path.exists(m.p("s1499/terraform.tfstate.tflock"))


# ---------------------------------------------------------------- unlocking

def test_rm_of_a_dynamodb_lock_deletes_only_the_item_shown(stack, s3, ddb, bucket, table, mount,
                                                           tmp_path):
    key = "legacy/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    body = lock_body(bucket, key)
    put_lock(ddb, table, bucket, key, body)
    put_digest(ddb, table, bucket, key, STATE)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["audit_log=" + audit] + ddb_options(stack, table))
    cat(m.p(key + ".tflock"))
    assert_rm_ok(m, m.p(key + ".tflock"))
    assert item(ddb, table, "%s/%s" % (bucket, key)) is None
    assert item(ddb, table, "%s/%s-md5" % (bucket, key)) is not None, "the digest stays"
    assert not os.path.exists(m.p(key + ".tflock"))
    rec = audit_records(audit, 1)[-1]
    assert rec["backend"] == "dynamodb" and rec["result"] == "unlocked", rec
    assert rec["lock_id"] == json.loads(body)["ID"]


@pytest.mark.parametrize("where", ["before-dynamodb", "after-dynamodb"])
def test_a_delete_item_whose_answer_is_lost_is_checked_and_sent_again_only_if_still_there(
        stack, s3, ddb, bucket, table, mount, tmp_path, where):
    """DeleteItem meets a 500, before the table saw it or after it deleted the item: the
    guard reads again; still there (the very Info shown), it sends the conditional delete
    again; gone, it is done. Either way the item goes once and the digest stays."""
    key = "legacy/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    put_lock(ddb, table, bucket, key, lock_body(bucket, key))
    put_digest(ddb, table, bucket, key, STATE)
    proxy = S3Proxy(int(stack["TFS_DDB_PORT"]))
    deletes = []

    def lost_answer(method, path, headers):
        if not headers.get("X-Amz-Target", "").endswith(".DeleteItem"):
            return None
        deletes.append(path)
        if len(deletes) > 1:
            return None
        if where == "after-dynamodb":
            ddb.delete_item(TableName=table, Key={"LockID": {"S": "%s/%s" % (bucket, key)}})
        return Fault("error", 500, "InternalServerError")
    proxy.fault = lost_answer
    audit = str(tmp_path / "audit.jsonl")
    try:
        m = mount(bucket, ["audit_log=" + audit] + ddb_options(stack, table, proxy.endpoint))
        cat(m.p(key + ".tflock"))
        assert_rm_ok(m, m.p(key + ".tflock"))
        rec = audit_records(audit, 1)[-1]
        assert rec["result"] == "unlocked" and "read again" in rec["reason"], rec
        assert len(deletes) == (2 if where == "before-dynamodb" else 1), deletes
        m.unmount()
    finally:
        proxy.close()
    assert item(ddb, table, "%s/%s" % (bucket, key)) is None
    assert item(ddb, table, "%s/%s-md5" % (bucket, key)) is not None, "the digest stays"


def test_an_item_replaced_between_stat_and_rm_survives(stack, s3, ddb, bucket, table, mount,
                                                       tmp_path):
    key = "legacy/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    put_lock(ddb, table, bucket, key, lock_body(bucket, key, who="old@ci"))
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["lock_ttl=60", "audit_log=" + audit] + ddb_options(stack, table))
    os.stat(m.p(key + ".tflock"))
    new = lock_body(bucket, key, who="new@ci")
    put_lock(ddb, table, bucket, key, new)
    assert_rm_refused(m, m.p(key + ".tflock"), errno.EBUSY)
    assert item(ddb, table, "%s/%s" % (bucket, key))["Info"]["S"] == new.decode()
    rec = audit_records(audit, 1)[-1]
    assert rec["result"] == "refused" and "new@ci" in rec["reason"], rec


def test_the_delete_is_conditional_on_the_exact_info_shown(stack, s3, ddb, bucket, table, mount,
                                                           tmp_path):
    """The item is replaced after the guard's re-read, just before DeleteItem reaches the
    table: its condition Info = the Info shown fails, and the new lock survives."""
    key = "legacy/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    shown = lock_body(bucket, key, who="old@ci")
    put_lock(ddb, table, bucket, key, shown)
    new = lock_body(bucket, key, who="new@ci")
    proxy = S3Proxy(int(stack["TFS_DDB_PORT"]))

    def race(method, path, headers):
        if headers.get("X-Amz-Target", "").endswith(".DeleteItem"):
            put_lock(ddb, table, bucket, key, new)
        return None
    proxy.before_forward = race
    audit = str(tmp_path / "audit.jsonl")
    try:
        m = mount(bucket, ["audit_log=" + audit] + ddb_options(stack, table, proxy.endpoint))
        cat(m.p(key + ".tflock"))
        assert_rm_refused(m, m.p(key + ".tflock"), errno.EBUSY)
        assert item(ddb, table, "%s/%s" % (bucket, key))["Info"]["S"] == new.decode()
        deletes = [json.loads(b) for (_, _, h), b in zip(proxy.requests, proxy.bodies)
                   if h.get("X-Amz-Target", "").endswith(".DeleteItem")]
        assert len(deletes) == 1
        d = deletes[0]
        assert d["Key"] == {"LockID": {"S": "%s/%s" % (bucket, key)}}
        name = [k for k, v in d["ExpressionAttributeNames"].items() if v == "Info"][0]
        value = [k for k in d["ExpressionAttributeValues"]][0]
        assert d["ConditionExpression"].replace(" ", "") == "%s=%s" % (name, value)
        assert d["ExpressionAttributeValues"][value] == {"S": shown.decode()}
        assert audit_records(audit, 1)[-1]["result"] == "refused"
    finally:
        proxy.close()


def test_one_rm_frees_both_backends(stack, s3, ddb, bucket, table, mount, tmp_path):
    key = "app/terraform.tfstate"
    body = lock_body(bucket, key)
    put_objects(s3, bucket, {key: STATE, key + ".tflock": body})
    put_lock(ddb, table, bucket, key, body)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["audit_log=" + audit] + ddb_options(stack, table))
    cat(m.p(key + ".tflock"))
    assert_rm_ok(m, m.p(key + ".tflock"))
    assert not exists(s3, bucket, key + ".tflock")
    assert item(ddb, table, "%s/%s" % (bucket, key)) is None
    assert not listed(m.p(key + ".tflock"))
    rec = audit_records(audit, 1)[-1]
    assert rec["backend"] == "s3 dynamodb" and rec["result"] == "unlocked", rec


def test_a_dynamodb_lock_appearing_after_the_s3_one_was_shown_stops_rm(
        stack, s3, ddb, bucket, table, mount):
    key = "app/terraform.tfstate"
    body = lock_body(bucket, key)
    put_objects(s3, bucket, {key: STATE, key + ".tflock": body})
    m = mount(bucket, ["lock_ttl=60"] + ddb_options(stack, table))
    assert fields(cat(m.p(key + ".tflock")))["Backend"] == "s3"
    put_lock(ddb, table, bucket, key, lock_body(bucket, key, who="other@ci"))
    assert_rm_refused(m, m.p(key + ".tflock"), errno.EBUSY)
    assert exists(s3, bucket, key + ".tflock")
    assert item(ddb, table, "%s/%s" % (bucket, key)) is not None


def test_when_one_backend_refuses_the_result_says_which(stack, s3, ddb, bucket, table, mount,
                                                        tmp_path):
    """DynamoDB's item goes; the S3 lockfile changed (412 from a proxy, since radosgw
    ignores If-Match on DELETE): the attempt is partial, EBUSY, and the lockfile stays."""
    key = "app/terraform.tfstate"
    body = lock_body(bucket, key)
    put_objects(s3, bucket, {key: STATE, key + ".tflock": body})
    put_lock(ddb, table, bucket, key, body)
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.before_forward = lambda method, path, headers: (
        (412, [("Content-Type", "application/xml")],
         b"<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions "
         b"you specified did not hold</Message></Error>") if method == "DELETE" else None)
    audit = str(tmp_path / "audit.jsonl")
    try:
        m = mount(bucket, ["audit_log=" + audit] + ddb_options(stack, table),
                  endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        cat(m.p(key + ".tflock"))
        assert_rm_refused(m, m.p(key + ".tflock"), errno.EBUSY)
        assert item(ddb, table, "%s/%s" % (bucket, key)) is None
        assert exists(s3, bucket, key + ".tflock")
        rec = audit_records(audit, 1)[-1]
        assert rec["result"] == "partial", rec
        assert "DynamoDB lock deleted" in rec["reason"] and "412" in rec["reason"], rec
        got = fields(cat(m.p(key + ".tflock")))
        assert got["Backend"] == "s3", "the lock file now shows what is left"
    finally:
        proxy.close()


def test_throttling_is_retried(stack, s3, ddb, bucket, table, mount):
    key = "legacy/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE})
    put_lock(ddb, table, bucket, key, lock_body(bucket, key))
    proxy = S3Proxy(int(stack["TFS_DDB_PORT"]))
    seen = {"n": 0}

    def throttle(method, path, headers):
        if headers.get("X-Amz-Target", "").endswith(".GetItem") and seen["n"] < 2:
            seen["n"] += 1
            return (400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "slow down"}).encode())
        return None
    proxy.before_forward = throttle
    try:
        m = mount(bucket, ddb_options(stack, table, proxy.endpoint))
        assert fields(cat(m.p(key + ".tflock")))["Backend"] == "dynamodb"
        assert seen["n"] == 2
    finally:
        proxy.close()


# ---------------------------------------------------------------- a table that does not answer

def test_a_missing_table_is_reported_and_the_s3_view_still_works(stack, s3, bucket, mount):
    key = "app/terraform.tfstate"
    put_objects(s3, bucket, {key: STATE, key + ".tflock": lock_body(bucket, key)})
    m = mount(bucket, ddb_options(stack, "no-such-table"))
    assert "no-such-table" in m.log() and "dynamodb_table" in m.log()
    got = fields(cat(m.p(key + ".tflock")))
    assert got["Backend"] == "s3"
    assert "DynamoDB table could not be read" in got["Problem"]
    status = open(m.p(".tfstatefs/status")).read()
    assert "ResourceNotFoundException" in status and "no-such-table" in status
    assert rows(m.p(".tfstatefs/migration")) == [[key, "held", "unknown", "unknown", "-"]]
    assert [r[:2] for r in rows(m.p(".tfstatefs/locks"))] == [[key, "s3"]]


def test_access_denied_names_the_permissions(stack, s3, bucket, table, mount):
    put_objects(s3, bucket, {"app/terraform.tfstate": STATE})
    proxy = S3Proxy(int(stack["TFS_DDB_PORT"]))
    proxy.before_forward = lambda method, path, headers: (
        400, [("Content-Type", "application/x-amz-json-1.0")], json.dumps({
            "__type": "com.amazon.coral.service#AccessDeniedException",
            "Message": "User is not authorized to perform: dynamodb:Scan"}).encode())
    try:
        m = mount(bucket, ddb_options(stack, table, proxy.endpoint))
        assert "dynamodb:Scan" in m.log()
        assert os.listdir(m.p("app")) == ["terraform.tfstate"]
        status = open(m.p(".tfstatefs/status")).read()
        assert "AccessDeniedException" in status and "dynamodb:GetItem" in status
    finally:
        proxy.close()


def test_a_table_that_is_not_a_lock_table_is_named(stack, s3, ddb, bucket, mount):
    other = create_table(ddb, hash_key="id")
    put_objects(s3, bucket, {"app/terraform.tfstate": STATE})
    m = mount(bucket, ddb_options(stack, other))
    assert other in m.log() and "LockID" in m.log()


# ---------------------------------------------------------------- /.tfstatefs

def test_the_reports_directory_is_read_only_and_hides_real_keys(stack, s3, bucket, mount):
    put_objects(s3, bucket, {".tfstatefs/locks": b"real object", "app/terraform.tfstate": STATE})
    m = mount(bucket)
    assert ".tfstatefs" not in os.listdir(m.path), "reached by name only, like ZFS's .zfs"
    assert sorted(os.listdir(m.p(".tfstatefs"))) == [
        "events", "history", "lock-history", "locks", "metrics", "migration", "stats", "status"]
    assert os.path.isdir(m.p(".tfstatefs"))
    assert open(m.p(".tfstatefs/locks"), "rb").read() == b""
    for op in (lambda: open(m.p(".tfstatefs/locks"), "w"),
               lambda: os.unlink(m.p(".tfstatefs/locks")),
               lambda: os.mkdir(m.p(".tfstatefs/x")),
               lambda: open(m.p(".tfstatefs/new"), "w")):
        with pytest.raises(OSError) as e:
            op()
        assert e.value.errno == errno.EROFS
    found = subprocess.run(["find", m.path], capture_output=True, text=True, check=True).stdout
    assert ".tfstatefs" not in found


def test_locks_lists_every_lock_one_a_line(stack, s3, ddb, bucket, table, mount):
    both = lock_body(bucket, "b/terraform.tfstate", who="both@ci")
    s3_only = lock_body(bucket, "a/terraform.tfstate", who="s3@ci", operation="OperationTypePlan")
    put_objects(s3, bucket, {"a/terraform.tfstate": STATE, "a/terraform.tfstate.tflock": s3_only,
                             "b/terraform.tfstate": STATE, "b/terraform.tfstate.tflock": both,
                             "c/terraform.tfstate": STATE, "d/terraform.tfstate": STATE,
                             "tab\there/terraform.tfstate": STATE,
                             "tab\there/terraform.tfstate.tflock": s3_only})
    ddb_only = lock_body(bucket, "c/terraform.tfstate", who="ddb@ci")
    put_lock(ddb, table, bucket, "b/terraform.tfstate", both)
    put_lock(ddb, table, bucket, "c/terraform.tfstate", ddb_only)
    m = mount(bucket, ddb_options(stack, table))
    got = rows(m.p(".tfstatefs/locks"))
    want = []
    for path, backend, body in (("a/terraform.tfstate", "s3", s3_only),
                                ("b/terraform.tfstate", "s3 dynamodb", both),
                                ("c/terraform.tfstate", "dynamodb", ddb_only),
                                ("tab\\there/terraform.tfstate", "s3", s3_only)):
        d = json.loads(body)
        want.append([path, backend, d["ID"], d["Who"], d["Operation"], d["Created"]])
    assert got == want


def test_migration_reports_each_state(stack, s3, ddb, bucket, table, mount):
    st = {k: STATE + k.encode() for k in ("legacy/terraform.tfstate", "moved/terraform.tfstate",
                                          "new/terraform.tfstate", "half/terraform.tfstate",
                                          "stuck/terraform.tfstate")}
    put_objects(s3, bucket, st)
    # legacy: written with the table, locked there
    put_digest(ddb, table, bucket, "legacy/terraform.tfstate", st["legacy/terraform.tfstate"])
    put_lock(ddb, table, bucket, "legacy/terraform.tfstate",
             lock_body(bucket, "legacy/terraform.tfstate"))
    # moved: the digest is of an older version (a lockfile-only apply wrote since)
    put_digest(ddb, table, bucket, "moved/terraform.tfstate", b"older bytes")
    # half: locked in S3 only while the last write went through the table
    put_digest(ddb, table, bucket, "half/terraform.tfstate", st["half/terraform.tfstate"])
    put_objects(s3, bucket, {"half/terraform.tfstate.tflock":
                             lock_body(bucket, "half/terraform.tfstate")})
    # stuck: locked in DynamoDB only while a lockfile-only write has gone past the table
    put_digest(ddb, table, bucket, "stuck/terraform.tfstate", b"older bytes")
    put_lock(ddb, table, bucket, "stuck/terraform.tfstate",
             lock_body(bucket, "stuck/terraform.tfstate"))
    # gone: a lock item and a digest whose state was deleted
    put_lock(ddb, table, bucket, "gone/terraform.tfstate", lock_body(bucket, "gone/x"))
    put_digest(ddb, table, bucket, "gone/terraform.tfstate", b"whatever")
    m = mount(bucket, ddb_options(stack, table))
    assert rows(m.p(".tfstatefs/migration")) == [
        ["gone/terraform.tfstate", "free", "held", "mismatch", "orphan"],
        ["half/terraform.tfstate", "held", "free", "match", "half-lock"],
        ["legacy/terraform.tfstate", "free", "held", "match", "-"],
        ["moved/terraform.tfstate", "free", "free", "mismatch", "-"],
        ["new/terraform.tfstate", "free", "free", "none", "-"],
        ["stuck/terraform.tfstate", "free", "held", "mismatch", "half-lock"],
    ]


def test_the_digest_is_checked_against_the_bytes_not_the_etag(stack, s3, ddb, bucket, table,
                                                              mount):
    """A multipart upload's ETag is not an MD5: the state is read to compare."""
    key = "big/terraform.tfstate"
    data = os.urandom(6 << 20)
    s3.upload_fileobj(io.BytesIO(data), bucket, key,
                      Config=TransferConfig(multipart_threshold=5 << 20,
                                            multipart_chunksize=5 << 20))
    assert "-" in s3.head_object(Bucket=bucket, Key=key)["ETag"]
    put_digest(ddb, table, bucket, key, data)
    m = mount(bucket, ddb_options(stack, table))
    assert rows(m.p(".tfstatefs/migration")) == [[key, "free", "free", "match", "-"]]
    put_digest(ddb, table, bucket, key, data + b"x")
    time.sleep(1.1)
    assert rows(m.p(".tfstatefs/migration")) == [[key, "free", "free", "mismatch", "-"]]
