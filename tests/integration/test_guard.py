"""The guard against a lock that changed hands, when the kernel looks the name up again
(its lock_ttl has passed) between what the user saw and `rm`."""
import errno
import json
import os
import subprocess
import time

from conftest import put_objects
from test_locks import assert_rm_refused, get, lock_body


def test_stat_then_lock_replaced_then_rm_after_lock_ttl_is_ebusy(s3, bucket, mount, tmp_path):
    key = "team/app/terraform.tfstate.tflock"
    first = lock_body(bucket, "team/app/terraform.tfstate", who="alice@laptop")
    put_objects(s3, bucket, {"team/app/terraform.tfstate": b"{}", key: first})
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["lock_ttl=1", "audit_log=" + audit])
    os.stat(m.p(key))                       # the user looked: this lock is the one shown
    second = lock_body(bucket, "team/app/terraform.tfstate", who="bob@ci")
    s3.put_object(Bucket=bucket, Key=key, Body=second)
    time.sleep(2.5)                         # past lock_ttl: rm makes the kernel look it up again
    subprocess.run(["ls", "-l", m.p("team/app")], check=True, capture_output=True)
    assert_rm_refused(m, m.p(key), errno.EBUSY)
    assert get(s3, bucket, key)[0] == second
    # Once the new holder has been read, it is the one shown, and rm removes it.
    with open(m.p(key)) as f:
        assert "Who:       bob@ci\n" in f.read()
    os.unlink(m.p(key))
    assert json.loads(second)["ID"] not in subprocess.run(
        ["ls", m.p("team/app")], capture_output=True, text=True).stdout
    assert not os.path.exists(m.p(key))
    records = [json.loads(line) for line in open(audit)]
    assert [(r["result"], r["errno"], r["who"]) for r in records] == [
        ("refused", "EBUSY", "alice@laptop"), ("unlocked", "", "bob@ci")]
    assert all(r["state"] == "team/app/terraform.tfstate" and r["path"] == key for r in records)


def test_a_server_repeating_its_token_ends_the_lock_scan(stack, s3, bucket, mount):
    from s3_proxy import S3Proxy
    put_objects(s3, bucket, {"d/terraform.tfstate": b"{}"})
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    endless = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>%s</Name>'
               b'<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>'
               b'<NextContinuationToken>same</NextContinuationToken></ListBucketResult>'
               % bucket.encode())
    # The lock scan's delimiter listings always answer "more, from token 'same'".
    proxy.before_forward = lambda method, path, headers: (
        (200, [("Content-Type", "application/xml")], endless) if "delimiter=%2F" in path
        and "max-keys=1000" in path else None)
    try:
        m = mount(bucket, ["lock_ttl=0", "lock_list_ttl=0"], endpoint_options=["endpoint=" + proxy.endpoint,
                                                           "use_path_style"])
        r = subprocess.run(["ls", m.p("d")], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "Input/output error" in r.stderr, r
        assert "same continuation token twice" in m.log()
        assert os.path.exists(m.p("d/terraform.tfstate"))   # the mount still answers
        m.unmount()
    finally:
        proxy.close()
