"""The scripts in examples/ (check-locks, lock-report, reap-stale-locks) run against a real
mount, as a user runs them: plain file tools on the mount, no AWS credentials of their own."""
import csv
import datetime
import io
import json
import os
import re
import subprocess
import uuid

import pytest
from conftest import REPO, bucket_snapshot, put_objects
from test_dynamodb import ddb, ddb_options, item, put_lock, table  # noqa: F401 (fixtures)
from test_locks import audit_records, cat, get, lock_body, state

EXAMPLES = os.path.join(REPO, "examples")
HOUR = 3600

# The bucket every test starts from: state -> (age of its lock in seconds, who, operation);
# None: a state without a lock.
LOCKS = {
    "prod/network/terraform.tfstate": (3 * HOUR, "runner@ci-1", "OperationTypeApply"),
    "prod/dns/terraform.tfstate": None,
    "teams/my app/terraform.tfstate": (45 * 60, 'alice, "laptop"', "OperationTypePlan"),
    "teams/app/terraform.tfstate": (10, "bob@ci-7", "OperationTypeApply"),
    "teams/tab\tdir/terraform.tfstate": (3 * HOUR, "carol@ci-9", "OperationTypeApply"),
}
OLD = {"prod/network/terraform.tfstate", "teams/tab\tdir/terraform.tfstate"}   # 3 h
MIDDLE = {"teams/my app/terraform.tfstate"}                                     # 45 min
YOUNG = {"teams/app/terraform.tfstate"}                                         # 10 s


def escaped(path):
    """A path as /.tfstatefs/locks and the scripts' tables write it."""
    return path.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def seed(s3, bucket, locks=LOCKS):
    """The states and their locks; returns {state: the lock's JSON as a dict}."""
    objects, docs = {}, {}
    for key, lock in locks.items():
        objects[key] = state(1)
        if lock:
            ago, who, op = lock
            body = lock_body(bucket, key, who=who, operation=op, ago=ago)
            objects[key + ".tflock"] = body
            docs[key] = json.loads(body)
    put_objects(s3, bucket, objects)
    return docs


def run(script, *args, check_rc=None):
    """A script with no AWS variables at all: it may only use the mount."""
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/")}
    r = subprocess.run([os.path.join(EXAMPLES, script), *args], capture_output=True, text=True,
                       env=env, stdin=subprocess.DEVNULL, timeout=300)
    if check_rc is not None:
        assert r.returncode == check_rc, "%s %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            script, args, r.returncode, r.stdout, r.stderr)
    return r


