"""Every write through the mount is refused with EROFS and leaves the bucket as it was."""
import errno
import os
import subprocess

import pytest
from conftest import bucket_snapshot, put_objects

STATE = b'{"version": 4, "serial": 1}\n'


def attempts(m):
    st = m.p("app/terraform.tfstate")
    return {
        "create": lambda: open(m.p("app/new.tfstate"), "wb").close(),
        "create with O_EXCL": lambda: os.close(os.open(m.p("new"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
        "open for write": lambda: open(st, "r+b").close(),
        "open for append": lambda: open(st, "ab").close(),
        "truncate by open": lambda: os.close(os.open(st, os.O_WRONLY | os.O_TRUNC)),
        "truncate": lambda: os.truncate(st, 0),
        "chmod": lambda: os.chmod(st, 0o644),
        "chown": lambda: os.chown(st, 1, 1),
        "utime": lambda: os.utime(st, (1, 1)),
        "unlink a state": lambda: os.unlink(st),
        "rename": lambda: os.rename(st, m.p("app/moved.tfstate")),
        "mkdir": lambda: os.mkdir(m.p("newdir")),
        "rmdir": lambda: os.rmdir(m.p("emptydir")),
        "rmdir non-empty": lambda: os.rmdir(m.p("app")),
        "symlink": lambda: os.symlink("x", m.p("app/link")),
        "hard link": lambda: os.link(st, m.p("app/hard")),
        "mknod": lambda: os.mkfifo(m.p("app/fifo")),
        "setxattr": lambda: os.setxattr(st, "user.x", b"1"),
        "removexattr": lambda: os.removexattr(st, "user.x"),
    }


def test_every_write_is_refused_and_the_bucket_is_unchanged(s3, bucket, mount):
    put_objects(s3, bucket, {"app/terraform.tfstate": STATE, "emptydir/": b""})
    before = bucket_snapshot(s3, bucket)
    m = mount(bucket)
    for name, attempt in attempts(m).items():
        with pytest.raises(OSError) as e:
            attempt()
        # rmdir of a non-empty directory is refused by the kernel's own check first.
        allowed = (errno.EROFS, errno.ENOTEMPTY) if name == "rmdir non-empty" else (errno.EROFS,)
        assert e.value.errno in allowed, "%s: %s" % (name, e.value)
    r = subprocess.run(["sh", "-c", "echo x > '%s'" % m.p("app/terraform.tfstate")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    with open(m.p("app/terraform.tfstate"), "rb") as f:
        assert f.read() == STATE
    assert bucket_snapshot(s3, bucket) == before
