#!/usr/bin/python3
"""make bench: tfstatefs against s3fs, rclone mount, the request floor and the local-disk
walk: same run, same bucket.

For each size N and each layout (BENCH_LAYOUTS, default "per10 perdir"), seeds the stack's
radosgw with N states, 100 locks (`<state>.tflock`, lock JSON) and a 50 MB state
(big/terraform.tfstate):
  per10   10 states a directory: team%04d/app%d.tfstate (N/10 directories)
  perdir  one state a directory, as Terraform users name keys: t<i/10>/a<i%10>/terraform.tfstate
          (10,000 states: 1,000 t-directories of 10 a-directories, 11,000 directories)
then times, for each contender (tfstatefs, and BENCH_PEERS, default "s3fs rclone"):
  - cold `find -name '*.tflock'`, and a warm repeat of it
  - `cat` of every lock file, `cat` of the 50 MB state (same mount, after the finds)
  - cold `ls -lR` (on a second fresh mount)
and counts the requests radosgw served for each (its `rgw.req` perf counter), and the
peak RSS of the filesystem process after the find, after the cats and after the ls -lR.

Three floors, in the same run:
  - listing floor: ListObjectsV2 paged sequentially with curl (--aws-sigv4), nothing else
  - local walk: the same tree (empty states, the lock files with their JSON) in a temp
    directory on local disk; `find DIR -name '*.tflock'` run once to warm the page cache,
    then timed three times, the median kept
  - FUSE floor: build/nullfs (tests/bench/nullfs.c) serves the same tree (the locks of
    their size) from memory, with tfstatefs's kernel settings and mount options; the same
    find walks it cold on a fresh mount, then twice warm, and nullfs counts the FUSE
    requests of each: no FUSE filesystem mounted so walks faster. The report gives it beside
    the local walk, with (FUSE floor cold find + listing floor) / (listing floor + local
    walk): the first goal's ratio for a filesystem that lists the bucket, then walks as
    fast as one in memory; and cold find / FUSE floor cold find for every contender.
and the ratios the issue sets goals for (cold find / (listing floor + local walk) <= 1.2,
warm find / local walk <= 2, cold find requests / floor pages <= 1.5, cold ls -lR / cold
find <= 2; and, with BENCH_LATENCY_MS, cold find / listing floor <= 0.6), for every
contender, with which goals tfstatefs holds.

The peers run under a time cap (BENCH_PEER_CAP seconds, default 60; BENCH_S3FS_CAP is its
older name); a capped figure is a lower bound (">"), and so is a ratio over it.
rclone is Debian's `rclone mount --read-only`, configured by RCLONE_CONFIG_BENCH_* in its
environment (provider Ceph, path style, region us-east-1; no config file), with its
default caches.

BENCH_LATENCY_MS=40: every answer of radosgw is held 40 ms by tests/bench/latency_proxy.py,
for the listing floor and every contender alike (seeding goes to radosgw directly).
Requests are still counted by radosgw.

BENCH_BUCKET: a bucket to use instead of a fresh "bench-LAYOUT-N-TIME". "%d" in it becomes
N and "%l" the layout; a name without "%l" is used as written for per10, with "-LAYOUT"
appended for the other layouts. A bucket of that name that exists is used as it is (seeded
by an earlier run with the same N and layout); one that does not is seeded under that
name. Buckets outlive a run only on a stack of one's own (tests/stack/start.sh DIR): make
bench removes its stack at the end.

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
import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from latency_proxy import LatencyProxy  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TFSTATEFS = os.path.join(REPO, "build", "tfstatefs")
NULLFS = os.path.join(REPO, "build", "nullfs")
PEER_CAP = float(os.environ.get("BENCH_PEER_CAP") or os.environ.get("BENCH_S3FS_CAP") or 60)
LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS") or 0)
LOCKS = 100
BIG = 50 << 20
BIG_KEY = "big/terraform.tfstate"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# name: (what the table calls it, key of state i)
LAYOUTS = {
    "per10": ("10 a directory", lambda i: "team%04d/app%d.tfstate" % (i // 10, i % 10)),
    "perdir": ("one a directory", lambda i: "t%d/a%d/terraform.tfstate" % (i // 10, i % 10)),
}

# Goals of the issue, on the ratio rows: (row, goal or None).
GOALS = {"find_vs_floors": 1.2, "warm_vs_walk": 2.0, "find_req_vs_pages": 1.5,
         "ls_vs_find": 2.0, "ls_req_vs_pages": None, "find_vs_fuse": None, "find_vs_floor": 0.6}


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v.strip("'\"")
    return env


class Stack:
    """endpoint: radosgw itself (seeding); served: what the floor and the contenders ask,
    the latency proxy in front of radosgw with BENCH_LATENCY_MS, else radosgw."""

    def __init__(self, env):
        self.env = env
        self.endpoint = self.served = env["TFS_S3_ENDPOINT"]
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


def tree(layout, n, bucket):
    """The keys of the N states, and the locks: {key of the .tflock: its JSON}."""
    keys = [LAYOUTS[layout][1](i) for i in range(n)]
    locks = {k + ".tflock": json.dumps({"ID": "%08d-lock" % i, "Operation": "OperationTypeApply",
                                        "Info": "", "Who": "bench@ci", "Version": "1.11.4",
                                        "Created": "2026-11-28T09:00:00Z",
                                        "Path": bucket + "/" + k}).encode()
             for i, k in enumerate(keys[::max(1, n // LOCKS)][:LOCKS])}
    return keys, locks


def bucket_name(layout, n):
    name = os.environ.get("BENCH_BUCKET", "")
    if not name:
        return "bench-%s-%d-%d" % (layout, n, int(time.time()))
    if "%l" not in name and layout != "per10":
        name += "-%l"
    return name.replace("%d", str(n)).replace("%l", layout)


def seed(stack, bucket, keys, locks):
    """Seeds the bucket, unless it exists (BENCH_BUCKET naming one seeded before): True if
    it seeded."""
    try:
        stack.s3.head_bucket(Bucket=bucket)
        return False
    except botocore.exceptions.ClientError:
        pass
    body = json.dumps({"version": 4, "serial": 1, "resources": []}).encode()
    stack.s3.create_bucket(Bucket=bucket)
    objects = dict.fromkeys(keys, body)
    objects.update(locks)
    with ThreadPoolExecutor(48) as ex:
        list(ex.map(lambda kv: stack.s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                    objects.items()))
    stack.s3.put_object(Bucket=bucket, Key=BIG_KEY, Body=os.urandom(BIG))
    return True


def local_walk(root, keys, locks):
    """The same tree on local disk (states empty, locks with their JSON): the median of
    three timed `find -name '*.tflock'` after one that warms the page cache."""
    for k in keys + [BIG_KEY]:
        path = os.path.join(root, k)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()
    for k, body in locks.items():
        with open(os.path.join(root, k), "wb") as f:
            f.write(body)
    argv = ["find", root, "-name", "*.tflock"]
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(3):
        t0 = time.time()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.time() - t0)
    shutil.rmtree(root, ignore_errors=True)
    return sorted(times)[1]


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
                           "%s/%s?%s" % (stack.served, bucket, query)],
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
    """One mounted contender: its process, for RSS, and its mount point. piped: its stdin
    and stdout are pipes (nullfs's counts)."""

    def __init__(self, name, cmd, mnt, env, piped=False):
        self.name, self.mnt = name, mnt
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if piped else None,
                                     stdout=subprocess.PIPE if piped else subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, text=True, start_new_session=True)
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
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe:
                pipe.close()