def table_rows(text):
    """A table's lines after its header, split at runs of 2+ spaces, keyed by path."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.startswith("PATH "))
    cols = re.split(r"  +", lines[header])
    out = {}
    for line in lines[header + 1:]:
        cells = re.split(r"  +", line)
        assert len(cells) == len(cols), (line, cols)
        out[cells[0]] = dict(zip(cols, cells))
    return out


def lock_keys(s3, bucket):
    return {k[:-len(".tflock")] for k in bucket_snapshot(s3, bucket) if k.endswith(".tflock")}


def assert_age(text, seconds):
    """An age as the tables write it (45s, 12m, 3h05m) is at least seconds old, and not
    absurdly more (the test does not take an hour)."""
    m = re.fullmatch(r"(?:(\d+)h)?(\d+)m|(\d+)s", text)
    assert m, text
    got = int(m.group(3)) if m.group(3) else int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60
    assert seconds - 60 <= got <= seconds + 3600, (text, seconds)


# ---------------------------------------------------------------- every script

@pytest.mark.parametrize("script", ["check-locks", "lock-report", "reap-stale-locks"])
def test_help_usage_errors_and_not_a_mount(script, tmp_path):
    r = run(script, "--help", check_rc=0)
    assert r.stdout.startswith("usage: %s " % script) and r.stderr == ""
    r = run(script, check_rc=2)
    assert "MOUNTPOINT is missing" in r.stderr and "usage: " in r.stderr and r.stdout == ""
    r = run(script, "--no-such-option", str(tmp_path), check_rc=2)
    assert "unknown option --no-such-option" in r.stderr
    r = run(script, str(tmp_path), check_rc=2)
    assert "not a tfstatefs mount" in r.stderr and r.stdout == ""
    r = run(script, str(tmp_path / "missing"), check_rc=2)
    assert "not a directory" in r.stderr
    if script != "lock-report":
        for bad in ("abc", "-5", "", "1.5"):
            r = run(script, "-m", bad, str(tmp_path), check_rc=2)
            assert "MINUTES must be a whole number" in r.stderr, r.stderr
        r = run(script, "-m", check_rc=2)
        assert "needs a number of minutes" in r.stderr


# ---------------------------------------------------------------- check-locks

def test_check_locks_fails_with_a_table_of_the_locks_older_than_30_minutes(s3, bucket, mount):
    docs = seed(s3, bucket)
    m = mount(bucket)
    r = run("check-locks", m.path, check_rc=1)
    assert r.stdout.splitlines()[0] == "3 locks are older than 30 minutes:", r.stdout
    rows = table_rows(r.stdout)
    assert set(rows) == {escaped(k) for k in OLD | MIDDLE}, r.stdout
    assert list(rows) == sorted(rows), "sorted by path"
    assert list(rows[escaped(next(iter(OLD)))]) == ["PATH", "ID", "WHO", "OPERATION", "AGE"]
    for key in OLD | MIDDLE:
        row = rows[escaped(key)]
        assert row["ID"] == docs[key]["ID"] and row["WHO"] == docs[key]["Who"], row
        assert row["OPERATION"] == docs[key]["Operation"], row
        assert_age(row["AGE"], LOCKS[key][0])
    assert r.stderr == ""


def test_check_locks_minutes_and_paths(s3, bucket, mount):
    seed(s3, bucket)
    m = mount(bucket)
    r = run("check-locks", "-m", "60", m.path, check_rc=1)
    assert set(table_rows(r.stdout)) == {escaped(k) for k in OLD}
    r = run("check-locks", "--minutes=240", m.path, check_rc=0)
    assert r.stdout == "no lock older than 240 minutes\n" and r.stderr == ""
    r = run("check-locks", "-m1", m.path, check_rc=1)
    assert re.match(r"[34] locks are older than 1 minute:\n", r.stdout), r.stdout
    # -m 0: every lock, the young one too.
    r = run("check-locks", "-m", "0", m.path, check_rc=1)
    assert set(table_rows(r.stdout)) == {escaped(k) for k in OLD | MIDDLE | YOUNG}
    # PATH: a directory (relative, or absolute under the mount), or a state.
    r = run("check-locks", m.path, "teams/app/terraform.tfstate", check_rc=0)
    assert r.stdout == "no lock older than 30 minutes\n"
    r = run("check-locks", m.path, "teams/my app", check_rc=1)
    assert set(table_rows(r.stdout)) == {"teams/my app/terraform.tfstate"}
    r = run("check-locks", m.path, m.p("prod") + "/", "teams/app/terraform.tfstate", check_rc=1)
    assert r.stdout.splitlines()[0] == "1 lock is older than 30 minutes:"
    assert set(table_rows(r.stdout)) == {"prod/network/terraform.tfstate"}
    r = run("check-locks", m.path, "prod/dns/terraform.tfstate", check_rc=0)   # no lock
    # The same lock named twice is one row.
    r = run("check-locks", m.path, "prod", "prod/network/terraform.tfstate.tflock", check_rc=1)
    assert r.stdout.splitlines()[0] == "1 lock is older than 30 minutes:"
    r = run("check-locks", m.path, "no/such/dir", check_rc=2)
    assert "no/such/dir: no such state or directory" in r.stderr
    r = run("check-locks", m.path, "/etc", check_rc=2)
    assert "is not under" in r.stderr


def test_check_locks_reads_any_rfc3339_created_and_counts_an_unreadable_one_as_old(
        s3, bucket, mount):
    now = datetime.datetime.now(datetime.timezone.utc)
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    bodies = {
        # 40 minutes ago, written with a +02:00 offset and microseconds.
        "offset/terraform.tfstate": (now - datetime.timedelta(minutes=40)).astimezone(
            plus2).isoformat(timespec="microseconds"),
        # 20 minutes ago, in -05:30 with no fraction: young.
        "young/terraform.tfstate": (now - datetime.timedelta(minutes=20)).astimezone(
            datetime.timezone(-datetime.timedelta(hours=5, minutes=30))).isoformat(
                timespec="seconds"),
        # Words date -d would take for a time: not RFC 3339, so the age is unknown.
        "words/terraform.tfstate": "now",
    }
    objects = {}
    for key, when in bodies.items():
        doc = json.loads(lock_body(bucket, key))
        doc["Created"] = when
        objects[key + ".tflock"] = json.dumps(doc).encode()
    objects["garbage/terraform.tfstate.tflock"] = b"\x00not json"
    put_objects(s3, bucket, objects)
    m = mount(bucket)
    r = run("check-locks", m.path, check_rc=1)
    rows = table_rows(r.stdout)
    assert set(rows) == {"offset/terraform.tfstate", "words/terraform.tfstate",
                         "garbage/terraform.tfstate"}, r.stdout
    assert_age(rows["offset/terraform.tfstate"]["AGE"], 40 * 60)
    assert rows["words/terraform.tfstate"]["AGE"] == "unknown (Created: now)"
    assert rows["garbage/terraform.tfstate"]["AGE"] == "unknown (Created: none)"
    assert rows["garbage/terraform.tfstate"]["ID"] == "-"
    r = run("check-locks", m.path, "offset", "young", check_rc=1)
    assert set(table_rows(r.stdout)) == {"offset/terraform.tfstate"}
    run("check-locks", "-m", "50", m.path, "offset", "young", check_rc=0)


def test_minutes_0_takes_a_lock_of_this_second_and_one_stamped_ahead(s3, bucket, mount):
    """-m 0 is every lock: one taken this very second (age 0 s, so not "older" than 0 s)
    and one whose holder's clock runs ahead of this machine's (Created in the future).
    Both were left out, and the gate said "no lock" while locks were there."""
    seed(s3, bucket, {"ahead/terraform.tfstate": (-90, "a@ci-1", "OperationTypeApply"),
                      "older/terraform.tfstate": (HOUR, "b@ci-2", "OperationTypeApply")})
    m = mount(bucket)
    r = run("check-locks", "-m", "0", m.path, check_rc=1)
    rows = table_rows(r.stdout)
    assert set(rows) == {"ahead/terraform.tfstate", "older/terraform.tfstate"}, r.stdout
    assert re.fullmatch(r"-(8\d|9\d)s|-1m", rows["ahead/terraform.tfstate"]["AGE"]), rows
    r = run("check-locks", "-m", "1", m.path, check_rc=1)
    assert set(table_rows(r.stdout)) == {"older/terraform.tfstate"}, r.stdout
    r = run("reap-stale-locks", "-m", "0", m.path, check_rc=0)
    assert sorted(line.split("  ")[1] for line in r.stdout.splitlines()[:-1]) == [
        "ahead/terraform.tfstate", "older/terraform.tfstate"], r.stdout


def test_check_locks_on_a_bucket_without_locks(s3, bucket, mount):
    put_objects(s3, bucket, {"a/terraform.tfstate": state(1)})
    m = mount(bucket)
    r = run("check-locks", "-m", "0", m.path, check_rc=0)
    assert r.stdout == "no lock older than 0 minutes\n"


# ---------------------------------------------------------------- lock-report

def test_lock_report_csv_has_every_lock_exactly(s3, bucket, mount):
    docs = seed(s3, bucket)
    m = mount(bucket)
    r = run("lock-report", "--csv", m.path, check_rc=0)
    assert r.stderr == ""
    rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
    assert rows[0] == ["path", "id", "who", "operation", "version", "created", "age_seconds",
                       "backend", "problem"]
    body = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [b["path"] for b in body] == sorted(docs), "every lock once, sorted by path"
    for b in body:
        doc = docs[b["path"]]
        assert (b["id"], b["who"], b["operation"], b["version"], b["created"]) == (
            doc["ID"], doc["Who"], doc["Operation"], doc["Version"], doc["Created"]), b
        assert b["backend"] == "s3" and b["problem"] == "", b
        age = int(b["age_seconds"])
        assert LOCKS[b["path"]][0] - 5 <= age <= LOCKS[b["path"]][0] + 3600, b
    # RFC 4180: the Who with a comma and quotes is quoted, its quotes doubled.
    assert '"alice, ""laptop"""' in r.stdout
    # The path with a tab is written as it is (quoting is only for , " and line ends).
    assert "\nteams/tab\tdir/terraform.tfstate," in r.stdout


def test_lock_report_table(s3, bucket, mount):
    docs = seed(s3, bucket)
    m = mount(bucket)
    r = run("lock-report", m.path + "/", check_rc=0)
    rows = table_rows(r.stdout)
    assert list(rows) == sorted(escaped(k) for k in docs)
    assert list(next(iter(rows.values()))) == ["PATH", "ID", "WHO", "OPERATION", "VERSION",
                                               "CREATED", "AGE", "BACKEND"]
    for key, doc in docs.items():
        row = rows[escaped(key)]
        assert row["ID"] == doc["ID"] and row["WHO"] == doc["Who"], row
        assert row["VERSION"] == "1.11.4" and row["CREATED"] == doc["Created"], row
        assert row["BACKEND"] == "s3", row
        assert_age(row["AGE"], LOCKS[key][0])
    assert not any(line.endswith(" ") for line in r.stdout.splitlines())


def test_lock_report_shows_problems_and_an_empty_bucket(s3, bucket, mount):
    put_objects(s3, bucket, {"a/terraform.tfstate": state(1)})
    m = mount(bucket, ["lock_list_ttl=1"])
    r = run("lock-report", m.path, check_rc=0)
    assert r.stdout == "no lock under %s\n" % m.path
    r = run("lock-report", "--csv", m.path, check_rc=0)
    assert r.stdout == "path,id,who,operation,version,created,age_seconds,backend,problem\n"
    put_objects(s3, bucket, {"a/terraform.tfstate.tflock": b"{not json"})
    m2 = mount(bucket)
    r = run("lock-report", m2.path, check_rc=0)
    row = table_rows(r.stdout)["a/terraform.tfstate"]
    assert row["PROBLEM"].startswith("not JSON"), row
    assert row["ID"] == "-" and row["AGE"] == "?", row
    r = run("lock-report", "--csv", m2.path, check_rc=0)
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert len(rows) == 1 and rows[0]["problem"].startswith("not JSON"), rows
    assert rows[0]["id"] == "" and rows[0]["age_seconds"] == "", rows


