#!/usr/bin/python3
"""make bench, history part (BENCH_HISTORY=1): what /.tfstatefs/history, lock-history and
the versioning lines of status cost, on versioned buckets. Measured, not asserted.

(a) One state with VERSIONS versions (default 1,000), a lock taken and released around
    every 10th write (a .tflock version and its delete marker each) and one lock still
    held: `ls` of its history directory, `cat index` cold and warm.
(b) STATES states (default 10,000, 10 a directory) with PER entries each (default 20:
    PER - 2*(PER//10) versions of the state, and PER//10 locks taken and released, each
    a .tflock version and a delete marker): `cat /.tfstatefs/status`, then
    `cat /.tfstatefs/lock-history` cold and warm; and the floor they cannot beat:
    ListObjectVersions of the bucket paged one after another with curl.

For each command: the time, the mount's own request counts (the `*_requests` and
`history_version_gets` of /.tfstatefs/stats, before and after), radosgw's count
(`rgw.req`), and the mount's peak RSS after it. Each part runs on a fresh mount.

    tests/bench/bench_history.py STACK_ENV [VERSIONS [STATES [PER]]]    (0 skips a part)

BENCH_HISTORY_BUCKETS="A B": buckets seeded by an earlier run with the same sizes, only
named again (the names are printed after seeding). They outlive a run only on a stack
of one's own (tests/stack/start.sh DIR): make bench removes its stack at the end.
"""
import datetime
import hashlib
import hmac
import html
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Stack, curl_config, curl_get, mount_tfstatefs, read_env  # noqa: E402

LOCK_EVERY = 10
SEED_THREADS = 64


class Putter:
    """PUT and DELETE of one object, signed (SigV4, UNSIGNED-PAYLOAD) and sent over one
    keep-alive connection per thread: a few hundred microseconds of Python a request
    where boto3 spends about 1.5 ms, which on two cores shared with radosgw is what
    bounds seeding 200,000 versions. Retries 5xx and dropped connections."""

    def __init__(self, stack):
        u = urllib.parse.urlsplit(stack.endpoint)
        self.host, self.port, self.netloc = u.hostname, u.port, u.netloc
        self.access = stack.env["AWS_ACCESS_KEY_ID"]
        self.secret = stack.env["AWS_SECRET_ACCESS_KEY"]
        self.local = threading.local()

    def _auth(self, method, path, amz):
        day = amz[:8]
        canon = "\n".join([method, path, "", "host:" + self.netloc,
                           "x-amz-content-sha256:UNSIGNED-PAYLOAD", "x-amz-date:" + amz, "",
                           "host;x-amz-content-sha256;x-amz-date", "UNSIGNED-PAYLOAD"])
        scope = day + "/us-east-1/s3/aws4_request"
        k = ("AWS4" + self.secret).encode()
        for part in (day, "us-east-1", "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                             hashlib.sha256(canon.encode()).hexdigest()])
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        return ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-content-sha256;"
                "x-amz-date, Signature=%s" % (self.access, scope, sig))

    def send(self, method, bucket, key, body=b""):
        path = "/%s/%s" % (bucket, urllib.parse.quote(key, safe="/-_.~"))
        for attempt in range(6):
            amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            headers = {"Host": self.netloc, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                       "x-amz-date": amz, "Authorization": self._auth(method, path, amz)}
            try:
                c = getattr(self.local, "conn", None)
                if c is None:
                    c = self.local.conn = http.client.HTTPConnection(self.host, self.port,
                                                                     timeout=60)
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                if r.status < 300:
                    return
                if r.status < 500 and r.status != 429:
                    raise SystemExit("bench: %s %s: %d %s" % (method, key, r.status, data[:300]))
            except (OSError, http.client.HTTPException):
                self.local.conn = None
            time.sleep(0.1 * 2 ** attempt)
        raise SystemExit("bench: %s %s failed 6 times" % (method, key))


def state_body(serial, lineage, pad):
    """A version 4 state; pad bytes of resource attributes make it a realistic size."""
    return json.dumps({
        "version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage,
        "outputs": {}, "check_results": None,
        "resources": [{"mode": "managed", "type": "terraform_data", "name": "x",
                       "provider": "provider[\"terraform.io/builtin/terraform\"]",
                       "instances": [{"schema_version": 0,
                                      "attributes": {"id": lineage, "input": "x" * pad}}]}],
    }, indent=2).encode() + b"\n"


def lock_body(bucket, key, n):
    return json.dumps({"ID": str(uuid.UUID(int=n)), "Operation": "OperationTypeApply",
                       "Info": "", "Who": "bench@ci-%d" % (n % 7), "Version": "1.11.4",
                       "Created": "2026-11-28T09:00:00.000000000Z",
                       "Path": "%s/%s" % (bucket, key)}, separators=(",", ":")).encode()