def mount_tfstatefs(stack, bucket, mnt):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack.env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack.env["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1")
    return Fs("tfstatefs", [TFSTATEFS, bucket, mnt, "-f", "-o",
                            "endpoint=%s,use_path_style" % stack.served], mnt, env)


def mount_s3fs(stack, bucket, mnt):
    pw = os.path.join(os.path.dirname(mnt), "s3fs.passwd")
    with open(pw, "w") as f:
        f.write("%s:%s\n" % (stack.env["AWS_ACCESS_KEY_ID"], stack.env["AWS_SECRET_ACCESS_KEY"]))
    os.chmod(pw, 0o600)
    return Fs("s3fs", ["s3fs", bucket, mnt, "-f", "-o", "url=%s,use_path_request_style,"
                       "passwd_file=%s,ro,endpoint=us-east-1" % (stack.served, pw)], mnt,
              dict(os.environ))


def mount_rclone(stack, bucket, mnt):
    # No config file: the remote "bench" is all in the environment. AWS_CA_BUNDLE (set on
    # some machines) goes: rclone 1.60's SDK cannot load a CA bundle into its transport and
    # refuses to start, and the endpoint is plain HTTP anyway.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Ceph",
               RCLONE_CONFIG_BENCH_ENV_AUTH="false", RCLONE_CONFIG_BENCH_ENDPOINT=stack.served,
               RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=stack.env["AWS_ACCESS_KEY_ID"],
               RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=stack.env["AWS_SECRET_ACCESS_KEY"],
               RCLONE_CONFIG_BENCH_REGION="us-east-1", RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
    return Fs("rclone", ["rclone", "mount", "bench:" + bucket, mnt, "--read-only",
                         "--config", "/dev/null"], mnt, env)


