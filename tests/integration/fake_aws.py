"""A fake AWS of the tests' own, on loopback: the services that hand out credentials (STS,
EC2 instance metadata, the ECS/EKS container endpoint), and an S3 front that checks every
SigV4 signature against the credentials it handed out. radosgw knows only its one static
user and cannot issue or accept temporary keys; with this in front of it, tfstatefs's
credential chain is tested with real signatures, from the keys' source to S3.

    fake = FakeAws(rgw_port, rgw_access_key, rgw_secret_key)
    fake.endpoint                        "http://127.0.0.1:PORT", the S3 endpoint, and
      fake.endpoint + "/sts"             STS           (sts_endpoint, AWS_ENDPOINT_URL_STS)
      fake.endpoint                      IMDSv2, under /latest/ (AWS_EC2_METADATA_SERVICE_ENDPOINT)
      fake.endpoint + "/container/creds" container     (AWS_CONTAINER_CREDENTIALS_FULL_URI)
      fake.endpoint + "/sso"             the SSO portal (AWS_ENDPOINT_URL_SSO)
      fake.endpoint + "/oidc"            SSO OIDC       (AWS_ENDPOINT_URL_SSO_OIDC)
    fake.static_key                      {"AccessKeyId": "AKIA...", "SecretAccessKey": ...}
    fake.issue(ttl_seconds, label)       new temporary keys, with SessionToken and Expiration
    fake.sso_login(ttl, refreshable)     what `aws sso login` caches: a token it accepts
    fake.requests, fake.assumed, fake.expired_uses, fake.credentials[key].uses
    fake.close()

S3: every request whose path is not under /sts, /latest/ or /container is S3. Its
signature is checked as S3 checks it (SigV4 over the method, the raw path and query as
sent, the signed headers and x-amz-content-sha256; the scope's region must be
fake.region), and refused with S3's own XML errors: an unknown key, a missing or wrong
session token, expired keys, a wrong region, a bad signature. A request that passes is
signed again with radosgw's static user and forwarded, and radosgw's answer goes back as
it came. So what tfstatefs reads comes from radosgw, but only keys this fake handed out
(or was given) get there.

STS answers AssumeRole (signed, checked the same way with service "sts") and
AssumeRoleWithWebIdentity (unsigned; the token must be fake.web_identity_token) with
STS's XML; IMDS wants a v2 session token on every GET; the container endpoint wants
fake.container_token in Authorization when that is set. Each hands out new keys.

The SSO portal answers GET /sso/federation/credentials?account_id=&role_name= (unsigned)
when x-amz-sso_bearer_token is a token it handed out (sso_login or a refresh) and has not
expired or been revoked, for ACCOUNT and a role in fake.sso_roles: 401 and 403 as the
portal words them otherwise. SSO OIDC answers POST /oidc/token with grantType
refresh_token, the client registration and refresh token of an sso_login; the refresh
token is replaced each time, as SSO OIDC does.

Not played: presigned URLs (query-string auth), aws-chunked (STREAMING-*) uploads,
virtual-hosted bucket names, and buckets named "sts", "latest" or "container".
The SigV4 functions here are checked against AWS's test vectors in test_fake_aws.py.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import re
import secrets
import string
import threading
import time
import traceback
import urllib.parse
import uuid
from xml.sax.saxutils import escape

ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ACCOUNT = "123456789012"
MAX_SKEW = datetime.timedelta(minutes=15)
IMDS_CREDS = "/latest/meta-data/iam/security-credentials/"
# Headers of the client's that are not forwarded to radosgw: the fake signs again
# (Authorization, X-Amz-*), frames the body itself (it has read all of it), and the rest
# describe one hop only.
NOT_FORWARDED = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
                 "host", "content-length", "transfer-encoding", "expect", "connection",
                 "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                 "proxy-authorization"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "proxy-authenticate"}
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(t):
    return t.strftime(ISO8601)


def sha256hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- SigV4

def canonical_query(query):
    """The query as sent (already percent-encoded: S3 does not encode it again), its
    name=value pairs sorted by name, then value; a name without "=" gets an empty value."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return "&".join(name + "=" + value for name, value in sorted(pairs))


