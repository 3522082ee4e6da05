"""The test stack itself: its DynamoDB stays up when a client leaves in the middle of a
request, as DynamoDB does. A terraform killed with -9, or a mount unmounted while a request
is in flight, used to end dynalite, and with it every later test that needs DynamoDB. And
when a service does stop, the tests say which one and show the end of its log."""
import os
import socket
import subprocess
import time
import uuid

import boto3

from conftest import stack_down

GET_ITEM = b'{"TableName":"%s","Key":{"LockID":{"S":"a"}}}'
PUT_ITEM = b'{"TableName":"%s","Item":{"LockID":{"S":"b"},"Info":{"S":"%s"}}}'


def request_bytes(target, body):
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-Amz-Target: DynamoDB_20120810." + target + b"\r\n"
            b"Content-Type: application/x-amz-json-1.0\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/"
            b"aws4_request, SignedHeaders=host, Signature=00\r\n"
            b"X-Amz-Date: 20260101T000000Z\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def ddb_client(stack):
    return boto3.client("dynamodb", endpoint_url=stack["TFS_DDB_ENDPOINT"],
                        region_name="us-east-1", aws_access_key_id="k",
                        aws_secret_access_key="s")


def test_dynalite_outlives_clients_that_leave_mid_request(stack):
    ddb = ddb_client(stack)
    table = "stack-" + uuid.uuid4().hex[:8]
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])
    port = int(stack["TFS_DDB_PORT"])
    get = request_bytes(b"GetItem", GET_ITEM % table.encode())
    # Half a request, then the client is gone: the case that ended dynalite.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(get[:-10])
        time.sleep(0.2)
    # Whole requests, the connection reset before the answer (SO_LINGER 0).
    for i in range(50):
        put = request_bytes(b"PutItem", PUT_ITEM % (table.encode(), b"%d" % i))
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.sendall(put)
        s.close()
    time.sleep(0.3)
    assert stack_down(stack) == []
    item = ddb.get_item(TableName=table, Key={"LockID": {"S": "b"}}, ConsistentRead=True)
    assert "Item" in item
    ddb.delete_table(TableName=table)


def test_a_stopped_service_is_named_with_the_end_of_its_log(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "dynalite.out").write_text("listening\nError: aborted\n")
    (tmp_path / "dynalite.pid").write_text("%d\ncli.js\n" % gone.pid)
    with open("/proc/self/cmdline") as f:
        argv0 = f.read().split("\0")[0]
    (tmp_path / "radosgw.pid").write_text("%d\n%s\n" % (os.getpid(), argv0))
    stack = {"TFS_STACK_DIR": str(tmp_path)}
    down = stack_down(stack)
    assert len(down) == 1 and down[0].startswith("dynalite (pid %d) is not running" % gone.pid)
    assert down[0].endswith("Error: aborted\n")
    # A live pid none of whose arguments is the marker is a recycled pid: not the service,
    # even when an argument contains the marker.
    (tmp_path / "radosgw.pid").write_text("%d\n%s\n" % (os.getpid(), argv0[:-1]))
    assert [d.split(" ")[0] for d in stack_down(stack)] == ["dynalite", "radosgw"]
