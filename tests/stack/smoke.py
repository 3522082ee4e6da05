#!/usr/bin/python3
# tests/stack/smoke.py DIR — smoke check of a stack started by
# tests/stack/start.sh: reads DIR/env, then with boto3 checks radosgw (bucket
# create, put/get/list, conditional PutObject `If-None-Match: *` -> 412) and
# dynalite (create a LockID table, put/get an item). Prints each verified
# step; exits non-zero on the first failure.
# Run with Debian's /usr/bin/python3 (python3-boto3).
import os
import sys
import time
import uuid


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            k, _, v = line.partition("=")
            env[k] = v
    return env


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} DIR", file=sys.stderr)
        return 2
    env = load_env(os.path.join(sys.argv[1], "env"))
    os.environ.update(env)  # credentials, region, metadata-service off

    import boto3
    import botocore.config
    from botocore.exceptions import ClientError

    cfg = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5, read_timeout=30)
    creds = dict(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                 region_name=env.get("AWS_REGION", "us-east-1"))
    ok = lambda msg: print(f"ok: {msg}", flush=True)

    # ---- S3 (radosgw) ----
    s3 = boto3.client("s3", endpoint_url=env["TFS_S3_ENDPOINT"], config=cfg, **creds)
    bucket = f"tfs-smoke-{uuid.uuid4().hex[:12]}"
    key = "dir/terraform.tfstate"
    body = b'{"version": 4, "serial": 1}\n'

    s3.create_bucket(Bucket=bucket)
    ok(f"S3 CreateBucket {bucket} at {env['TFS_S3_ENDPOINT']}")
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    ok(f"S3 PutObject {key}")
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == body, f"GetObject returned {got!r}, expected {body!r}"
    ok("S3 GetObject returns the same bytes")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == [key], f"ListObjectsV2 returned {listed}"
    ok("S3 ListObjectsV2 lists the key")

    # Conditional create: PutObject with If-None-Match: * on an existing key
    # must fail with 412. Older botocore has no IfNoneMatch parameter for
    # PutObject, so add the header through an event hook.
    def add_inm(request, **kwargs):
        request.headers["If-None-Match"] = "*"
    s3.meta.events.register("before-sign.s3.PutObject", add_inm)
    try:
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=b"overwrite")
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status == 412, f"expected 412, got {status}: {e}"
        else:
            raise AssertionError("PutObject If-None-Match:* on existing key succeeded")
        ok("S3 PutObject If-None-Match:* on existing key -> 412")
        newkey = key + ".new"
        s3.put_object(Bucket=bucket, Key=newkey, Body=b"fresh")
        ok("S3 PutObject If-None-Match:* on new key -> 200")
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", add_inm)
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == body, "object changed despite 412"
    ok("S3 object unchanged after the refused conditional put")

    for k in (key, newkey):
        s3.delete_object(Bucket=bucket, Key=k)
    s3.delete_bucket(Bucket=bucket)
    ok("S3 DeleteObject/DeleteBucket")

    # ---- DynamoDB (dynalite) ----
    ddb = boto3.client("dynamodb", endpoint_url=env["TFS_DDB_ENDPOINT"], config=cfg, **creds)
    table = f"tfs-smoke-{uuid.uuid4().hex[:12]}"
    ddb.create_table(TableName=table,
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                     BillingMode="PAY_PER_REQUEST")
    deadline = time.time() + 30
    while ddb.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        assert time.time() < deadline, "table not ACTIVE within 30s"
        time.sleep(0.05)
    ok(f"DynamoDB CreateTable {table} (hash key LockID) at {env['TFS_DDB_ENDPOINT']}")
    item = {"LockID": {"S": f"{bucket}/{key}"}, "Info": {"S": "smoke"}}
    ddb.put_item(TableName=table, Item=item,
                 ConditionExpression="attribute_not_exists(LockID)")
    ok("DynamoDB PutItem (conditional on absence)")
    got = ddb.get_item(TableName=table, Key={"LockID": item["LockID"]}, ConsistentRead=True)
    assert got.get("Item") == item, f"GetItem returned {got.get('Item')}"
    ok("DynamoDB GetItem returns the item")
    try:
        ddb.put_item(TableName=table, Item=item,
                     ConditionExpression="attribute_not_exists(LockID)")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        assert code == "ConditionalCheckFailedException", code
    else:
        raise AssertionError("second conditional PutItem succeeded")
    ok("DynamoDB conditional PutItem on existing item -> ConditionalCheckFailedException")
    ddb.delete_table(TableName=table)
    ok("DynamoDB DeleteTable")

    # ---- radosgw admin socket ----
    asok = env.get("TFS_RGW_ASOK", "")
    assert os.path.exists(asok), f"radosgw admin socket {asok!r} missing"
    ok(f"radosgw admin socket present: {asok}")
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report any failure as exit 1
        print(f"smoke: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
