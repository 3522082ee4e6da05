"""A user browses a state bucket with ls, cat, stat and find: what they see is the bucket."""
import errno
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import put_objects


def state(serial, lineage="8e3ef5a2-6a4c-4c0e-9a0e-000000000001", size_pad=0):
    doc = {"version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage,
           "outputs": {}, "resources": [], "check_results": None, "pad": "x" * size_pad}
    return json.dumps(doc, indent=2).encode() + b"\n"


NESTED = {
    "prod/network/terraform.tfstate": state(7, size_pad=3000),
    "prod/app/terraform.tfstate": state(12),
    "staging/app/terraform.tfstate": state(3),
    "env:/staging/app/terraform.tfstate": state(4),
    "env:/dev/prod/network/terraform.tfstate": state(1),
    "teams/platform/dns/terraform.tfstate": state(2),
    "teams/platform/env:/x.tfstate": state(9),
    "env:/qa/teams/platform/dns/terraform.tfstate": state(5),
    "env:/qa/teams/other/terraform.tfstate": state(6),
    "big/terraform.tfstate": os.urandom(3 * 1024 * 1024 + 17),
}


def walk_files(root):
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            found[os.path.relpath(p, root)] = p
    return found


def test_nested_states_and_workspaces_read_back_byte_for_byte(s3, bucket, mount):
    put_objects(s3, bucket, NESTED)
    m = mount(bucket)
    assert sorted(os.listdir(m.path)) == ["big", "env:", "prod", "staging", "teams"]
    assert sorted(os.listdir(m.p("env:"))) == ["dev", "qa", "staging"]
    files = walk_files(m.path)
    assert sorted(files) == sorted(NESTED)
    for key, body in NESTED.items():
        with open(files[key], "rb") as f:
            assert f.read() == body, key
    assert subprocess.run(["cat", m.p("env:/staging/app/terraform.tfstate")], check=True,
                          capture_output=True).stdout == NESTED["env:/staging/app/terraform.tfstate"]


def test_dot_dot_is_listed_with_its_inode(s3, bucket, mount):
    """readdir gave ".." inode 0, which made `ls -a` leave it out."""
    put_objects(s3, bucket, {"a/b/terraform.tfstate": b"{}"})
    m = mount(bucket)
    for d in (m.path, m.p("a"), m.p("a", "b")):
        out = subprocess.run(["ls", "-a", d], capture_output=True, text=True, check=True)
        assert out.stdout.split()[:2] == [".", ".."], (d, out.stdout)
    with os.scandir(m.p("a", "b")) as it:
        assert [e.name for e in it] == ["terraform.tfstate"]


def test_stat_shows_real_size_mtime_and_modes(s3, bucket, mount):
    put_objects(s3, bucket, NESTED)
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    m = mount(bucket)
    for key in NESTED:
        st = os.stat(m.p(key))
        assert st.st_size == listed[key]["Size"] == len(NESTED[key])
        assert int(st.st_mtime) == int(listed[key]["LastModified"].timestamp())
        assert oct(st.st_mode & 0o7777) == "0o444"
        assert st.st_uid == os.getuid() and st.st_gid == os.getgid()
    dst = os.stat(m.p("prod"))
    assert oct(dst.st_mode & 0o7777) == "0o755"
    ls = subprocess.run(["ls", "-l", m.p("prod/network")], check=True, capture_output=True,
                        text=True).stdout
    assert str(len(NESTED["prod/network/terraform.tfstate"])) in ls and "-r--r--r--" in ls


