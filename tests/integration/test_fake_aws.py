"""The fake AWS (fake_aws.py) itself: its SigV4 against AWS's published test vectors, then
each service it plays against boto3/botocore, which are real AWS clients: if botocore's
signatures pass, the fake checks signatures as AWS does, and if its answers parse, they
are shaped as AWS's are."""
import datetime
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore.config
import botocore.utils
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from conftest import REPO

import fake_aws

SIGV4 = os.path.join(REPO, "tests", "data", "sigv4")
# Cases whose "normalize": true (path normalization, as services other than S3 do) changes
# the path. S3 signs the path as sent, and so does the fake: these are not claimed.
NORMALIZING = {"get-relative-normalized", "get-relative-relative-normalized",
               "get-slash-dot-slash-normalized", "get-slash-normalized",
               "get-slash-pointless-dot-normalized", "get-slashes-normalized"}
CASES = sorted(d for d in os.listdir(SIGV4)
               if os.path.isdir(os.path.join(SIGV4, d)) and d not in NORMALIZING)
ROLE = "arn:aws:iam::123456789012:role/tfstate-reader"
NO_RETRY = {"total_max_attempts": 1}


# ---------------------------------------------------------------- SigV4 test vectors

def vector(case, name):
    with open(os.path.join(SIGV4, case, name), encoding="utf-8") as f:
        return f.read()


def parse_request(raw):
    """(method, target as a client sends it, [(name, value)], body) of a request.txt.
    The vectors write paths and queries unencoded ("/example space/", "/?ሴ=bar"); on the
    wire they are percent-encoded, and that is what S3 (and the fake) sign."""
    head, _, body = raw.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = urllib.parse.quote(rest.rsplit(" ", 1)[0], safe="/?=&%")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):          # a folded line continues the header above
            name, value = headers.pop()
            headers.append((name, value + "\n" + line))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, target, headers, body.encode()


@pytest.mark.parametrize("case", CASES)
def test_sigv4_vector(case):
    ctx = json.loads(vector(case, "context.json"))
    method, target, headers, body = parse_request(vector(case, "header-signed-request.txt"))
    get = lambda name: next((v for n, v in headers if n.lower() == name), None)
    auth = fake_aws.parse_authorization(get("authorization"))
    assert auth["access_key"] == ctx["credentials"]["access_key_id"]
    unsigned = [(n, v) for n, v in headers if n.lower() != "authorization"]
    payload = get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()

    creq = fake_aws.canonical_request(method, target, unsigned, auth["signed_headers"], payload)
    assert creq == vector(case, "header-canonical-request.txt")
    sts = fake_aws.string_to_sign(get("x-amz-date"), auth["scope"], creq)
    assert sts == vector(case, "header-string-to-sign.txt")
    secret = ctx["credentials"]["secret_access_key"]
    expected = vector(case, "header-signature.txt").strip()
    assert fake_aws.signature(secret, auth["scope"], sts) == expected
    # The signer the fake forwards with writes the same header from the same signed headers.
    signed = [(n, v) for n, v in unsigned if n.lower() in auth["signed_headers"]]
    assert fake_aws.authorization(method, target, signed, payload, auth["access_key"], secret,
                                  ctx["region"], ctx["service"]) == get("authorization")


@pytest.mark.parametrize("case", sorted(NORMALIZING))
def test_the_normalizing_vectors_sign_a_path_that_was_not_sent(case):
    """Why they are left out: their canonical path is not the one on the wire."""
    _, target, _, _ = parse_request(vector(case, "header-signed-request.txt"))
    assert vector(case, "header-canonical-request.txt").split("\n")[1] != target


def test_canonical_query_keeps_the_encoding_and_gives_bare_names_a_value():
    assert fake_aws.canonical_query("b=2&a=%2F&uploads&a=1") == "a=%2F&a=1&b=2&uploads="


# ---------------------------------------------------------------- fixtures and helpers

