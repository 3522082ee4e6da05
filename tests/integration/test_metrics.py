"""/.tfstatefs/metrics with the real tools: promtool checks the file with locks in both
backends, node_exporter's textfile collector serves it after examples/metrics-textfile
copied it, and promtool checks the example alert rules."""
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import REPO, put_objects
from test_dynamodb import ddb, ddb_options, put_lock, table  # noqa: F401 (fixtures)
from test_locks import lock_body, wait_for

STATE = b'{"version":4,"serial":1}'
NODE_EXPORTER = ("prometheus-node-exporter", "node_exporter")
SERIES = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def tool(*names):
    """The first of names on PATH; skips (visibly) when none is installed."""
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    pytest.skip("%s not installed (tests/stack/deps.sh installs Debian's prometheus and "
                "prometheus-node-exporter)" % " or ".join(names))


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def samples(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SERIES.match(line)
        assert m, "not a sample line: %r" % line
        labels = {k: unescape(v) for k, v in LABEL.findall(m.group("labels") or "")}
        out.append((m.group("name"), labels, float(m.group("value"))))
    return out


def value(text, name, **labels):
    got = [v for n, l, v in samples(text) if n == name and l == labels]
    assert len(got) == 1, "%s%s: %r in\n%s" % (name, labels, got, text)
    return got[0]


def created_epoch(body):
    created = json.loads(body)["Created"]
    whole, frac = created.rstrip("Z").split(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return t.timestamp() + float("0." + frac)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def locked(stack, s3, ddb, bucket, table, mount):  # noqa: F811
    """A mount with a lock in S3, one in DynamoDB, one in both, and one whose Who needs
    escaping; returns (mount, {(path, backend): lock body})."""
    locks = {
        ("s3only/terraform.tfstate", "s3"): lock_body(bucket, "s3only/terraform.tfstate", ago=600),
        ("ddbonly/terraform.tfstate", "dynamodb"): lock_body(bucket, "ddbonly/terraform.tfstate",
                                                             ago=7300),
        ("both/terraform.tfstate", "s3 dynamodb"): lock_body(bucket, "both/terraform.tfstate",
                                                             ago=60),
        ("odd/terraform.tfstate", "s3"): lock_body(bucket, "odd/terraform.tfstate",
                                                   who='al"ice\\x\nlaptop', ago=5),
    }
    objects = {"s3only/terraform.tfstate": STATE, "both/terraform.tfstate": STATE,
               "odd/terraform.tfstate": STATE, "free/terraform.tfstate": STATE}
    for (path, backend), body in locks.items():
        if "s3" in backend:
            objects[path + ".tflock"] = body
        if "dynamodb" in backend:
            put_lock(ddb, table, bucket, path, body)
    put_objects(s3, bucket, objects)
    return mount(bucket, ddb_options(stack, table)), locks


def read_metrics(m):
    with open(m.p(".tfstatefs/metrics")) as f:
        return f.read(), time.time()


def test_promtool_accepts_the_metrics_and_ages_are_now_minus_created(locked, tmp_path):
    promtool = tool("promtool")
    m, locks = locked
    text, now = read_metrics(m)
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True)
    assert r.returncode == 0, "promtool check metrics: %s%s\n%s" % (
        r.stdout.decode(), r.stderr.decode(), text)
    ages = {(l["path"], l["backend"]): (l, v) for n, l, v in samples(text)
            if n == "tfstatefs_lock_age_seconds"}
    assert set(ages) == set(locks)
    for key, body in locks.items():
        labels, age = ages[key]
        doc = json.loads(body)
        assert labels["id"] == doc["ID"] and labels["operation"] == doc["Operation"]
        assert abs(age - (now - created_epoch(body))) < 2, (key, age)
    # the label gives back lockinfo's text (the backslash and line end written \\ and \n)
    assert ages[("odd/terraform.tfstate", "s3")][0]["who"] == 'al"ice\\\\x\\nlaptop'
    assert value(text, "tfstatefs_locks", backend="s3") == 3
    assert value(text, "tfstatefs_locks", backend="dynamodb") == 2
    assert abs(value(text, "tfstatefs_lock_oldest_age_seconds") - 7300) < 5
    assert value(text, "tfstatefs_states") == 4
    assert value(text, "tfstatefs_migration_states", note="new") == 1   # ddbonly: no object
    assert value(text, "tfstatefs_migration_states", note="-") == 4
    assert value(text, "tfstatefs_migration_states", note="orphan") == 0
    assert value(text, "tfstatefs_migration_digests", digest="none") == 5
    assert value(text, "tfstatefs_lock_table_up") == 1
    assert value(text, "tfstatefs_requests_total", service="dynamodb", op="scan") >= 1
    assert value(text, "tfstatefs_requests_total", service="s3", op="get") >= 3
    assert value(text, "tfstatefs_unlocks_total", result="unlocked") == 0


def test_an_unlock_is_counted_by_its_result(locked):
    m, _ = locked
    os.unlink(m.p("s3only/terraform.tfstate.tflock"))
    text, _ = read_metrics(m)
    assert value(text, "tfstatefs_unlocks_total", result="unlocked") == 1
    assert value(text, "tfstatefs_locks", backend="s3") == 2


def test_node_exporter_serves_the_copy_made_by_the_example(locked, tmp_path):
    exporter = tool(*NODE_EXPORTER)
    m, locks = locked
    collector = tmp_path / "textfile"
    collector.mkdir()
    script = os.path.join(REPO, "examples", "metrics-textfile")
    r = subprocess.run([script, m.path, str(collector)], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(os.listdir(collector)) == ["tfstatefs.prom"]   # no temp file left
    port = free_port()
    proc = subprocess.Popen([exporter, "--web.listen-address=127.0.0.1:%d" % port,
                             "--collector.disable-defaults", "--collector.textfile",
                             "--collector.textfile.directory=" + str(collector)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = {}

        def scraped():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as f:
                    body["text"] = f.read().decode()
                return True
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                return False
        wait_for(scraped, 10, "node_exporter answers on port %d" % port)
        text = body["text"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # the collector read the file without an error, and serves its series
    errors = [l for n, l, v in samples(text) if n == "node_textfile_scrape_error"]
    assert errors and value(text, "node_textfile_scrape_error") == 0, text
    ages = {(l["path"], l["backend"]) for n, l, v in samples(text)
            if n == "tfstatefs_lock_age_seconds"}
    assert ages == set(locks)
    assert value(text, "tfstatefs_locks", backend="dynamodb") == 2
    assert value(text, "tfstatefs_lock_table_up") == 1
    assert "# TYPE tfstatefs_requests_total counter" in text


def test_the_example_script_refuses_what_is_not_a_mount(tmp_path):
    script = os.path.join(REPO, "examples", "metrics-textfile")
    r = subprocess.run([script, str(tmp_path), str(tmp_path)], capture_output=True)
    assert r.returncode == 2 and b"not a tfstatefs mount" in r.stderr
    assert os.listdir(tmp_path) == []
    r = subprocess.run([script, "--help"], capture_output=True)
    assert r.returncode == 0 and b"--collector.textfile.directory" in r.stdout


def test_promtool_accepts_the_example_alert_rules():
    promtool = tool("promtool")
    r = subprocess.run([promtool, "check", "rules",
                        os.path.join(REPO, "examples", "tfstatefs-alerts.yml")],
                       capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert b"SUCCESS: 3 rules found" in r.stdout
