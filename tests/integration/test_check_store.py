"""tfstatefs --check-store and -o check_store: what the store does with the conditions
Terraform's S3 lockfile and the guard rely on. Against radosgw itself (it honours
If-None-Match: * and ignores If-Match on DeleteObject), and through the tests' proxy
playing a store that ignores If-None-Match and one that answers conditional deletes as
AWS does."""
import json
import os
import subprocess
import urllib.parse

import pytest
from conftest import BIN, put_objects
from s3_proxy import S3Proxy
from test_dynamodb import ddb, ddb_options, table  # noqa: F401 (fixtures)
from test_locks import lock_body


def check(stack, source, endpoint, *options, env=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1",
               **(env or {}))
    opts = ",".join(["endpoint=" + endpoint, "use_path_style", *options])
    return subprocess.run([BIN, "--check-store", source, "-o", opts], capture_output=True,
                          text=True, env=env, timeout=120)


def line(out, start):
    """The report's line about start (its first words after the verdict)."""
    found = [ln for ln in out.splitlines() if ln[9:].startswith(start)]
    assert len(found) == 1, out
    return found[0]


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_radosgw_locks_but_ignores_if_match_on_delete(stack, s3, bucket, ddb, table):  # noqa: F811
    put_objects(s3, bucket, {"teams/a/app/terraform.tfstate": b"{}"})
    r = check(stack, bucket + ":/teams/a", stack["TFS_S3_ENDPOINT"],
              *ddb_options(stack, table))
    assert r.returncode == 1, r
    out = r.stdout
    assert line(out, "PutObject If-None-Match").startswith("ok "), out
    assert "Terraform's S3 lockfile (use_lockfile) locks on this store" in out
    assert line(out, "DeleteObject If-Match with a wrong").startswith("FAILED "), out
    assert "re-read is the only guard" in out
    assert line(out, "DeleteObject If-Match with the right").startswith("ok "), out
    assert line(out, "PutObject If-Match with the right").startswith("ok "), out
    assert line(out, "GetObject with a Range").startswith("ok "), out
    assert line(out, "ListObjectsV2 encoding-type=url").startswith("ok "), out
    assert line(out, "DynamoDB PutItem").startswith("ok "), out
    assert line(out, "DynamoDB DeleteItem").startswith("ok "), out
    assert "canaries under teams/a/.tfstatefs/check/" in out
    assert "the canaries are removed" in out
    assert "permissions used: s3:PutObject" in out and "dynamodb:PutItem" in out
    assert out.rstrip().endswith("(above)")
    assert keys(s3, bucket) == ["teams/a/app/terraform.tfstate"]     # no canary left
    assert "Items" not in ddb.scan(TableName=table) or not ddb.scan(TableName=table)["Items"]


def test_with_an_sse_c_key_the_canaries_are_written_and_read_with_it(stack, s3, bucket):
    from test_ssec import KEY_B64
    r = check(stack, bucket, stack["TFS_S3_ENDPOINT"], env={"AWS_SSE_CUSTOMER_KEY": KEY_B64})
    assert line(r.stdout, "SSE-C").startswith("ok "), r.stdout
    assert "written with the key was read back with it" in r.stdout
    assert line(r.stdout, "GetObject with a Range").startswith("ok "), r.stdout
    assert keys(s3, bucket) == []


def aws_like_delete(s3, bucket):
    """A proxy hook: DeleteObject with If-Match answers 412 when the object's ETag is not
    that one, as AWS does (radosgw deletes anyway)."""
    def hook(method, path, headers):
        want = headers.get("If-Match")
        if method != "DELETE" or not want:
            return None
        key = urllib.parse.unquote(path.split("?")[0].split("/", 2)[2])
        try:
            etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        except s3.exceptions.ClientError:
            return None
        if etag.strip('"') == want.strip('"'):
            return None
        return (412, [("Content-Type", "application/xml")],
                b"<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code>"
                b"<Message>At least one of the pre-conditions you specified did not hold"
                b"</Message></Error>")
    return hook


def ignore_on_put(s3, bucket, proxy, header):
    """A proxy hook: a PutObject carrying header writes whatever is there, as a store that
    ignores the header does (the proxy writes it itself: the header is signed)."""
    def hook(method, path, headers):
        if method != "PUT" or header not in headers:
            return None
        key = urllib.parse.unquote(path.split("?")[0].split("/", 2)[2])
        answer = s3.put_object(Bucket=bucket, Key=key, Body=proxy.bodies[-1])
        return 200, [("ETag", answer["ETag"])], b""
    return hook


