"""Races: many processes at once on one mount (or two), checked afterwards in the bucket
(and the table) with boto3 and in the audit log.

Every racer is a process of its own (python3 -c RACER), started once per test; each round
the test writes one line to every racer's stdin at once, and each racer answers with
what it saw. What each test asserts is an invariant of the outcome, never a timing:
whichever process wins, the bucket, the table, the audit log and every byte read must be
right. Run against the ThreadSanitizer build (tests/check.sh, stage tsan), the same
races also check the daemon's own locking.
"""
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

from conftest import bucket_snapshot, put_objects
from s3_proxy import S3Proxy
# ddb is a fixture: imported, pytest finds it here too.
from test_dynamodb import create_table, ddb, ddb_options, item, put_lock  # noqa: F401
from test_locks import audit_records, cat, expected_lines, get, lock_body, read_bytes, state

PY = sys.executable or "/usr/bin/python3"

# One process of races: started with its mode, it says "ready", then runs one round for
# each line it reads (the round's arguments, a JSON list) and prints one JSON object.
RACER = r'''
import errno, hashlib, json, os, subprocess, sys

def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def read(path):
    with open(path, "rb") as f:
        return f.read()

def run(mode, args):
    out = {}
    if mode == "race":                          # stat, cat, then rm of one lock file
        path = args[0]
        try:
            out["size"] = os.stat(path).st_size
            out["stat"] = "OK"
        except OSError as e:
            out["stat"] = name(e)
        try:
            out["text"] = read(path).decode("utf-8", "replace")
        except OSError as e:
            out["cat"] = name(e)
        try:
            os.unlink(path)
            out["rm"] = "OK"
        except OSError as e:
            out["rm"] = name(e)
    elif mode == "rm":                          # rm of each path, in order, nothing else
        out["rm"] = {}
        for p in args:
            try:
                os.unlink(p)
                out["rm"][p] = "OK"
            except OSError as e:
                out["rm"][p] = name(e)
    elif mode in ("stat-loop", "cat-loop"):     # until the stop file: stat (and cat) one file
        stop, path = args
        out = {"n": 0, "texts": {}, "errors": {}}
        while out["n"] < 2 or not os.path.exists(stop):
            out["n"] += 1
            try:
                os.stat(path)
                if mode == "cat-loop":
                    t = read(path).decode("utf-8", "replace")
                    out["texts"][t] = out["texts"].get(t, 0) + 1
            except OSError as e:
                out["errors"][name(e)] = out["errors"].get(name(e), 0) + 1
    elif mode == "browse":                      # until the stop file: read a tree, check it
        spec, stop, role = json.load(open(args[0])), args[1], args[2]
        root, states, locks = spec["root"], spec["states"], spec["locks"]
        removable = set(spec["removable"])
        known = set(states) | set(locks) | set(spec["dirs"])
        bad, n = [], 0

        def lock_seen(rel, size=None, text=None):
            if text is not None and text != locks[rel]:
                bad.append("%s: read %r" % (rel, text[:200]))
            if size is not None and size != len(locks[rel].encode()):
                bad.append("%s: size %s, its text has %d bytes" % (rel, size, len(locks[rel])))

        def missing(rel, how):
            if rel not in removable:
                bad.append("%s: %s" % (rel, how))

        def tool_errors(stderr, prefix):
            for line in stderr.splitlines():
                rel = next((r for r in removable if ("'%s'" % os.path.join(root, r)) in line), None)
                if rel is None or "No such file or directory" not in line:
                    bad.append("%s: %s" % (prefix, line))

        while n < 2 or not os.path.exists(stop):
            n += 1
            if role == "cat":                   # each state byte for byte, each lock's text
                for rel, (sha, size) in states.items():
                    try:
                        if hashlib.sha256(read(os.path.join(root, rel))).hexdigest() != sha:
                            bad.append("%s: wrong bytes" % rel)
                    except OSError as e:
                        bad.append("%s: %s" % (rel, name(e)))
                for rel in locks:
                    try:
                        text = read(os.path.join(root, rel)).decode("utf-8", "replace")
                        lock_seen(rel, text=text)
                    except OSError as e:
                        if e.errno != errno.ENOENT:
                            bad.append("%s: %s" % (rel, name(e)))
                        missing(rel, "cat: " + name(e))
            elif role == "ls":                  # ls -l of each directory: names and sizes
                for d in spec["dirs"]:
                    r = subprocess.run(["ls", "-l", "--time-style=+%s", os.path.join(root, d)],
                                       capture_output=True, text=True)
                    seen = set()
                    for line in r.stdout.splitlines():
                        parts = line.split()
                        if line.startswith("total") or len(parts) < 7:
                            continue
                        rel = os.path.join(d, parts[-1])
                        seen.add(rel)
                        if rel not in known:
                            bad.append("ls shows %s" % rel)
                        elif rel in states and parts[4] != str(states[rel][1]):
                            bad.append("ls: %s has size %s" % (rel, parts[4]))
                        elif rel in locks and parts[4] == "?":
                            missing(rel, "ls -l could not stat it")
                        elif rel in locks:
                            lock_seen(rel, size=int(parts[4]))
                    tool_errors(r.stderr, "ls")
                    for rel in states:
                        if os.path.dirname(rel) == d and rel not in seen:
                            bad.append("ls of %s lacks %s" % (d, rel))
                    for rel in locks:
                        if os.path.dirname(rel) == d and rel not in seen:
                            missing(rel, "not in ls")
            elif role == "find":                # find of the whole mount with every size
                r = subprocess.run(["find", root, "-type", "f", "-printf", "%s %P\n"],
                                   capture_output=True, text=True)
                seen = set()
                for line in r.stdout.splitlines():
                    size, rel = line.split(" ", 1)
                    seen.add(rel)
                    if rel in states:
                        if int(size) != states[rel][1]:
                            bad.append("find: %s has size %s" % (rel, size))
                    elif rel in locks:
                        lock_seen(rel, size=int(size))
                    else:
                        bad.append("find shows %s" % rel)
                tool_errors(r.stderr, "find")
                for rel in set(states) - seen:
                    bad.append("find lacks %s" % rel)
                for rel in set(locks) - seen:
                    missing(rel, "not in find")
            elif role == "stat":                # stat by name, states and locks
                for rel in list(states) + list(locks):
                    try:
                        size = os.stat(os.path.join(root, rel)).st_size
                    except OSError as e:
                        if rel in states or e.errno != errno.ENOENT:
                            bad.append("stat %s: %s" % (rel, name(e)))
                        missing(rel, "stat: " + name(e))
                        continue
                    if rel in states and size != states[rel][1]:
                        bad.append("stat: %s has size %d" % (rel, size))
                    elif rel in locks:
                        lock_seen(rel, size=size)
            if len(bad) > 20:
                break
        out = {"n": n, "bad": bad[:20]}
    return out


mode = sys.argv[1]
print("ready", flush=True)
for line in sys.stdin:                     # one round a line: its arguments, as JSON
    print(json.dumps(run(mode, json.loads(line))), flush=True)
'''


class Racers:
    """Processes started once (python3 -c RACER MODE), then released together each round:
    go() hands every one its round's arguments, results() waits for what they found."""

    def __init__(self, *modes):
        env = dict(os.environ, LC_ALL="C")   # ls and find quote names 'thus'
        self.procs = [subprocess.Popen([PY, "-c", RACER, mode], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       env=env)
                      for mode in modes]
        for p in self.procs:
            self._line(p, "ready\n")

    def _line(self, p, expect=None):
        """One line from racer p; a racer that died or says something else fails the test."""
        line = p.stdout.readline()
        if not line or (expect is not None and line != expect):
            self.close()
            raise AssertionError("racer said %r: %s" % (line, p.stderr.read()))
        return line

    def go(self, *args):
        """Starts a round: racer i gets args[i] (a list), all of them at once."""
        lines = [json.dumps([str(x) for x in a]) + "\n" for a in args]
        assert len(lines) == len(self.procs)
        for p, line in zip(self.procs, lines):
            p.stdin.write(line)
            p.stdin.flush()

    def results(self, first=0, end=None, timeout=120):
        """What racers [first, end) found this round. A racer stuck (a hung mount) is
        killed after timeout seconds, which fails the test rather than hanging it."""
        watchdog = threading.Timer(timeout, self.kill)
        watchdog.start()
        try:
            return [json.loads(self._line(p)) for p in self.procs[first:end]]
        finally:
            watchdog.cancel()

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()

    def close(self):
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def lock_text(body, backend="s3"):
    return "\n".join(expected_lines(json.loads(body), backend)) + "\n"


