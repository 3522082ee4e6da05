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