CONTENDERS = {"tfstatefs": mount_tfstatefs, "s3fs": mount_s3fs, "rclone": mount_rclone}


def timed(stack, argv, cap=None, requests=None):
    """(seconds, requests, capped) of one command; requests counted by radosgw, or by the
    function given."""
    requests = requests or stack.requests
    r0, t0 = requests(), time.time()
    try:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=cap)
        capped = False
    except subprocess.TimeoutExpired:
        capped = True
    return time.time() - t0, requests() - r0, capped


def fuse_served(fs):
    """nullfs's counts of the FUSE requests it served so far, {name: n}: it prints them
    for each line on its stdin ("eof": the empty READDIRPLUS that ends a directory, one of
    the READDIRPLUS)."""
    fs.proc.stdin.write("\n")
    fs.proc.stdin.flush()
    return {k: int(v) for k, v in (kv.split("=") for kv in fs.proc.stdout.readline().split())}


def fuse_floor(stack, keys, locks, workdir):
    """The same tree (empty states, the locks' sizes) served by nullfs on a fresh mount:
    {"find", "warm1", "warm2": (seconds, FUSE requests, False), "ops": the cold find's
    FUSE requests by name}."""
    listing = os.path.join(workdir, "nullfs.list")
    with open(listing, "w") as f:
        f.writelines("%s\t0\n" % k for k in keys + [BIG_KEY])
        f.writelines("%s\t%d\n" % (k, len(body)) for k, body in locks.items())
    mnt = os.path.join(workdir, "nullfs")
    os.makedirs(mnt, exist_ok=True)
    fs = Fs("nullfs", [NULLFS, listing, mnt, "-f"], mnt, dict(os.environ), piped=True)
    try:
        seen = []
        def served():
            seen.append(fuse_served(fs))
            return sum(n for k, n in seen[-1].items() if k != "eof")
        argv = ["find", mnt, "-name", "*.tflock"]
        res = {"find": timed(stack, argv, requests=served)}
        res["ops"] = {k: seen[1][k] - seen[0][k] for k in seen[0]}
        res["warm1"] = timed(stack, argv, requests=served)
        res["warm2"] = timed(stack, argv, requests=served)
        return res
    finally:
        fs.unmount()


def on_fresh_mount(stack, name, bucket, workdir, run):
    mnt = os.path.join(workdir, name)
    os.makedirs(mnt, exist_ok=True)
    fs = CONTENDERS[name](stack, bucket, mnt)
    try:
        return run(fs)
    finally:
        fs.unmount()


def run_contender(stack, name, bucket, locks, workdir):
    cap = None if name == "tfstatefs" else PEER_CAP
    def first(fs):
        m = fs.mnt
        cat_locks = ["sh", "-c", "cat \"$@\" >/dev/null", "cat"] + [os.path.join(m, k) for k in locks]
        res = {"find": timed(stack, ["find", m, "-name", "*.tflock"], cap)}
        res["rss_find_mb"] = fs.rss_mb()   # the tree, before any state is read
        res["find_warm"] = timed(stack, ["find", m, "-name", "*.tflock"], cap)
        res["cat_locks"] = timed(stack, cat_locks, cap)
        res["cat_50MB"] = timed(stack, ["cat", os.path.join(m, BIG_KEY)], cap)
        res["rss_mb"] = fs.rss_mb()
        return res

    def second(fs):   # a cold ls -lR
        return timed(stack, ["ls", "-lR", fs.mnt], cap), fs.rss_mb()

    res = on_fresh_mount(stack, name, bucket, workdir, first)
    res["ls_lR"], res["rss_ls_mb"] = on_fresh_mount(stack, name, bucket, workdir, second)
    return res


