"""The README's first command: the demo mounts example states and stops cleanly."""
import os
import subprocess

from conftest import REPO


def test_demo_starts_mounts_and_stops(tmp_path):
    demo = tmp_path / "demo"
    env = dict(os.environ, TFS_DEMO_DIR=str(demo))
    r = subprocess.run([os.path.join(REPO, "examples/demo.sh"), "start"], env=env,
                       capture_output=True, text=True, timeout=300)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        mnt = demo / "mnt"
        assert os.path.ismount(mnt)
        for key in ("prod/network/terraform.tfstate", "teams/app/terraform.tfstate",
                    "env:/staging/teams/app/terraform.tfstate", "legacy/billing/terraform.tfstate",
                    "teams/crashed/terraform.tfstate.tflock"):
            assert (mnt / key).is_file(), key
        assert b'"version": 4' in (mnt / "prod/network/terraform.tfstate").read_bytes()
        legacy = (mnt / "legacy/billing/terraform.tfstate.tflock").read_text()
        assert "Backend:   dynamodb" in legacy, legacy
        locks = (mnt / ".tfstatefs/locks").read_text()
        assert "legacy/billing/terraform.tfstate\tdynamodb\t" in locks, locks
        assert "teams/crashed/terraform.tfstate\ts3\t" in locks, locks
        migration = (mnt / ".tfstatefs/migration").read_text()
        assert "legacy/billing/terraform.tfstate\tfree\theld\tmatch\t-" in migration, migration
        assert "Stop everything:" in r.stdout and str(mnt) in r.stdout
        # Every example script, as the demo's closing text offers them. Both locks were
        # taken moments ago: none is older than an hour, both older than 0 minutes.
        ex = os.path.join(REPO, "examples")
        ok = subprocess.run([ex + "/check-locks", "-m", "60", str(mnt)], capture_output=True,
                            text=True)
        assert ok.returncode == 0 and "no lock older than 60 minutes" in ok.stdout, ok
        gate = subprocess.run([ex + "/check-locks", "-m", "0", str(mnt)], capture_output=True,
                              text=True)
        assert gate.returncode == 1 and "teams/crashed/terraform.tfstate" in gate.stdout, gate
        csv = subprocess.run([ex + "/lock-report", "--csv", str(mnt)], capture_output=True,
                             text=True, check=True).stdout
        assert csv.startswith("path,id,who,") and "legacy/billing/terraform.tfstate" in csv
        dry = subprocess.run([ex + "/reap-stale-locks", "-m", "0", str(mnt)],
                             capture_output=True, text=True, check=True).stdout
        assert "would remove" in dry and (mnt / "teams/crashed/terraform.tfstate.tflock").exists()
        assert os.getxattr(mnt / "prod/network/terraform.tfstate", "user.tfstate.serial")
        assert os.getxattr(mnt / "legacy/billing/terraform.tfstate.tflock",
                           "user.tflock.backend") == b"dynamodb"
        pids = [int(open(p).readline()) for p in (demo / "stack").glob("*.pid")]
        assert len(pids) == 4
    finally:
        s = subprocess.run([os.path.join(REPO, "examples/demo.sh"), "stop"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert s.returncode == 0, s.stderr
    assert not demo.exists()
    for pid in pids:
        assert not os.path.exists("/proc/%d/cmdline" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z", "pid %d still running" % pid