def test_owner_and_umask_options(s3, bucket, mount):
    put_objects(s3, bucket, {"a/terraform.tfstate": state(1)})
    m = mount(bucket, ["uid=1234", "gid=4321", "umask=027"])
    st = os.stat(m.p("a/terraform.tfstate"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 4321, 0o440)
    assert os.stat(m.p("a")).st_mode & 0o7777 == 0o750


def test_find_over_1200_objects_in_one_directory(s3, bucket, mount):
    objs = {"many/state-%04d.tfstate" % i: state(i) for i in range(1200)}
    objs["many/sub/terraform.tfstate"] = state(1)
    put_objects(s3, bucket, objs)
    m = mount(bucket)
    names = os.listdir(m.p("many"))
    assert len(names) == 1201
    out = subprocess.run(["find", m.path, "-type", "f"], check=True, capture_output=True,
                         text=True).stdout.split()
    assert sorted(os.path.relpath(p, m.path) for p in out) == sorted(objs)
    for key in ("many/state-0000.tfstate", "many/state-0999.tfstate", "many/state-1199.tfstate"):
        with open(m.p(key), "rb") as f:
            assert f.read() == objs[key]


def test_a_large_bucket_is_listed_in_parallel_ranges_and_nothing_is_lost(s3, bucket, mount):
    """3,000 states in 300 directories: the first page, one delimiter listing to cut the
    rest at directories, then ranges at once; every key once, within a few requests of
    the 3-page floor, and a warm find costs nothing."""
    keys = {"t%03d/s%d.tfstate" % (i // 10, i % 10): b"{}" for i in range(3000)}
    keys.update({"t%03d.tfstate" % i: b"{}" for i in range(0, 300, 7)})  # beside the dirs
    put_objects(s3, bucket, keys)
    m = mount(bucket)
    found = subprocess.run(["find", m.path, "-type", "f"], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert sorted(os.path.relpath(f, m.path) for f in found if f) == sorted(keys)

    def lists():
        with open(m.p(".tfstatefs/stats")) as f:
            return dict(line.rstrip("\n").split("\t") for line in f).get("s3_list_requests")
    cold = int(lists())
    assert cold <= 1 + 4 + 1 + 4, "bucket check, 4 pages, the cut, a crossing page per range"
    assert read_stats(m)["tree_keys_listed"] == len(keys), "each key handed over once"
    subprocess.run(["find", m.path, "-name", "*.tflock"], capture_output=True, check=True)
    assert int(lists()) == cold


def test_small_pages_split_the_listing_often_and_hand_over_each_key_once(s3, bucket, mount, fake):
    """40 keys a page (the fake cuts max-keys on the way to radosgw): 3,000 states and 300
    locks in 300 directories cost 83 pages, so the idle listing threads split ranges again
    and again. Each key still reaches the tree and the reports exactly once, and the cost
    stays near the floor."""
    keys = {"t%03d/s%d.tfstate" % (i // 10, i % 10): b"{}" for i in range(3000)}
    locks = {k + ".tflock": json.dumps({"ID": "id-%04d" % i, "Operation": "OperationTypeApply",
                                        "Who": "ci@runner", "Version": "1.11.4",
                                        "Created": "2026-11-28T09:00:00Z", "Path": k}).encode()
             for i, k in enumerate(sorted(keys)) if i % 10 == 3}
    put_objects(s3, bucket, {**keys, **locks})
    fake.rewrite_target = lambda method, target: target.replace("max-keys=1000", "max-keys=40")
    m = mount(bucket, env={"AWS_ACCESS_KEY_ID": fake.static_key["AccessKeyId"],
                           "AWS_SECRET_ACCESS_KEY": fake.static_key["SecretAccessKey"]},
              endpoint_options=["endpoint=" + fake.endpoint, "use_path_style"])
    found = subprocess.run(["find", m.path, "-type", "f"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert sorted(os.path.relpath(f, m.path) for f in found) == sorted({**keys, **locks})
    assert read_stats(m)["tree_keys_listed"] == len(keys) + len(locks), "each key once"
    lists = [r for r in fake.requests if r["method"] == "GET" and "list-type=2" in r["path"]]
    floor = -(-len(keys | locks) // 40)
    assert len(lists) <= floor * 1.5, "%d listing requests for a floor of %d" % (len(lists), floor)
    assert len([r for r in lists if "start-after" in r["path"]]) >= 8, "split again and again"
    with open(m.p(".tfstatefs/locks")) as f:
        rows = [line.split("\t")[0] for line in f.read().splitlines()]
    assert sorted(rows) == sorted(k[:-len(".tflock")] for k in locks)


def test_odd_keys_are_shown_or_hidden_never_wrong(s3, bucket, mount):
    good = {
        "with space/terraform.tfstate": b"space",
        "colon:dir/a:b.tfstate": b"colon",
        "ünïcødé/状态.tfstate": "utf8".encode(),
        "plus+sign/x=y&z.tfstate": b"plus",
        "both/leaf": b"nested under both",
        "marker-only/": b"",
        "percent%20literal/s": b"percent",
    }
    hidden = {
        "both": b"object shadowed by the directory 'both'",
        "double//slash": b"empty name",
        "/leading": b"empty name",
        "dot/./x": b"dot",
        "dotdot/../x": b"dotdot",
        ("long/" + "n" * 256): b"too long",
        "ctl/\x01\x1f.tfstate": b"control chars are fine",
    }
    put_objects(s3, bucket, {**good, **hidden})
    m = mount(bucket)
    assert os.path.isdir(m.p("both"))
    with open(m.p("both/leaf"), "rb") as f:
        assert f.read() == b"nested under both"
    for key, body in good.items():
        if key.endswith("/"):
            assert os.path.isdir(m.p(key)) and os.listdir(m.p(key)) == []
            continue
        with open(m.p(key), "rb") as f:
            assert f.read() == body, key
    # Control characters are legal in a name: shown as they are.
    with open(m.p("ctl/\x01\x1f.tfstate"), "rb") as f:
        assert f.read() == b"control chars are fine"
    # A key that cannot be a path is hidden whole: not even its directories appear.
    for name in ("double", "dot", "dotdot", "long", "leading", ""):
        assert name not in os.listdir(m.path)
    assert sorted(os.listdir(m.path)) == sorted({k.split("/")[0] for k in good} | {"both", "ctl"})
    assert subprocess.run(["find", m.path], capture_output=True).returncode == 0


def test_prefix_mount_shows_only_the_prefix_and_its_workspaces(s3, bucket, mount):
    put_objects(s3, bucket, NESTED)
    m = mount(bucket + ":/teams/platform")
    assert sorted(os.listdir(m.path)) == ["dns", "env:"]
    with open(m.p("dns/terraform.tfstate"), "rb") as f:
        assert f.read() == NESTED["teams/platform/dns/terraform.tfstate"]
    # The workspace copy of teams/platform/dns lives at env:/qa/teams/platform/dns/...
    assert sorted(os.listdir(m.p("env:"))) == ["qa", "x.tfstate"]
    with open(m.p("env:/qa/dns/terraform.tfstate"), "rb") as f:
        assert f.read() == NESTED["env:/qa/teams/platform/dns/terraform.tfstate"]
    assert not os.path.exists(m.p("env:/qa/other"))
    with open(m.p("env:/x.tfstate"), "rb") as f:
        assert f.read() == NESTED["teams/platform/env:/x.tfstate"]


def test_listing_is_cached_for_cache_ttl_and_cat_reads_the_object_now(s3, bucket, mount):
    put_objects(s3, bucket, {"app/terraform.tfstate": state(1)})
    m = mount(bucket, ["cache_ttl=2"])
    assert os.listdir(m.p("app")) == ["terraform.tfstate"]
    s3.put_object(Bucket=bucket, Key="app/new.tfstate", Body=b"new")
    s3.put_object(Bucket=bucket, Key="app/terraform.tfstate", Body=state(2))
    # cat reads the object as it is now, whatever the listing said.
    with open(m.p("app/terraform.tfstate"), "rb") as f:
        assert f.read() == state(2)
    deadline = time.time() + 10
    while "new.tfstate" not in os.listdir(m.p("app")):
        assert time.time() < deadline, "new key never showed up"
        time.sleep(0.3)
    s3.delete_object(Bucket=bucket, Key="app/new.tfstate")
    deadline = time.time() + 10
    while os.path.exists(m.p("app/new.tfstate")):
        assert time.time() < deadline, "deleted key never went away"
        time.sleep(0.3)


def test_a_state_deleted_after_listing_reads_as_enoent(s3, bucket, mount):
    put_objects(s3, bucket, {"gone/terraform.tfstate": state(1)})
    m = mount(bucket, ["cache_ttl=60"])
    assert os.listdir(m.p("gone")) == ["terraform.tfstate"]
    s3.delete_object(Bucket=bucket, Key="gone/terraform.tfstate")
    with pytest.raises(OSError) as e:
        open(m.p("gone/terraform.tfstate"), "rb").read()
    assert e.value.errno == errno.ENOENT


def test_empty_bucket_mounts_empty(bucket, mount):
    m = mount(bucket)
    assert os.listdir(m.path) == []
    assert os.statvfs(m.path).f_namemax == 255


def test_large_state_streams_in_chunks_and_seeks(s3, bucket, mount):
    body = os.urandom(20 * 1024 * 1024 + 12345)  # three 8 MiB chunks, the last one short
    put_objects(s3, bucket, {"big/terraform.tfstate": body})
    m = mount(bucket)
    with open(m.p("big/terraform.tfstate"), "rb") as f:
        assert f.read() == body
        for off in (0, 8 * 1024 * 1024 - 3, 17 * 1024 * 1024 + 5, len(body) - 10, len(body) + 10):
            f.seek(off)
            assert f.read(4096) == body[off:off + 4096]


def test_a_state_replaced_while_read_never_mixes_two_versions(s3, bucket, mount):
    """Chunks fetched ahead before the change are of the version opened; a chunk past them
    is refused by If-Match, and the read says ESTALE instead of showing the new bytes."""
    v1 = b"1" * (34 * 1024 * 1024)
    v2 = b"2" * (34 * 1024 * 1024)
    put_objects(s3, bucket, {"s/terraform.tfstate": v1})
    m = mount(bucket)
    with open(m.p("s/terraform.tfstate"), "rb", buffering=0) as f:
        assert f.read(1024) == v1[:1024]
        s3.put_object(Bucket=bucket, Key="s/terraform.tfstate", Body=v2)
        f.seek(8 * 1024 * 1024 + 1)
        assert f.read(1024) == v1[:1024], "fetched ahead, or refused: never v2"
        f.seek(33 * 1024 * 1024)   # past every chunk fetched ahead
        with pytest.raises(OSError) as e:
            f.read(1024)
        assert e.value.errno == errno.ESTALE
    with open(m.p("s/terraform.tfstate"), "rb") as f:
        assert f.read() == v2


def read_stats(m):
    with open(m.p(".tfstatefs/stats")) as f:
        return {k: int(v) for k, v in (line.rstrip("\n").split("\t") for line in f)}


def stats_once_released(m):
    """The stats once every file closed is released: the kernel sends RELEASE after
    close() has returned, so a reader may still hold its chunks for a moment."""
    deadline = time.time() + 10
    while read_stats(m)["read_cache_bytes"] and time.time() < deadline:
        time.sleep(0.05)
    return read_stats(m)


def test_a_state_read_in_order_is_fetched_ahead_within_max_cache_mb(s3, bucket, mount):
    body = os.urandom(40 * 1024 * 1024 + 3)
    put_objects(s3, bucket, {"big/terraform.tfstate": body})
    m = mount(bucket)
    with open(m.p("big/terraform.tfstate"), "rb") as f:
        assert f.read() == body
    st = stats_once_released(m)
    assert st["read_ahead_fetches"] >= 4 and st["read_ahead_hits"] == st["read_ahead_fetches"]
    assert st["read_cache_peak_bytes"] <= 3 * 8 * 1024 * 1024, "the chunk read and two ahead"
    assert st["read_cache_bytes"] == 0, "closed: every chunk given back"
    assert st["read_cache_limit_bytes"] == 64 * 1024 * 1024
    assert st["s3_get_requests"] == 6, "one GET per 8 MiB chunk, none twice"


def test_readers_beyond_max_cache_mb_read_right_in_small_pieces(s3, bucket, mount):
    """Four readers at once of 12 MiB states in 4 MiB of budget: the budget cannot hold one
    chunk, so each read fetches just what it needs; memory stays near the budget."""
    bodies = {"s%d/terraform.tfstate" % i: os.urandom(12 * 1024 * 1024 + i) for i in range(4)}
    put_objects(s3, bucket, bodies)
    m = mount(bucket, ["max_cache_mb=4"])

    def cat(key):
        with open(m.p(key), "rb") as f:
            return f.read() == bodies[key]
    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(cat, bodies))
    st = stats_once_released(m)
    assert st["read_small_fetches"] > 0 and st["read_ahead_fetches"] == 0
    # The budget, plus one forced read (at most 1 MiB, FUSE's largest) per reader.
    assert st["read_cache_peak_bytes"] <= 4 * 1024 * 1024 + 4 * 1024 * 1024
    assert st["read_cache_bytes"] == 0


def test_virtual_hosted_addressing(stack, s3, bucket, mount):
    # radosgw answers <bucket>.localhost (rgw_dns_name) and curl resolves *.localhost
    # to loopback: without use_path_style the bucket goes in the host name.
    put_objects(s3, bucket, {"vh/terraform.tfstate": b"virtual host"})
    port = stack["TFS_S3_ENDPOINT"].rsplit(":", 1)[1]
    m = mount(bucket, ["debug_s3"], endpoint_options=["endpoint=http://localhost:" + port])
    with open(m.p("vh/terraform.tfstate"), "rb") as f:
        assert f.read() == b"virtual host"
    assert "GET /vh/terraform.tfstate" in m.log()  # no bucket in the path


def test_many_threads_read_many_states_at_once(s3, bucket, mount):
    from concurrent.futures import ThreadPoolExecutor
    objs = {"d%02d/s%03d/terraform.tfstate" % (i % 10, i): state(i, size_pad=i * 37) for i in range(300)}
    put_objects(s3, bucket, objs)
    m = mount(bucket)

    def check(key):
        st = os.stat(m.p(key))
        with open(m.p(key), "rb") as f:
            data = f.read()
        return key, st.st_size == len(objs[key]) and data == objs[key]
    with ThreadPoolExecutor(32) as ex:
        results = dict(ex.map(check, list(objs) * 2))
    assert all(results.values()), [k for k, ok in results.items() if not ok]


def test_credentials_from_a_shared_profile(stack, s3, bucket, mount, tmp_path):
    put_objects(s3, bucket, {"p/terraform.tfstate": b"profile"})
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n"
                                     "[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                                     % (stack["AWS_ACCESS_KEY_ID"], stack["AWS_SECRET_ACCESS_KEY"]))
    (aws / "config").write_text("[profile ops]\nregion = us-east-1\n")
    env = {"HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_REGION": ""}
    m = mount(bucket, ["profile=ops"], env=env)
    with open(m.p("p/terraform.tfstate"), "rb") as f:
        assert f.read() == b"profile"
    m2 = mount(bucket, [], env=dict(env, AWS_PROFILE="ops"))
    with open(m2.p("p/terraform.tfstate"), "rb") as f:
        assert f.read() == b"profile"


def test_a_server_ignoring_range_never_shows_wrong_bytes(stack, s3, bucket, mount):
    from s3_proxy import S3Proxy
    body = b"A" * (8 * 1024 * 1024) + b"Z"   # one byte past the first 8 MiB chunk
    put_objects(s3, bucket, {"r/terraform.tfstate": body})
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))

    def ignore_later_ranges(method, path, req_headers, status, headers, data):
        """Honours the first chunk, then answers ranged GETs with the whole object (200)."""
        if method == "GET" and req_headers.get("Range", "bytes=0-").startswith("bytes=0-"):
            return status, headers, data
        return 200, [(k, v) for k, v in headers if k.lower() != "content-range"], body
    proxy.rewrite_response = ignore_later_ranges
    try:
        m = mount(bucket, endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        with open(m.p("r/terraform.tfstate"), "rb", buffering=0) as f:
            assert f.read(16) == b"A" * 16
            f.seek(len(body) - 1)
            with pytest.raises(OSError) as e:
                f.read(1)  # the old code answered b"A" here: byte 0, not the last byte
            assert e.value.errno == errno.EIO, m.log()
        assert any(r[0] == "GET" and r[2].get("Range", "").startswith("bytes=8388608-")
                   for r in proxy.requests)
        assert "ignored Range" in m.log(), m.log()
        m.unmount()
    finally:
        proxy.close()


def test_a_body_held_back_until_the_headers_are_acked_comes_at_once(stack, s3, bucket, mount):
    """radosgw's beast frontend writes a response's headers and body apart, without
    TCP_NODELAY: Nagle holds a small body back until the headers are acknowledged, and
    Linux delays that ACK by 40 ms on a kept-alive connection. The client acks the headers
    at once (TCP_QUICKACK): before, each lock file read took 40 ms instead of 2. The proxy
    measures how long each ack took: quick is well under a millisecond, delayed is 40 ms
    or more; the median of 12 reads decides, so that one slow moment does not."""
    from s3_proxy import S3Proxy
    locks = {"s%02d/terraform.tfstate.tflock" % i: b'{"ID":"x%02d"}' % i for i in range(12)}
    put_objects(s3, bucket, locks)
    proxy = S3Proxy(int(stack["TFS_S3_PORT"]))
    try:
        m = mount(bucket, endpoint_options=["endpoint=" + proxy.endpoint, "use_path_style"])
        proxy.ack_waits = []
        for key in locks:
            with open(m.p(key), "rb") as f:
                assert b"x" in f.read()
        waits = sorted(proxy.ack_waits)
        assert len(waits) >= 12, waits
        assert waits[len(waits) // 2] < 0.02, ["%.1f ms" % (w * 1000) for w in waits]
        m.unmount()
    finally:
        proxy.close()


def test_files_and_directories_open_at_a_lazy_unmount_are_freed(s3, bucket, mount):
    """A lazy unmount while a state, a lock file and a directory are open: the kernel may
    drop their RELEASE as the mount goes, and the mount frees what is left when its session
    ends (under ASan, LeakSanitizer found a handle and its reader lost before)."""
    from conftest import SANITIZER_MARKS
    put_objects(s3, bucket, {"a/terraform.tfstate": b'{"version":4,"serial":1}',
                             "a/terraform.tfstate.tflock": b'{"ID":"x"}'})
    m = mount(bucket)
    state = open(m.p("a/terraform.tfstate"), "rb")
    state.read(1)
    lock = open(m.p("a/terraform.tfstate.tflock"), "rb")
    d = os.open(m.p("a"), os.O_RDONLY | os.O_DIRECTORY)
    subprocess.run(["fusermount3", "-uz", m.path], check=True)
    m.unmounted = True
    state.close()
    lock.close()
    os.close(d)
    rc = m.proc.wait(timeout=30)
    os.rmdir(m.path)
    log = m.log()
    assert rc == 0, log
    for mark in SANITIZER_MARKS:
        assert mark not in log, log