def canonical_headers(headers, signed):
    """"name:value\\n" for each signed header in the order given; a header sent more than
    once has its values joined with commas; values are trimmed and every inner run of
    whitespace (a folded line's too) becomes one space."""
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    return "".join("%s:%s\n" % (name, ",".join(values.get(name, []))) for name in signed)


def canonical_request(method, target, headers, signed, payload_hash):
    """target: the request target exactly as sent. S3 signs the path as it is on the wire:
    no normalization of "." or "//", no second percent-encoding."""
    path, _, query = target.partition("?")
    return "\n".join([method, path, canonical_query(query), canonical_headers(headers, signed),
                      ";".join(signed), payload_hash])


def string_to_sign(amz_date, scope, creq):
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256hex(creq.encode())])


def signature(secret_key, scope, sts):
    """scope is DATE/REGION/SERVICE/aws4_request: the signing key is derived from the
    secret by HMACing each of its parts in turn."""
    key = ("AWS4" + secret_key).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value):
    """The parts of "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
    SignedHeaders=a;b, Signature=HEX", or None when value is not such a header."""
    prefix = "AWS4-HMAC-SHA256 "
    if not value or not value.startswith(prefix):
        return None
    fields = {}
    for item in value[len(prefix):].split(","):
        name, _, field = item.strip().partition("=")
        fields[name] = field
    cred = fields.get("Credential", "").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request" or not fields.get("SignedHeaders") \
            or not fields.get("Signature"):
        return None
    return {"access_key": cred[0], "scope": "/".join(cred[1:]), "date": cred[1],
            "region": cred[2], "service": cred[3],
            "signed_headers": fields["SignedHeaders"].split(";"), "signature": fields["Signature"]}


def authorization(method, target, headers, payload_hash, access_key, secret_key, region,
                  service):
    """The Authorization value that signs every header of `headers` ([(name, value)], which
    must hold Host and X-Amz-Date)."""
    amz_date = [v for n, v in headers if n.lower() == "x-amz-date"][0]
    signed = sorted({name.lower() for name, _ in headers})
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    creq = canonical_request(method, target, headers, signed, payload_hash)
    sig = signature(secret_key, scope, string_to_sign(amz_date, scope, creq))
    return "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, ";".join(signed), sig)


# ---------------------------------------------------------------- keys and refusals

def _key_id():
    return "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def _secret():
    # 40 characters with "+" and "/" in them, as AWS's secrets have.
    return base64.b64encode(secrets.token_bytes(30)).decode()


def _session_token():
    # Long, with "+", "/" and "=" padding, as STS's tokens are.
    return base64.b64encode(secrets.token_bytes(256)).decode()