def client(fake, keys, service="s3", region="us-east-1", **kw):
    """A boto3 client of the fake's, with these keys and no retries."""
    cfg = botocore.config.Config(s3={"addressing_style": "path"}, retries=NO_RETRY, **kw)
    return boto3.client(service, region_name=region,
                        endpoint_url=fake.endpoint + ("/sts" if service == "sts" else ""),
                        aws_access_key_id=keys["AccessKeyId"],
                        aws_secret_access_key=keys["SecretAccessKey"],
                        aws_session_token=keys.get("SessionToken"), config=cfg)


def refusal(call, *args, **kw):
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as e:
        call(*args, **kw)
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message")


def call(fake, method, path, headers=None, body=None):
    """(status, headers, body) of a plain HTTP request to the fake."""
    req = urllib.request.Request(fake.endpoint + path, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def works(fake, keys, bucket):
    """The keys read and write through the fake's S3 front."""
    s3 = client(fake, keys)
    s3.put_object(Bucket=bucket, Key="probe", Body=b"probe")
    assert s3.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"probe"


# ---------------------------------------------------------------- the S3 front

def test_static_keys_list_put_get_head_through_the_front(fake, s3, bucket):
    s3.put_object(Bucket=bucket, Key="seeded", Body=b"from radosgw")
    front = client(fake, fake.static_key)
    front.put_object(Bucket=bucket, Key="dir/a b+c~ሴ.tfstate", Body=b"0123456789")
    keys = [o["Key"] for o in front.list_objects_v2(Bucket=bucket, Prefix="dir/a b")["Contents"]]
    assert keys == ["dir/a b+c~ሴ.tfstate"]
    got = front.get_object(Bucket=bucket, Key="seeded")
    assert got["Body"].read() == b"from radosgw"
    head = front.head_object(Bucket=bucket, Key="dir/a b+c~ሴ.tfstate")
    assert head["ContentLength"] == 10, "a HEAD answer keeps radosgw's length"
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c~ሴ.tfstate")["Body"].read() == b"0123456789"

    ak = fake.static_key["AccessKeyId"]
    cred = fake.credentials[ak]
    assert cred.uses == 4 and cred.first_used <= cred.last_used and fake.expired_uses == 0
    assert [(r["service"], r["access_key"], r["status"]) for r in fake.requests] == \
        [("s3", ak, 200)] * 4
    assert fake.wait_requests(lambda r: r["method"] == "HEAD", timeout=1)[0]["status"] == 200


def test_range_and_conditions_pass_through(fake, bucket):
    front = client(fake, fake.static_key)
    etag = front.put_object(Bucket=bucket, Key="k", Body=b"abcdefgh")["ETag"]
    part = front.get_object(Bucket=bucket, Key="k", Range="bytes=2-4")
    assert part["Body"].read() == b"cde" and part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert front.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"abcdefgh"
    assert refusal(front.get_object, Bucket=bucket, Key="k", IfMatch='"0000"')[:2] == \
        (412, "PreconditionFailed")
    assert refusal(front.get_object, Bucket=bucket, Key="missing")[:2] == (404, "NoSuchKey")
    deleted = front.delete_object(Bucket=bucket, Key="k")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_temporary_keys_need_their_session_token(fake, bucket):
    c = fake.issue(3600, label="test")
    assert c["AccessKeyId"].startswith("ASIA")
    assert c["Expiration"] - datetime.datetime.now(datetime.timezone.utc) > \
        datetime.timedelta(seconds=3590)
    works(fake, c, bucket)
    no_token = dict(c, SessionToken=None)
    assert refusal(client(fake, no_token).list_objects_v2, Bucket=bucket)[:2] == \
        (403, "InvalidToken")
    other = dict(c, SessionToken=fake.issue()["SessionToken"])
    assert refusal(client(fake, other).list_objects_v2, Bucket=bucket)[:2] == (403, "InvalidToken")
    with_token = dict(fake.static_key, SessionToken=c["SessionToken"])
    assert refusal(client(fake, with_token).list_objects_v2, Bucket=bucket)[:2] == \
        (403, "InvalidToken"), "long-term keys take no token"


def test_expired_keys_are_refused_and_counted(fake, bucket):
    c = fake.issue(0)
    assert refusal(client(fake, c).list_objects_v2, Bucket=bucket) == \
        (400, "ExpiredToken", "The provided token has expired.")
    assert fake.expired_uses == 1 and fake.credentials[c["AccessKeyId"]].expired_uses == 1
    live = fake.issue(3600)
    works(fake, live, bucket)
    fake.expire(live["AccessKeyId"])
    assert refusal(client(fake, live).list_objects_v2, Bucket=bucket)[:2] == (400, "ExpiredToken")
    assert fake.expired_uses == 2


def test_unknown_key_and_wrong_secret(fake, bucket):
    unknown = {"AccessKeyId": "AKIANOTISSUED0000000", "SecretAccessKey": "x" * 40}
    assert refusal(client(fake, unknown).list_objects_v2, Bucket=bucket)[:2] == \
        (403, "InvalidAccessKeyId")
    wrong = dict(fake.static_key, SecretAccessKey="not-the-secret")
    assert refusal(client(fake, wrong).put_object, Bucket=bucket, Key="k", Body=b"x")[:2] == \
        (403, "SignatureDoesNotMatch")
    assert fake.credentials[fake.static_key["AccessKeyId"]].uses == 0


def test_a_wrong_region_is_named_in_the_refusal(fake, bucket):
    fake.region = "eu-west-3"
    status, headers, body = signed_request(fake, "GET", "/" + bucket, region="us-east-1")
    assert status == 400 and b"<Code>AuthorizationHeaderMalformed</Code>" in body
    assert b"<Region>eu-west-3</Region>" in body
    # botocore follows <Region> and signs again for it, as with real S3.
    front = client(fake, fake.static_key, region="us-east-1")
    assert front.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert [r["status"] for r in fake.requests][-2:] == [400, 200]


def signed_request(fake, method, target, body=b"", region="us-east-1", keys=None, extra=()):
    """A request signed with the module's own signer, sent with http.client."""
    keys = keys or fake.static_key
    headers = [("Host", "127.0.0.1:%d" % fake.port),
               ("X-Amz-Date", datetime.datetime.utcnow().strftime(fake_aws.AMZ_DATE)),
               ("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest())] + list(extra)
    auth = fake_aws.authorization(method, target, headers, hashlib.sha256(body).hexdigest(),
                                  keys["AccessKeyId"], keys["SecretAccessKey"], region, "s3")
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers + [("Authorization", auth)]:
        conn.putheader(name, value)
    conn.endheaders(body or None)
    resp = conn.getresponse()
    out = resp.status, resp.getheaders(), resp.read()
    conn.close()
    return out


def test_a_chunked_upload_is_forwarded_whole(fake, bucket):
    """libcurl sends bodies of unknown size chunked; radosgw gets it with a length."""
    target = "/%s/chunked" % bucket
    keys = fake.static_key
    headers = [("Host", "127.0.0.1:%d" % fake.port),
               ("X-Amz-Date", datetime.datetime.utcnow().strftime(fake_aws.AMZ_DATE)),
               ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")]
    auth = fake_aws.authorization("PUT", target, headers, "UNSIGNED-PAYLOAD",
                                  keys["AccessKeyId"], keys["SecretAccessKey"], "us-east-1", "s3")
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    conn.putrequest("PUT", target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers + [("Authorization", auth), ("Transfer-Encoding", "chunked")]:
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert conn.getresponse().status == 200
    conn.close()
    assert client(fake, keys).get_object(Bucket=bucket, Key="chunked")["Body"].read() == \
        b"hello world"


def test_unsigned_requests_are_refused(fake, bucket):
    status, _, body = call(fake, "GET", "/" + bucket)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert fake.requests[-1]["access_key"] is None


# ---------------------------------------------------------------- STS

def test_assume_role_gives_working_keys(fake, bucket):
    sts = client(fake, fake.static_key, "sts")
    out = sts.assume_role(RoleArn=ROLE, RoleSessionName="tfstatefs-test", DurationSeconds=900)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    left = c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=880) < left <= datetime.timedelta(seconds=900)
    assert out["AssumedRoleUser"]["Arn"] == \
        "arn:aws:sts::123456789012:assumed-role/tfstate-reader/tfstatefs-test"
    works(fake, c, bucket)
    [a] = fake.assumed
    assert (a["role_arn"], a["session_name"], a["source_access_key"], a["access_key"]) == \
        (ROLE, "tfstatefs-test", fake.static_key["AccessKeyId"], c["AccessKeyId"])
    r = fake.wait_requests(lambda r: r["service"] == "sts", timeout=1)[0]
    assert r["path"] == "/sts" and r["method"] == "POST"   # botocore adds no "/"
    assert r["access_key"] == fake.static_key["AccessKeyId"]


def test_assume_role_by_temporary_keys_and_default_lifetime(fake):
    fake.sts_ttl = 120
    base = fake.issue(3600)
    c = client(fake, base, "sts").assume_role(RoleArn=ROLE, RoleSessionName="chain")["Credentials"]
    left = c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=100) < left <= datetime.timedelta(seconds=120)
    assert fake.assumed[0]["source_access_key"] == base["AccessKeyId"]


def test_assume_role_refusals(fake):
    def refused(keys, **kw):
        args = dict(RoleArn=ROLE, RoleSessionName="s1", **kw)
        sts = client(fake, keys, "sts", parameter_validation=False)
        return refusal(sts.assume_role, **args)[:2]
    assert refused({"AccessKeyId": "AKIANOTISSUED0000000", "SecretAccessKey": "x"}) == \
        (403, "InvalidClientTokenId")
    assert refused(dict(fake.static_key, SecretAccessKey="wrong")) == (403, "SignatureDoesNotMatch")
    assert refused(fake.issue(0)) == (403, "ExpiredToken")
    assert refused(dict(fake.issue(), SessionToken="forged")) == (403, "InvalidClientTokenId")
    assert refused(fake.static_key, DurationSeconds=60) == (400, "ValidationError")
    fake.required_external_id = "ext-123"
    assert refused(fake.static_key) == (403, "AccessDenied")
    assert refused(fake.static_key, ExternalId="ext-999") == (403, "AccessDenied")
    fake.region = "eu-west-1"
    assert refused(fake.static_key, ExternalId="ext-123") == (403, "SignatureDoesNotMatch")
    assert fake.assumed == []
    ok = client(fake, fake.static_key, "sts", region="eu-west-1")
    ok.assume_role(RoleArn=ROLE, RoleSessionName="s1", ExternalId="ext-123")
    assert fake.assumed[0]["external_id"] == "ext-123"


def test_assume_role_with_web_identity(fake, bucket):
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=fake.endpoint + "/sts",
                       config=botocore.config.Config(signature_version=UNSIGNED, retries=NO_RETRY))
    out = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="ci-run-42",
                                            WebIdentityToken=fake.web_identity_token)
    assert out["SubjectFromWebIdentityToken"] and out["Provider"]
    works(fake, out["Credentials"], bucket)
    [a] = fake.assumed
    assert a["action"] == "AssumeRoleWithWebIdentity" and a["source_access_key"] is None
    assert "Authorization" not in fake.requests[0]["headers"]
    assert refusal(sts.assume_role_with_web_identity, RoleArn=ROLE, RoleSessionName="ci-run-42",
                   WebIdentityToken="eyJ.not-it.x")[:2] == (400, "InvalidIdentityToken")
    assert refusal(sts.assume_role_with_web_identity, RoleArn=ROLE, RoleSessionName="has space",
                   WebIdentityToken=fake.web_identity_token)[:2] == (400, "ValidationError")


def test_sts_takes_get_parameters_and_a_bare_path(fake):
    query = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                    "RoleArn": ROLE, "RoleSessionName": "get",
                                    "WebIdentityToken": fake.web_identity_token})
    status, _, body = call(fake, "GET", "/sts?" + query)
    assert status == 200 and b"<AssumeRoleWithWebIdentityResult>" in body
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = call(fake, "POST", "/sts", form,
                           b"Action=AssumeRole&Version=2011-06-15&RoleArn=" + ROLE.encode())
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in body
    assert b"<Type>Sender</Type>" in body