def by_key(recs):
    out = {}
    for r in recs:
        out.setdefault(r["key"], []).append(r)
    return out


# ---------------------------------------------------------------- S3 as AWS deletes

class ConditionalDeletes:
    """A proxy in front of radosgw that answers DELETE as AWS S3 does for a general
    purpose bucket, and atomically: with If-Match, 412 when the ETag differs and 404
    NoSuchKey when there is no object; without it, 204 whatever there was. The check and
    the delete hold the mutex that the test's writer holds to replace a lock. radosgw
    itself ignores If-Match on DELETE, so there the guard's re-read is the only check and
    the milliseconds between it and the DELETE stay open (README, "Lock files", step 4):
    a race test straight on radosgw would fail by chance, not by a bug."""

    def __init__(self, stack, s3, bucket):
        self.s3, self.bucket = s3, bucket
        self.mutex = threading.Lock()
        self.deletes = []           # (key, If-Match or None, status answered)
        self.proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
        self.proxy.before_forward = self.before_forward
        self.endpoint = self.proxy.endpoint

    def before_forward(self, method, path, headers):
        prefix = "/%s/" % self.bucket
        p = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        if method != "DELETE" or not p.startswith(prefix):
            return None
        key = p[len(prefix):]
        if_match = next((v for k, v in headers.items() if k.lower() == "if-match"), None)
        with self.mutex:
            try:
                current = self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
            except self.s3.exceptions.ClientError:
                current = None
            if if_match is None:
                if current is not None:
                    self.s3.delete_object(Bucket=self.bucket, Key=key)
                status, code = 204, None
            elif current is None:
                status, code = 404, "NoSuchKey"
            elif if_match.strip('"') != current.strip('"'):
                status, code = 412, "PreconditionFailed"
            else:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
                status, code = 204, None
            self.deletes.append((key, if_match, status))
        hdrs = [("x-amz-request-id", "tfs-race-%d" % len(self.deletes))]
        if code is None:
            return status, hdrs, b""
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>'
               'played by the test</Message><Key>%s</Key><RequestId>tfs-race</RequestId>'
               '</Error>' % (code, key)).encode()
        return status, hdrs + [("Content-Type", "application/xml")], xml

    def replace_if(self, key, etag, body):
        """Another runner takes the lock over while the one shown (etag) is still there:
        returns the new ETag, or None when the shown lock was already gone."""
        with self.mutex:
            try:
                current = self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
            except self.s3.exceptions.ClientError:
                return None
            if current != etag:
                return None
            return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]

    def close(self):
        self.proxy.close()


# ---------------------------------------------------------------- 1. one lock, 8 rm at once

ROUNDS = 10
RACERS = 8


