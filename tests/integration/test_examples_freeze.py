"""examples/freeze and examples/thaw against real mounts (-o lock_create), as a user runs
them: plain file tools on the mount, no AWS credentials of their own. The bucket is
checked with boto3: the locks freeze takes are real lock objects, a lock someone else
holds is never touched, and thaw removes only the locks freeze recorded."""
import json
import os
import pwd
import re
import socket
import subprocess
import time
import uuid

from test_dynamodb import ddb, ddb_options, item, put_lock, table  # noqa: F401 (fixtures)
from test_examples import EXAMPLES, lock_keys, seed
from terraform_helper import Terraform, needs_terraform
from test_locks import cat, get, lock_body

WHO = "%s@%s" % (pwd.getpwuid(os.getuid()).pw_name, socket.gethostname())
REASON = "db migration, back at 15:00"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RECORD_NAME = r"\.tfstatefs-freeze-\d{8}T\d{6}Z"
APPLY = (60, "bob@ci-7", "OperationTypeApply")


def run(script, *args, cwd, env=None, check_rc=None):
    """A script in directory cwd (where freeze writes its record by default), with no
    AWS variables at all: it may only use the mount."""
    penv = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/")}
    penv.update(env or {})
    r = subprocess.run([os.path.join(EXAMPLES, script), *args], capture_output=True, text=True,
                       env=penv, cwd=str(cwd), stdin=subprocess.DEVNULL, timeout=300)
    if check_rc is not None:
        assert r.returncode == check_rc, "%s %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            script, args, r.returncode, r.stdout, r.stderr)
    return r


def lock_doc(s3, bucket, state):
    got = get(s3, bucket, state + ".tflock")
    return json.loads(got[0]) if got else None


