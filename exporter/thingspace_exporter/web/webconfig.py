"""THINGSPACE_WEB_CONFIG_FILE: TLS, client certificates, basic auth and response headers, in the
web configuration format of the Prometheus exporter-toolkit that Go exporters read.

parse() checks a document and load() turns a file into a WebConfig, with the TLS context built, so
that a bad file fails whole at start-up, or is ignored (the last good one staying) when it changes
while running. Relative paths are relative to the file, as in exporter-toolkit.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Python verifies any client certificate it asks for, so the two Go modes that ask without
# verifying have no equivalent here.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
# the headers exporter-toolkit lets a web config set, with the values it accepts (None: any)
HEADERS = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": {"nosniff"},
    "X-Frame-Options": {"deny", "sameorigin"},
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
TLS_KEYS = {
    "cert_file",
    "cert",
    "key_file",
    "key",
    "client_ca_file",
    "client_ca",
    "client_auth_type",
    "min_version",
    "max_version",
    "client_allowed_sans",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
}


class WebConfigError(Exception):
    """One line naming the key at fault; never a password hash or a key's contents."""


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # user name -> bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    allowed_sans: frozenset[str] = frozenset()  # client certificate names allowed; empty: any
    rate_limit: tuple[float, int] | None = None  # (seconds per request, burst) for all requests


def load(path: str) -> WebConfig:
    import yaml  # here, not at the top: without a web config, start-up is spared PyYAML

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise WebConfigError(f"cannot read the file: {exc.strerror}") from None  # the path might be a misplaced secret
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise WebConfigError(f"not valid YAML{at}") from None
    return parse(doc or {}, Path(path).parent)


def parse(doc: Any, base: Path) -> WebConfig:
    _mapping(doc, "the file", {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})
    users = _users(doc.get("basic_auth_users"))
    headers = _headers(doc.get("http_server_config"))
    limit = _rate_limit(doc.get("rate_limit"))
    tls = doc.get("tls_server_config")
    if tls is None:
        return WebConfig(users=users, headers=headers, rate_limit=limit)
    _mapping(tls, "tls_server_config", TLS_KEYS)
    for key in ("cipher_suites", "curve_preferences"):
        if tls.get(key):
            raise WebConfigError(f"tls_server_config.{key}: not supported; Python's TLS defaults are used")
    sans = tls.get("client_allowed_sans") or []
    if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
        raise WebConfigError("tls_server_config.client_allowed_sans: give a list of names")
    return WebConfig(_ssl_context(tls, base), users, headers, frozenset(sans), limit)


def _mapping(value: Any, where: str, known: set[str]) -> None:
    if not isinstance(value, dict):
        raise WebConfigError(f"{where}: expected a mapping")
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise WebConfigError(f"{where}: unknown key {unknown[0]!r}")


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _rate_limit(value: Any) -> tuple[float, int] | None:
    """exporter-toolkit's rate_limit: a Go duration between requests, and a burst; none when the
    interval is 0 (as there)."""
    if value is None:
        return None
    _mapping(value, "rate_limit", {"interval", "burst"})
    interval = _duration(value.get("interval", "0s"))
    burst = value.get("burst", 0)
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 0:
        raise WebConfigError("rate_limit.burst: expected a whole number of requests")
    if interval == 0:
        return None
    if burst == 0:
        raise WebConfigError("rate_limit.burst: must be at least 1, or every request would be refused")
    return interval, burst


def _duration(value: Any) -> float:
    text = value if isinstance(value, str) else ""
    parts = _DURATION.findall(text)
    if text == "0" or (parts and "".join(n + u for n, u in parts) == text):
        return sum(float(n) * _UNITS[u] for n, u in parts)
    raise WebConfigError("rate_limit.interval: expected a duration such as 100ms, 1s or 1m")


def _users(value: Any) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user names to bcrypt hashes")
    users = {}
    for user, hashed in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError("basic_auth_users: a user name must be a non-empty string without ':'")
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
            raise WebConfigError(f"basic_auth_users.{user}: not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n')")
        users[user] = hashed.encode("ascii", "replace")
    return users


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    _mapping(value, "http_server_config", {"headers", "http2"})
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError("http_server_config.headers: expected a mapping")
    out = []
    for name, text in headers.items():
        if name not in HEADERS:
            raise WebConfigError(f"http_server_config.headers: {name!r} cannot be set; allowed: {', '.join(HEADERS)}")
        allowed = HEADERS[name]
        if (
            not isinstance(text, str)
            or "\n" in text
            or "\r" in text
            or (allowed is not None and text.lower() not in allowed)
        ):
            raise WebConfigError(f"http_server_config.headers.{name}: invalid value")
        out.append((name, text))
    return tuple(out)


