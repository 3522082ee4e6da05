"""/.tfstatefs/events against the real terraform binary (1.11+): a cat started before an
apply sees locked, written (the new serial) and unlocked for that state, each within
watch_interval + 2 s of the change the test itself saw in the bucket (or the table); two
readers at once see the same; with the S3 lockfile, a DynamoDB lock and the migration
configuration (both); and an rm of a killed apply's lock through the mount is the guard's
one unlocked line, not told again by the next look."""
import datetime
import json
import os
import threading
import time

import pytest

from test_dynamodb import create_table, ddb, ddb_options, item  # noqa: F401
from test_dynamodb_terraform import KEY, holder, start_apply, wait_for_item
from test_events import INTERVAL, WITHIN, Reader, started
from test_locks import get, stats, wait_for, wait_for_lock_object
from terraform_helper import kill_tree, needs_terraform

HOLD = 3            # seconds each apply holds its lock: a few looks at INTERVAL
LOOK = 0.1          # how often the test looks at the real objects itself
BACKENDS = {"s3": ["s3"], "dynamodb": ["dynamodb"], "both": ["s3", "dynamodb"]}
delays = []         # (what, least, most seconds): printed by report() (pytest -s)


class Watch:
    """The real objects, looked at by the test every LOOK seconds: for the state, its
    (bytes, ETag); for "s3", the lockfile's (bytes, ETag); for "dynamodb", the lock item.
    seen[thing] is its values in order, each as (after, by, value): the change came after
    `after` (the start of the last look that still saw the old value; None for the first
    value) and by `by` (the end of the look that saw it)."""

    def __init__(self, s3, ddb, bucket, table, backends):  # noqa: F811
        self.read = {"state": lambda: get(s3, bucket, KEY)}
        if "s3" in backends:
            self.read["s3"] = lambda: get(s3, bucket, KEY + ".tflock")
        if "dynamodb" in backends:
            self.read["dynamodb"] = lambda: item(ddb, table, "%s/%s" % (bucket, KEY))
        self.seen = {k: [] for k in self.read}
        self.last = dict.fromkeys(self.read)
        self.done = threading.Event()
        self.look()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def look(self):
        for thing, read in self.read.items():
            start = time.time()
            value = read()
            was = self.seen[thing]
            if not was or was[-1][2] != value:
                was.append((self.last[thing], time.time(), value))
            self.last[thing] = start

    def run(self):
        while not self.done.wait(LOOK):
            self.look()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)

    def lock(self, backend):
        """The lock's JSON document as terraform wrote it, and its coming and going."""
        was = self.seen[backend]
        assert [v is None for _, _, v in was] == [True, False, True], was
        value = was[1][2]
        doc = json.loads(value[0] if backend == "s3" else value["Info"]["S"])
        return doc, was[1], was[2]


