"""IAM Identity Center (SSO) profiles, mounted for real: the fake AWS (fake_aws.py) plays the
SSO portal and SSO OIDC, and checks every S3 signature against the role keys its portal
handed out. The token comes from the AWS CLI's cache, ~/.aws/sso/cache/<sha1>.json, written
here as `aws sso login` writes it."""
import errno
import hashlib
import json
import os
import stat
import subprocess
import time

import pytest
from conftest import BIN, put_objects
from test_credentials import (STATE, chain_env, mount_via, reads_back, s3_keys, walk_while,
                              write)

SESSION_CONFIG = """[profile dev]
sso_session = my-sso
sso_account_id = 123456789012
sso_role_name = ReadState

[sso-session my-sso]
sso_start_url = https://d-123.awsapps.com/start
sso_region = eu-central-1
sso_registration_scopes = sso:account:access
"""

LEGACY_CONFIG = """[profile old]
sso_start_url = https://d-123.awsapps.com/start
sso_region = eu-central-1
sso_account_id = 123456789012
sso_role_name = ReadState
"""


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    (h / ".aws" / "sso" / "cache").mkdir(parents=True)
    return h


@pytest.fixture
def bucket_with_state(s3, bucket):
    put_objects(s3, bucket, {"app/terraform.tfstate": STATE})
    return bucket


def cache_file(home, key):
    return home / ".aws" / "sso" / "cache" / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def login(home, fake, key="my-sso", **kw):
    """What `aws sso login` leaves behind: the cache file, replaced whole."""
    cache = fake.sso_login(**kw)
    path = cache_file(home, key)
    tmp = path.with_suffix(".tmp")
    write(tmp, json.dumps(cache))
    os.replace(tmp, path)
    return cache


def sso_env(home, fake, config=SESSION_CONFIG, **kw):
    write(home / ".aws" / "config", config)
    return chain_env(home, AWS_ENDPOINT_URL_SSO=fake.endpoint + "/sso",
                     AWS_ENDPOINT_URL_SSO_OIDC=fake.endpoint + "/oidc", **kw)


def portal_calls(fake):
    return [r for r in fake.requests if r["service"] == "sso"]


def test_sso_session_profile_mounts_and_reads(fake, bucket_with_state, mount, home):
    cache = login(home, fake)
    m = mount_via(mount, fake, bucket_with_state, sso_env(home, fake), ["profile=dev"])
    reads_back(m)
    calls = portal_calls(fake)
    assert len(calls) == 1
    assert calls[0]["path"] == ("/sso/federation/credentials?account_id=123456789012"
                                "&role_name=ReadState")
    assert calls[0]["headers"].get("x-amz-sso_bearer_token") == cache["accessToken"]
    assert "Authorization" not in calls[0]["headers"], "the portal call is not signed"
    keys = s3_keys(fake)
    assert len(keys) == 1 and fake.credentials[keys[0]].label == "sso"
    status = open(m.p(".tfstatefs/status")).read()
    assert "profile dev" in status and cache["accessToken"] not in status
    assert fake.sso_refreshes == 0, "a token with an hour left is not refreshed"


def test_legacy_sso_profile_mounts_and_reads(fake, bucket_with_state, mount, home):
    login(home, fake, key="https://d-123.awsapps.com/start", refreshable=False)
    m = mount_via(mount, fake, bucket_with_state,
                  sso_env(home, fake, LEGACY_CONFIG, AWS_PROFILE="old"))
    reads_back(m)
    assert len(portal_calls(fake)) == 1
    assert fake.credentials[s3_keys(fake)[0]].label == "sso"