def _web_identity_token():
    """Shaped like an OIDC JWT (header.payload.signature); only compared, never decoded."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "RS256", "kid": "fake"}),
                     part({"sub": "system:serviceaccount:ci:tfstatefs",
                           "aud": "sts.amazonaws.com"}),
                     secrets.token_urlsafe(64)])


class Credential:
    """One key pair the fake accepts, and how it was used."""

    def __init__(self, access_key, secret_key, token=None, expiration=None, label=""):
        self.access_key, self.secret_key, self.token = access_key, secret_key, token
        self.expiration, self.label = expiration, label
        self.uses = 0              # requests it signed that were let through
        self.expired_uses = 0      # requests it signed once it had expired
        self.first_used = self.last_used = None

    def expired(self, now):
        return self.expiration is not None and now >= self.expiration

    def as_dict(self):
        return {"AccessKeyId": self.access_key, "SecretAccessKey": self.secret_key,
                "SessionToken": self.token, "Expiration": self.expiration}


class Refused(Exception):
    """A refusal: HTTP status, error code and message, and the elements S3 adds to its
    <Error> (Region, StringToSign, ...)."""

    def __init__(self, status, code, message, **extra):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message, self.extra = status, code, message, extra


_MISMATCH = "The request signature we calculated does not match the signature you provided. "
_SAME = lambda answer: (answer, answer)
# One refusal as S3 words it and as STS does: kind -> ((status, code, message) of S3, of STS).
REFUSALS = {
    "anonymous": (
        (403, "AccessDenied", "Access Denied"),
        (403, "MissingAuthenticationToken", "Request is missing Authentication Token")),
    "malformed": (
        (400, "AuthorizationHeaderMalformed", "The authorization header is malformed; {}"),
        (400, "IncompleteSignature", "The authorization header is malformed: {}")),
    "region": (
        (400, "AuthorizationHeaderMalformed",
         "The authorization header is malformed; the region '{}' is wrong; expecting '{}'"),
        (403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not '{}'.")),
    "no-date": (
        (403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"),
        (400, "IncompleteSignature", "Authorization header requires a valid 'X-Amz-Date' header.")),
    "skew": (
        (403, "RequestTimeTooSkewed",
         "The difference between the request time and the current time is too large."),
        (403, "SignatureDoesNotMatch", "Signature expired: {} is out of the allowed skew")),
    "unknown-key": (
        (403, "InvalidAccessKeyId",
         "The AWS Access Key Id you provided does not exist in our records."),
        (403, "InvalidClientTokenId", "The security token included in the request is invalid.")),
    "bad-token": (
        (403, "InvalidToken", "The provided token is malformed or otherwise invalid."),
        (403, "InvalidClientTokenId", "The security token included in the request is invalid.")),
    "expired": (
        (400, "ExpiredToken", "The provided token has expired."),
        (403, "ExpiredToken", "The security token included in the request is expired")),
    "no-content-sha": _SAME(
        (400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")),
    "content-sha": _SAME(
        (400, "XAmzContentSHA256Mismatch",
         "The provided 'x-amz-content-sha256' header does not match what was computed.")),
    "streaming": _SAME(
        (501, "NotImplemented", "fake_aws does not play aws-chunked (STREAMING-*) payloads")),
    "signature": (
        (403, "SignatureDoesNotMatch", _MISMATCH + "Check your key and signing method."),
        (403, "SignatureDoesNotMatch", _MISMATCH + "Check your AWS Secret Access Key and signing "
         "method. Consult the service documentation for details.")),
}


def refuse(kind, service, *details, **extra):
    status, code, message = REFUSALS[kind][service == "sts"]
    return Refused(status, code, message.format(*details), **extra)


# ---------------------------------------------------------------- answers

def xml(tag, content, ns=None):
    """<tag>content</tag>: content is a text, or a list of (tag, content) pairs."""
    if isinstance(content, list):
        inner = "".join(xml(t, c) for t, c in content)
    else:
        inner = escape(str(content))
    return "<%s%s>%s</%s>" % (tag, ' xmlns="%s"' % ns if ns else "", inner, tag)


def s3_error(r):
    rid = uuid.uuid4().hex[:16].upper()
    fields = [("Code", r.code), ("Message", r.message)] + list(r.extra.items()) + \
             [("RequestId", rid), ("HostId", "fake-aws")]
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
    if "Region" in r.extra:
        headers.append(("x-amz-bucket-region", r.extra["Region"]))
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + xml("Error", fields)
    return r.status, headers, body.encode()


def sts_error(r):
    error = [("Type", "Sender"), ("Code", r.code), ("Message", r.message)]
    body = xml("ErrorResponse", [("Error", error), ("RequestId", str(uuid.uuid4()))], STS_NS)
    return r.status, [("Content-Type", "text/xml")], body.encode()


def sts_result(action, role_arn, session_name, creds, web_identity):
    """The XML of a successful AssumeRole / AssumeRoleWithWebIdentity."""
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 5 and parts[4] else ACCOUNT
    role_name = role_arn.rsplit("/", 1)[-1]
    role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
    result = [("Credentials", [("AccessKeyId", creds["AccessKeyId"]),
                               ("SecretAccessKey", creds["SecretAccessKey"]),
                               ("SessionToken", creds["SessionToken"]),
                               ("Expiration", iso(creds["Expiration"]))]),
              ("AssumedRoleUser", [("AssumedRoleId", "%s:%s" % (role_id, session_name)),
                                   ("Arn", "arn:aws:sts::%s:assumed-role/%s/%s"
                                    % (account, role_name, session_name))])]
    if web_identity:
        result = [("SubjectFromWebIdentityToken", "system:serviceaccount:ci:tfstatefs"),
                  ("Audience", "sts.amazonaws.com")] + result + [("Provider", "oidc.fake-aws.test")]
    meta = [("RequestId", str(uuid.uuid4()))]
    body = xml(action + "Response", [(action + "Result", result), ("ResponseMetadata", meta)],
               STS_NS)
    return 200, [("Content-Type", "text/xml")], body.encode()


def text(status, body=""):
    return status, [("Content-Type", "text/plain")], body.encode()


def json_answer(status, obj):
    return status, [("Content-Type", "application/json")], json.dumps(obj).encode()


def cred_json(creds, token_field="Token"):
    return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
            token_field: creds["SessionToken"], "Expiration": iso(creds["Expiration"])}


def creds_env(creds):
    """The AWS_* environment variables that hand `creds` (a dict of issue()'s shape) to a
    process."""
    env = {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"]}
    if creds.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = creds["SessionToken"]
    return env


def route(path):
    """Which service a request path is for."""
    if path == "/sts" or path.startswith("/sts/"):
        return "sts"
    if path.startswith("/latest/"):
        return "imds"
    if path == "/container" or path.startswith("/container/"):
        return "container"
    if path.startswith("/sso/"):
        return "sso"
    if path.startswith("/oidc/"):
        return "oidc"
    return "s3"


# ---------------------------------------------------------------- the fake

class Request:
    def __init__(self, method, target, headers, body):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.path, _, self.query = target.partition("?")


class FakeAws:
    """The fake, serving on 127.0.0.1 (a free port) from construction until close();
    radosgw's port and its static user's keys are what valid S3 requests are passed on to."""

    def __init__(self, rgw_port, rgw_access_key, rgw_secret_key):
        self.rgw_port = rgw_port
        self.rgw_access_key, self.rgw_secret_key = rgw_access_key, rgw_secret_key
        # What the tests may change at any time:
        self.region = "us-east-1"              # the only region signatures may be scoped to
        self.web_identity_token = _web_identity_token()
        self.required_external_id = None       # AssumeRole must then send this ExternalId
        self.sts_ttl = 3600                    # lifetime of STS keys without DurationSeconds
        self.imds_ttl = 3600
        self.imds_role = "tfstatefs-test-role"  # None: an instance without a role
        self.imds_tokens = {}                  # IMDSv2 session token -> time.monotonic() deadline
        self.container_token = None            # the Authorization the container endpoint wants
        self.container_ttl = 3600
        self.rewrite_target = None             # f(method, target) -> the target sent on
        self.sso_roles = {"ReadState"}         # the roles of ACCOUNT the portal hands keys for
        self.sso_role_ttl = 3600               # lifetime of the portal's role keys
        self.sso_token_ttl = 3600              # expiresIn of a refreshed access token
        self.sso_tokens = {}                   # access token -> datetime it expires
        self.sso_clients = {}                  # refresh token -> (clientId, clientSecret)
        self.sso_refreshes = 0                 # CreateToken calls that gave a token
        # What the tests read:
        self.credentials = {}                  # access key -> Credential
        self.requests = []                     # every request, as a dict (see _record)
        self.assumed = []                      # every role STS handed keys for
        self.expired_uses = 0                  # requests signed with keys that had expired
        self.lock = threading.Lock()
        self.static_key = self.add_static("AKIA" + _key_id(), _secret())
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.endpoint = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- the key table

    def add_static(self, access_key, secret_key, label="static"):
        """Long-term keys (no session token, no expiry), as environment or profile keys are."""
        cred = Credential(access_key, secret_key, label=label)
        with self.lock:
            self.credentials[access_key] = cred
        return cred.as_dict()

    def issue(self, ttl_seconds=3600, label=""):
        """New temporary keys, expiring ttl_seconds from now (0 or less: already expired):
        {"AccessKeyId": "ASIA...", "SecretAccessKey", "SessionToken", "Expiration": datetime}."""
        # Whole seconds: the Expiration clients read says exactly when the fake refuses.
        now = utcnow().replace(microsecond=0)
        cred = Credential("ASIA" + _key_id(), _secret(), _session_token(),
                          now + datetime.timedelta(seconds=ttl_seconds), label)
        with self.lock:
            self.credentials[cred.access_key] = cred
        return cred.as_dict()

    def sso_login(self, ttl_seconds=3600, refreshable=True, region="eu-central-1",
                  start_url="https://d-123.awsapps.com/start"):
        """The cache file `aws sso login` writes, as a dict: a token this fake accepts for
        ttl_seconds (0 or less: already expired), with a client registration and refresh
        token when refreshable."""
        now = utcnow().replace(microsecond=0)
        token = "aoa" + secrets.token_urlsafe(48)
        cache = {"startUrl": start_url, "region": region, "accessToken": token,
                 "expiresAt": iso(now + datetime.timedelta(seconds=ttl_seconds))}
        with self.lock:
            self.sso_tokens[token] = now + datetime.timedelta(seconds=ttl_seconds)
            if refreshable:
                refresh = "aor" + secrets.token_urlsafe(48)
                client = ("cid-" + secrets.token_hex(8), "csecret-" + secrets.token_urlsafe(24))
                self.sso_clients[refresh] = client
                cache.update(refreshToken=refresh, clientId=client[0], clientSecret=client[1],
                             registrationExpiresAt=iso(now + datetime.timedelta(days=90)))
        return cache

    def sso_revoke(self):
        """Every access and refresh token refused from now on (a sign-out)."""
        with self.lock:
            self.sso_tokens.clear()
            self.sso_clients.clear()

    def expire(self, access_key):
        """Make keys expire now, whatever their Expiration said."""
        with self.lock:
            self.credentials[access_key].expiration = utcnow()

    # ---- what the tests look at

    def wait_requests(self, pred, timeout=10, count=1):
        """The recorded requests pred accepts, once there are `count` of them;
        AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                hits = [r for r in self.requests if pred(r)]
            if len(hits) >= count:
                return hits
            if time.monotonic() >= deadline:
                raise AssertionError("%d of the %d requests wanted after %ss; seen:\n%s"
                                     % (len(hits), count, timeout, self.summary()))
            time.sleep(0.02)

    def summary(self):
        """One line per recorded request: service, method, path, status, key."""
        with self.lock:
            return "\n".join("%s %s %s -> %s %s" % (r["service"], r["method"], r["path"],
                                                    r["status"], r["access_key"] or "")
                             for r in self.requests)

    def _record(self, service, req, status):
        auth = parse_authorization(req.headers.get("Authorization")) \
            if service in ("s3", "sts") else None
        with self.lock:
            self.requests.append({
                "service": service, "method": req.method,
                "path": req.target,              # as sent, query included
                "headers": req.headers,          # http.client.HTTPMessage: .get() ignores case
                "body": req.body, "access_key": auth and auth["access_key"],
                "status": status})

    # ---- dispatch

    def answer(self, req):
        """(status, [(header, value)], body) for one request, recorded before it goes out so
        a client that has its answer always finds its request in self.requests."""
        service = route(req.path)
        handle = {"s3": self._s3, "sts": self._sts, "imds": self._imds,
                  "container": self._container, "sso": self._sso, "oidc": self._oidc}[service]
        try:
            status, headers, body = handle(req)
        except Exception:
            # A bug of the fake's own: say so to the client rather than drop the connection.
            status, headers, body = text(500, "fake_aws: " + traceback.format_exc())
        self._record(service, req, status)
        return status, headers, body

    # ---- signature checking (S3 and STS)

    def _authenticate(self, req, service):
        """The Credential that signed req for `service`; Refused when none did, properly."""
        auth = parse_authorization(req.headers.get("Authorization"))
        if auth is None:
            raise refuse("anonymous" if "Authorization" not in req.headers else "malformed",
                         service, "not an AWS4-HMAC-SHA256 Credential/SignedHeaders/Signature")
        if auth["service"] != service:
            raise refuse("malformed", service, 'incorrect service "%s". This endpoint belongs '
                         'to "%s".' % (auth["service"], service))
        if auth["region"] != self.region:
            raise refuse("region", service, auth["region"], self.region, Region=self.region)
        now = utcnow()
        amz_date = self._check_date(req, auth, service, now)
        cred = self._credential(req, auth, service, now)
        payload_hash = self._payload_hash(req, service)
        creq = canonical_request(req.method, req.target, list(req.headers.items()),
                                 auth["signed_headers"], payload_hash)
        sts = string_to_sign(amz_date, auth["scope"], creq)
        expected = signature(cred.secret_key, auth["scope"], sts)
        if not hmac.compare_digest(expected, auth["signature"]):
            raise refuse("signature", service, AWSAccessKeyId=cred.access_key, StringToSign=sts,
                         SignatureProvided=auth["signature"], CanonicalRequest=creq)
        with self.lock:
            cred.uses += 1
            cred.first_used = cred.first_used or now
            cred.last_used = now
        return cred

    def _check_date(self, req, auth, service, now):
        amz_date = req.headers.get("X-Amz-Date") or ""
        try:
            when = datetime.datetime.strptime(amz_date, AMZ_DATE)
            when = when.replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise refuse("no-date", service)
        if auth["date"] != amz_date[:8]:
            raise refuse("malformed", service, "the credential date %s is not the request's %s"
                         % (auth["date"], amz_date[:8]))
        if abs(now - when) > MAX_SKEW:
            raise refuse("skew", service, amz_date, RequestTime=amz_date, ServerTime=iso(now))
        return amz_date

    def _credential(self, req, auth, service, now):
        """The signer's keys, if they are known, go with the session token sent (none for
        long-term keys) and have not expired."""
        with self.lock:
            cred = self.credentials.get(auth["access_key"])
            if cred is None:
                raise refuse("unknown-key", service, AWSAccessKeyId=auth["access_key"])
            if (req.headers.get("X-Amz-Security-Token") or None) != cred.token:
                raise refuse("bad-token", service)
            if cred.expired(now):
                cred.expired_uses += 1
                self.expired_uses += 1
                raise refuse("expired", service)
        return cred

    def _payload_hash(self, req, service):
        """The payload hash the signature covers: S3 wants it in x-amz-content-sha256 (and
        it must be the body's); other services hash the body when the header is absent."""
        declared = req.headers.get("x-amz-content-sha256")
        actual = sha256hex(req.body)
        if declared is None:
            if service == "s3":
                raise refuse("no-content-sha", service)
            return actual
        if declared == "UNSIGNED-PAYLOAD":
            return declared
        if declared.startswith("STREAMING-"):
            raise refuse("streaming", service)
        if declared != actual:
            raise refuse("content-sha", service, ClientComputedContentSHA256=declared,
                         S3ComputedContentSHA256=actual)
        return declared

    # ---- S3

    def _s3(self, req):
        try:
            self._authenticate(req, "s3")
        except Refused as r:
            return s3_error(r)
        return self._forward(req)

    def _forward(self, req):
        """The request signed again as radosgw's user (region us-east-1, path-style, Host as
        radosgw's address) and sent there; radosgw's answer as it came."""
        host = "127.0.0.1:%d" % self.rgw_port
        target = self.rewrite_target(req.method, req.target) if self.rewrite_target else req.target
        body_hash = sha256hex(req.body)
        headers = [(n, v) for n, v in req.headers.items() if n.lower() not in NOT_FORWARDED]
        headers += [("Host", host), ("X-Amz-Date", utcnow().strftime(AMZ_DATE)),
                    ("X-Amz-Content-SHA256", body_hash)]
        if req.body or "Content-Length" in req.headers or "Transfer-Encoding" in req.headers:
            headers.append(("Content-Length", str(len(req.body))))
        headers.append(("Authorization", authorization(
            req.method, target, headers, body_hash, self.rgw_access_key,
            self.rgw_secret_key, "us-east-1", "s3")))
        conn = http.client.HTTPConnection("127.0.0.1", self.rgw_port, timeout=60)
        try:
            conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(req.body or None)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        except (OSError, http.client.HTTPException) as e:
            return s3_error(Refused(503, "ServiceUnavailable", "fake_aws: radosgw on %s did not "
                                    "answer: %r" % (host, e)))
        finally:
            conn.close()

    # ---- STS

    def _sts(self, req):
        try:
            return self._sts_action(req, self._sts_params(req))
        except Refused as r:
            return sts_error(r)

    @staticmethod
    def _sts_params(req):
        """The parameters: the query's, then the body's when it is a form."""
        fields = urllib.parse.parse_qs(req.query, keep_blank_values=True)
        if "x-www-form-urlencoded" in (req.headers.get("Content-Type") or ""):
            form = req.body.decode("utf-8", "replace")
            for name, values in urllib.parse.parse_qs(form, keep_blank_values=True).items():
                fields.setdefault(name, []).extend(values)
        return {name: values[0] for name, values in fields.items()}

    def _sts_action(self, req, params):
        action = params.get("Action")
        if action not in ("AssumeRole", "AssumeRoleWithWebIdentity") \
                or params.get("Version") != "2011-06-15":
            raise Refused(400, "InvalidAction", "Could not find operation %s for version %s"
                          % (action, params.get("Version")))
        web = action == "AssumeRoleWithWebIdentity"
        if web:
            source = None
            if params.get("WebIdentityToken") != self.web_identity_token:
                raise Refused(400, "InvalidIdentityToken", "The web identity token that was passed "
                              "could not be validated by AWS. Get a new identity token from the "
                              "identity provider and then retry the request.")
        else:
            source = self._authenticate(req, "sts").access_key
        role_arn, session_name, ttl = self._sts_role_params(params)
        if not web and self.required_external_id is not None \
                and params.get("ExternalId") != self.required_external_id:
            raise Refused(403, "AccessDenied", "User: arn:aws:iam::%s:user/%s is not authorized to "
                          "perform: sts:AssumeRole on resource: %s" % (ACCOUNT, source, role_arn))
        creds = self.issue(ttl, label="%s %s" % (action, role_arn))
        with self.lock:
            self.assumed.append({
                "action": action, "role_arn": role_arn, "session_name": session_name,
                "source_access_key": source, "external_id": params.get("ExternalId"),
                "duration": params.get("DurationSeconds"), "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"], "session_token": creds["SessionToken"],
                "expiration": creds["Expiration"]})
        return sts_result(action, role_arn, session_name, creds, web)

    def _sts_role_params(self, params):
        """RoleArn, RoleSessionName and the keys' lifetime, checked as STS checks them."""
        def invalid(what, name, rule):
            return Refused(400, "ValidationError", "1 validation error detected: Value %s at '%s' "
                           "failed to satisfy constraint: Member must %s" % (what, name, rule))
        role_arn, session_name = params.get("RoleArn"), params.get("RoleSessionName")
        duration = params.get("DurationSeconds")
        if not role_arn or not session_name:
            raise invalid("null", "roleArn" if not role_arn else "roleSessionName", "not be null")
        if len(role_arn) < 20 or not role_arn.startswith("arn:"):
            raise invalid("'%s'" % role_arn, "roleArn", "be an ARN of at least 20 characters")
        if not SESSION_NAME.match(session_name):
            raise invalid("'%s'" % session_name, "roleSessionName",
                          r"satisfy regular expression pattern: [\w+=,.@-]{2,64}")
        # Tests wanting short-lived STS keys set sts_ttl: DurationSeconds is held to STS's range.
        if duration is None:
            return role_arn, session_name, self.sts_ttl
        if not duration.isdigit() or not 900 <= int(duration) <= 43200:
            raise invalid("'%s'" % duration, "durationSeconds", "be between 900 and 43200")
        return role_arn, session_name, int(duration)

    # ---- EC2 instance metadata (IMDSv2 only: a v1 GET without a token gets 401)

    def _imds(self, req):
        if req.path == "/latest/api/token":
            return self._imds_token(req) if req.method == "PUT" else text(405)
        if req.method != "GET":
            return text(405)
        token = req.headers.get("X-aws-ec2-metadata-token")
        with self.lock:
            valid = token is not None and self.imds_tokens.get(token, 0) > time.monotonic()
        return self._imds_get(req.path) if valid else text(401)

    def _imds_token(self, req):
        ttl = req.headers.get("X-aws-ec2-metadata-token-ttl-seconds") or ""
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return text(400)
        token = base64.b64encode(secrets.token_bytes(42)).decode()
        with self.lock:
            self.imds_tokens[token] = time.monotonic() + int(ttl)
        return 200, [("Content-Type", "text/plain"),
                     ("X-aws-ec2-metadata-token-ttl-seconds", ttl)], token.encode()

    def _imds_get(self, path):
        if path in (IMDS_CREDS, IMDS_CREDS[:-1]):
            return text(200, self.imds_role) if self.imds_role else text(404)
        if path.startswith(IMDS_CREDS):
            if not self.imds_role or path[len(IMDS_CREDS):] != self.imds_role:
                return text(404)
            creds = self.issue(self.imds_ttl, label="imds")
            return json_answer(200, dict({"Code": "Success", "LastUpdated": iso(utcnow()),
                                          "Type": "AWS-HMAC"}, **cred_json(creds)))
        if path == "/latest/meta-data/placement/region":
            return text(200, self.region)
        if path == "/latest/dynamic/instance-identity/document":
            return json_answer(200, {"region": self.region, "accountId": ACCOUNT,
                                     "instanceId": "i-0fa4e5e0a7b1c2d3e"})
        return text(404)

    # ---- ECS / EKS container credentials

    def _container(self, req):
        if req.method != "GET":
            return text(405)
        if self.container_token is not None \
                and req.headers.get("Authorization") != self.container_token:
            return json_answer(401, {"code": "AccessDenied",
                                     "message": "Authorization token is missing or wrong"})
        creds = self.issue(self.container_ttl, label="container")
        return json_answer(200, dict(cred_json(creds),
                                     RoleArn="arn:aws:iam::%s:role/tfstatefs-task-role" % ACCOUNT))

    # ---- IAM Identity Center: the portal and SSO OIDC

    def _sso(self, req):
        if req.method != "GET" or req.path != "/sso/federation/credentials":
            return text(404)
        query = urllib.parse.parse_qs(req.query)
        token = req.headers.get("x-amz-sso_bearer_token")
        with self.lock:
            expires = self.sso_tokens.get(token)
        if expires is None or expires <= utcnow():
            return json_answer(401, {"message": "Session token not found or invalid"})
        if query.get("account_id") != [ACCOUNT] or query.get("role_name", [""])[0] \
                not in self.sso_roles:
            return json_answer(403, {"message": "No access"})
        creds = self.issue(self.sso_role_ttl, label="sso")
        return json_answer(200, {"roleCredentials": {
            "accessKeyId": creds["AccessKeyId"], "secretAccessKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
            "expiration": int(creds["Expiration"].timestamp() * 1000)}})

    def _oidc(self, req):
        if req.method != "POST" or req.path != "/oidc/token":
            return text(404)
        try:
            body = json.loads(req.body)
        except ValueError:
            return json_answer(400, {"error": "invalid_request"})
        refresh = body.get("refreshToken")
        with self.lock:
            client = self.sso_clients.pop(refresh, None)
        if body.get("grantType") != "refresh_token" or client is None \
                or client != (body.get("clientId"), body.get("clientSecret")):
            return json_answer(400, {"error": "invalid_grant"})
        token, new_refresh = "aoa" + secrets.token_urlsafe(48), "aor" + secrets.token_urlsafe(48)
        with self.lock:
            self.sso_tokens[token] = utcnow() + datetime.timedelta(seconds=self.sso_token_ttl)
            self.sso_clients[new_refresh] = client
            self.sso_refreshes += 1
        return json_answer(200, {"accessToken": token, "expiresIn": self.sso_token_ttl,
                                 "refreshToken": new_refresh, "tokenType": "Bearer"})


def read_chunked(f):
    """A body sent with Transfer-Encoding: chunked, trailers skipped."""
    body = b""
    while True:
        size = int(f.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        body += f.read(size)
        f.readline()
    while f.readline() not in (b"\r\n", b"\n", b""):
        pass
    return body


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None      # the FakeAws it answers for, set on a subclass per server

    def _handle(self):
        # The target exactly as sent: http.server rewrites a leading "//" of self.path.
        target = self.requestline.split()[1]
        req = Request(self.command, target, self.headers, self._body())
        self._reply(*self.fake.answer(req))

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status, headers, body):
        self.send_response_only(status)
        length = str(len(body))
        for name, value in headers:
            low = name.lower()
            if low == "content-length" and self.command == "HEAD":
                length = value   # a HEAD answer says the length a GET would get
            elif low != "content-length" and low not in HOP_BY_HOP:
                self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass
