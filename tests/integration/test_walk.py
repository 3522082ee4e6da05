"""A walk of the mount (find, ls -R) costs the kernel's round trips as little as it may:
every readdir hands over attributes (no LOOKUP per directory), and the kernel opens
directories without asking and keeps their entries while they are the tree's, reading one
again once its listing or its lock scan has run out and its entries changed. Figures come
from /.tfstatefs/stats, never from a clock."""
import json
import os
import subprocess
import time

from conftest import put_objects

LOCK = {"ID": "5b4e1e9a-walk", "Operation": "OperationTypeApply", "Info": "", "Who": "ci@runner",
        "Version": "1.11.4", "Created": "2026-11-28T09:00:00Z"}


def stats(m):
    with open(m.p(".tfstatefs", "stats")) as f:
        return {k: int(v) for k, v in (line.rstrip("\n").split("\t") for line in f)
                if v.isdigit()}


def lock_body(bucket, key):
    return json.dumps(dict(LOCK, Path=bucket + "/" + key)).encode()


def test_a_find_over_300_directories_looks_up_none_of_them(s3, bucket, mount):
    # 300 directories at the root fill many readdir pages: with the kernel's default
    # (readdirplus for the first page only) each directory past it cost a LOOKUP.
    put_objects(s3, bucket, {"t%03d/a/terraform.tfstate" % i: b"{}" for i in range(300)})
    m = mount(bucket)
    before = stats(m)
    out = subprocess.run(["find", m.path, "-name", "terraform.tfstate"], capture_output=True,
                         text=True, check=True).stdout.split()
    after = stats(m)
    assert len(out) == 300
    assert after["tree_lookups"] - before["tree_lookups"] == 0
    assert after["tree_dirs_read"] - before["tree_dirs_read"] == 601   # 300 + 300 + the root
    # Warm: from the kernel's cache. The root may be read once more: the kernel took its
    # mtime before the read that listed the bucket under it, and its mtime moved.
    subprocess.run(["find", m.path, "-name", "terraform.tfstate"], capture_output=True, check=True)
    again = stats(m)
    assert again["tree_dirs_read"] - after["tree_dirs_read"] <= 1
    subprocess.run(["find", m.path, "-name", "terraform.tfstate"], capture_output=True, check=True)
    third = stats(m)
    assert third["tree_dirs_read"] == again["tree_dirs_read"]
    assert third["tree_lookups"] == after["tree_lookups"]


def test_the_kernel_keeps_a_directory_until_its_entries_change(s3, bucket, mount):
    put_objects(s3, bucket, {"app/a.tfstate": b"{}", "app/b.tfstate": b"{}"})
    m = mount(bucket, ["cache_ttl=3"])
    assert sorted(os.listdir(m.p("app"))) == ["a.tfstate", "b.tfstate"]
    read = stats(m)["tree_dirs_read"]
    for _ in range(3):   # opened again, answered from the kernel's cache
        assert sorted(os.listdir(m.p("app"))) == ["a.tfstate", "b.tfstate"]
    assert stats(m)["tree_dirs_read"] == read
    s3.put_object(Bucket=bucket, Key="app/c.tfstate", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="app/a.tfstate")
    time.sleep(3.2)    # cache_ttl: the next open lists again and finds new entries
    assert sorted(os.listdir(m.p("app"))) == ["b.tfstate", "c.tfstate"]
    assert stats(m)["tree_dirs_read"] > read


def test_a_lock_shows_in_ls_after_lock_list_ttl_and_goes_at_rm(s3, bucket, mount):
    put_objects(s3, bucket, {"app/terraform.tfstate": b"{}"})
    m = mount(bucket, ["cache_ttl=60", "lock_list_ttl=1"])
    assert os.listdir(m.p("app")) == ["terraform.tfstate"]
    assert os.listdir(m.p("app")) == ["terraform.tfstate"]
    s3.put_object(Bucket=bucket, Key="app/terraform.tfstate.tflock",
                  Body=lock_body(bucket, "app/terraform.tfstate"))
    time.sleep(1.2)
    assert sorted(os.listdir(m.p("app"))) == ["terraform.tfstate", "terraform.tfstate.tflock"]
    os.unlink(m.p("app/terraform.tfstate.tflock"))
    # No wait: the unlink itself drops the kernel's copy of the directory.
    assert os.listdir(m.p("app")) == ["terraform.tfstate"]