# ---------------------------------------------------------------- reap-stale-locks

def test_reap_dry_run_lists_the_old_locks_and_removes_nothing(s3, bucket, mount):
    docs = seed(s3, bucket)
    before = bucket_snapshot(s3, bucket)
    m = mount(bucket)
    r = run("reap-stale-locks", m.path, check_rc=0)
    lines = r.stdout.splitlines()
    would = [line for line in lines if line.startswith("would remove")]
    assert len(would) == len(OLD), r.stdout
    for key in OLD:
        assert any(("  %s  (ID %s, " % (escaped(key), docs[key]["ID"])) in line
                   for line in would), (key, r.stdout)
    assert lines[-1] == ("2 locks older than 120 minutes matching '*': dry run, nothing "
                         "removed (remove with --yes)"), r.stdout
    r = run("reap-stale-locks", "-m", "30", "-p", "teams/*", m.path, check_rc=0)
    assert len([line for line in r.stdout.splitlines() if line.startswith("would remove")]) == 2
    r = run("reap-stale-locks", "-m", "240", m.path, check_rc=0)
    assert r.stdout == "no lock older than 240 minutes matches '*'\n"
    assert bucket_snapshot(s3, bucket) == before, "a dry run removed something"
    for key in docs:
        assert os.path.exists(m.p(key + ".tflock"))