def test_eight_rm_of_one_shown_lock_unlock_it_exactly_once(stack, s3, bucket, mount, tmp_path):
    """Eight processes stat, cat and rm the same lock at once, four on each of two mounts
    of the bucket (two users, two machines), ten times over, a fresh lock each time.
    Exactly one rm removes it; the others find it gone (ENOENT) or, at worst, changed
    (EBUSY); the two audit logs hold one `unlocked` a round between them; nothing else in
    the bucket changes, not even the other lock in the same directory. The kernel lets
    one unlink at a time into a directory of one mount; the two mounts' guards really
    race, and only their conditional DELETE keeps the loser from unlocking too: a guard
    that deleted without If-Match, or took a 404 to its If-Match for its own success,
    would unlock twice. Within each mount, stat and cat of the lock run while its guard
    removes it, which is where a daemon that mixed up its nodes would show wrong text,
    remove the wrong lock, or crash."""
    objs, raced = {}, {}
    for r in range(ROUNDS):
        d = "race/r%d/" % r
        objs[d + "terraform.tfstate"] = state(r)
        objs[d + "other.tfstate"] = state(100 + r)
        objs[d + "other.tfstate.tflock"] = lock_body(bucket, d + "other.tfstate", who="keep@ci")
        raced[d + "terraform.tfstate.tflock"] = lock_body(bucket, d + "terraform.tfstate",
                                                          who="dead@ci-%d" % r)
    objs["keep/terraform.tfstate.tflock"] = lock_body(bucket, "keep/terraform.tfstate")
    put_objects(s3, bucket, dict(objs, **raced))
    before = bucket_snapshot(s3, bucket)
    gate = ConditionalDeletes(stack, s3, bucket)
    audits = [str(tmp_path / "audit-a.jsonl"), str(tmp_path / "audit-b.jsonl")]
    with contextlib.ExitStack() as stack_racers:
        stack_racers.callback(gate.close)
        # The same lock_ttl on both: the racers reach their guards at the same moment
        # (with stat and cat answered from what each mount has just shown), so that in
        # every round both guards read the lock, and both send their DELETE.
        ms = [mount(bucket, ["lock_ttl=1", "audit_log=" + a],
                    endpoint_options=["endpoint=" + gate.endpoint, "use_path_style"])
              for a in audits]
        race = stack_racers.enter_context(Racers(*["race"] * RACERS))
        for r, (lk, body) in enumerate(raced.items()):
            text = lock_text(body)
            for m in ms:
                assert read_bytes(m.p(lk)).decode() == text   # shown in both
            race.go(*[[ms[i % 2].p(lk)] for i in range(RACERS)])
            res = race.results()
            rms = sorted(x["rm"] for x in res)
            assert rms.count("OK") == 1, "round %d: rm results %s\n%s\n%s" % (
                r, rms, ms[0].log(), ms[1].log())
            assert set(rms) <= {"OK", "ENOENT", "EBUSY"}, (r, rms)
            for x in res:
                assert x.get("text", text) == text, "round %d read %r" % (r, x["text"])
                assert x.get("size", len(text)) == len(text), "round %d: stat size %d" % (
                    r, x["size"])
                assert x.get("cat", "ENOENT") == "ENOENT" and x["stat"] in ("OK", "ENOENT"), x
            assert get(s3, bucket, lk) is None, "round %d: the lock is still there" % r
            for m in ms:
                assert not os.path.exists(m.p(lk))
        for key, if_match, status in gate.deletes:
            assert key in raced and if_match is not None, gate.deletes
        assert all(m.proc.poll() is None for m in ms)

    after = bucket_snapshot(s3, bucket)
    assert after == {k: v for k, v in before.items() if k not in raced}
    recs = by_key(audit_records(audits[0], 1, timeout=0) + audit_records(audits[1], 1, timeout=0))
    assert set(recs) == set(raced), "audit records for other keys: %s" % sorted(recs)
    for lk, body in raced.items():
        results = [x["result"] for x in recs[lk]]
        assert results.count("unlocked") == 1, (lk, recs[lk])
        for x in recs[lk]:
            assert x["lock_id"] == json.loads(body)["ID"], x
            assert x["result"] == "unlocked" or (
                x["result"] == "refused" and x["errno"] in ("ENOENT", "EBUSY")), x


# ---------------------------------------------------------------- 2. changed hands meanwhile

HANDS_ROUNDS = 8


