"""The credential chain the way the AWS SDKs walk it, each source mounting a bucket for
real: a fake AWS of the tests' own (fake_aws.py) plays STS, EC2 instance metadata and the
container endpoint, and stands in front of radosgw checking every S3 signature against
the credentials it issued (radosgw itself knows only one static user)."""
import os
import stat
import subprocess
import threading
import time

import pytest
from conftest import put_objects

STATE = b'{"version":4,"serial":7}'
ROLE = "arn:aws:iam::123456789012:role/tfstate-reader"

# Every variable of the chain: each test starts from none of them.
CHAIN_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
              "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
              "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
              "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
              "AWS_ENDPOINT_URL_STS", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    (h / ".aws").mkdir(parents=True)
    return h


def chain_env(home, **kw):
    """The environment of a mount: no chain variable but those given, IMDS off unless
    given, HOME a fresh one."""
    env = {k: "" for k in CHAIN_VARS}
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true")
    env.update(kw)
    return env


def mount_via(mount, fake, bucket, env, options=()):
    return mount(bucket, list(options), env=env,
                 endpoint_options=["endpoint=" + fake.endpoint, "use_path_style"])


def s3_keys(fake):
    """The access keys that signed S3 requests, in order of first use."""
    out = []
    for r in fake.requests:
        if r["service"] == "s3" and r["access_key"] not in out:
            out.append(r["access_key"])
    return out


def reads_back(m, key="app/terraform.tfstate"):
    with open(m.p(key), "rb") as f:
        assert f.read() == STATE


@pytest.fixture
def bucket_with_state(s3, bucket):
    put_objects(s3, bucket, {"app/terraform.tfstate": STATE})
    return bucket


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)


# ---------------------------------------------------------------- one source each

def test_environment_keys(fake, bucket_with_state, mount, home):
    ak, sk = fake.static_key["AccessKeyId"], fake.static_key["SecretAccessKey"]
    m = mount_via(mount, fake, bucket_with_state,
                  chain_env(home, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk))
    reads_back(m)
    assert s3_keys(fake) == [ak]
    status = open(m.p(".tfstatefs/status")).read()
    assert "credentials\tenvironment\n" in status and "sse_customer_key\tnone\n" in status
    assert sk not in status


def test_environment_session_token(fake, bucket_with_state, mount, home):
    c = fake.issue(3600)
    m = mount_via(mount, fake, bucket_with_state,
                  chain_env(home, AWS_ACCESS_KEY_ID=c["AccessKeyId"],
                            AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                            AWS_SESSION_TOKEN=c["SessionToken"]))
    reads_back(m)
    assert s3_keys(fake) == [c["AccessKeyId"]]


def test_web_identity_from_the_environment(fake, bucket_with_state, mount, home, tmp_path):
    token = tmp_path / "token"
    write(token, fake.web_identity_token + "\n")
    m = mount_via(mount, fake, bucket_with_state,
                  chain_env(home, AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=ROLE,
                            AWS_ROLE_SESSION_NAME="ci-run-42",
                            AWS_ENDPOINT_URL_STS=fake.endpoint + "/sts"))
    reads_back(m)
    sts = [r for r in fake.requests if r["service"] == "sts"]
    assert len(sts) == 1
    form = sts[0]["body"].decode()
    assert "Action=AssumeRoleWithWebIdentity" in form and "RoleSessionName=ci-run-42" in form
    assert "Authorization" not in sts[0]["headers"], "web identity calls are not signed"
    assert [a["role_arn"] for a in fake.assumed] == [ROLE]
    assert s3_keys(fake) == [fake.assumed[0]["access_key"]]


def test_profile_role_with_source_profile_and_external_id(fake, bucket_with_state, mount, home):
    fake.required_external_id = "ext-123"
    base = fake.static_key
    write(home / ".aws" / "credentials",
          "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
          % (base["AccessKeyId"], base["SecretAccessKey"]))
    write(home / ".aws" / "config",
          "[profile deploy]\nrole_arn = %s\nsource_profile = base\nexternal_id = ext-123\n"
          "role_session_name = tfstatefs-test\n" % ROLE)
    m = mount_via(mount, fake, bucket_with_state, chain_env(home, AWS_PROFILE="deploy"),
                  ["sts_endpoint=" + fake.endpoint + "/sts"])
    reads_back(m)
    a = fake.assumed
    assert len(a) == 1 and a[0]["role_arn"] == ROLE and a[0]["session_name"] == "tfstatefs-test"
    assert a[0]["source_access_key"] == base["AccessKeyId"], "AssumeRole signed by the base"
    assert s3_keys(fake) == [a[0]["access_key"]]