def at(fields):
    """An event line's own time (field 0, ISO-8601 UTC with ms) as time.time() does."""
    t = datetime.datetime.strptime(fields[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def on_time(reader, fields, change, what):
    """The line came within WITHIN of the real change, and not before it."""
    after, by, _ = change
    got = reader.received[reader.lines.index(fields)]
    assert at(fields) >= after - 0.002, "%s told before it happened: %r" % (what, fields)
    assert got - after <= WITHIN, "%s came %.2fs after the change: %r" % (what, got - after,
                                                                          fields)
    delays.append((what, at(fields) - by, got - after))


def report():
    """The delays, for pytest -s: the line's own time after the look that saw the change,
    and the time it was read after the last look that had not seen it."""
    for what, low, high in delays:
        print("delay %-26s %.2fs to %.2fs" % (what, low, high))
    del delays[:]


def sequence(reader):
    """The reader's lines for KEY as (event, backend)."""
    return [(f[1], f[3]) for f in reader.lines if len(f) == 8 and f[2] == KEY]


def prepare(config, stack, ddb, bucket, mount, tmp_path, hold, *options):  # noqa: F811
    """For one configuration: its backends, its table (or None), a terraform whose applies
    hold the lock for hold seconds (the state exists), and a mount looking every INTERVAL
    (with these options more)."""
    backends = BACKENDS[config]
    table = create_table(ddb) if "dynamodb" in backends else None
    tf = holder(stack, tmp_path, bucket, table, use_lockfile="s3" in backends, hold=hold)
    m = mount(bucket, ["watch_interval=%d" % INTERVAL, *options] +
              (ddb_options(stack, table) if table else []))
    return backends, table, tf, m


@needs_terraform
@pytest.mark.parametrize("config", sorted(BACKENDS))
def test_an_apply_is_locked_written_unlocked_for_two_readers(config, stack, s3, ddb, bucket,
                                                              mount, tmp_path):
    # lock_ttl lets lookups trust a table snapshot that long; a look scans all the same.
    backends, table, tf, m = prepare(config, stack, ddb, bucket, mount, tmp_path, HOLD,
                                     "lock_ttl=30")
    readers = [Reader(m), Reader(m)]
    started(m)
    watch = Watch(s3, ddb, bucket, table, backends)
    proc = start_apply(tf)
    try:
        assert proc.wait(timeout=60) == 0, proc.stdout.read()
        wait_for(lambda: all(watch.seen[b][-1][2] is None for b in backends), 5,
                 "the watch sees the locks go")
        watch.stop()
        final = watch.seen["state"][-1]
        serial = str(json.loads(final[2][0])["serial"])
        for i, r in enumerate(readers):
            for b in backends:
                doc, came, went = watch.lock(b)
                f = r.wait("locked", KEY, backend=b)
                assert f[3:8] == [b, doc["ID"], doc["Who"], "OperationTypeApply", "-"], f
                on_time(r, f, came, "reader %d locked %s" % (i, b))
                f = r.wait("unlocked", KEY, backend=b)
                assert f[3:8] == [b, doc["ID"], doc["Who"], "OperationTypeApply", "-"], f
                on_time(r, f, went, "reader %d unlocked %s" % (i, b))
            f = r.matching("written", KEY)[-1]
            assert f[3:8] == ["s3", "-", "-", "-", serial], f
            on_time(r, f, final, "reader %d written" % i)
            # Every lock comes before the state's write, every unlock after it; nothing else.
            got = sequence(r)
            n = len(backends)
            assert sorted(got[:n]) == sorted(("locked", b) for b in backends), got
            assert set(got[n:-n]) == {("written", "s3")}, got
            assert sorted(got[-n:]) == sorted(("unlocked", b) for b in backends), got
        assert readers[0].lines == readers[1].lines
        report()
    finally:
        watch.stop()
        if proc.poll() is None:
            kill_tree(proc)
        for r in readers:
            r.stop()


@needs_terraform
@pytest.mark.parametrize("config", sorted(BACKENDS))
def test_rm_of_a_killed_applys_lock_is_the_guards_one_unlock(config, stack, s3, ddb, bucket,
                                                             mount, tmp_path):
    backends, table, tf, m = prepare(config, stack, ddb, bucket, mount, tmp_path, 120)
    r = Reader(m)
    started(m)
    proc = start_apply(tf)
    try:
        if table:
            doc = json.loads(wait_for_item(ddb, table, "%s/%s" % (bucket, KEY), proc))
        else:
            doc = json.loads(wait_for_lock_object(s3, bucket, KEY + ".tflock", proc)[0])
        for b in backends:
            r.wait("locked", KEY, backend=b)
        kill_tree(proc)     # a dead CI runner: its lock stays, nothing takes it again
        lf = m.p(KEY + ".tflock")
        os.stat(lf)
        t0 = time.time()
        os.unlink(lf)
        t1 = time.time()
        f = r.wait("unlocked", KEY)
        assert f[3:8] == [" ".join(backends), doc["ID"], doc["Who"], "OperationTypeApply",
                          "uid=%d" % os.getuid()], f
        assert t0 - 0.002 <= at(f) <= t1, (t0, f, t1)
        assert get(s3, bucket, KEY + ".tflock") is None
        assert table is None or item(ddb, table, "%s/%s" % (bucket, KEY)) is None
        got = r.received[r.lines.index(f)]
        delays.append(("guard unlocked after rm", at(f) - t0, got - t0))
        # Two whole looks more find the lock gone (events_polls counts looks done): not
        # told again.
        n = stats(m)["events_polls"]
        wait_for(lambda: stats(m)["events_polls"] >= n + 2, 2 * INTERVAL + 3, "two looks more")
        assert [x for x in r.lines if x[1] != "locked"] == [f], r.lines
        report()
    finally:
        if proc.poll() is None:
            kill_tree(proc)
        r.stop()

