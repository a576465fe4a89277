"""Command line: flags mirror the THINGSPACE_* variables; exit 2 on bad configuration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .config import SECRET_FIELDS, ConfigError, Settings, env_name, flag_name, load, read_secret_file
from .logs import configure

PROG = "thingspace-exporter"  # app.PROG, without importing the exporter for --help


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Prometheus exporter for Verizon ThingSpace device fleets. Every flag "
        "can also be set as an environment variable (shown in brackets).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    for name, field in Settings.model_fields.items():
        p.add_argument(flag_name(name), dest=name, metavar="VALUE", help=f"{field.description} [{env_name(name)}]")
    for name in SECRET_FIELDS:
        p.add_argument(
            flag_name(name) + "-file",
            dest=name + "_file",
            metavar="PATH",
            help=f"read {name} from this file [{env_name(name)}_FILE]",
        )
    p.add_argument(
        "--once",
        action="store_true",
        default=False,
        help="collect every account once, print the metrics on stdout and exit (1 if any failed)",
    )
    p.add_argument(
        "--check-config",
        action="store_true",
        default=False,
        help="validate the configuration and exit (0 valid, 2 invalid)",
    )
    p.add_argument(
        "--reset-login-failures",
        action="store_true",
        default=False,
        help="forget the rejected logins counted in THINGSPACE_STATE_DIR (once the password is fixed) and exit",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        default=False,
        help="run against a built-in ThingSpace simulator with demo credentials",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    for name in SECRET_FIELDS:
        path = getattr(args, name + "_file", None)
        if path is not None:
            values[name] = read_secret_file(path, flag_name(name) + "-file")
    return load(values)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    p.error = _usage_error  # type: ignore[method-assign]
    args = p.parse_args(argv)
    simulator = None
    try:
        if args.demo:
            from .demo import demo_settings, start_simulator

            simulator = start_simulator()
            settings = demo_settings(args, simulator)
        else:
            settings = settings_from(args)
        if args.check_config:
            print(
                f"{PROG}: configuration is valid ({len(settings.accounts)} accounts, "
                f"{len(settings.owned_accounts)} in shard {settings.shard_index} of {settings.shard_count})",
                file=sys.stderr,
            )
            return 0
        from . import app  # the composition root, once the settings are valid

        if args.reset_login_failures:
            return app.reset_login_failures(settings)
        configure(settings.log_level, settings.log_format)
        reload = None if args.demo else (lambda: credentials(settings_from(args)))
        if args.once:
            return app.run_once(settings, reload)
        demo = f"simulator at {simulator.base_url}" if simulator is not None else None
        return app.run_server(settings, reload, demo)
    except ConfigError as exc:
        print(f"{PROG}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    finally:
        if simulator is not None:
            simulator.stop()


def credentials(settings: Settings) -> tuple[str, str, str, str]:
    return (
        settings.client_id,
        settings.client_secret.get_secret_value(),
        settings.username,
        settings.password.get_secret_value(),
    )


def _usage_error(message: str) -> NoReturn:
    print(f"{PROG}: invalid arguments: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)
