"""cli: `python -m thingspace_exporter` as a subprocess: version, help, --check-config and the
one-line configuration errors that never show a secret."""

import os
import socket
import subprocess
import sys

import pytest
from thingspace_exporter import __version__
from ts_builders import CLIENT_SECRET, PASSWORD

REQUIRED = {
    "THINGSPACE_CLIENT_ID": "cli-client-id",
    "THINGSPACE_CLIENT_SECRET": CLIENT_SECRET,
    "THINGSPACE_USERNAME": "cli-user",
    "THINGSPACE_PASSWORD": PASSWORD,
    "THINGSPACE_ACCOUNTS": "0000123456-00001",
}


def run(*args, env=None, drop=(), timeout=30):
    full = {k: v for k, v in os.environ.items() if not k.startswith("THINGSPACE_")}
    full.update(REQUIRED)
    full.update(env or {})
    for k in drop:
        full.pop(k, None)
    return subprocess.run(
        [sys.executable, "-m", "thingspace_exporter", *args], env=full, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(proc, var):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert var in lines[0] and "Traceback" not in proc.stderr
    assert CLIENT_SECRET not in proc.stderr + proc.stdout and PASSWORD not in proc.stderr + proc.stdout
    return lines[0]


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"thingspace-exporter {__version__}"


def test_help_lists_flags_and_variables():
    proc = run("--help")
    assert proc.returncode == 0
    for text in (
        "--client-id",
        "THINGSPACE_CLIENT_ID",
        "--password-file",
        "THINGSPACE_PASSWORD_FILE",
        "--once",
        "--check-config",
        "--listen-address",
        "THINGSPACE_PROTOCOL",
    ):
        assert text in proc.stdout


def test_check_config_valid():
    proc = run("--check-config")
    assert proc.returncode == 0, proc.stderr
    assert CLIENT_SECRET not in proc.stderr + proc.stdout


def test_check_config_with_flags_only():
    proc = run(
        "--check-config",
        "--client-id",
        "x",
        "--client-secret",
        "s3cret-flag",
        "--username",
        "u",
        "--password",
        "p4ss-flag",
        "--accounts",
        "a,b",
        drop=list(REQUIRED),
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("var", list(REQUIRED))
def test_missing_variable(var):
    one_error_line(run("--check-config", drop=[var]), var)


@pytest.mark.parametrize(
    "var,value",
    [
        ("THINGSPACE_INTERVAL_SECONDS", "-1"),
        ("THINGSPACE_BASE_URL", f"https://x:{PASSWORD}@host"),
        ("THINGSPACE_LISTEN_ADDRESS", "nope"),
        ("THINGSPACE_LOG_FORMAT", "yaml"),
        ("THINGSPACE_ACCOUNTS", ","),
        ("THINGSPACE_CLIENT_SECRET", ""),
        ("THINGSPACE_LAST_CONNECTION_BUCKETS", "10,5"),
    ],
)
def test_invalid_variable(var, value):
    one_error_line(run("--check-config", env={var: value}), var)


def test_invalid_value_without_check_config_also_exits_2():
    one_error_line(run(env={"THINGSPACE_INTERVAL_SECONDS": "abc"}), "THINGSPACE_INTERVAL_SECONDS")


def test_file_variables(tmp_path):
    (tmp_path / "secret").write_text("file-secret-value-123\n")
    (tmp_path / "pw").write_text("file-password-value-123\n")
    proc = run(
        "--check-config",
        env={
            "THINGSPACE_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
            "THINGSPACE_PASSWORD_FILE": str(tmp_path / "pw"),
        },
        drop=["THINGSPACE_CLIENT_SECRET", "THINGSPACE_PASSWORD"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "file-secret-value-123" not in proc.stderr + proc.stdout


def test_file_flag(tmp_path):
    (tmp_path / "pw").write_text("flag-file-password\n")
    proc = run("--check-config", "--password-file", str(tmp_path / "pw"), drop=["THINGSPACE_PASSWORD"])
    assert proc.returncode == 0, proc.stderr


def test_secrets_dir(tmp_path):
    (tmp_path / "client_secret").write_text("dir-secret-value")
    (tmp_path / "THINGSPACE_PASSWORD").write_text("dir-password-value")
    proc = run(
        "--check-config",
        env={"THINGSPACE_SECRETS_DIR": str(tmp_path)},
        drop=["THINGSPACE_CLIENT_SECRET", "THINGSPACE_PASSWORD"],
    )
    assert proc.returncode == 0, proc.stderr


def test_secrets_dir_not_a_directory(tmp_path):
    one_error_line(
        run("--check-config", env={"THINGSPACE_SECRETS_DIR": str(tmp_path / "missing")}), "THINGSPACE_SECRETS_DIR"
    )


def test_unreadable_secret_file(tmp_path):
    one_error_line(
        run("--check-config", env={"THINGSPACE_PASSWORD_FILE": str(tmp_path / "missing")}), "THINGSPACE_PASSWORD_FILE"
    )


def test_binary_secret_file(tmp_path):
    (tmp_path / "pw").write_bytes(b"\xff\xfe\x00\x81")
    one_error_line(
        run("--check-config", env={"THINGSPACE_PASSWORD_FILE": str(tmp_path / "pw")}), "THINGSPACE_PASSWORD_FILE"
    )


def test_unreadable_file_flag(tmp_path):
    one_error_line(run("--check-config", "--client-secret-file", str(tmp_path / "nope")), "--client-secret-file")


def test_unknown_flag_exits_2_with_one_line():
    proc = run("--no-such-flag")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1


def test_port_in_use_exits_2_with_one_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        proc = run(env={"THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}", "THINGSPACE_BASE_URL": "http://127.0.0.1:9"})
        line = one_error_line(proc, "THINGSPACE_LISTEN_ADDRESS")
        assert str(port) in line
    finally:
        s.close()


def test_check_config_names_the_shard():
    proc = run(
        "--check-config",
        env={"THINGSPACE_ACCOUNTS": "a,b,c,d,e", "THINGSPACE_SHARD_COUNT": "2", "THINGSPACE_SHARD_INDEX": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 accounts, 2 in shard 1 of 2" in proc.stderr


def test_shard_index_from_the_statefulset_host_name_or_a_clear_error():
    if socket.gethostname().rsplit("-", 1)[-1].isdigit():
        pytest.skip("this host's name ends in an ordinal")
    one_error_line(run("--check-config", env={"THINGSPACE_SHARD_COUNT": "3"}), "THINGSPACE_SHARD_INDEX")


@pytest.mark.parametrize(
    "env,var",
    [
        ({"THINGSPACE_SHARD_COUNT": "5"}, "THINGSPACE_SHARD_COUNT"),
        ({"THINGSPACE_SHARD_COUNT": "2", "THINGSPACE_SHARD_INDEX": "2"}, "THINGSPACE_SHARD_INDEX"),
        ({"THINGSPACE_STATE_DIR": "/nonexistent/state"}, "THINGSPACE_STATE_DIR"),
    ],
)
def test_bad_shard_and_state_settings(env, var):
    one_error_line(run("--check-config", env=env), var)


def test_reset_login_failures(tmp_path):
    from thingspace_exporter.thingspace.login_failures import LoginFailures

    store = LoginFailures(str(tmp_path), REQUIRED["THINGSPACE_USERNAME"])
    store.save(4, 2e9)
    proc = run("--reset-login-failures", env={"THINGSPACE_STATE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "forgot 4 rejected logins of cli-user" in proc.stderr
    assert store.load() == (0, 0.0)
    one_error_line(run("--reset-login-failures"), "THINGSPACE_STATE_DIR")
