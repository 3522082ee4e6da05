"""Runs the real terraform binary against the local stack (S3 backend, real locks)."""
import os
import shutil
import subprocess
import textwrap

import pytest

TERRAFORM = shutil.which("terraform")

needs_terraform = pytest.mark.skipif(
    TERRAFORM is None, reason="needs the terraform binary (1.11+), not on this machine")


class Terraform:
    """One working directory with an S3 backend on the local stack."""

    def __init__(self, stack, workdir, bucket, key, use_lockfile=True, dynamodb_table=None,
                 sleep_seconds=0):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
                        AWS_ACCESS_KEY_ID=stack["AWS_ACCESS_KEY_ID"],
                        AWS_SECRET_ACCESS_KEY=stack["AWS_SECRET_ACCESS_KEY"],
                        AWS_REGION="us-east-1", TF_CLI_CONFIG_FILE=os.path.join(self.dir, ".tfrc"))
        open(os.path.join(self.dir, ".tfrc"), "w").close()
        endpoints = 's3 = "%s"' % stack["TFS_S3_ENDPOINT"]
        if dynamodb_table:
            endpoints += '\n      dynamodb = "%s"' % stack["TFS_DDB_ENDPOINT"]
        lock = "use_lockfile = %s" % ("true" if use_lockfile else "false")
        if dynamodb_table:
            lock += '\n    dynamodb_table = "%s"' % dynamodb_table
        sleep = ""
        if sleep_seconds:
            # A provisioner runs only when the resource is created: triggers_replace =
            # timestamp() replaces it on every apply, so every apply holds the lock for
            # sleep_seconds (plan shows a replacement, which is fine for these tests).
            # exec: the sleep is the process terraform kills on Ctrl-C, none is left behind.
            sleep = textwrap.dedent('''
                triggers_replace = timestamp()
                provisioner "local-exec" {
                  command = "exec sleep %d"
                }''' % sleep_seconds)
        with open(os.path.join(self.dir, "main.tf"), "w") as f:
            f.write(textwrap.dedent('''\
                terraform {
                  backend "s3" {
                    bucket = "%s"
                    key    = "%s"
                    region = "us-east-1"
                    endpoints = {
                      %s
                    }
                    use_path_style              = true
                    skip_credentials_validation = true
                    skip_requesting_account_id  = true
                    skip_metadata_api_check     = true
                    skip_region_validation      = true
                    skip_s3_checksum            = true
                    %s
                  }
                }
                variable "n" {
                  default = 1
                }
                resource "terraform_data" "x" {
                  input = var.n
                  %s
                }
                output "n" {
                  value = terraform_data.x.output
                }
                ''') % (bucket, key, endpoints, lock, sleep))

    def run(self, *args, check=True, **kw):
        return subprocess.run([TERRAFORM, *args], cwd=self.dir, env=self.env, check=check,
                              capture_output=True, text=True, **kw)

    def popen(self, *args):
        return subprocess.Popen([TERRAFORM, *args], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def init(self):
        return self.run("init", "-input=false", "-no-color")

    def apply(self, n=1, *extra):
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", "-var", "n=%d" % n, *extra)


def descendants(pid):
    """Every process below pid (children, grandchildren...), found through /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc, sig=None):
    """Kills a Popen'd terraform first (so it cannot clean up), then what it started
    (the provisioner's sh and sleep, plugin processes), then reaps it."""
    import signal
    sig = signal.SIGKILL if sig is None else sig
    below = descendants(proc.pid)
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    for p in below:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def interrupt(proc, timeout=60):
    """Ctrl-C for a Popen'd terraform: it stops, releases its lock and exits; whatever it
    started and left running is killed after."""
    import signal
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=timeout)
    for p in below:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