def write_state(s3, bucket, key, nversions, nlocks, pad, held=False, first_lock=0):
    """nversions writes of key, nlocks of them inside a lock taken and released (spread
    evenly), in order, as Terraform would; held: one more lock taken and kept."""
    lineage = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
    every = max(1, nversions // nlocks) if nlocks else 0
    locks = 0
    for v in range(nversions):
        locked = nlocks and v % every == 0 and locks < nlocks
        if locked:
            s3.put_object(Bucket=bucket, Key=key + ".tflock",
                          Body=lock_body(bucket, key, first_lock + locks))
        s3.put_object(Bucket=bucket, Key=key, Body=state_body(v + 1, lineage, pad))
        if locked:
            s3.delete_object(Bucket=bucket, Key=key + ".tflock")
            locks += 1
    if held:
        s3.put_object(Bucket=bucket, Key=key + ".tflock",
                      Body=lock_body(bucket, key, first_lock + locks))


def new_bucket(stack, name):
    stack.s3.create_bucket(Bucket=name)
    stack.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


ONE_KEY = "prod/network/terraform.tfstate"


def seed_one(stack, versions, bucket=None):
    """(a): one state, its versions written one after another (their order is the point)."""
    if bucket:
        return bucket
    bucket = new_bucket(stack, "benchhist-one-%d-%d" % (versions, int(time.time())))
    write_state(stack.s3, bucket, ONE_KEY, versions, versions // LOCK_EVERY, 3000, held=True)
    return bucket


def big_key(i):
    return "team%04d/app%d.tfstate" % (i // 10, i % 10)


def seed_many(stack, states, per, bucket=None):
    """(b): many states, written step by step: each step is one write of every state
    (SEED_THREADS at a time, through Putter), so that each state's versions come in the
    order write_state would give them; releasing all the locks at once is DeleteObjects of
    1,000 keys a request (each a delete marker, as Terraform's unlock leaves)."""
    if bucket:
        return bucket
    bucket = new_bucket(stack, "benchhist-many-%d-%d-%d" % (states, per, int(time.time())))
    s3, put = stack.s3, Putter(stack)
    nlocks = per // LOCK_EVERY
    nversions = per - 2 * nlocks
    every = max(1, nversions // nlocks) if nlocks else 0
    keys = [big_key(i) for i in range(states)]
    lineages = [str(uuid.uuid5(uuid.NAMESPACE_URL, k)) for k in keys]
    with ThreadPoolExecutor(SEED_THREADS) as ex:
        locks = 0
        for v in range(nversions):
            locked = nlocks and v % every == 0 and locks < nlocks
            if locked:
                list(ex.map(lambda i: put.send("PUT", bucket, keys[i] + ".tflock",
                                               lock_body(bucket, keys[i], i * nlocks + locks)),
                            range(states)))
            list(ex.map(lambda i: put.send("PUT", bucket, keys[i],
                                           state_body(v + 1, lineages[i], 100)),
                        range(states)))
            if locked:
                batches = [keys[j:j + 1000] for j in range(0, states, 1000)]
                list(ex.map(lambda b: s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k + ".tflock"} for k in b],
                                           "Quiet": True}), batches))
                locks += 1
    return bucket


def versions_floor(stack, bucket, workdir):
    """ListObjectVersions of the whole bucket paged sequentially with curl, nothing else:
    (seconds, pages), what status and lock-history cannot list in less. Parameters in
    canonical order, the markers already percent-encoded (as bench.floor does)."""
    cfg = curl_config(stack, workdir)
    marker, pages, t0 = None, 0, time.time()
    while True:
        query = "max-keys=1000&versions="
        if marker:
            query = "key-marker=%s&max-keys=1000&version-id-marker=%s&versions=" % tuple(
                urllib.parse.quote(m, safe="") for m in marker)
        out = curl_get(stack, cfg, bucket, query)
        pages += 1
        k = re.search(r"<NextKeyMarker>([^<]*)</NextKeyMarker>", out)
        v = re.search(r"<NextVersionIdMarker>([^<]*)</NextVersionIdMarker>", out)
        if "<IsTruncated>true</IsTruncated>" not in out or not k or not v:
            return time.time() - t0, pages
        marker = (html.unescape(k.group(1)), html.unescape(v.group(1)))


def mount_stats(fs):
    """The request counts of /.tfstatefs/stats, opened through a descriptor of /.tfstatefs
    held since the mount: a path from the root would make the kernel look `.tfstatefs` up
    again once its entry has expired, and such a lookup past cache_ttl lists the root again
    (23 requests at 10,000 states), which is the tree's cost, not history's."""
    out = {}
    fd = os.open("stats", os.O_RDONLY, dir_fd=fs.reports_fd)
    with os.fdopen(fd) as f:
        for line in f:
            k, v = line.rstrip("\n").split("\t")
            if k.endswith("_requests") or k.startswith("history_"):
                out[k] = int(v)
    return out