def test_a_token_expiring_during_a_long_find_is_refreshed_with_no_failure(
        fake, s3, bucket, mount, home):
    """Tokens that live 14 s, role keys 24 s (renewed at half their life), `find` and reads
    for 16 s: every operation succeeds, the token is refreshed through SSO OIDC and written
    back (mode 0600, the CLI's other fields kept), and no request reaches S3 with expired
    keys."""
    put_objects(s3, bucket, {"d%02d/terraform.tfstate" % i: STATE for i in range(20)})
    fake.sso_role_ttl, fake.sso_token_ttl = 24, 14
    first = login(home, fake, ttl_seconds=14)
    m = mount_via(mount, fake, bucket, sso_env(home, fake), ["profile=dev", "cache_ttl=0"])
    failures, _ = walk_while(m, 16, lambda: reads_back(m, "d07/terraform.tfstate"))
    assert not failures, failures[:3]
    assert fake.expired_uses == 0
    assert fake.sso_refreshes >= 1
    assert len(s3_keys(fake)) >= 2, "24 s keys over 16 s: renewed at 12 s"
    path = cache_file(home, "my-sso")
    now = json.loads(path.read_text())
    assert now["accessToken"] != first["accessToken"]
    assert now["refreshToken"] != first["refreshToken"]
    for field in ("startUrl", "region", "clientId", "clientSecret", "registrationExpiresAt"):
        assert now[field] == first[field]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    m.unmount()
    log = m.log()
    for secret in (first["accessToken"], first["refreshToken"], first["clientSecret"],
                   now["accessToken"], now["refreshToken"]):
        assert secret not in log


def test_a_token_cache_others_can_read_is_warned_about(fake, bucket_with_state, mount, home):
    cache = login(home, fake)
    os.chmod(cache_file(home, "my-sso"), 0o644)
    m = mount_via(mount, fake, bucket_with_state, sso_env(home, fake), ["profile=dev"])
    reads_back(m)
    m.unmount()
    log = m.log()
    assert "SSO token cache %s holds an access token others can read (mode 0644): chmod 600" \
        % cache_file(home, "my-sso") in log, log
    assert cache["accessToken"] not in log


def mount_fails(fake, bucket, env, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([BIN, bucket, str(mnt), "-o", "endpoint=%s,use_path_style,profile=dev"
                        % fake.endpoint], env=dict(os.environ, **env), capture_output=True,
                       text=True, timeout=30)
    assert not os.path.ismount(mnt)
    return r


def test_an_expired_token_without_refresh_fails_the_mount_with_one_line(
        fake, bucket, home, tmp_path):
    cache = login(home, fake, ttl_seconds=-60, refreshable=False)
    r = mount_fails(fake, bucket, sso_env(home, fake), tmp_path)
    assert r.returncode == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1, r.stderr
    assert "profile dev" in line and "aws sso login --profile dev" in line
    assert cache["accessToken"] not in line
    assert portal_calls(fake) == []


def test_no_cache_file_fails_the_mount_with_one_line(fake, bucket, home, tmp_path):
    r = mount_fails(fake, bucket, sso_env(home, fake), tmp_path)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "aws sso login --profile dev" in r.stderr


def test_a_refused_role_fails_the_mount_with_one_line(fake, bucket, home, tmp_path):
    fake.sso_roles = {"SomethingElse"}
    login(home, fake)
    r = mount_fails(fake, bucket, sso_env(home, fake), tmp_path)
    assert r.returncode == 1
    assert "ReadState" in r.stderr and "HTTP 403" in r.stderr
    assert "aws sso login --profile dev" in r.stderr


def test_a_later_sso_login_makes_reads_work_again_without_a_remount(
        fake, bucket_with_state, mount, home):
    """Signed out while mounted: once the role keys run out reads fail with EACCES, the
    status and the log say to log in (the log once); a new `aws sso login` is then seen."""
    fake.sso_role_ttl = 20
    login(home, fake, refreshable=False)
    m = mount_via(mount, fake, bucket_with_state, sso_env(home, fake), ["profile=dev",
                                                                       "cache_ttl=0"])
    reads_back(m)
    fake.sso_revoke()
    deadline = time.time() + 40
    while True:
        try:
            reads_back(m)
        except OSError as e:
            assert e.errno == errno.EACCES, e
            break
        assert time.time() < deadline, "reads still work after the role keys expired"
        time.sleep(1)
    status = open(m.p(".tfstatefs/status")).read()
    assert "aws sso login --profile dev" in status, status
    time.sleep(6)       # another renewal fails (one every 5 s): the log says it once
    login(home, fake, refreshable=False)
    deadline = time.time() + 20
    while True:
        try:
            reads_back(m)
            break
        except OSError:
            assert time.time() < deadline, "a new login was not picked up"
            time.sleep(1)
    assert "aws sso login" not in open(m.p(".tfstatefs/status")).read()
    m.unmount()
    assert m.log().count("aws sso login --profile dev") == 1, m.log()
