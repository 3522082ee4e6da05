#!/usr/bin/python3
"""make bench: tfstatefs against s3fs and against the request floor, same run, same bucket.

Seeds the stack's radosgw with N states (10 per directory) and 100 locks, a 50 MB state,
then times, for each contender:
  - cold `find -name '*.tflock'`, and a warm repeat of it
  - cold `ls -lR`
  - `cat` of every lock file
  - `cat` of the 50 MB state
and counts the requests radosgw served for each (its `rgw.req` perf counter), and the
peak RSS of the filesystem process. The floor is ListObjectsV2 paged sequentially with
curl (--aws-sigv4). s3fs runs under a time cap; a capped figure is a lower bound (">").

    tests/bench/bench.py STACK_ENV [N ...]     (N defaults to 10000)
"""
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TFSTATEFS = os.path.join(REPO, "build", "tfstatefs")
S3FS_CAP = float(os.environ.get("BENCH_S3FS_CAP", "60"))
LOCKS = 100
BIG = 50 << 20
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v.strip("'\"")
    return env


class Stack:
    def __init__(self, env):
        self.env = env
        self.endpoint = env["TFS_S3_ENDPOINT"]
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                               aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                               config=botocore.config.Config(
                                   s3={"addressing_style": "path"}, max_pool_connections=64,
                                   retries={"max_attempts": 5}))

    def requests(self):
        """radosgw's count of requests served so far."""
        out = subprocess.run(["ceph", "--admin-daemon", self.env["TFS_RGW_ASOK"], "perf", "dump"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)["rgw"]["req"]


def seed(stack, bucket, n, reuse=False):
    """The bucket's states and locks (BENCH_BUCKET: one seeded before, only named again)."""
    body = json.dumps({"version": 4, "serial": 1, "resources": []}).encode()
    # N states in N/10 directories, as the issue has it (10,000 states in 1,000 directories).
    keys = ["team%04d/app%d.tfstate" % (i // 10, i % 10) for i in range(n)]
    locks = {k + ".tflock": json.dumps({"ID": "%08d-lock" % i, "Operation": "OperationTypeApply",
                                        "Info": "", "Who": "bench@ci", "Version": "1.11.4",
                                        "Created": "2026-11-28T09:00:00Z",
                                        "Path": bucket + "/" + k}).encode()
             for i, k in enumerate(keys[::max(1, n // LOCKS)][:LOCKS])}
    if reuse:
        return sorted(locks)
    stack.s3.create_bucket(Bucket=bucket)
    objects = dict.fromkeys(keys, body)
    objects.update(locks)
    with ThreadPoolExecutor(48) as ex:
        list(ex.map(lambda kv: stack.s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                    objects.items()))
    stack.s3.put_object(Bucket=bucket, Key="big/terraform.tfstate", Body=os.urandom(BIG))
    return sorted(locks)


def curl_config(stack, workdir):
    """A curl config file with the keys: the secret stays off the command line."""
    cfg = os.path.join(workdir, "curl.cfg")
    with open(cfg, "w") as f:
        f.write('user = "%s:%s"\n' % (stack.env["AWS_ACCESS_KEY_ID"],
                                        stack.env["AWS_SECRET_ACCESS_KEY"]))
    os.chmod(cfg, 0o600)
    return cfg


def curl_get(stack, cfg, bucket, query):
    """One signed GET of the bucket with query (parameters in canonical order, values
    already percent-encoded: curl 7.88's --aws-sigv4 signs the query as it finds it)."""
    return subprocess.run(["curl", "-sS", "--fail", "-K", cfg, "--aws-sigv4",
                           "aws:amz:us-east-1:s3", "-H", "x-amz-content-sha256: " + EMPTY_SHA256,
                           "%s/%s?%s" % (stack.endpoint, bucket, query)],
                          capture_output=True, text=True, check=True).stdout


def floor(stack, bucket, workdir):
    """ListObjectsV2 paged sequentially with curl, nothing else: (seconds, pages)."""
    cfg = curl_config(stack, workdir)
    token, pages, t0 = None, 0, time.time()
    while True:
        query = "list-type=2&max-keys=1000"
        if token:
            query = "continuation-token=%s&%s" % (urllib.parse.quote(token, safe=""), query)
        out = curl_get(stack, cfg, bucket, query)
        pages += 1
        m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", out)
        if "<IsTruncated>true</IsTruncated>" not in out or not m:
            return time.time() - t0, pages
        token = html.unescape(m.group(1))


class Fs:
    """One mounted contender: its process, for RSS, and its mount point."""

    def __init__(self, name, cmd, mnt, env):
        self.name, self.mnt = name, mnt
        self.proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 30
        while not os.path.ismount(mnt):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("bench: %s did not mount" % name)
            time.sleep(0.05)

    def rss_mb(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        subprocess.run(["fusermount", "-u", self.mnt], capture_output=True)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)


def mount_tfstatefs(stack, bucket, mnt):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack.env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack.env["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1")
    return Fs("tfstatefs", [TFSTATEFS, bucket, mnt, "-f", "-o",
                            "endpoint=%s,use_path_style" % stack.endpoint], mnt, env)


def mount_s3fs(stack, bucket, mnt, workdir):
    pw = os.path.join(workdir, "s3fs.passwd")
    with open(pw, "w") as f:
        f.write("%s:%s\n" % (stack.env["AWS_ACCESS_KEY_ID"], stack.env["AWS_SECRET_ACCESS_KEY"]))
    os.chmod(pw, 0o600)
    return Fs("s3fs", ["s3fs", bucket, mnt, "-f", "-o", "url=%s,use_path_request_style,"
                       "passwd_file=%s,ro,endpoint=us-east-1" % (stack.endpoint, pw)], mnt,
              dict(os.environ))


def timed(stack, argv, cap=None):
    """(seconds, requests, capped) of one command."""
    r0, t0 = stack.requests(), time.time()
    try:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=cap)
        capped = False
    except subprocess.TimeoutExpired:
        capped = True
    return time.time() - t0, stack.requests() - r0, capped


def run_contender(stack, fs, locks, cap):
    m = fs.mnt
    cat_locks = ["sh", "-c", "cat \"$@\" >/dev/null", "cat"] + [os.path.join(m, k) for k in locks]
    res = {"find": timed(stack, ["find", m, "-name", "*.tflock"], cap)}
    res["rss_find_mb"] = fs.rss_mb()   # the tree, before any state is read
    res["find_warm"] = timed(stack, ["find", m, "-name", "*.tflock"], cap)
    res["ls_lR"] = timed(stack, ["ls", "-lR", m], cap)
    res["cat_locks"] = timed(stack, cat_locks, cap)
    res["cat_50MB"] = timed(stack, ["cat", os.path.join(m, "big/terraform.tfstate")], cap)
    res["rss_mb"] = fs.rss_mb()
    return res


def fresh_mount(stack, mounter, bucket, workdir, name):
    mnt = os.path.join(workdir, name)
    os.makedirs(mnt, exist_ok=True)
    return mounter(stack, bucket, mnt)


def bench(stack, n, workdir):
    # BENCH_BUCKET: a bucket seeded by an earlier run ("%d" in it becomes N).
    reuse = os.environ.get("BENCH_BUCKET", "")
    bucket = reuse.replace("%d", str(n)) if reuse else "bench-%d-%d" % (n, int(time.time()))
    t0 = time.time()
    locks = seed(stack, bucket, n, reuse=bool(reuse))
    print("seeded %d states, %d locks and a 50 MB state in %.0f s" % (n, len(locks), time.time() - t0))
    fl = floor(stack, bucket, workdir)
    out = {"n": n, "floor": fl}
    for name, mounter, cap in (("tfstatefs", mount_tfstatefs, None),
                               ("s3fs", lambda s, b, m: mount_s3fs(s, b, m, workdir), S3FS_CAP)):
        # A cold find on a fresh mount, then the rest on a second fresh mount (cold ls -lR).
        fs = fresh_mount(stack, mounter, bucket, workdir, name)
        try:
            res = run_contender(stack, fs, locks, cap)
        finally:
            fs.unmount()
        fs = fresh_mount(stack, mounter, bucket, workdir, name)
        try:
            res["ls_lR"] = timed(stack, ["ls", "-lR", fs.mnt], cap)
        finally:
            fs.unmount()
        out[name] = res
    return out


def fmt(t):
    secs, reqs, capped = t
    return "%s%.2f s / %d req" % (">" if capped else "", secs, reqs)


def report(r):
    fl_s, fl_pages = r["floor"]
    print("\n%d states: floor (ListObjectsV2 paged sequentially with curl) %.2f s, %d pages" % (r["n"], fl_s, fl_pages))
    print("| operation | tfstatefs | s3fs | tfstatefs / floor | s3fs / tfstatefs |")
    print("|---|---|---|---|---|")
    for op in ("find", "find_warm", "ls_lR", "cat_locks", "cat_50MB"):
        a, b = r["tfstatefs"][op], r["s3fs"][op]
        vs_floor = "%.2fx time, %.2fx req" % (a[0] / fl_s, a[1] / fl_pages) if op in ("find", "ls_lR") else ""
        ratio = "%s%.1fx" % (">" if b[2] else "", b[0] / a[0]) if a[0] > 0 else ""
        print("| %s | %s | %s | %s | %s |" % (op, fmt(a), fmt(b), vs_floor, ratio))
    print("| peak RSS after the find | %.0f MB | %.0f MB | | |" % (r["tfstatefs"]["rss_find_mb"],
                                                              r["s3fs"]["rss_find_mb"]))
    print("| peak RSS after all | %.0f MB | %.0f MB | | |" % (r["tfstatefs"]["rss_mb"], r["s3fs"]["rss_mb"]))


def memory_per_key(runs):
    """What one more key costs the tfstatefs process, from the peak RSS of two sizes."""
    if len(runs) < 2:
        return
    a, b = runs[0], runs[-1]
    extra = (b["tfstatefs"]["rss_find_mb"] - a["tfstatefs"]["rss_find_mb"]) * 1024 * 1024
    print("\ntfstatefs memory: %.0f bytes per key (peak RSS after the find %.0f MB at %d states,"
          " %.0f MB at %d)" % (extra / (b["n"] - a["n"]), a["tfstatefs"]["rss_find_mb"], a["n"],
                               b["tfstatefs"]["rss_find_mb"], b["n"]))


def main():
    stack = Stack(read_env(sys.argv[1]))
    sizes = [int(x) for x in sys.argv[2:]] or [10000]
    workdir = tempfile.mkdtemp(prefix="tfs-bench-")
    try:
        runs = []
        for n in sizes:
            runs.append(bench(stack, n, workdir))
            report(runs[-1])
        memory_per_key(runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