def _ssl_context(tls: dict, base: Path) -> ssl.SSLContext:
    for part in ("cert", "key", "client_ca"):
        if tls.get(part) and tls.get(part + "_file"):
            raise WebConfigError(f"tls_server_config: give {part} or {part}_file, not both")
        if tls.get(part) is not None and not isinstance(tls.get(part), str):
            raise WebConfigError(f"tls_server_config.{part}: expected PEM text")
    has_cert, has_key = tls.get("cert_file") or tls.get("cert"), tls.get("key_file") or tls.get("key")
    if not has_cert or not has_key:
        raise WebConfigError(
            "tls_server_config: a certificate (cert_file or cert) and a key (key_file or key) are required"
        )
    ca = tls.get("client_ca_file") or tls.get("client_ca")
    mode = tls.get("client_auth_type") or ("RequireAndVerifyClientCert" if ca else "NoClientCert")
    if mode in UNSUPPORTED_CLIENT_AUTH:
        raise WebConfigError(
            f"tls_server_config.client_auth_type: {mode} is not supported (client "
            "certificates are always verified): use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert with client_ca_file"
        )
    if mode not in CLIENT_AUTH:
        raise WebConfigError(f"tls_server_config.client_auth_type: unknown value {mode!r}")
    if CLIENT_AUTH[mode] != ssl.CERT_NONE and not ca:
        raise WebConfigError(f"tls_server_config.client_ca_file: required by {mode}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for key_name, attr, default in (
        ("min_version", "minimum_version", "TLS12"),
        ("max_version", "maximum_version", None),
    ):
        name = tls.get(key_name) or default
        if name is None:
            continue
        if name not in TLS_VERSIONS:
            raise WebConfigError(
                f"tls_server_config.{key_name}: unknown value {name!r}; give one of {', '.join(TLS_VERSIONS)}"
            )
        try:
            setattr(context, attr, TLS_VERSIONS[name])
        except (ValueError, ssl.SSLError):
            raise WebConfigError(f"tls_server_config.{key_name}: {name} is not available here") from None
    _load_cert_chain(context, tls, base)
    if ca:
        try:
            if tls.get("client_ca"):
                context.load_verify_locations(cadata=tls["client_ca"])
            else:
                context.load_verify_locations(_path(base, ca, "client_ca_file"))
        except (ssl.SSLError, ValueError):
            which = "client_ca" if tls.get("client_ca") else "client_ca_file"
            raise WebConfigError(f"tls_server_config.{which}: no PEM certificate in it") from None
    context.verify_mode = CLIENT_AUTH[mode]
    return context


def _load_cert_chain(context: ssl.SSLContext, tls: dict, base: Path) -> None:
    """From files, or from inline PEM text: Python loads a key only from a file, so inline text
    goes through a private temporary directory that is removed at once."""
    with tempfile.TemporaryDirectory(prefix="web-config-") as tmp:
        paths = []
        for name in ("cert", "key"):
            if tls.get(name):
                path = Path(tmp) / name
                path.touch(mode=0o600)
                path.write_text(tls[name], encoding="utf-8")
                paths.append(str(path))
            else:
                paths.append(_path(base, tls.get(name + "_file"), name + "_file"))
        try:
            context.load_cert_chain(*paths)
        except ssl.SSLError:
            raise WebConfigError("tls_server_config: the certificate and key are not a matching PEM pair") from None


def _path(base: Path, value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise WebConfigError(f"tls_server_config.{key}: expected a file name")
    path = base / value
    if not path.is_file():
        raise WebConfigError(f"tls_server_config.{key}: {path} is not a readable file")
    return str(path)


def watched_files(path: str) -> list[Path]:
    """The web config and the files it names, whose changes call for a reload."""
    import yaml

    files = [Path(path)]
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        tls = doc.get("tls_server_config") or {}
        files += [
            Path(path).parent / tls[k]
            for k in ("cert_file", "key_file", "client_ca_file")
            if isinstance(tls.get(k), str)
        ]
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        pass
    return files


def fingerprint(files: list[Path]) -> str:
    """Changes when any of the files changes (content, so a same-second rewrite counts too)."""
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing\0")
    return digest.hexdigest()
