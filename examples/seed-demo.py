#!/usr/bin/python3
"""Demo helper on the local stack (reads AWS_* and TFS_*_ENDPOINT from the environment).

  seed-demo.py setup BUCKET TABLE      create the bucket and the DynamoDB lock table
  seed-demo.py wait-lock KEY SECONDS   exit 0 once state KEY is locked (S3 lockfile or DynamoDB)
  seed-demo.py states BUCKET TABLE     without terraform: example states and locks, written
                                       the way Terraform writes them
"""
import hashlib
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone

import boto3
import botocore.config



def clients():
    kw = dict(region_name="us-east-1", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    s3 = boto3.client("s3", endpoint_url=os.environ["TFS_S3_ENDPOINT"],
                      config=botocore.config.Config(s3={"addressing_style": "path"}), **kw)
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["TFS_DDB_ENDPOINT"], **kw)
    return s3, ddb


def setup(bucket, table):
    s3, ddb = clients()
    s3.create_bucket(Bucket=bucket)
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    with open(os.path.join(os.environ["TFS_STACK_DIR"], "demo-bucket"), "w") as f:
        f.write(bucket + "\n" + table + "\n")


def demo_names():
    with open(os.path.join(os.environ["TFS_STACK_DIR"], "demo-bucket")) as f:
        bucket, table = f.read().split()
    return bucket, table


def has_lock(key):
    s3, ddb = clients()
    bucket, table = demo_names()
    try:
        s3.head_object(Bucket=bucket, Key=key + ".tflock")
        return True
    except s3.exceptions.ClientError:
        pass
    item = ddb.get_item(TableName=table, Key={"LockID": {"S": "%s/%s" % (bucket, key)}},
                        ConsistentRead=True).get("Item")
    return bool(item and "Info" in item)


def state_doc(serial):
    return json.dumps({
        "version": 4, "terraform_version": "1.11.4", "serial": serial,
        "lineage": str(uuid.uuid4()), "outputs": {"revision": {"value": serial, "type": "number"}},
        "resources": [{"mode": "managed", "type": "terraform_data", "name": "app",
                       "provider": "provider[\"terraform.io/builtin/terraform\"]",
                       "instances": [{"schema_version": 0, "attributes": {"id": str(uuid.uuid4())}}]}],
        "check_results": None}, indent=2).encode() + b"\n"


def lock_info(bucket, key, who, operation="OperationTypeApply"):
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"ID": str(uuid.uuid4()), "Operation": operation, "Info": "", "Who": who,
                       "Version": "1.11.4", "Created": created, "Path": "%s/%s" % (bucket, key)},
                      separators=(",", ":"))


def states(bucket, table):
    s3, ddb = clients()
    keys = ["prod/network/terraform.tfstate", "teams/app/terraform.tfstate",
            "env:/staging/teams/app/terraform.tfstate", "env:/dev/teams/app/terraform.tfstate",
            "legacy/billing/terraform.tfstate", "teams/crashed/terraform.tfstate"]
    for i, key in enumerate(keys, 1):
        body = state_doc(i)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        if key.startswith("legacy/"):
            ddb.put_item(TableName=table, Item={"LockID": {"S": "%s/%s-md5" % (bucket, key)},
                                                "Digest": {"S": hashlib.md5(body).hexdigest()}})
    crashed = "teams/crashed/terraform.tfstate"
    s3.put_object(Bucket=bucket, Key=crashed + ".tflock", ContentType="application/json",
                  Body=lock_info(bucket, crashed, "runner@ci-42").encode())
    legacy = "legacy/billing/terraform.tfstate"
    ddb.put_item(TableName=table, Item={"LockID": {"S": "%s/%s" % (bucket, legacy)},
                                        "Info": {"S": lock_info(bucket, legacy, "ops@laptop")}})


def main(argv):
    if len(argv) == 4 and argv[1] == "setup":
        setup(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "wait-lock":
        deadline = time.time() + float(argv[3])
        while not has_lock(argv[2]):
            if time.time() > deadline:
                return 1
            time.sleep(0.2)
    elif len(argv) == 4 and argv[1] == "states":
        states(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