def test_a_lock_that_changes_hands_during_the_race_is_never_removed(
        stack, s3, bucket, mount, tmp_path):
    """Lock A is shown, then rm'ers race a writer that replaces A with B (a new ID: another
    runner took the lock), while readers stat it in the same mount and cat it in another.
    B was never shown to the mount that removes, so whoever wins, each round ends one of
    two ways: the writer came first and B is there intact, every rm refused; or an rm came
    first, A is gone, exactly one rm and one audit record unlocked it, and the writer had
    nothing to replace. Every DELETE carried If-Match on A's ETag. A guard that checked the
    lock as it is now rather than as it was shown (say, a lookup taken for a showing)
    would delete B. Only reading the content counts as a showing, which is why the readers
    that cat are in a second mount (-o unlock=off)."""
    audit = str(tmp_path / "audit.jsonl")
    rng = random.Random()
    objs, shown = {}, {}
    for r in range(HANDS_ROUNDS):
        d = "hands/r%d/" % r
        objs[d + "terraform.tfstate"] = state(r)
        shown[d + "terraform.tfstate.tflock"] = lock_body(bucket, d + "terraform.tfstate",
                                                          who="alice@laptop")
    put_objects(s3, bucket, dict(objs, **shown))
    etags = {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in shown}
    gate = ConditionalDeletes(stack, s3, bucket)
    outcomes = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(gate.close)
        # lock_ttl=0: every stat in this mount fetches the lock again while it races.
        m = mount(bucket, ["lock_ttl=0", "audit_log=" + audit],
                  endpoint_options=["endpoint=" + gate.endpoint, "use_path_style"])
        viewer = mount(bucket, ["lock_ttl=1", "unlock=off"])
        race = cleanup.enter_context(
            Racers("rm", "rm", "rm", "stat-loop", "cat-loop", "cat-loop"))
        for r, (lk, a_body) in enumerate(shown.items()):
            b_body = lock_body(bucket, lk[:-len(".tflock")], who="bob@ci")
            a_text, b_text = lock_text(a_body), lock_text(b_body)
            assert read_bytes(m.p(lk)).decode() == a_text
            stop = tmp_path / ("stop%d" % r)
            args = [[m.p(lk)]] * 3 + [[stop, m.p(lk)]] + [[stop, viewer.p(lk)]] * 2
            new_etag = []

            def take_over(lk=lk, b_body=b_body):
                try:
                    new_etag.append(gate.replace_if(lk, etags[lk], b_body))
                except Exception as e:  # noqa: BLE001 (said below, in the test's thread)
                    new_etag.append(e)
            # The writer starts a little before the rm'ers in even rounds and a little
            # after them in odd ones, so that both endings come up; which one a round
            # gets is up to the scheduler, and either passes.
            lead = rng.uniform(0, 0.06) if r % 2 == 0 else -rng.uniform(0, 0.4)
            writer = threading.Timer(max(0.0, -lead), take_over)
            if lead > 0:
                writer.start()
                time.sleep(lead)
                race.go(*args)
            else:
                race.go(*args)
                writer.start()
            try:
                rms = [x["rm"][m.p(lk)] for x in race.results(0, 3)]
            finally:
                writer.join()
                stop.touch()
            readers = race.results(3)
            replaced = new_etag[0]
            assert not isinstance(replaced, Exception), replaced
            now = get(s3, bucket, lk)
            recs = [x for x in audit_records(audit, 0, timeout=0) if x["key"] == lk]
            unlocked = [x for x in recs if x["result"] == "unlocked"]
            if replaced:
                assert now == (b_body, replaced), \
                    "round %d: the lock that changed hands was removed or changed\n%s" % (
                        r, m.log())
                assert rms == ["EBUSY"] * 3, (r, rms)
                assert unlocked == [], unlocked
            else:
                assert now is None, "round %d: A is still there, yet the writer found it gone" % r
                assert sorted(rms).count("OK") == 1 and set(rms) <= {"OK", "ENOENT", "EBUSY"}, \
                    (r, rms)
                assert len(unlocked) == 1 and \
                    unlocked[0]["lock_id"] == json.loads(a_body)["ID"], recs
            assert all(x["lock_id"] == json.loads(a_body)["ID"] for x in recs), recs
            for x in readers:
                assert x["n"] >= 2 and set(x["errors"]) <= {"ENOENT"}, x
                assert set(x["texts"]) <= {a_text, b_text}, "round %d read %r" % (r, x["texts"])
            outcomes.append("B kept" if replaced else "A removed")
        for key, if_match, status in gate.deletes:
            assert key in shown and if_match is not None, gate.deletes
            assert if_match.strip('"') == etags[key].strip('"'), \
                "a DELETE with If-Match on another lock than the one shown: %s" % (gate.deletes,)
        assert m.proc.poll() is None and viewer.proc.poll() is None
    print("rounds:", outcomes)


# ---------------------------------------------------------------- 3. reads while locks go

