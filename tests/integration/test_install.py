"""make install and uninstall, the man page, and mounting the way mount(8), fstab and
systemd do it.

mount(8) looks for helpers only in /sbin and runs them without PATH or HOME (mount.fuse3
then runs `tfstatefs` through /bin/sh's default PATH, with HOME=/root), so those mounts
run here in a private mount namespace (unshare -m): the tree `make install DESTDIR=...`
wrote is laid over /usr/local/bin, /opt and /sbin (read-only overlays), and /root and
/mnt are fresh tmpfs. The host's directories are never written; everything is gone when
the namespace's last process ends.
"""
import os
import re
import shutil
import stat
import subprocess

import pytest
from conftest import BIN, REPO

BUILD = os.path.dirname(os.path.abspath(BIN))
EXAMPLES = os.path.join(REPO, "examples")
MAN = os.path.join(REPO, "man", "tfstatefs.1")
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATE = b'{"version": 4, "terraform_version": "1.11.4", "serial": 7, "lineage": "inst"}\n'


def make(*args):
    """make in the repository, installing the binary under test: -o keeps make from
    rebuilding it (BUILD is its directory, build/ or build/asan/)."""
    target = os.path.join(BUILD, "tfstatefs")
    r = subprocess.run(["make", "-C", REPO, "--no-print-directory", "-o", target,
                        "BUILD=" + BUILD, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "make %s: %s%s" % (" ".join(args), r.stdout, r.stderr)
    return r


def tree(root):
    """Every file and symlink under root: {relative path: (kind, mode or link target)}."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode))
    return out


def install(tmp_path, prefix="/usr/local"):
    dest = tmp_path / ("dest" + prefix.replace("/", "-"))
    make("install", "DESTDIR=" + str(dest), "PREFIX=" + prefix)
    return str(dest)


def test_install_and_uninstall_put_exactly_these_files(tmp_path):
    dest = install(tmp_path)
    assert tree(dest) == {
        "usr/local/bin/tfstatefs": ("file", 0o755),
        "usr/local/share/man/man1/tfstatefs.1": ("file", 0o644),
        "sbin/mount.tfstatefs": ("file", 0o755),
        "sbin/mount.fuse.tfstatefs": ("link", "mount.tfstatefs"),
    }
    with open(os.path.join(dest, "usr/local/bin/tfstatefs"), "rb") as a, open(BIN, "rb") as b:
        assert a.read() == b.read(), "make install did not install the binary under test"
    with open(os.path.join(dest, "usr/local/share/man/man1/tfstatefs.1")) as a, open(MAN) as b:
        assert a.read() == b.read()
    helper = os.path.join(dest, "sbin/mount.tfstatefs")
    with open(helper) as f:
        text = f.read()
    assert text.startswith("#!/bin/sh\n")
    assert "PATH='/usr/local/bin':" in text and "exec mount.fuse3 " in text
    assert subprocess.run(["sh", "-n", helper]).returncode == 0
    # The installed page is the one man finds there.
    r = subprocess.run(["man", "--warnings", "-M", os.path.join(dest, "usr/local/share/man"),
                        "tfstatefs"], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C", MANWIDTH="80", MANPAGER="cat",
                                PAGER="cat"))
    assert r.returncode == 0 and r.stderr == "" and "tfstatefs" in r.stdout, r.stderr

    make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr/local")
    assert tree(dest) == {}


def test_install_honours_prefix_destdir_and_sbindir(tmp_path):
    dest = install(tmp_path, "/opt/tfstatefs")
    assert set(tree(dest)) == {"opt/tfstatefs/bin/tfstatefs",
                               "opt/tfstatefs/share/man/man1/tfstatefs.1",
                               "sbin/mount.tfstatefs", "sbin/mount.fuse.tfstatefs"}
    with open(os.path.join(dest, "sbin/mount.tfstatefs")) as f:
        assert "PATH='/opt/tfstatefs/bin':" in f.read()
    other = str(tmp_path / "other")
    make("install", "DESTDIR=" + other, "PREFIX=/usr", "SBINDIR=/usr/sbin")
    assert set(tree(other)) == {"usr/bin/tfstatefs", "usr/share/man/man1/tfstatefs.1",
                                "usr/sbin/mount.tfstatefs", "usr/sbin/mount.fuse.tfstatefs"}
    make("uninstall", "DESTDIR=" + other, "PREFIX=/usr", "SBINDIR=/usr/sbin")
    make("uninstall", "DESTDIR=" + dest, "PREFIX=/opt/tfstatefs")
    assert tree(other) == {} and tree(dest) == {}


def help_options():
    """Every option `tfstatefs --help` lists: -o names (region=, use_path_style...), and
    -f, --help..."""
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        line = line.split("Unmount:")[0]  # fusermount3's -u is not ours
        for m in re.finditer(r"-o\s+(\S+)", line):
            for part in m.group(1).split(","):
                n = re.match(r"[a-z][a-z0-9_]*=?", part)
                if n:
                    names.add(n.group(0))
        names.update(re.findall(r"(?<![\w-])(--?[a-zA-Z][a-z]*)\b", line))
    names.discard("-o")
    return names


def test_man_page_renders_and_names_every_option():
    r = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C", MANWIDTH="80", MANPAGER="cat",
                                PAGER="cat"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = r.stdout
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ERRORS",
                    "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
        assert re.search(r"^%s$" % section, text, re.M), section
    options = help_options()
    assert {"region=", "endpoint=", "unlock_gid=", "audit_log=", "debug_s3", "-f", "--help",
            "--version", "ro", "unlock=", "insecure_tls"} <= options, options
    missing = [o for o in sorted(options)
               if not re.search(r"(?<![\w.-])%s%s" % (re.escape(o), "" if o[-1] == "=" else
                                                        r"(?![\w])"), text)]
    assert not missing, "tfstatefs(1) does not mention %s" % missing
    for word in ("mount.fuse3(8)", "fusermount3(1)", "terraform force-unlock", ".tflock",
                 "/.tfstatefs", "AWS_SHARED_CREDENTIALS_FILE", "fuse.tfstatefs", "_netdev"):
        assert word in text, word


MOUNT_OPTIONS = ["_netdev", "nofail", "noauto", "auto", "defaults", "user", "users", "nouser",
                 "comment=tfstate", "x-systemd.automount", "x-systemd.requires=network.target",
                 "X-mount.mkdir", "relatime", "nodiratime", "rw", "nodev", "nosuid", "noexec"]


def test_mount_and_fstab_options_are_accepted(mount, s3, bucket):
    """What mount(8), fstab and systemd put in -o mounts; nodev, nosuid and noexec still
    reach the kernel."""
    s3.put_object(Bucket=bucket, Key="app/terraform.tfstate", Body=STATE)
    m = mount(bucket, options=MOUNT_OPTIONS)
    with open(m.p("app", "terraform.tfstate"), "rb") as f:
        assert f.read() == STATE
    with open("/proc/self/mountinfo") as f:
        line = next(x for x in f if x.split()[4] == m.path)
    flags = line.split()[5].split(",")
    assert {"nodev", "nosuid", "noexec"} <= set(flags), line


def test_an_unknown_option_still_stops_the_mount(stack, bucket, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=stack["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=stack["AWS_SECRET_ACCESS_KEY"], AWS_REGION="us-east-1")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([BIN, bucket, str(mnt), "-o", "endpoint=%s,use_path_style,nofail,"
                        "no_such_option" % stack["TFS_S3_ENDPOINT"]],
                       capture_output=True, text=True, env=env, timeout=60)
    mounted = os.path.ismount(str(mnt))
    if mounted:
        subprocess.run(["fusermount3", "-u", str(mnt)])
    assert r.returncode == 1 and not mounted
    assert "no_such_option" in r.stderr and "nofail" not in r.stderr, r.stderr


# --- mount(8), fstab and systemd, in a private mount namespace ---

_namespace_ok = None


def need_namespace():
    global _namespace_ok
    if _namespace_ok is None:
        why = None
        if os.geteuid() != 0:
            why = "not root"
        elif not shutil.which("unshare"):
            why = "no unshare(1)"
        else:
            r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-ec",
                                "mount -t overlay overlay -o lowerdir=/usr/sbin:/usr/bin "
                                "/usr/sbin && mount -t tmpfs tmpfs /mnt"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                why = "unshare -m with overlayfs and tmpfs: " + r.stderr.strip()
        _namespace_ok = why or ""
    if _namespace_ok:
        pytest.skip("mount(8) tests need a private mount namespace: " + _namespace_ok)


PRELUDE = r'''
set -eu
ns=$(readlink /proc/self/ns/mnt)
echo "$ns" > "$NS_FILE"
daemons() {  # tfstatefs processes of this namespace: only ours
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] &&
           [ "$(cat "$p/comm" 2>/dev/null)" = tfstatefs ]; then echo "${p#/proc/}"; fi
    done
}
cleanup() {
    for d in $(awk '$3 == "fuse.tfstatefs" {print $2}' /proc/self/mounts); do
        umount -l "$d" 2>/dev/null || true
    done
    for p in $(daemons); do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
gone() {  # umount ends the daemon
    i=0
    while [ -n "$(daemons)" ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "tfstatefs still runs 30 s after umount" >&2; return 1; }
        sleep 0.05
    done
}
mounted() {  # how many tfstatefs mounts DIR has
    awk -v d="$1" '$2 == d && $3 == "fuse.tfstatefs" {n++} END {print n+0}' /proc/self/mounts
}
mount -t tmpfs -o mode=0700 tmpfs /root
mount -t tmpfs tmpfs /mnt
cd /
'''


def in_namespace(tmp_path, script, layers, env=None, timeout=180):
    """Runs script (sh) in a private mount namespace whose /usr/local/bin, /opt, /sbin show
    layers {target: dir} over what they hold. Returns the CompletedProcess."""
    assert not str(tmp_path).startswith(("/root", "/mnt")), tmp_path
    ns_file = str(tmp_path / "ns")
    setup = "".join("mount -t overlay overlay -o lowerdir=%s:%s %s\n" % (src, dst, dst)
                    for dst, src in layers.items())
    penv = {"PATH": STD_PATH, "LANG": "C.UTF-8", "NS_FILE": ns_file}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        if k in os.environ:
            penv[k] = os.environ[k]
    penv.update(env or {})
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             PRELUDE + setup + script], env=penv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        kill_namespace_daemons(ns_file)
        out, err = proc.communicate(timeout=60)
        raise AssertionError("timed out: %s%s" % (out, err))
    kill_namespace_daemons(ns_file)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_namespace_daemons(ns_file):
    """A tfstatefs left in the namespace (the script was killed) is killed by its pid."""
    try:
        with open(ns_file) as f:
            ns = f.read().strip()
    except OSError:
        return
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if (os.readlink("/proc/%s/ns/mnt" % pid) == ns and
                    open("/proc/%s/comm" % pid).read().strip() == "tfstatefs"):
                os.kill(int(pid), 9)
        except OSError:
            pass


def with_helper(dest):
    """The layers that show an install (PREFIX=/usr/local, SBINDIR=/sbin) to mount(8)."""
    return {"/usr/local/bin": dest + "/usr/local/bin", "/usr/sbin": dest + "/sbin"}


def check(r):
    assert r.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout,
                                                                     r.stderr)
    return r


def stack_keys(stack):
    return {k: stack[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def test_mount_type_fuse_tfstatefs_through_mount_fuse3(stack, s3, bucket, tmp_path):
    """make install (PREFIX=/usr/local) and Debian's mount.fuse3 alone, no helper of ours:
    `mount -t fuse.tfstatefs` runs tfstatefs from the default PATH, with the AWS keys of
    mount's environment."""
    need_namespace()
    s3.put_object(Bucket=bucket, Key="team/app/terraform.tfstate", Body=STATE)
    dest = install(tmp_path)
    expected = tmp_path / "expected"
    expected.write_bytes(STATE)
    script = r'''
mkdir /mnt/tf
mount -t fuse.tfstatefs "$BUCKET" /mnt/tf -o "endpoint=$ENDPOINT,use_path_style"
[ "$(mounted /mnt/tf)" = 1 ]
cmp /mnt/tf/team/app/terraform.tfstate "$EXPECTED"
grep -q "^credentials.environment" /mnt/tf/.tfstatefs/status
umount /mnt/tf
[ "$(mounted /mnt/tf)" = 0 ]
gone
echo ok
'''
    r = check(in_namespace(tmp_path, script, {"/usr/local/bin": dest + "/usr/local/bin"},
                           env=dict(stack_keys(stack), BUCKET=bucket, EXPECTED=str(expected),
                                    ENDPOINT=stack["TFS_S3_ENDPOINT"])))
    assert r.stdout.strip().endswith("ok")


def test_mount_helper_finds_tfstatefs_wherever_it_is_installed(stack, s3, bucket, tmp_path):
    """PREFIX=/opt/tfstatefs is not in the default PATH: /sbin/mount.tfstatefs (and
    mount.fuse.tfstatefs) put it there, so `-t tfstatefs` and `-t fuse.tfstatefs` work."""
    need_namespace()
    s3.put_object(Bucket=bucket, Key="team/app/terraform.tfstate", Body=STATE)
    dest = install(tmp_path, "/opt/tfstatefs")
    expected = tmp_path / "expected"
    expected.write_bytes(STATE)
    script = r'''
if command -v tfstatefs; then exit 1; fi
mkdir /mnt/tf
for type in tfstatefs fuse.tfstatefs; do
    mount -t "$type" "$BUCKET:/team" /mnt/tf -o "endpoint=$ENDPOINT,use_path_style,_netdev,nofail"
    [ "$(mounted /mnt/tf)" = 1 ]
    cmp /mnt/tf/app/terraform.tfstate "$EXPECTED"
    umount /mnt/tf
    gone
done
# What tfstatefs says when it cannot mount reaches mount's caller, with its status.
if mount -t tfstatefs no-such-bucket-here:/ /mnt/tf -o "endpoint=$ENDPOINT,use_path_style"; then
    exit 1
fi
[ "$(mounted /mnt/tf)" = 0 ]
echo ok
'''
    r = check(in_namespace(tmp_path, script, {"/opt": dest + "/opt", "/usr/sbin": dest + "/sbin"},
                           env=dict(stack_keys(stack), BUCKET=bucket, EXPECTED=str(expected),
                                    ENDPOINT=stack["TFS_S3_ENDPOINT"])))
    assert r.stdout.strip().endswith("ok")
    assert "no-such-bucket-here does not exist" in r.stderr, r.stderr


def example_line(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        lines = [x for x in f.read().splitlines() if x.strip() and not x.lstrip().startswith("#")]
    return lines


def adapt(source, bucket):
    """The example's source with the test's bucket: my-tfstate-bucket:/PREFIX."""
    name, sep, prefix = source.partition(":")
    assert name == "my-tfstate-bucket" and sep, source
    return bucket + ":" + prefix, prefix.strip("/")


def credentials_script(profile):
    """root's credentials file as examples/fstab says: [profile] in /root/.aws/credentials,
    mode 600 (the tmpfs on /root is the namespace's own)."""
    return ('mkdir -m 700 /root/.aws\n'
            'printf "[%s]\\naws_access_key_id = %%s\\naws_secret_access_key = %%s\\n" '
            '"$KEY_ID" "$KEY_SECRET" > /root/.aws/credentials\n'
            'chmod 600 /root/.aws/credentials\n' % profile)


def profile_of(options):
    m = re.search(r"(?:^|,)profile=([^,]+)", options)
    assert m, "the example names no profile: " + options
    return m.group(1)


def fstab_for_stack(stack, bucket, tmp_path):
    lines = example_line("fstab")
    assert len(lines) == 1, lines
    fields = lines[0].split()
    assert len(fields) == 6 and fields[2] == "fuse.tfstatefs", fields
    source, prefix = adapt(fields[0], bucket)
    options = fields[3] + ",endpoint=%s,use_path_style" % stack["TFS_S3_ENDPOINT"]
    fstab = tmp_path / "fstab"
    fstab.write_text("# examples/fstab, with the test's bucket and endpoint\n%s %s %s %s %s %s\n"
                     % (source, fields[1], fields[2], options, fields[4], fields[5]))
    return str(fstab), fields[1], prefix, profile_of(fields[3])


def creds_env(stack):
    """No AWS_* variable reaches these mounts, as at boot: only the test's own."""
    return {"KEY_ID": stack["AWS_ACCESS_KEY_ID"], "KEY_SECRET": stack["AWS_SECRET_ACCESS_KEY"]}


def test_fstab_example_mounts_with_root_credentials_file(stack, s3, bucket, tmp_path):
    need_namespace()
    fstab, where, prefix, profile = fstab_for_stack(stack, bucket, tmp_path)
    s3.put_object(Bucket=bucket, Key=prefix + "/app/terraform.tfstate", Body=STATE)
    dest = install(tmp_path)
    expected = tmp_path / "expected"
    expected.write_bytes(STATE)
    script = credentials_script(profile) + r'''
mkdir -p "$WHERE"
mount -a -T "$FSTAB"
[ "$(mounted "$WHERE")" = 1 ]
cmp "$WHERE/app/terraform.tfstate" "$EXPECTED"
grep "^credentials" "$WHERE/.tfstatefs/status"
echo "flags: $(awk -v d="$WHERE" '$2 == d && $3 == "fuse.tfstatefs" {print $4}' /proc/self/mounts)"
umount "$WHERE"
gone
mount -T "$FSTAB" "$WHERE"
cmp "$WHERE/app/terraform.tfstate" "$EXPECTED"
umount "$WHERE"
gone
echo ok
'''
    r = check(in_namespace(tmp_path, script, with_helper(dest),
                           env=dict(creds_env(stack), FSTAB=fstab, WHERE=where,
                                    EXPECTED=str(expected))))
    assert r.stdout.strip().endswith("ok")
    # mount.fuse3 gave it HOME=/root; the profile of the example line was used.
    assert "/root/.aws/credentials (profile %s)" % profile in r.stdout, r.stdout
    flags = re.search(r"^flags: (.*)$", r.stdout, re.M).group(1).split(",")
    assert {"nodev", "nosuid", "noexec", "allow_other"} <= set(flags), r.stdout


def test_fstab_mount_a_twice_mounts_once(stack, s3, bucket, tmp_path):
    need_namespace()
    fstab, where, prefix, profile = fstab_for_stack(stack, bucket, tmp_path)
    dest = install(tmp_path)
    script = credentials_script(profile) + r'''
mkdir -p "$WHERE"
mount -a -T "$FSTAB"
mount -a -T "$FSTAB"
echo "mounts: $(mounted "$WHERE")"
'''
    r = check(in_namespace(tmp_path, script, with_helper(dest),
                           env=dict(creds_env(stack), FSTAB=fstab, WHERE=where)))
    assert "mounts: 1" in r.stdout, r.stdout


def unit_mount_section():
    section, out = None, {}
    with open(os.path.join(EXAMPLES, "tfstatefs.mount")) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            out[(section, k)] = v
    return out


def unit_name(where):
    if shutil.which("systemd-escape"):
        return subprocess.run(["systemd-escape", "-p", "--suffix=mount", where],
                              capture_output=True, text=True, check=True).stdout.strip()
    return where.strip("/").replace("-", "\\x2d").replace("/", "-") + ".mount"


def test_systemd_unit_example_verifies(tmp_path):
    """systemd-analyze verify, under the name systemd requires (the example says which).
    PID 1 here is not systemd, so the unit is not started: the next test mounts what it
    says the way systemd would."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = unit_mount_section()
    name = unit_name(unit[("Mount", "Where")])
    with open(os.path.join(EXAMPLES, "tfstatefs.mount")) as f:
        text = f.read()
    assert "/etc/systemd/system/" + name in text, "the example should say to install it as " + name
    d = tmp_path / "units"
    d.mkdir()
    shutil.copy(os.path.join(EXAMPLES, "tfstatefs.mount"), d / name)
    dest = install(tmp_path)
    # Documentation=man:tfstatefs(1) is checked with man: the page make install put.
    r = subprocess.run(["systemd-analyze", "verify", str(d / name)], capture_output=True,
                       text=True, cwd=str(d),
                       env=dict(os.environ, MANPATH=dest + "/usr/local/share/man"))
    assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr


def test_systemd_unit_example_mounts_as_systemd_would(stack, s3, bucket, tmp_path):
    """systemd runs `mount What Where -t Type -o Options` as root, with no AWS_* variable."""
    need_namespace()
    unit = unit_mount_section()
    what, where, typ = (unit[("Mount", k)] for k in ("What", "Where", "Type"))
    options = unit[("Mount", "Options")]
    assert ("Unit", "After") in unit and "network-online.target" in unit[("Unit", "After")]
    assert ("Install", "WantedBy") in unit
    source, prefix = adapt(what, bucket)
    s3.put_object(Bucket=bucket, Key=prefix + "/app/terraform.tfstate", Body=STATE)
    dest = install(tmp_path)
    expected = tmp_path / "expected"
    expected.write_bytes(STATE)
    script = credentials_script(profile_of(options)) + r'''
mkdir -p "$WHERE"
mount "$WHAT" "$WHERE" -t "$TYPE" -o "$OPTIONS"
[ "$(mounted "$WHERE")" = 1 ]
cmp "$WHERE/app/terraform.tfstate" "$EXPECTED"
umount "$WHERE"
gone
echo ok
'''
    r = check(in_namespace(tmp_path, script, with_helper(dest),
                           env=dict(creds_env(stack), WHAT=source, WHERE=where, TYPE=typ,
                                    EXPECTED=str(expected),
                                    OPTIONS=options + ",endpoint=%s,use_path_style"
                                    % stack["TFS_S3_ENDPOINT"])))
    assert r.stdout.strip().endswith("ok")
