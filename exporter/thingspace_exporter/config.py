"""Settings: environment variables `THINGSPACE_<NAME>`, CLI flags and secret files."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .collection import sharding
from .collectors import NAMES
from .thingspace.auth import LOGIN_FAILURES_ALLOWED
from .web.address import DEFAULT_PORT, parse_listen_address

ENV_PREFIX = "THINGSPACE_"
DEFAULT_BUCKETS = (3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)
COLLECTORS = NAMES  # every collector, all on by default, in the registry's order
SECRET_FIELDS = ("client_id", "client_secret", "username", "password")
MAX_SHARDS = LOGIN_FAILURES_ALLOWED  # each replica needs a login try of its own


class ConfigError(Exception):
    """Invalid configuration; the message names the setting and never holds its value."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SecretFilesSource(PydanticBaseSettingsSource):
    """`THINGSPACE_<NAME>_FILE`, or a file named `<name>` or `THINGSPACE_<NAME>` in
    `THINGSPACE_SECRETS_DIR`, as Docker and Kubernetes mount secrets."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every file at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        secrets_dir = os.environ.get(ENV_PREFIX + "SECRETS_DIR")
        if secrets_dir and not Path(secrets_dir).is_dir():
            raise ConfigError(f"{ENV_PREFIX}SECRETS_DIR: not a readable directory")
        for field in SECRET_FIELDS:
            path = os.environ.get(env_name(field) + "_FILE")
            source = env_name(field) + "_FILE"
            if not path and secrets_dir:
                for name in (field, env_name(field)):
                    if (Path(secrets_dir) / name).is_file():
                        path, source = str(Path(secrets_dir) / name), f"{ENV_PREFIX}SECRETS_DIR/{name}"
                        break
            if path:
                values[field] = read_secret_file(path, source)
        return values


def read_secret_file(path: str, source: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{source}: cannot read secret file {path!r}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}"
        ) from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", hide_input_in_errors=True)
    _web_config_loaded: Any = PrivateAttr(None)

    client_id: str = Field(min_length=1, description="OAuth2 client (application) key")
    client_secret: SecretStr = Field(description="OAuth2 client secret")
    username: str = Field(min_length=1, description="M2M (UWS) account user name")
    password: SecretStr = Field(description="M2M (UWS) account password")
    accounts: Annotated[list[str], NoDecode] = Field(description="comma-separated account names")
    base_url: str = Field("https://thingspace.verizon.com", description="API base URL")
    protocol: str = Field("LWM2M", description="`protocol` query parameter; empty omits it")
    interval_seconds: float = Field(300.0, gt=0, allow_inf_nan=False, description="seconds between collection cycles")
    listen_address: str = Field(f":{DEFAULT_PORT}", description="host:port for /metrics")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    log_format: Literal["json", "console"] = Field("json", description="log format")
    last_connection_buckets: Annotated[list[float], NoDecode] = Field(
        list(DEFAULT_BUCKETS), description="last-connection age histogram bounds, seconds"
    )
    stale_after_cycles: int = Field(
        3, ge=1, le=1000, description="drop a collector's series of an account after this many failed cycles in a row"
    )
    stale_after_seconds: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="and no sooner than this long after its last success (default: that many intervals)",
    )
    cycle_timeout_seconds: float = Field(
        1800.0, gt=0, allow_inf_nan=False, description="deadline for one account's listing"
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, allow_inf_nan=False, description="read timeout of one HTTP request"
    )
    max_retries: int = Field(3, ge=0, le=10, description="retries of 408/429/5xx per request")
    max_concurrency: int = Field(4, ge=1, le=64, description="page requests in flight per account")
    max_accounts_in_flight: int = Field(
        8, ge=1, le=256, description="accounts collected at once; the others wait their turn in the cycle"
    )
    max_requests_per_second: float = Field(
        10.0, ge=0, allow_inf_nan=False, description="API request rate cap, 0 = none"
    )
    shard_count: int = Field(1, ge=1, le=MAX_SHARDS, description="replicas splitting the accounts between them")
    shard_index: int | None = Field(
        None,
        ge=0,
        validate_default=True,
        description="this replica's shard, from 0 (default: the ordinal ending the host name, as in a StatefulSet)",
    )
    state_dir: str | None = Field(None, description="directory for state kept across restarts (rejected logins)")
    collectors: Annotated[list[str], NoDecode] = Field(
        list(COLLECTORS), description="comma-separated collectors to run: " + ", ".join(COLLECTORS)
    )
    stalest_devices: int = Field(
        20, ge=0, le=10_000, description="devices with the oldest last connection listed per account, 0 = none"
    )
    max_running_campaigns: int = Field(
        50, ge=0, le=10_000, description="running campaigns per account whose devices are counted"
    )
    web_config_file: str | None = Field(
        None, description="exporter-toolkit web configuration: TLS, client certificates, basic auth, headers"
    )
    header_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="close a connection whose request head is not complete this long after it began",
    )
    idle_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="close a kept-alive connection idle this long between requests",
    )
    max_connections: int = Field(
        4096, ge=8, le=1_000_000, description="open HTTP connections; beyond it the longest-waiting idle one is closed"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretFilesSource(settings_cls)

    @field_validator("accounts", "last_connection_buckets", "collectors", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one account is required")
        if len(set(value)) != len(value):
            raise ValueError("accounts are listed twice")
        return value

    @field_validator("collectors")
    @classmethod
    def _collectors(cls, value: list[str]) -> list[str]:
        for place, name in enumerate(value, 1):
            if name not in COLLECTORS:  # not echoed: it might be a secret pasted in the wrong place
                raise ValueError(f"name {place} is not a collector; known: {', '.join(COLLECTORS)}")
        if not value:
            raise ValueError("give at least one collector")
        return [name for name in COLLECTORS if name in value]  # the order they run in, once each

    @field_validator("last_connection_buckets")
    @classmethod
    def _buckets(cls, value: list[float]) -> list[float]:
        value = [b for b in value if b != float("inf")]
        if not value or not all(b > 0 for b in value) or value != sorted(set(value)):  # NaN fails b > 0
            raise ValueError("give positive, strictly increasing bounds in seconds")
        return value

    @field_validator("client_secret", "password")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            hostname = parts.hostname
        except ValueError:  # its message quotes the URL, which may hold a secret
            raise ValueError("not a valid URL") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise ValueError("give an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not carry a query, fragment or credentials")
        return value.strip().rstrip("/")

    @field_validator("shard_index")
    @classmethod
    def _shard_index(cls, value: int | None, info: ValidationInfo) -> int:
        count = info.data.get("shard_count", 1)
        if value is None:
            value = 0 if count == 1 else sharding.ordinal(socket.gethostname())
            if value is None:
                raise ValueError("not set, and the host name does not end in a StatefulSet ordinal (-N)")
        if value >= count:
            raise ValueError(f"must be below {env_name('shard_count')} ({count})")
        return value

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, value: str | None) -> str | None:
        if value is not None and not (os.path.isdir(value) and os.access(value, os.W_OK | os.X_OK)):
            raise ValueError("not a writable directory")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen_address(value)
        return value

    @model_validator(mode="after")
    def _web_config(self) -> Settings:
        if self.web_config_file is not None:
            from .web import webconfig  # YAML and TLS: imported only by those who use them

            try:  # the whole file, certificates included: it fails now or never
                self._web_config_loaded = webconfig.load(self.web_config_file)
            except webconfig.WebConfigError as exc:
                raise ConfigError(f"{env_name('web_config_file')}: {exc}") from None
        return self

    @property
    def web_config(self) -> Any:
        """The web configuration file as loaded and checked at start-up (web.webconfig.WebConfig)."""
        return self._web_config_loaded

    @model_validator(mode="after")
    def _stale_default(self) -> Settings:
        if self.stale_after_seconds is None:
            self.stale_after_seconds = self.stale_after_cycles * self.interval_seconds
        return self

    @property
    def listen(self) -> tuple[str, int]:
        return parse_listen_address(self.listen_address)

    @property
    def owned_accounts(self) -> list[str]:
        """The accounts this replica collects."""
        return sharding.owned(self.accounts, self.shard_index or 0, self.shard_count)

    def secrets(self) -> list[str]:
        return [self.client_secret.get_secret_value(), self.password.get_secret_value()]


def load(cli_values: dict[str, Any] | None = None) -> Settings:
    """Build settings (CLI flags over environment over secret files); raise ConfigError."""
    try:
        return Settings(**(cli_values or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "settings"
        where = env_name(field) if field in Settings.model_fields else field
        raise ConfigError(f"{where}: {_message(err)}") from None


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "missing":
        return "required but not set"
    return msg.removeprefix("Value error, ")