def bench(stack, layout, n, workdir, names):
    bucket = bucket_name(layout, n)
    keys, locks = tree(layout, n, bucket)
    t0 = time.time()
    seeded = seed(stack, bucket, keys, locks)
    print("%s %s: %d states, %d locks and a 50 MB state (%s)" % (
        "seeded" if seeded else "reused", bucket, n, len(locks),
        "%.0f s" % (time.time() - t0) if seeded else "seeded before"), flush=True)
    out = {"n": n, "layout": layout, "dirs": len({os.path.dirname(k) for k in keys} |
                                                  {k.split("/")[0] for k in keys}),
           "floor": floor(stack, bucket, workdir),
           "walk": local_walk(os.path.join(workdir, "local"), keys, locks),
           "fuse": fuse_floor(stack, keys, locks, workdir)}
    for name in names:
        out[name] = run_contender(stack, name, bucket, sorted(locks), workdir)
    return out


def fmt(t):
    secs, reqs, capped = t
    return "%s%.2f s / %d req" % (">" if capped else "", secs, reqs)


def ratio(a, a_low, b, b_low):
    """a / b as (value, bound): "" exact, ">" a lower bound (a was capped), "<" an upper
    bound (b was), None when both were."""
    if b <= 0 or (a_low and b_low):
        return None
    return a / b, ">" if a_low else "<" if b_low else ""


def holds(r, goal):
    """True, False or None (the bound does not tell)."""
    if r is None:
        return None
    value, bound = r
    if value <= goal:
        return None if bound == ">" else True
    return None if bound == "<" else False


def ratios(r, name):
    c = r[name]
    fl_s, fl_pages = r["floor"]
    find_s, find_req, find_cap = c["find"]
    out = {"find_vs_floors": ratio(find_s, find_cap, fl_s + r["walk"], False),
           "warm_vs_walk": ratio(c["find_warm"][0], c["find_warm"][2], r["walk"], False),
           "find_req_vs_pages": ratio(find_req, find_cap, fl_pages, False),
           "ls_vs_find": ratio(c["ls_lR"][0], c["ls_lR"][2], find_s, find_cap),
           "ls_req_vs_pages": ratio(c["ls_lR"][1], c["ls_lR"][2], fl_pages, False),
           "find_vs_fuse": ratio(find_s, find_cap, r["fuse"]["find"][0], False)}
    if LATENCY_MS:
        out["find_vs_floor"] = ratio(find_s, find_cap, fl_s, False)
    return out


ROWS = [("find", "cold `find -name '*.tflock'`"), ("find_warm", "warm repeat of it"),
        ("ls_lR", "cold `ls -lR`"), ("cat_locks", "`cat` of the %d lock files" % LOCKS),
        ("cat_50MB", "`cat` of the 50 MB state")]
RATIO_ROWS = [("find_vs_floors", "cold find / (listing floor + local walk)"),
              ("warm_vs_walk", "warm find / local walk"),
              ("find_req_vs_pages", "cold find requests / floor pages"),
              ("ls_vs_find", "cold `ls -lR` / cold find"),
              ("ls_req_vs_pages", "`ls -lR` requests / floor pages"),
              ("find_vs_fuse", "cold find / FUSE floor cold find"),
              ("find_vs_floor", "cold find / listing floor (%g ms latency)" % LATENCY_MS)]


def cell(r, goal):
    if r is None:
        return "n/a"
    text = "%s%.2fx" % (r[1], r[0])
    if goal is None:
        return text
    return text + {True: " (met)", False: " (missed)", None: " (?)"}[holds(r, goal)]


def fuse_floor_lines(r):
    """The FUSE floor beside the local walk, and what it leaves of the goal of 1.2."""
    f, ops, fl_s = r["fuse"], r["fuse"]["ops"], r["floor"][0]
    named = ["readdirplus {:,} ({:,} empty)".format(ops["readdirplus"], ops["eof"])]
    named += ["{} {:,}".format(k, n) for k, n in ops.items() if n and k not in ("readdirplus", "eof")]
    print("FUSE floor (in-memory FUSE fs, same tree): cold find {:.3f} s / {:,} FUSE req ({}); "
          "first warm {:.3f} s / {:,} req; second warm {:.3f} s / {:,} req; local walk {:.3f} s"
          .format(
              f["find"][0], f["find"][1], ", ".join(named), f["warm1"][0], f["warm1"][1],
              f["warm2"][0], f["warm2"][1], r["walk"]))
    goal = GOALS["find_vs_floors"]
    least = ratio(f["find"][0] + fl_s, False, fl_s + r["walk"], False)
    print("(FUSE floor cold find + listing floor) / (listing floor + local walk) [goal <= %g]: %s,"
          " for a filesystem that lists the bucket, then walks as fast as one in memory" % (
              goal, cell(least, goal)))


