"""Fixtures for integration tests: the local stack, a boto3 client, buckets, real mounts.

Every test here mounts build/tfstatefs (or $TFSTATEFS_BIN, e.g. the ASan build) for real
and checks it with plain file operations, then checks the bucket with boto3.
"""
import os
import subprocess
import tempfile
import time
import uuid

import boto3
import botocore.config
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TFSTATEFS_BIN", os.path.join(REPO, "build", "tfstatefs"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                   "ThreadSanitizer")


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                line = line[len("export "):]
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v.strip("'\"")
    return env


@pytest.fixture(scope="session")
def stack():
    """The S3 (radosgw) and DynamoDB (dynalite) stack: reused when tests/check.sh
    started one ($TFS_STACK_ENV), else started here and stopped at the end."""
    given = os.environ.get("TFS_STACK_ENV")
    if given:
        yield read_env(given)
        return
    d = tempfile.mkdtemp(prefix="tfs-stack-")
    subprocess.run([os.path.join(REPO, "tests/stack/start.sh"), d], check=True)
    try:
        yield read_env(os.path.join(d, "env"))
    finally:
        subprocess.run([os.path.join(REPO, "tests/stack/stop.sh"), d], check=False)


def stack_down(stack):
    """The stack's services that are no longer running, each with the end of its log: []
    while all run. Reads the pid files start.sh wrote (pid, then a marker that one argument
    of the command line must be), with stop.sh's rule, so a recycled pid is not the service."""
    down = []
    d = stack["TFS_STACK_DIR"]
    for name in sorted(f[:-4] for f in os.listdir(d) if f.endswith(".pid")):
        with open(os.path.join(d, name + ".pid")) as f:
            pid, marker = (f.read().split("\n") + [""])[:2]
        try:
            with open("/proc/%s/stat" % pid) as f:
                running = f.read().rsplit(")", 1)[1].split()[0] != "Z"
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                running = running and marker.encode() in f.read().split(b"\0")
        except (OSError, IndexError):
            running = False
        if not running:
            try:
                with open(os.path.join(d, "log", name + ".out"), errors="replace") as f:
                    tail = "".join(f.readlines()[-15:])
            except OSError:
                tail = "(no log)\n"
            down.append("%s (pid %s) is not running; the end of %s/log/%s.out:\n%s"
                        % (name, pid, d, name, tail))
    return down


@pytest.fixture(autouse=True)
def stack_stays_up(request):
    """A test that needs the stack fails at once, saying which service is down and why,
    rather than through a client's retries; the test during which a service died fails too."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    down = stack_down(stack)
    if down:
        pytest.fail("the test stack is down:\n" + "\n".join(down), pytrace=False)
    yield
    down = stack_down(stack)
    if down:
        pytest.fail("a test stack service stopped during this test:\n" + "\n".join(down),
                    pytrace=False)


@pytest.fixture(scope="session")
def s3(stack):
    return boto3.client(
        "s3", endpoint_url=stack["TFS_S3_ENDPOINT"], region_name="us-east-1",
        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 3}))


@pytest.fixture
def fake(stack):
    """A fake AWS (fake_aws.py) in front of the stack's radosgw, closed after the test."""
    from fake_aws import FakeAws
    f = FakeAws(int(stack["TFS_S3_PORT"]), stack["AWS_ACCESS_KEY_ID"],
                stack["AWS_SECRET_ACCESS_KEY"])
    yield f
    f.close()


@pytest.fixture
def bucket(s3):
    """A new empty bucket for one test."""
    name = "t-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def bucket_snapshot(s3, bucket):
    """Every key with its ETag: what a test compares to prove nothing changed."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["ETag"]
    return out


class Mount:
    """A running tfstatefs in the foreground (-f), so its exit status and its stderr
    (sanitizer reports included) can be checked when it is unmounted."""

    def __init__(self, stack, source, options=(), env=None, extra_args=(), endpoint_options=None):
        self.path = tempfile.mkdtemp(prefix="tfs-mnt-")
        self.unmounted = False
        self.stderr = tempfile.TemporaryFile(mode="w+")
        if endpoint_options is None:
            endpoint_options = ["endpoint=" + stack["TFS_S3_ENDPOINT"], "use_path_style"]
        opts = list(endpoint_options) + list(options)
        penv = dict(os.environ)
        penv.update({k: stack[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        penv["AWS_REGION"] = "us-east-1"
        penv.update(env or {})
        # Its own session, as a daemonized mount has: a signal meant for the process group
        # of a terraform under test must not reach it.
        self.proc = subprocess.Popen([BIN, source, self.path, "-f", "-o", ",".join(opts),
                                      *extra_args], stderr=self.stderr, env=penv,
                                     start_new_session=True)
        deadline = time.time() + 20
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                os.rmdir(self.path)
                raise AssertionError("tfstatefs exited %d: %s" % (self.proc.returncode, self.log()))
            if time.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                subprocess.run(["fusermount3", "-uz", self.path], capture_output=True)
                os.rmdir(self.path)
                raise AssertionError("mount did not appear: " + self.log())
            time.sleep(0.05)

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def unmount(self):
        self.unmounted = True
        subprocess.run(["fusermount3", "-u", self.path], check=True)
        rc = self.proc.wait(timeout=30)
        os.rmdir(self.path)
        log = self.log()
        assert rc == 0, "tfstatefs exited %d: %s" % (rc, log)
        for mark in SANITIZER_MARKS:
            assert mark not in log, log


@pytest.fixture
def mount(stack):
    """mount(source, options=[...]) -> Mount; every mount is unmounted and checked after."""
    mounts = []

    def make(source, options=(), **kw):
        m = Mount(stack, source, options, **kw)
        mounts.append(m)
        return m
    yield make
    for m in mounts:
        if m.unmounted:
            continue
        if m.proc.poll() is None:
            m.unmount()
            continue
        # It died under the test: say how, with its stderr (a sanitizer report, say).
        subprocess.run(["fusermount3", "-uz", m.path], capture_output=True)
        os.rmdir(m.path)
        raise AssertionError("tfstatefs died during the test (exit %s): %s" % (
            m.proc.returncode, m.log()))


def put_objects(s3, bucket, objects):
    """objects: {key: bytes}; uploaded in parallel."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                    objects.items()))