def test_reap_yes_removes_exactly_the_old_matching_locks(s3, bucket, mount, tmp_path):
    docs = seed(s3, bucket)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["audit_log=" + audit])
    # Only the old one under teams/ matches; the 3 h lock under prod/ does not.
    r = run("reap-stale-locks", "--yes", "-p", "teams/*", m.path, check_rc=0)
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    assert re.fullmatch(r"removed       teams/tab\\tdir/terraform\.tfstate  \(ID %s, carol@ci-9, "
                        r"OperationTypeApply, (\w+) old, s3\)" % docs[
                            "teams/tab\tdir/terraform.tfstate"]["ID"], lines[0]), r.stdout
    assert_age(re.search(r", (\w+) old,", lines[0]).group(1), 3 * HOUR)
    assert lines[1] == "1 lock older than 120 minutes matching 'teams/*': 1 removed, 0 not removed"
    assert lock_keys(s3, bucket) == set(docs) - {"teams/tab\tdir/terraform.tfstate"}
    rec = audit_records(audit, 1)
    assert [(x["path"], x["result"]) for x in rec] == [
        ("teams/tab\tdir/terraform.tfstate.tflock", "unlocked")], rec
    # Then every old one: prod/network is left; the 45 min and the young lock stay.
    r = run("reap-stale-locks", "-y", m.path, check_rc=0)
    assert [line.split("  ")[0] for line in r.stdout.splitlines()[:-1]] == ["removed"], r.stdout
    assert lock_keys(s3, bucket) == MIDDLE | YOUNG
    assert not os.path.exists(m.p("prod/network/terraform.tfstate.tflock"))
    # -m 30 -p '*/my app/*': the 45 min lock; the young one stays.
    r = run("reap-stale-locks", "-y", "-m", "30", "-p", "*/my app/*", m.path, check_rc=0)
    assert r.stdout.startswith("removed       teams/my app/terraform.tfstate  (ID ")
    assert lock_keys(s3, bucket) == YOUNG
    assert get(s3, bucket, "teams/app/terraform.tfstate.tflock")[0] == json.dumps(
        docs["teams/app/terraform.tfstate"], separators=(",", ":")).encode()
    r = run("reap-stale-locks", "-y", "-m", "0", "-p", "prod/*", m.path, check_rc=0)
    assert r.stdout == "no lock older than 0 minutes matches 'prod/*'\n"


def test_reap_a_lock_that_changed_hands_is_ebusy_and_the_new_lock_stays(
        s3, bucket, mount, tmp_path):
    """The mount trusts lock files for lock_ttl (here 10 min): the reaper reads the old lock
    from the mount while the bucket already holds a new one, so the guard's EBUSY is the
    only thing between the reaper and the new holder's lock."""
    docs = seed(s3, bucket)
    audit = str(tmp_path / "audit.jsonl")
    m = mount(bucket, ["lock_ttl=600", "cache_ttl=600", "audit_log=" + audit])
    key = "prod/network/terraform.tfstate"
    r = run("reap-stale-locks", m.path, check_rc=0)
    assert "would remove  %s  (ID %s," % (key, docs[key]["ID"]) in r.stdout
    # A new holder takes the lock (the old one was released, then taken again).
    new = lock_body(bucket, key, lock_id=str(uuid.uuid4()), who="dave@ci-3")
    s3.put_object(Bucket=bucket, Key=key + ".tflock", Body=new)
    assert docs[key]["ID"] in cat(m.p(key + ".tflock")).decode(), "the mount shows the old lock"
    r = run("reap-stale-locks", "--yes", m.path, check_rc=1)
    assert ("not removed   %s  (ID %s, runner@ci-1, OperationTypeApply, " % (key, docs[key]["ID"])
            in r.stderr), r.stderr
    assert r.stderr.rstrip("\n").endswith(
        "EBUSY: the lock changed hands since it was read (cat it to see the new holder)"), r.stderr
    # The other old lock is removed all the same; the new lock is intact.
    assert r.stdout.startswith("removed       teams/tab\\tdir/terraform.tfstate  (ID "), r.stdout
    assert r.stdout.splitlines()[-1] == (
        "2 locks older than 120 minutes matching '*': 1 removed, 1 not removed"), r.stdout
    assert get(s3, bucket, key + ".tflock")[0] == new
    assert lock_keys(s3, bucket) == {key} | MIDDLE | YOUNG
    recs = {x["path"]: x for x in audit_records(audit, 2)}
    assert recs[key + ".tflock"]["result"] == "refused", recs
    assert recs[key + ".tflock"]["errno"] == "EBUSY", recs


def test_reap_a_lock_the_policy_keeps_is_eperm(s3, bucket, mount):
    docs = seed(s3, bucket)
    m = mount(bucket, ["unlock_min_age=4h"])
    r = run("reap-stale-locks", "--yes", m.path, check_rc=1)
    errs = r.stderr.splitlines()
    assert len(errs) == 2, r.stderr
    for line in errs:
        assert line.startswith("not removed   ") and "EPERM: refused by the mount's policy" in line
    assert r.stdout.splitlines()[-1] == (
        "2 locks older than 120 minutes matching '*': 0 removed, 2 not removed"), r.stdout
    assert lock_keys(s3, bucket) == set(docs)