def measure(stack, fs, argv, in_reports=False):
    """One command on the mount: seconds, the mount's request counts that changed,
    radosgw's count, peak RSS after (MB), and the lines it printed. in_reports: run in
    /.tfstatefs (entered through the held descriptor), its paths relative to it."""
    before, r0, t0 = mount_stats(fs), stack.requests(), time.time()
    out = subprocess.run(argv, capture_output=True, check=True,
                         preexec_fn=(lambda: os.fchdir(fs.reports_fd)) if in_reports else None
                         ).stdout
    secs, rgw = time.time() - t0, stack.requests() - r0
    after = mount_stats(fs)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    return {"secs": secs, "mount": delta, "rgw": rgw, "rss_mb": fs.rss_mb(),
            "lines": out.count(b"\n")}


def fresh(stack, bucket, workdir, name):
    mnt = os.path.join(workdir, name)
    os.makedirs(mnt, exist_ok=True)
    fs = mount_tfstatefs(stack, bucket, mnt)
    fs.reports_fd = os.open(os.path.join(mnt, ".tfstatefs"), os.O_RDONLY | os.O_DIRECTORY)
    return fs


def unmount(fs):
    os.close(fs.reports_fd)
    fs.unmount()


KEYS = ("s3_list_requests", "s3_listversions_requests", "s3_versioning_requests",
        "s3_get_requests", "history_version_gets")


def fmt_requests(d):
    shown = ["%s %d" % (k.replace("_requests", ""), d[k]) for k in KEYS if d.get(k)]
    shown += ["%s %d" % (k.replace("_requests", ""), v) for k, v in sorted(d.items())
              if k not in KEYS and v and k.endswith("_requests")]
    return ", ".join(shown) or "none"


def row(name, r):
    print("| %s | %.2f s | %s | %d | %.0f MB | %d |" % (name, r["secs"], fmt_requests(r["mount"]),
                                                        r["rgw"], r["rss_mb"], r["lines"]))


def header(title, base_mb):
    print("\n%s; peak RSS %.0f MB once mounted" % (title, base_mb))
    print("| command | time | the mount's requests (/.tfstatefs/stats) | radosgw requests "
          "| peak RSS after | lines |")
    print("|---|---|---|---|---|---|")


def part_one(stack, workdir, versions, bucket):
    t0, reused = time.time(), bucket
    bucket = seed_one(stack, versions, bucket)
    print("(a) %s: one state, %d versions, %d locks released and one held, %s"
          % (bucket, versions, versions // LOCK_EVERY, "seeded before" if reused else
             "seeded in %.0f s" % (time.time() - t0)))
    fs = fresh(stack, bucket, workdir, "one")
    try:
        base = fs.rss_mb()
        h = os.path.join(fs.mnt, ".tfstatefs/history", ONE_KEY)
        res = [("`ls` of its history directory (cold mount)", measure(stack, fs, ["ls", h])),
               ("`cat index` cold", measure(stack, fs, ["cat", os.path.join(h, "index")])),
               ("`cat index` warm", measure(stack, fs, ["cat", os.path.join(h, "index")]))]
    finally:
        unmount(fs)
    header("(a) one state, %d versions (+ %d lock versions, %d delete markers)"
           % (versions, versions // LOCK_EVERY + 1, versions // LOCK_EVERY), base)
    for name, r in res:
        row(name, r)


def part_many(stack, workdir, states, per, bucket):
    t0, reused = time.time(), bucket
    bucket = seed_many(stack, states, per, bucket)
    secs = time.time() - t0
    print("(b) %s: %d states, %d entries each (%d versions in all), %s"
          % (bucket, states, per, states * per, "seeded before" if reused else
             "seeded in %.0f s (%.0f/s)" % (secs, states * per / secs)))
    fl_secs, fl_pages = versions_floor(stack, bucket, workdir)
    print("floor: ListObjectVersions of the bucket paged sequentially with curl, %.2f s, %d pages"
          % (fl_secs, fl_pages))
    fs = fresh(stack, bucket, workdir, "many")
    try:
        base = fs.rss_mb()
        res = [("`cat status`", measure(stack, fs, ["cat", "status"], True)),
               ("`cat lock-history` cold", measure(stack, fs, ["cat", "lock-history"], True)),
               ("`cat lock-history` warm", measure(stack, fs, ["cat", "lock-history"], True))]
    finally:
        unmount(fs)
    nlocks = per // LOCK_EVERY
    header("(b) %d states x %d = %d versions (%d lock versions, %d delete markers)"
           % (states, per, states * per, states * nlocks, states * nlocks), base)
    for name, r in res:
        row(name, r)


def main():
    stack = Stack(read_env(sys.argv[1]))
    args = [int(x) for x in sys.argv[2:]]
    versions, states, per = (args + [1000, 10000, 20][len(args):])[:3]
    reuse = os.environ.get("BENCH_HISTORY_BUCKETS", "").split() or [None, None]
    workdir = tempfile.mkdtemp(prefix="tfs-bench-hist-")
    try:
        if versions:
            part_one(stack, workdir, versions, reuse[0])
        if states:
            part_many(stack, workdir, states, per, reuse[1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