def test_readers_see_right_bytes_while_locks_in_their_directory_are_removed(
        stack, s3, ddb, bucket, mount, tmp_path):
    """cat of every state and lock, ls -l, find and stat, four processes looping, while
    two others rm 12 of the 16 locks of the same directory (S3 lockfiles, DynamoDB locks
    and locks in both), with every TTL at 0.5 s so that listings, lock scans and table scans
    run again and again under the removes. Every rm succeeds (nothing changed hands);
    every read is right: a state's bytes and size always, a lock's text and size or, for a
    lock being removed, its absence; no name that is not in the bucket. The mount stays
    up, and the bucket and the table lose exactly the locks removed."""
    audit = str(tmp_path / "audit.jsonl")
    table = create_table(ddb)
    objs, s3_locks, ddb_locks = {}, {}, {}
    for i in range(16):
        k = "many/s%02d.tfstate" % i
        # A few states large enough to take several reads each.
        objs[k] = state(i) + (os.urandom(200 * 1024).hex().encode() if i % 5 == 0 else b"")
        body = lock_body(bucket, k, who="runner-%d@ci" % i)
        if i % 4 != 3:
            s3_locks[k + ".tflock"] = body
        if i % 4 >= 2:
            ddb_locks[k + ".tflock"] = body
    objs["many/sub/x.tfstate"] = state(99)
    objs["elsewhere/terraform.tfstate"] = state(98)
    objs["elsewhere/terraform.tfstate.tflock"] = lock_body(bucket, "elsewhere/terraform.tfstate")
    put_objects(s3, bucket, dict(objs, **s3_locks))
    for lk, body in ddb_locks.items():
        put_lock(ddb, table, bucket, lk[:-len(".tflock")], body)
    before = bucket_snapshot(s3, bucket)

    locks = sorted(set(s3_locks) | set(ddb_locks))
    backend = {lk: " ".join(b for b, held in (("s3", lk in s3_locks),
                                              ("dynamodb", lk in ddb_locks)) if held)
               for lk in locks}
    removed = [lk for i, lk in enumerate(locks) if i % 4 != 1]     # 12 of 16
    lock_texts = {lk: lock_text(s3_locks.get(lk) or ddb_locks[lk], backend[lk]) for lk in locks}
    lock_texts["elsewhere/terraform.tfstate.tflock"] = lock_text(
        objs["elsewhere/terraform.tfstate.tflock"])
    m = mount(bucket, ["cache_ttl=0.5", "lock_ttl=0.5", "lock_list_ttl=0.5",
                       "audit_log=" + audit] + ddb_options(stack, table))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "root": m.path, "dirs": ["many", "many/sub", "elsewhere"], "removable": removed,
        "states": {k: [hashlib.sha256(v).hexdigest(), len(v)] for k, v in objs.items()
                   if not k.endswith(".tflock")},
        "locks": lock_texts}))
    stop = tmp_path / "stop"
    roles = ("cat", "ls", "find", "stat")
    with Racers(*["browse"] * len(roles), "rm", "rm") as race:
        race.go(*[[spec, stop, role] for role in roles],
                [m.p(lk) for lk in removed[0::2]], [m.p(lk) for lk in removed[1::2]])
        try:
            rms = {}
            for x in race.results(len(roles)):
                rms.update(x["rm"])
        finally:
            stop.touch()
        readers = race.results(0, len(roles))
    assert rms == {m.p(lk): "OK" for lk in removed}, "%s\n%s" % (rms, m.log())
    for role, x in zip(roles, readers):
        assert x["bad"] == [], "%s: %s\n%s" % (role, x["bad"], m.log())
        assert x["n"] >= 2, (role, x)
    assert m.proc.poll() is None, m.log()

    after = bucket_snapshot(s3, bucket)
    assert after == {k: v for k, v in before.items() if k not in removed}
    for lk in locks:
        held = item(ddb, table, "%s/%s" % (bucket, lk[:-len(".tflock")]))
        assert (held is not None) == (lk in ddb_locks and lk not in removed), (lk, held)
        assert os.path.exists(m.p(lk)) == (lk not in removed), lk
        if lk not in removed:
            assert cat(m.p(lk)).decode() == lock_texts[lk]
    recs = audit_records(audit, len(removed), timeout=0)
    assert sorted(x["key"] for x in recs) == sorted(removed), recs
    assert all(x["result"] == "unlocked" for x in recs), recs
    for k, v in objs.items():
        if not k.endswith(".tflock"):
            with open(m.p(k), "rb") as f:
                assert f.read() == v, k