def frozen_ids(stdout):
    """{state: lock ID} of the "frozen STATE (ID ...)" lines."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^frozen (.*) \(ID (%s)\)$" % UUID, stdout, re.M)}


def records(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith(".tfstatefs-freeze-"))


def assert_ours(s3, bucket, state, lock_id, reason=REASON):
    doc = lock_doc(s3, bucket, state)
    assert doc is not None, "no lock object for " + state
    assert (doc["ID"], doc["Operation"], doc["Who"], doc["Info"], doc["Path"]) == (
        lock_id, "tfstatefs freeze", WHO, reason, "%s/%s" % (bucket, state)), doc


# ---------------------------------------------------------------- usage

def test_help_usage_errors_and_not_a_mount(tmp_path):
    for script in ("freeze", "thaw"):
        r = run(script, "--help", cwd=tmp_path, check_rc=0)
        assert r.stdout.startswith("usage: %s " % script) and r.stderr == ""
        r = run(script, "--no-such-option", cwd=tmp_path, check_rc=2)
        assert "unknown option --no-such-option" in r.stderr and "usage: " in r.stderr
    r = run("freeze", cwd=tmp_path, check_rc=2)
    assert "MOUNTPOINT is missing" in r.stderr and "usage: freeze " in r.stderr
    assert r.stdout == ""
    r = run("freeze", str(tmp_path), cwd=tmp_path, check_rc=2)
    assert "PATH is missing (give . to freeze every state of " in r.stderr
    r = run("freeze", str(tmp_path), ".", cwd=tmp_path, check_rc=2)
    assert "not a tfstatefs mount" in r.stderr and r.stdout == ""
    r = run("freeze", str(tmp_path / "missing"), ".", cwd=tmp_path, check_rc=2)
    assert "not a directory" in r.stderr
    for bad, why in (("two\nlines", "REASON must be one line of text"),
                     ("tab\there", "REASON must be one line of text"),
                     ("  ", "REASON is empty"), ("x" * 1025, "REASON is over 1024 bytes")):
        r = run("freeze", "-m", bad, str(tmp_path), ".", cwd=tmp_path, check_rc=2)
        assert why in r.stderr, r.stderr
    r = run("freeze", "-m", cwd=tmp_path, check_rc=2)
    assert "-m needs a reason" in r.stderr
    assert records(tmp_path) == []

    r = run("thaw", cwd=tmp_path, check_rc=2)
    assert "RECORD is missing (no .tfstatefs-freeze-* file in " in r.stderr
    assert "usage: thaw [RECORD]" in r.stderr
    r = run("thaw", "a", "b", cwd=tmp_path, check_rc=2)
    assert "one RECORD only" in r.stderr
    r = run("thaw", "missing", cwd=tmp_path, check_rc=2)
    assert "missing: no such file" in r.stderr
    (tmp_path / "notes").write_text("hello\n")
    r = run("thaw", "notes", cwd=tmp_path, check_rc=2)
    assert "notes: not a freeze record" in r.stderr
    # A record whose mount point is not mounted (any more): nothing is tried.
    rec = "# tfstatefs freeze record: x\n%s\t%s\ta/terraform.tfstate\n" % (uuid.uuid4(), tmp_path)
    for name in (".tfstatefs-freeze-20260101T000000Z", ".tfstatefs-freeze-20260101T000001Z"):
        (tmp_path / name).write_text(rec)
    r = run("thaw", ".tfstatefs-freeze-20260101T000000Z", cwd=tmp_path, check_rc=2)
    assert "%s: not a tfstatefs mount point" % tmp_path in r.stderr and r.stdout == ""
    r = run("thaw", cwd=tmp_path, check_rc=2)
    assert "RECORD is missing, and %s has 2: " % tmp_path in r.stderr
    assert len(records(tmp_path)) == 2, "a refused thaw removes no record"


# ---------------------------------------------------------------- freeze, then thaw

def test_freeze_takes_the_free_locks_and_thaw_removes_only_those(s3, bucket, mount, tmp_path):
    seed(s3, bucket, {"prod/network/terraform.tfstate": None,
                      "teams/my app/terraform.tfstate": None,
                      "teams/app/terraform.tfstate": APPLY,     # someone else's apply
                      "other/terraform.tfstate": None})         # not under the PATHs
    foreign = get(s3, bucket, "teams/app/terraform.tfstate.tflock")
    foreign_doc = json.loads(foreign[0])
    m = mount(bucket, ["lock_create"])
    r = run("freeze", "-m", REASON, m.path, "prod", m.p("teams") + "/", cwd=tmp_path, check_rc=1)
    lines = r.stdout.splitlines()
    ids = frozen_ids(r.stdout)
    assert set(ids) == {"prod/network/terraform.tfstate", "teams/my app/terraform.tfstate"}
    assert lines[:3] == [
        "frozen prod/network/terraform.tfstate (ID %s)" % ids["prod/network/terraform.tfstate"],
        "already locked teams/app/terraform.tfstate by bob@ci-7 (OperationTypeApply, ID %s)"
        % foreign_doc["ID"],
        "frozen teams/my app/terraform.tfstate (ID %s)" % ids["teams/my app/terraform.tfstate"],
    ], r.stdout
    assert lines[3] == "2 frozen, 1 already locked, 0 failed"
    [name] = records(tmp_path)
    assert re.fullmatch(RECORD_NAME, name), name
    assert lines[4] == "record: %s (thaw %s removes the locks it holds)" % (name, name)
    assert len(lines) == 5 and r.stderr == ""
    # Real locks, with the reason as Info; the foreign lock byte for byte; nothing else.
    for state, lock_id in ids.items():
        assert_ours(s3, bucket, state, lock_id)
        assert "Info:      %s\n" % REASON in cat(m.p(state + ".tflock")).decode()
    assert get(s3, bucket, "teams/app/terraform.tfstate.tflock") == foreign
    assert lock_keys(s3, bucket) == set(ids) | {"teams/app/terraform.tfstate"}
    record = (tmp_path / name).read_text()
    assert record.startswith("# tfstatefs freeze record: ")
    assert [line for line in record.splitlines() if not line.startswith("#")] == [
        "%s\t%s\t%s" % (ids[s], m.path, s) for s in sorted(ids)], record

    r = run("thaw", cwd=tmp_path, check_rc=0)
    assert r.stdout.splitlines() == [
        "thawed prod/network/terraform.tfstate",
        "thawed teams/my app/terraform.tfstate",
        "2 thawed, 0 already gone, 0 left, 0 failed"], r.stdout
    assert r.stderr == ""
    assert lock_keys(s3, bucket) == {"teams/app/terraform.tfstate"}
    assert get(s3, bucket, "teams/app/terraform.tfstate.tflock") == foreign
    assert records(tmp_path) == [], "a record with no lock of ours left is removed"
    # The same states can be frozen again: every state, with the default reason.
    r = run("freeze", m.path, ".", cwd=tmp_path, check_rc=1)
    assert set(frozen_ids(r.stdout)) == {"prod/network/terraform.tfstate",
                                         "teams/my app/terraform.tfstate",
                                         "other/terraform.tfstate"}, r.stdout
    assert lock_doc(s3, bucket, "other/terraform.tfstate")["Info"] == (
        "frozen with tfstatefs freeze, no reason given")
    run("thaw", cwd=tmp_path, check_rc=0)
    assert lock_keys(s3, bucket) == {"teams/app/terraform.tfstate"}


def test_freeze_names_the_holder_of_a_lock_taken_after_the_mount_looked(
        s3, bucket, mount, tmp_path):
    """The mount (lock_ttl=600) and the kernel hold the lock file as absent; the create
    is refused by S3 all the same, and the lock file then shows the holder."""
    seed(s3, bucket, {"a/terraform.tfstate": None})
    m = mount(bucket, ["lock_create", "lock_ttl=600", "cache_ttl=600"])
    assert not os.path.exists(m.p("a/terraform.tfstate.tflock"))
    theirs = lock_body(bucket, "a/terraform.tfstate", who="eve@ci-3")
    s3.put_object(Bucket=bucket, Key="a/terraform.tfstate.tflock", Body=theirs)
    r = run("freeze", m.path, "a/terraform.tfstate", cwd=tmp_path, check_rc=1)
    assert r.stdout.splitlines() == [
        "already locked a/terraform.tfstate by eve@ci-3 (OperationTypeApply, ID %s)"
        % json.loads(theirs)["ID"],
        "0 frozen, 1 already locked, 0 failed"], r.stdout
    assert get(s3, bucket, "a/terraform.tfstate.tflock")[0] == theirs
    assert records(tmp_path) == [], "no lock taken: no record"


def test_thaw_leaves_a_lock_that_replaced_ours(s3, bucket, mount, tmp_path):
    states = ["a/terraform.tfstate", "b/terraform.tfstate", "c c/terraform.tfstate"]
    seed(s3, bucket, dict.fromkeys(states))
    m = mount(bucket, ["lock_create"])
    record = str(tmp_path / "my record")
    r = run("freeze", "-o", record, "-m", REASON, m.path, ".", cwd=tmp_path, check_rc=0)
    ids = frozen_ids(r.stdout)
    assert set(ids) == set(states), r.stdout
    assert r.stdout.splitlines()[-2:] == [
        "3 frozen, 0 already locked, 0 failed",
        "record: %s (thaw %s removes the locks it holds)" % (record, record.replace(" ", "\\ "))]
    assert records(tmp_path) == []
    # Meanwhile: a's lock is force-unlocked and someone else takes it; b's is just removed.
    s3.delete_object(Bucket=bucket, Key="a/terraform.tfstate.tflock")
    theirs = lock_body(bucket, "a/terraform.tfstate", who="eve@ci-3")
    s3.put_object(Bucket=bucket, Key="a/terraform.tfstate.tflock", Body=theirs)
    s3.delete_object(Bucket=bucket, Key="b/terraform.tfstate.tflock")
    time.sleep(1.5)     # lock_ttl: the mount asks S3 again
    r = run("thaw", record, cwd=tmp_path, check_rc=1)
    assert r.stdout.splitlines() == [
        "left a/terraform.tfstate: now locked by eve@ci-3 (ID %s), not ours"
        % json.loads(theirs)["ID"],
        "already gone b/terraform.tfstate",
        "thawed c c/terraform.tfstate",
        "1 thawed, 1 already gone, 1 left, 0 failed"], r.stdout
    assert r.stderr == ""
    assert get(s3, bucket, "a/terraform.tfstate.tflock")[0] == theirs
    assert lock_keys(s3, bucket) == {"a/terraform.tfstate"}
    assert not os.path.exists(record), "none of ours is left: the record goes"


def test_thaw_never_removes_a_lock_that_changed_hands_while_the_mount_shows_ours(
        s3, bucket, mount, tmp_path):
    """With lock_ttl=600 the mount shows our lock from its cache while the bucket holds
    another: the guarded rm refuses (EBUSY) and removes nothing; read again, the file shows
    the new holder, and thaw leaves it, saying whose it is now."""
    seed(s3, bucket, {"a/terraform.tfstate": None})
    m = mount(bucket, ["lock_create", "lock_ttl=600", "cache_ttl=600"])
    r = run("freeze", m.path, "a", cwd=tmp_path, check_rc=0)
    [lock_id] = frozen_ids(r.stdout).values()
    s3.delete_object(Bucket=bucket, Key="a/terraform.tfstate.tflock")
    theirs = lock_body(bucket, "a/terraform.tfstate", who="eve@ci-3")
    s3.put_object(Bucket=bucket, Key="a/terraform.tfstate.tflock", Body=theirs)
    assert lock_id in cat(m.p("a/terraform.tfstate.tflock")).decode(), "the mount shows ours"
    r = run("thaw", cwd=tmp_path, check_rc=1)
    assert get(s3, bucket, "a/terraform.tfstate.tflock")[0] == theirs
    their_id = json.loads(theirs)["ID"]
    assert r.stdout == ("left a/terraform.tfstate: now locked by eve@ci-3 (ID %s), not ours\n"
                        "0 thawed, 0 already gone, 1 left, 0 failed\n" % their_id), r.stdout
    assert records(tmp_path) == []


def test_thaw_keeps_in_the_record_the_locks_it_could_not_remove(s3, bucket, mount, tmp_path):
    states = ["a/terraform.tfstate", "b/terraform.tfstate"]
    seed(s3, bucket, dict.fromkeys(states))
    m = mount(bucket, ["lock_create", "unlock_min_age=1h"])
    r = run("freeze", m.path, ".", cwd=tmp_path, check_rc=0)
    ids = frozen_ids(r.stdout)
    [name] = records(tmp_path)
    s3.delete_object(Bucket=bucket, Key="b/terraform.tfstate.tflock")
    time.sleep(1.5)
    for _ in range(2):
        r = run("thaw", name, cwd=tmp_path, check_rc=1)
        assert r.stderr.splitlines()[0] == (
            "failed a/terraform.tfstate: EPERM: refused by the mount's policy "
            "(unlock_min_age, unlock_gid, or not its owner)"), r.stderr
        assert "record: %s keeps the 1 lock(s) that failed: thaw it again" % name in r.stderr
        assert lock_keys(s3, bucket) == {"a/terraform.tfstate"}
        assert_ours(s3, bucket, "a/terraform.tfstate", ids["a/terraform.tfstate"],
                    "frozen with tfstatefs freeze, no reason given")
        lines = (tmp_path / name).read_text().splitlines()
        assert lines[0].startswith("# tfstatefs freeze record: ")
        assert [x for x in lines if not x.startswith("#")] == [
            "%s\t%s\ta/terraform.tfstate" % (ids["a/terraform.tfstate"], m.path)], lines
    assert r.stdout == "0 thawed, 0 already gone, 0 left, 1 failed\n", r.stdout


@needs_terraform
def test_terraform_is_stopped_by_a_freeze_and_runs_again_after_thaw(
        stack, s3, bucket, mount, tmp_path):
    key = "team/app/terraform.tfstate"
    tf = Terraform(stack, tmp_path / "tf", bucket, key)
    tf.init()
    tf.apply(1)
    m = mount(bucket, ["lock_create"])
    work = tmp_path / "work"
    work.mkdir()
    r = run("freeze", "-m", REASON, m.path, "team", cwd=work, check_rc=0)
    [lock_id] = frozen_ids(r.stdout).values()
    r = tf.run("plan", "-lock-timeout=0s", "-input=false", "-no-color", check=False)
    assert r.returncode != 0 and "Error acquiring the state lock" in r.stderr, r.stderr
    for shown in (lock_id, REASON, "tfstatefs freeze", WHO):
        assert shown in r.stderr, (shown, r.stderr)
    run("thaw", cwd=work, check_rc=0)
    r = tf.apply(2)
    assert lock_keys(s3, bucket) == set()


# ---------------------------------------------------------------- what is frozen

def test_freeze_a_state_its_workspaces_and_odd_paths(s3, bucket, mount, tmp_path):
    seed(s3, bucket, dict.fromkeys([
        "prod/network/terraform.tfstate", "env:/staging/prod/network/terraform.tfstate",
        "env:/qa/prod/network/terraform.tfstate", "env:/qa/other/terraform.tfstate",
        "tab\tdir/terraform.tfstate", "prod/network/notes.txt"]))
    m = mount(bucket, ["lock_create"])
    # One state by its absolute path: its workspaces too, unless -W.
    r = run("freeze", "-W", "-o", "one", m.path, m.p("prod/network/terraform.tfstate"),
            cwd=tmp_path, check_rc=0)
    assert list(frozen_ids(r.stdout)) == ["prod/network/terraform.tfstate"], r.stdout
    run("thaw", "one", cwd=tmp_path, check_rc=0)
    r = run("freeze", "-o", "all", m.path, "prod/network", "tab\tdir/", cwd=tmp_path,
            check_rc=0)
    assert list(frozen_ids(r.stdout)) == [
        "env:/qa/prod/network/terraform.tfstate", "env:/staging/prod/network/terraform.tfstate",
        "prod/network/terraform.tfstate", "tab\\tdir/terraform.tfstate"], r.stdout
    assert lock_keys(s3, bucket) == {
        "env:/qa/prod/network/terraform.tfstate", "env:/staging/prod/network/terraform.tfstate",
        "prod/network/terraform.tfstate", "tab\tdir/terraform.tfstate"}
    # An existing record is never overwritten, and nothing is locked then.
    r = run("freeze", "-o", "all", m.path, "env:/qa/other", cwd=tmp_path, check_rc=2)
    assert "all exists: give another record file (-o), or thaw it first" in r.stderr
    assert lock_doc(s3, bucket, "env:/qa/other/terraform.tfstate") is None
    # The record given by the environment.
    r = run("thaw", cwd=tmp_path, env={"TFSTATEFS_FREEZE_RECORD": "all"}, check_rc=0)
    assert r.stdout.splitlines()[-1] == "4 thawed, 0 already gone, 0 left, 0 failed"
    assert "thawed tab\\tdir/terraform.tfstate" in r.stdout
    assert lock_keys(s3, bucket) == set() and not (tmp_path / "all").exists()
    r = run("freeze", m.path, "no/such", cwd=tmp_path, check_rc=2)
    assert "no/such: no such state or directory under " in r.stderr
    r = run("freeze", m.path, "/etc", cwd=tmp_path, check_rc=2)
    assert "/etc is not under " in r.stderr
    r = run("freeze", m.path, "prod/network/notes.txt/..", cwd=tmp_path, check_rc=2)
    assert "a PATH with .. is not taken" in r.stderr
    assert records(tmp_path) == []


def test_freeze_on_a_mount_without_lock_create(s3, bucket, mount, tmp_path):
    seed(s3, bucket, {"a/terraform.tfstate": None, "b/terraform.tfstate": APPLY})
    before = lock_keys(s3, bucket)
    for opts in ([], ["lock_create", "unlock=off"]):
        m = mount(bucket, opts)
        r = run("freeze", "-m", REASON, m.path, ".", cwd=tmp_path, check_rc=2)
        assert "takes no lock: " in r.stderr and "mount it with -o lock_create" in r.stderr
        assert r.stdout == ""
        assert lock_keys(s3, bucket) == before and records(tmp_path) == []
        m.unmount()


def test_a_reason_the_mount_refuses_leaves_no_lock(s3, bucket, mount, tmp_path):
    """Not UTF-8: the create takes the lock, the write is refused (EILSEQ) and the mount
    removes the lock again; freeze says so and records nothing."""
    seed(s3, bucket, dict.fromkeys(["a/terraform.tfstate", "b/terraform.tfstate"]))
    m = mount(bucket, ["lock_create"])
    r = subprocess.run([os.path.join(EXAMPLES, "freeze"), "-m", b"caf\xe9", m.path, "."],
                       capture_output=True, cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                       env={"PATH": os.environ["PATH"]}, timeout=300)
    assert r.returncode == 1, r
    assert r.stderr.decode().splitlines() == [
        "failed %s/terraform.tfstate: the reason could not be written: "
        "Invalid or incomplete multibyte or wide character; no lock is left" % s
        for s in "ab"], r.stderr
    assert r.stdout.decode() == "0 frozen, 0 already locked, 2 failed\n"
    assert lock_keys(s3, bucket) == set() and records(tmp_path) == []


# ---------------------------------------------------------------- DynamoDB

def test_freeze_and_thaw_with_a_lock_table(stack, s3, ddb, bucket, table, mount,  # noqa: F811
                                           tmp_path):
    """With a table, freeze takes both locks (S3 lockfile and DynamoDB item), a lock held in
    DynamoDB only blocks it, and thaw removes both of ours and nothing else."""
    seed(s3, bucket, dict.fromkeys(["a/terraform.tfstate", "legacy/terraform.tfstate"]))
    legacy = lock_body(bucket, "legacy/terraform.tfstate", who="old@ci")
    put_lock(ddb, table, bucket, "legacy/terraform.tfstate", legacy)
    m = mount(bucket, ["lock_create"] + ddb_options(stack, table))
    r = run("freeze", "-m", REASON, m.path, ".", cwd=tmp_path, check_rc=1)
    ids = frozen_ids(r.stdout)
    assert list(ids) == ["a/terraform.tfstate"], r.stdout
    assert ("already locked legacy/terraform.tfstate by old@ci (OperationTypeApply, ID %s)"
            % json.loads(legacy)["ID"]) in r.stdout.splitlines()
    assert_ours(s3, bucket, "a/terraform.tfstate", ids["a/terraform.tfstate"])
    got = item(ddb, table, "%s/a/terraform.tfstate" % bucket)
    assert got is not None and json.loads(got["Info"]["S"])["ID"] == ids["a/terraform.tfstate"]
    assert "Backend:   s3 dynamodb" in cat(m.p("a/terraform.tfstate.tflock")).decode()
    r = run("thaw", cwd=tmp_path, check_rc=0)
    assert r.stdout.splitlines()[0] == "thawed a/terraform.tfstate"
    assert item(ddb, table, "%s/a/terraform.tfstate" % bucket) is None
    assert lock_keys(s3, bucket) == set()
    assert item(ddb, table, "%s/legacy/terraform.tfstate" % bucket)["Info"]["S"] == \
        legacy.decode()