def test_reap_never_removes_a_lock_of_unknown_age(s3, bucket, mount):
    put_objects(s3, bucket, {"garbage/terraform.tfstate.tflock": b"{not json"})
    m = mount(bucket)
    r = run("reap-stale-locks", "--yes", "-m", "0", m.path, check_rc=0)
    assert r.stdout == "no lock older than 0 minutes matches '*'\n"
    assert "skipped garbage/terraform.tfstate: its age is unknown (Created: none; Problem: " \
        "not JSON" in r.stderr, r.stderr
    assert lock_keys(s3, bucket) == {"garbage/terraform.tfstate"}


# ---------------------------------------------------------------- DynamoDB locks

def test_dynamodb_locks_are_reported_and_reaped(stack, s3, ddb, bucket, table, mount):  # noqa: F811
    docs = seed(s3, bucket, {"prod/network/terraform.tfstate": LOCKS[
        "prod/network/terraform.tfstate"], "legacy/terraform.tfstate": None,
        "young/terraform.tfstate": None})
    legacy = lock_body(bucket, "legacy/terraform.tfstate", who="old@ci", ago=5 * HOUR)
    young = lock_body(bucket, "young/terraform.tfstate", who="new@ci", ago=60)
    put_lock(ddb, table, bucket, "legacy/terraform.tfstate", legacy)
    put_lock(ddb, table, bucket, "young/terraform.tfstate", young)
    m = mount(bucket, ddb_options(stack, table))
    r = run("lock-report", "--csv", m.path, check_rc=0)
    rows = {x["path"]: x for x in csv.DictReader(io.StringIO(r.stdout, newline=""))}
    assert set(rows) == {"legacy/terraform.tfstate", "prod/network/terraform.tfstate",
                         "young/terraform.tfstate"}, r.stdout
    assert rows["legacy/terraform.tfstate"]["backend"] == "dynamodb"
    assert rows["legacy/terraform.tfstate"]["id"] == json.loads(legacy)["ID"]
    assert rows["prod/network/terraform.tfstate"]["backend"] == "s3"
    r = run("check-locks", m.path, check_rc=1)
    assert set(table_rows(r.stdout)) == {"legacy/terraform.tfstate",
                                         "prod/network/terraform.tfstate"}
    r = run("reap-stale-locks", "--yes", m.path, check_rc=0)
    assert "removed       legacy/terraform.tfstate  (ID %s, old@ci, OperationTypeApply, " % (
        json.loads(legacy)["ID"]) in r.stdout and ", dynamodb)" in r.stdout, r.stdout
    assert item(ddb, table, "%s/legacy/terraform.tfstate" % bucket) is None
    assert item(ddb, table, "%s/young/terraform.tfstate" % bucket) is not None
    assert lock_keys(s3, bucket) == set()
    assert docs["prod/network/terraform.tfstate"]["ID"] in r.stdout


# ---------------------------------------------------------------- paths no shell likes

def test_paths_with_a_newline_a_backslash_quotes_and_commas(s3, bucket, mount):
    odd = {"odd\nname/terraform.tfstate": (3 * HOUR, "ci", "OperationTypeApply"),
           'back\\slash/"q",c/terraform.tfstate': (3 * HOUR, "ci", "OperationTypeApply"),
           "-n/terraform.tfstate": (3 * HOUR, "ci", "OperationTypeApply"),
           "young/terraform.tfstate": (5, "ci", "OperationTypeApply")}
    docs = seed(s3, bucket, odd)
    m = mount(bucket)
    old = sorted(k for k in odd if odd[k][0] > 60)
    r = run("check-locks", m.path, check_rc=1)
    assert sorted(table_rows(r.stdout)) == sorted(escaped(k) for k in old), r.stdout
    assert "odd\\nname/terraform.tfstate" in r.stdout and 'back\\\\slash/"q",c/' in r.stdout
    r = run("lock-report", "--csv", m.path, check_rc=0)
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert [x["path"] for x in rows] == sorted(docs), r.stdout
    assert [x["id"] for x in rows] == [docs[k]["ID"] for k in sorted(docs)]
    r = run("reap-stale-locks", "-p", "*\n*", m.path, check_rc=0)
    assert r.stdout.startswith("would remove  odd\\nname/terraform.tfstate  (ID "), r.stdout
    r = run("reap-stale-locks", "--yes", m.path, check_rc=0)
    assert sorted(re.split("  +", line)[1] for line in r.stdout.splitlines()[:-1]) == sorted(
        escaped(k) for k in old), r.stdout
    assert lock_keys(s3, bucket) == {"young/terraform.tfstate"}