def test_credential_process(fake, bucket_with_state, mount, home, tmp_path):
    c = fake.issue(3600)
    script = tmp_path / "get-creds"
    write(script, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"%s\", "
          "\"SecretAccessKey\": \"%s\", \"SessionToken\": \"%s\", \"Expiration\": \"%s\"}'\n"
          % (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
             c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")), 0o700)
    write(home / ".aws" / "config", "[profile tool]\ncredential_process = \"%s\" --json\n" % script)
    m = mount_via(mount, fake, bucket_with_state, chain_env(home), ["profile=tool"])
    reads_back(m)
    assert s3_keys(fake) == [c["AccessKeyId"]]


def test_container_endpoint_with_token_file(fake, bucket_with_state, mount, home, tmp_path):
    fake.container_token = "Bearer pod-identity-token"
    tok = tmp_path / "eks-token"
    write(tok, fake.container_token)
    m = mount_via(mount, fake, bucket_with_state,
                  chain_env(home, AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.endpoint + "/container/creds",
                            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(tok)))
    reads_back(m)
    calls = [r for r in fake.requests if r["service"] == "container"]
    assert calls and calls[0]["headers"].get("Authorization") == fake.container_token
    assert s3_keys(fake)[0].startswith("ASIA")


def test_instance_metadata_v2(fake, bucket_with_state, mount, home):
    env = chain_env(home, AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.endpoint)
    env["AWS_EC2_METADATA_DISABLED"] = ""
    m = mount_via(mount, fake, bucket_with_state, env)
    reads_back(m)
    imds = [(r["method"], r["path"]) for r in fake.requests if r["service"] == "imds"]
    assert imds[0] == ("PUT", "/latest/api/token"), imds
    assert imds[1:3] == [("GET", "/latest/meta-data/iam/security-credentials/"),
                         ("GET", "/latest/meta-data/iam/security-credentials/" + fake.imds_role)]
    for r in fake.requests:
        if r["service"] == "imds" and r["method"] == "GET":
            assert r["headers"].get("X-aws-ec2-metadata-token"), "IMDSv2: every GET has the token"


def test_role_arn_option_assumes_on_top_of_the_chain(fake, bucket_with_state, mount, home):
    base = fake.static_key
    m = mount_via(mount, fake, bucket_with_state,
                  chain_env(home, AWS_ACCESS_KEY_ID=base["AccessKeyId"],
                            AWS_SECRET_ACCESS_KEY=base["SecretAccessKey"]),
                  ["role_arn=" + ROLE, "sts_endpoint=" + fake.endpoint + "/sts"])
    reads_back(m)
    assert fake.assumed[0]["source_access_key"] == base["AccessKeyId"]
    assert s3_keys(fake) == [fake.assumed[0]["access_key"]]


# ---------------------------------------------------------------- precedence

def test_sources_are_taken_in_the_sdks_order(fake, bucket_with_state, mount, home, tmp_path):
    """All five set up at once; each mount takes the first, then that one is removed."""
    env_key = fake.static_key
    token = tmp_path / "token"
    write(token, fake.web_identity_token)
    prof = ("AKIAPROFILE000000001", "profile-secret")
    fake.add_static(*prof)
    write(home / ".aws" / "credentials", "[default]\naws_access_key_id = %s\n"
          "aws_secret_access_key = %s\n" % prof)
    env = chain_env(home, AWS_ACCESS_KEY_ID=env_key["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=env_key["SecretAccessKey"],
                    AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=ROLE,
                    AWS_ENDPOINT_URL_STS=fake.endpoint + "/sts",
                    AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.endpoint + "/container/creds",
                    AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.endpoint,
                    AWS_EC2_METADATA_DISABLED="")
    steps = [("AWS_ACCESS_KEY_ID", "environment"), ("AWS_WEB_IDENTITY_TOKEN_FILE", "sts"),
             ("profile", "profile"), ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "container"),
             (None, "imds")]
    for remove, expect in steps:
        fake.requests.clear()
        m = mount_via(mount, fake, bucket_with_state, env)
        reads_back(m)
        used = s3_keys(fake)[0]
        services = {r["service"] for r in fake.requests} - {"s3"}
        if expect == "environment":
            assert used == env_key["AccessKeyId"] and not services
        elif expect == "profile":
            assert used == prof[0] and not services
        else:
            assert services == {expect}, (expect, services)
        m.unmount()
        if remove == "AWS_ACCESS_KEY_ID":
            env.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
        elif remove == "profile":
            (home / ".aws" / "credentials").unlink()
        elif remove:
            env[remove] = ""


def test_a_named_profile_beats_environment_keys(fake, bucket_with_state, mount, home):
    prof = ("AKIAPROFILE000000002", "profile-secret-2")
    fake.add_static(*prof)
    write(home / ".aws" / "credentials", "[named]\naws_access_key_id = %s\n"
          "aws_secret_access_key = %s\n" % prof)
    env = chain_env(home, AWS_ACCESS_KEY_ID=fake.static_key["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=fake.static_key["SecretAccessKey"])
    m = mount_via(mount, fake, bucket_with_state, env, ["profile=named"])
    reads_back(m)
    assert s3_keys(fake) == [prof[0]]


# ---------------------------------------------------------------- renewal

def walk_while(m, seconds, read, threads=3):
    """`find` of the 20 states d00..d19 and read() from each of threads threads, over and
    over for seconds: (what failed, how many rounds were done)."""
    failures, ops, deadline = [], [0], time.time() + seconds

    def worker():
        while time.time() < deadline:
            r = subprocess.run(["find", m.path, "-type", "f"], capture_output=True, text=True)
            if r.returncode != 0 or r.stdout.count("terraform.tfstate") != 20:
                failures.append(r.stderr or r.stdout)
            try:
                read()
            except (OSError, AssertionError) as e:
                failures.append(repr(e))
            ops[0] += 1
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return failures, ops[0]


def test_credentials_are_renewed_during_a_long_find_with_no_failure(fake, s3, bucket, mount, home):
    """IMDS credentials that live 24 s, a `find` and reads going on for 30 s: every
    operation succeeds, no request ever reaches S3 with expired keys, and the keys
    were renewed (several of them signed)."""
    put_objects(s3, bucket, {"d%02d/terraform.tfstate" % i: STATE for i in range(20)})
    fake.imds_ttl = 24
    env = chain_env(home, AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.endpoint)
    env["AWS_EC2_METADATA_DISABLED"] = ""
    m = mount_via(mount, fake, bucket, env, ["cache_ttl=0"])

    def read():
        for i in range(0, 20, 5):
            with open(m.p("d%02d/terraform.tfstate" % i), "rb") as f:
                assert f.read() == STATE
    failures, ops = walk_while(m, 30, read)
    assert not failures, failures[:3]
    assert ops >= 3
    assert fake.expired_uses == 0
    assert len(s3_keys(fake)) >= 3, "24 s keys over 30 s: renewed at least twice"


# ---------------------------------------------------------------- no secret in any log

def test_no_secret_reaches_a_log(fake, bucket_with_state, mount, home, tmp_path):
    token = tmp_path / "token"
    write(token, fake.web_identity_token)
    env = chain_env(home, AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=ROLE,
                    AWS_ENDPOINT_URL_STS=fake.endpoint + "/sts")
    m = mount(bucket_with_state, ["debug_s3"], env=env, extra_args=["-d"],
              endpoint_options=["endpoint=" + fake.endpoint, "use_path_style"])
    reads_back(m)
    subprocess.run(["ls", "-lR", m.path], capture_output=True)
    m.unmount()
    log = m.log()
    assert "S3: GET" in log, "the debug trace is on"
    secrets = [fake.web_identity_token]
    for a in fake.assumed:
        secrets += [a["secret_key"], a["session_token"]]
    for s in secrets:
        assert s not in log


def test_no_credentials_anywhere_says_what_was_tried(stack, bucket, home, tmp_path):
    from conftest import BIN
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, **chain_env(home))
    r = subprocess.run([BIN, bucket, str(mnt), "-o", "endpoint=" + stack["TFS_S3_ENDPOINT"]
                        + ",use_path_style"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1, r.stderr
    for what in ("AWS_ACCESS_KEY_ID", "web identity", "profile default", "container endpoint",
                 "EC2 instance metadata"):
        assert what in line, line
    assert not os.path.ismount(mnt)
    assert stat.S_ISDIR(os.stat(mnt).st_mode)


def test_role_chains_through_profiles_to_instance_metadata(fake, bucket_with_state, mount, home):
    """role -> source_profile middle (a role itself) -> credential_source =
    Ec2InstanceMetadata: two AssumeRoles, each signed by the keys of the hop below."""
    top, mid = ROLE, "arn:aws:iam::123456789012:role/middle"
    write(home / ".aws" / "config",
          "[profile top]\nrole_arn = %s\nsource_profile = middle\n\n"
          "[profile middle]\nrole_arn = %s\ncredential_source = Ec2InstanceMetadata\n" % (top, mid))
    env = chain_env(home, AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.endpoint,
                    AWS_ENDPOINT_URL_STS=fake.endpoint + "/sts")
    env["AWS_EC2_METADATA_DISABLED"] = ""
    m = mount_via(mount, fake, bucket_with_state, env, ["profile=top"])
    reads_back(m)
    a = fake.assumed
    assert [x["role_arn"] for x in a] == [mid, top]
    imds_keys = [r["access_key"] for r in fake.requests if r["service"] == "sts"]
    assert a[1]["source_access_key"] == a[0]["access_key"], "top is signed by middle's keys"
    assert a[0]["source_access_key"] not in (None, a[1]["access_key"]) and imds_keys
    assert s3_keys(fake) == [a[1]["access_key"]]


def test_a_source_profile_loop_is_refused(stack, bucket, home, tmp_path):
    from conftest import BIN
    write(home / ".aws" / "config", "[profile a]\nrole_arn = %s\nsource_profile = b\n\n"
          "[profile b]\nrole_arn = %s\nsource_profile = a\n" % (ROLE, ROLE))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([BIN, bucket, str(mnt), "-o", "endpoint=" + stack["TFS_S3_ENDPOINT"]
                        + ",use_path_style,profile=a"], env=dict(os.environ, **chain_env(home)),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "loop" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def expired_process(fake, tmp_path):
    """A credential_process printing keys the fake issued, and that expired a minute ago."""
    c = fake.issue(-60)
    script = tmp_path / "get-stale-creds"
    write(script, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"%s\", "
          "\"SecretAccessKey\": \"%s\", \"SessionToken\": \"%s\", \"Expiration\": \"%s\"}'\n"
          % (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
             c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")), 0o700)
    return script, c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("profile", ["deploy", "base"])
def test_a_credential_process_printing_expired_keys_fails_the_mount(fake, bucket, home,
                                                                    tmp_path, profile):
    """As the source_profile of a role (it signed AssumeRole through a provider with
    nothing to renew from, which crashed) or on its own (renewed in a loop, the mount
    hung): the mount fails at once, naming the profile, the expiry and what to do, and
    neither STS nor S3 is sent a request signed with the expired keys."""
    from conftest import BIN
    script, expired = expired_process(fake, tmp_path)
    write(home / ".aws" / "config",
          "[profile deploy]\nrole_arn = %s\nsource_profile = base\n\n"
          "[profile base]\ncredential_process = \"%s\"\n" % (ROLE, script))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([BIN, bucket, str(mnt), "-o", "endpoint=%s,use_path_style,profile=%s,"
                        "sts_endpoint=%s/sts" % (fake.endpoint, profile, fake.endpoint)],
                       env=dict(os.environ, **chain_env(home)), capture_output=True, text=True,
                       timeout=30)
    line = r.stderr.strip()
    assert r.returncode == 1 and len(line.splitlines()) == 1, r
    assert "profile base (config file %s): credential_process printed credentials that " \
        "expired at %s" % (home / ".aws" / "config", expired) in line, line
    assert "make the command print valid ones" in line, line
    assert fake.requests == [] and fake.assumed == []
    assert not os.path.ismount(mnt)


# ---------------------------------------------------------------- file permissions

def test_profile_files_others_can_read_or_write_are_warned_about(fake, bucket_with_state, mount,
                                                                 home):
    """As ssh does for its keys: a secret key others can read, or a file others can write
    (it chooses the credentials and credential_process commands), gets a warning naming
    the file and the chmod; a 0600 file gets none."""
    ak, sk = fake.static_key["AccessKeyId"], fake.static_key["SecretAccessKey"]
    cred, conf = home / ".aws" / "credentials", home / ".aws" / "config"
    write(cred, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (ak, sk))
    write(conf, "[default]\nregion = us-east-1\n", mode=0o644)
    m = mount_via(mount, fake, bucket_with_state, chain_env(home))
    reads_back(m)
    m.unmount()
    assert "chmod" not in m.log(), m.log()

    os.chmod(cred, 0o644)
    os.chmod(conf, 0o666)
    m = mount_via(mount, fake, bucket_with_state, chain_env(home))
    reads_back(m)
    m.unmount()
    log = m.log()
    assert "shared credentials file %s holds a secret key others can read (mode 0644): chmod 600" \
        % cred in log, log
    assert "config file %s can be written by others (mode 0666" % conf in log, log
    assert sk not in log