# ---------------------------------------------------------------- EC2 instance metadata

def imds_token(fake, ttl="21600"):
    return call(fake, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})


def test_imds_v2_gives_working_keys(fake, bucket):
    status, headers, token = imds_token(fake)
    assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    tok = {"X-aws-ec2-metadata-token": token.decode()}
    status, _, role = call(fake, "GET", "/latest/meta-data/iam/security-credentials/", tok)
    assert (status, role.decode()) == (200, fake.imds_role)
    status, _, body = call(fake, "GET", fake_aws.IMDS_CREDS + role.decode(), tok)
    doc = json.loads(body)
    assert status == 200 and doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC"
    datetime.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    works(fake, {"AccessKeyId": doc["AccessKeyId"], "SecretAccessKey": doc["SecretAccessKey"],
                 "SessionToken": doc["Token"]}, bucket)
    assert call(fake, "GET", "/latest/meta-data/placement/region", tok)[2] == b"us-east-1"
    assert call(fake, "GET", fake_aws.IMDS_CREDS + "other-role", tok)[0] == 404


def test_imds_refuses_v1_bad_tokens_and_bad_ttls(fake):
    assert call(fake, "GET", fake_aws.IMDS_CREDS)[0] == 401
    assert call(fake, "GET", fake_aws.IMDS_CREDS, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
    assert call(fake, "PUT", "/latest/api/token", body=b"")[0] == 400
    assert imds_token(fake, "0")[0] == 400 and imds_token(fake, "21601")[0] == 400
    status, _, token = imds_token(fake, "1")
    assert status == 200
    time.sleep(1.1)
    assert call(fake, "GET", fake_aws.IMDS_CREDS,
                {"X-aws-ec2-metadata-token": token.decode()})[0] == 401, "the token expired"


def test_botocores_own_instance_metadata_fetcher(fake, bucket):
    fake.imds_ttl = 600
    fetcher = botocore.utils.InstanceMetadataFetcher(timeout=2, num_attempts=1,
                                                     base_url=fake.endpoint, env={})
    c = fetcher.retrieve_iam_role_credentials()
    assert c["role_name"] == fake.imds_role
    works(fake, {"AccessKeyId": c["access_key"], "SecretAccessKey": c["secret_key"],
                 "SessionToken": c["token"]}, bucket)
    assert [r["method"] for r in fake.requests if r["service"] == "imds"] == ["PUT", "GET", "GET"]


# ---------------------------------------------------------------- container endpoint

def test_container_endpoint_with_and_without_a_token(fake, bucket):
    status, _, body = call(fake, "GET", "/container/creds")
    doc = json.loads(body)
    assert status == 200 and doc["AccessKeyId"].startswith("ASIA")
    works(fake, {"AccessKeyId": doc["AccessKeyId"], "SecretAccessKey": doc["SecretAccessKey"],
                 "SessionToken": doc["Token"]}, bucket)
    fake.container_token = "Bearer pod-identity-token"
    assert call(fake, "GET", "/container/creds")[0] == 401
    assert call(fake, "GET", "/container/creds", {"Authorization": "Bearer other"})[0] == 401
    status, _, body = call(fake, "GET", "/container/creds",
                           {"Authorization": "Bearer pod-identity-token"})
    assert status == 200 and json.loads(body)["Token"]
    containers = [r for r in fake.requests if r["service"] == "container"]
    assert [r["status"] for r in containers] == [200, 401, 401, 200]
    assert containers[-1]["access_key"] is None, "a container token is not a SigV4 key"