@pytest.mark.parametrize("header,probe,says", [
    ("If-None-Match", "PutObject If-None-Match",
     "Terraform's S3 lockfile (use_lockfile) does NOT lock here"),
    ("If-Match", "PutObject If-Match with a wrong ETag",
     "could replace a lock that changed hands"),
])
def test_a_store_ignoring_a_put_condition_fails_that_probe(stack, s3, bucket, header, probe,
                                                          says):
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.before_forward = ignore_on_put(s3, bucket, proxy, header)
    try:
        r = check(stack, bucket, proxy.endpoint)
    finally:
        proxy.close()
    assert r.returncode == 1, r
    assert line(r.stdout, probe).startswith("FAILED "), r.stdout
    assert says in r.stdout
    assert keys(s3, bucket) == []


def test_a_store_answering_as_aws_does_passes(stack, s3, bucket):
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.before_forward = aws_like_delete(s3, bucket)
    try:
        r = check(stack, bucket, proxy.endpoint)
    finally:
        proxy.close()
    assert r.returncode == 0, r
    assert "FAILED" not in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("rely on holds on this store"), r.stdout
    assert keys(s3, bucket) == []


def mount_checked(s3, bucket, mount, tmp_path, **kw):
    """A state and its lock in bucket, mounted with -o check_store and an audit log:
    (the mount, the audit log's path, /.tfstatefs/status as a dict)."""
    put_objects(s3, bucket, {"app/terraform.tfstate": b"{}", "app/terraform.tfstate.tflock":
                             lock_body(bucket, "app/terraform.tfstate")})
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["check_store", "audit_log=" + audit], **kw)
    with open(m.p(".tfstatefs/status")) as f:
        return m, audit, dict(ln.split("\t", 1) for ln in f.read().splitlines())


def test_a_mount_that_checks_shows_it_and_audits_the_weaker_guard(stack, s3, bucket, mount,
                                                                   tmp_path):
    key = "app/terraform.tfstate.tflock"
    m, audit, status = mount_checked(s3, bucket, mount, tmp_path)
    assert status["check_put_if_none_match"].startswith("ok: "), status
    assert status["check_delete_if_match"].startswith("FAILED: "), status
    assert status["check_store"] == "FAILED"
    assert "check_store" in m.log() and "ignores If-Match on DeleteObject" in m.log()
    assert sorted(os.listdir(m.path)) == ["app"]        # the canaries never show
    os.unlink(m.p(key))
    rec = [json.loads(ln) for ln in open(audit)][-1]
    assert rec["result"] == "unlocked", rec
    assert "the re-read just before the delete was the only guard" in rec["reason"], rec
    assert keys(s3, bucket) == ["app/terraform.tfstate"]
    m.unmount()


def test_a_mount_on_a_store_that_honours_if_match_audits_no_weaker_guard(stack, s3, bucket,
                                                                         mount, tmp_path):
    key = "app/terraform.tfstate.tflock"
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    proxy.before_forward = aws_like_delete(s3, bucket)
    try:
        m, audit, status = mount_checked(s3, bucket, mount, tmp_path, endpoint_options=[
            "endpoint=" + proxy.endpoint, "use_path_style"])
        assert status["check_store"] == "passed", status
        os.unlink(m.p(key))
        rec = [json.loads(ln) for ln in open(audit)][-1]
        assert rec["result"] == "unlocked" and "only guard" not in rec["reason"], rec
        m.unmount()
    finally:
        proxy.close()


def test_on_a_versioned_bucket_rm_deletes_the_key_not_the_version(stack, s3, bucket, mount,
                                                                  tmp_path):
    """The guard deletes the lock's key (a delete marker), never a version by versionId:
    the lock stays in the bucket's history, and no older version of the .tflock key can
    become current again. radosgw ignores If-None-Match and If-Match on DeleteObject on a
    versioned bucket; the check says both, and the audit names the weaker guard."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "app/terraform.tfstate.tflock"
    m, audit, status = mount_checked(s3, bucket, mount, tmp_path)
    assert status["check_versioning"].startswith("info: bucket versioning: enabled"), status
    assert status["check_delete_if_match"].startswith("FAILED"), status
    assert status["check_put_if_none_match"].startswith("FAILED"), status
    assert status["check_put_if_match_right"].startswith("FAILED: PutObject If-Match with the "
                                                         "right ETag: 412"), status
    assert "canary " in status["check_canaries"] and "(delete marker)" in status["check_canaries"]
    assert "s3:DeleteObjectVersion" in status["check_canaries"], status
    os.unlink(m.p(key))
    rec = [json.loads(ln) for ln in open(audit)][-1]
    assert rec["result"] == "unlocked" and "only guard" in rec["reason"], rec
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    assert len(versions.get("Versions", [])) == 1, versions       # the lock, kept
    assert [d["IsLatest"] for d in versions.get("DeleteMarkers", [])] == [True], versions
    m.unmount()