def report(r, names):
    fl_s, fl_pages = r["floor"]
    print("\n%s states, %s (%s, %s directories)%s" % (
        format(r["n"], ","), r["layout"], LAYOUTS[r["layout"]][0], format(r["dirs"], ","),
        "; every answer held %g ms" % LATENCY_MS if LATENCY_MS else ""))
    fuse_floor_lines(r)
    print("| %s states, %s (floor %.2f s, %d pages; local walk %.3f s; FUSE floor %.2f s) | %s |"
          % (format(r["n"], ","), LAYOUTS[r["layout"]][0], fl_s, fl_pages, r["walk"],
             r["fuse"]["find"][0], " | ".join(names)))
    print("|---|%s" % ("---|" * len(names)))
    for op, label in ROWS:
        print("| %s | %s |" % (label, " | ".join(fmt(r[x][op]) for x in names)))
    print("| peak RSS after the find / the cats / `ls -lR` | %s |" % " | ".join(
        "%.0f / %.0f / %.0f MB" % (r[x]["rss_find_mb"], r[x]["rss_mb"], r[x]["rss_ls_mb"])
        for x in names))
    rs = {x: ratios(r, x) for x in names}
    for key, label in RATIO_ROWS:
        if key not in rs[names[0]]:
            continue
        goal = GOALS[key]
        print("| %s%s | %s |" % (label, " [goal <= %g]" % goal if goal else "",
                                 " | ".join(cell(rs[x][key], goal) for x in names)))
    for x in names:
        verdicts = [(label, holds(rs[x][key], GOALS[key])) for key, label in RATIO_ROWS
                    if key in rs[x] and GOALS[key]]
        print("goals %s holds: %s; misses: %s%s" % (
            x, ", ".join(lb for lb, v in verdicts if v) or "none",
            ", ".join(lb for lb, v in verdicts if v is False) or "none",
            "; undecided (capped): " + ", ".join(lb for lb, v in verdicts if v is None)
            if any(v is None for _, v in verdicts) else ""))
    sys.stdout.flush()


def memory_per_key(runs):
    """What one more key costs the tfstatefs process, from the peak RSS of two sizes."""
    if len(runs) < 2 or "tfstatefs" not in runs[0]:
        return
    a, b = runs[0], runs[-1]
    extra = (b["tfstatefs"]["rss_find_mb"] - a["tfstatefs"]["rss_find_mb"]) * 1024 * 1024
    print("\ntfstatefs memory, %s: %.0f bytes per key (peak RSS after the find %.0f MB at %d"
          " states, %.0f MB at %d)" % (a["layout"], extra / (b["n"] - a["n"]),
                                       a["tfstatefs"]["rss_find_mb"], a["n"],
                                       b["tfstatefs"]["rss_find_mb"], b["n"]))


def main():
    sizes = [int(x) for x in sys.argv[2:]] or [10000]
    layouts = os.environ.get("BENCH_LAYOUTS", "per10 perdir").split()
    peers = os.environ.get("BENCH_PEERS", "s3fs rclone").split()
    names = ["tfstatefs"] + [p for p in peers if p != "none"]
    unknown = [x for x in layouts if x not in LAYOUTS] + [x for x in names if x not in CONTENDERS]
    if unknown:
        raise SystemExit("bench: unknown layout or peer: %s (layouts: %s; peers: s3fs rclone"
                         " none)" % (" ".join(unknown), " ".join(LAYOUTS)))
    stack = Stack(read_env(sys.argv[1]))
    proxy = None
    if LATENCY_MS:
        proxy = LatencyProxy(int(stack.env["TFS_S3_PORT"]), LATENCY_MS / 1000)
        stack.served = proxy.endpoint
        print("latency: every answer of radosgw held %g ms (%s)" % (LATENCY_MS, proxy.endpoint))
    workdir = tempfile.mkdtemp(prefix="tfs-bench-")
    try:
        runs = {x: [] for x in layouts}
        for n in sizes:
            for layout in layouts:
                runs[layout].append(bench(stack, layout, n, workdir, names))
                report(runs[layout][-1], names)
        for layout in layouts:
            memory_per_key(runs[layout])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if proxy:
            proxy.close()


if __name__ == "__main__":
    main()
