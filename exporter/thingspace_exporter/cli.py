"""Command line: flags mirror the THINGSPACE_* variables; exit 2 on bad configuration."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import __version__
from .config import SECRET_FIELDS, ConfigError, Settings, env_name, flag_name, load, read_secret_file
from .logs import configure, get_logger

PROG = "thingspace-exporter"
# Young-generation collections every 50 000 allocations instead of 700: a listing allocates
# tuples by the million and frees them by reference count, so frequent passes find nothing.
GC_YOUNG_THRESHOLD = 50_000


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
        if args.reset_login_failures:
            return reset_login_failures(settings)
        configure(settings.log_level, settings.log_format)
        reload = None if args.demo else (lambda: credentials(settings_from(args)))
        return run_once(settings, reload) if args.once else run_server(settings, simulator, reload)
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


def reset_login_failures(settings: Settings) -> int:
    from .thingspace.login_failures import LoginFailures

    if settings.state_dir is None:
        raise ConfigError(f"{env_name('state_dir')}: required by --reset-login-failures")
    store = LoginFailures(settings.state_dir, settings.username)
    failures, _ = store.load()
    store.reset()
    print(f"{PROG}: forgot {failures} rejected logins of {settings.username}", file=sys.stderr)
    return 0


def _usage_error(message: str) -> None:
    print(f"{PROG}: invalid arguments: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)


def tune_gc() -> None:
    """Start-up objects (modules, pydantic's schemas) live as long as the process: frozen, the
    collector stops re-scanning them, which was 5 % of a --once run's CPU."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    gc.enable()  # __main__ turns it off for the start-up


def run_once(settings: Settings, reload: Any = None) -> int:
    from .app import Exporter
    from .web.exposition import body

    exporter = Exporter(settings, text_only=True, reload=reload)
    tune_gc()
    try:
        ok = exporter.collection.run_cycle()
        sys.stdout.buffer.write(body(exporter.store.derived, exporter.metrics.registry)[0])
        sys.stdout.flush()
    finally:
        exporter.close()
    return 0 if ok else 1


def raise_open_files_limit(wanted: int) -> None:
    """Each connection is a descriptor: raise the soft limit towards the hard one, as Go programs
    do. Beyond what is allowed the server closes the longest-waiting idle connections instead."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def run_server(settings: Settings, simulator: Any = None, reload: Any = None) -> int:
    from .app import Exporter
    from .web import endpoints as server
    from .web import status_page as status

    log = get_logger(PROG)
    exporter = Exporter(settings, reload=reload)
    tune_gc()
    host, port = settings.listen
    raise_open_files_limit(settings.max_connections + 256)
    limits = server.Limits(
        header_timeout=settings.header_timeout_seconds,
        idle_timeout=settings.idle_timeout_seconds,
        max_connections=settings.max_connections,
    )
    access = None
    if settings.web_config_file:
        from .web.access import Access
        from .web.webconfig import WebConfigError
        from .web.webconfig import load as load_web_config

        try:  # checked with the settings already; read again in case it changed since
            access = Access(settings.web_config_file, load_web_config(settings.web_config_file), log)
        except WebConfigError as exc:
            print(f"{PROG}: invalid configuration: {env_name('web_config_file')}: {exc}", file=sys.stderr)
            return 2
    app = server.make_app(
        exporter, access and access.authorize, access and access.headers, page=lambda: status.render(exporter)
    )
    try:
        httpd = server.bind(
            host,
            port,
            app,
            limits,
            access and access.config.ssl_context,
            on_error=lambda text: log.error("http_app_error", error=text),
        )
    except OSError as exc:
        print(
            f"{PROG}: invalid configuration: THINGSPACE_LISTEN_ADDRESS: cannot listen on "
            f"{settings.listen_address}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    stop = exporter.stop
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.serve(httpd)
    if access is not None:
        access.on_tls = lambda context: setattr(httpd, "ssl_context", context)
        access.watch(stop)
    log.info(
        "started",
        version=__version__,
        listen=f"{host or '0.0.0.0'}:{httpd.server_port}",
        tls=httpd.ssl_context is not None,
        basic_auth=bool(access and access.config.users),
        accounts=len(settings.owned_accounts),
        shard=settings.shard_index,
        shards=settings.shard_count,
        interval_seconds=settings.interval_seconds,
        base_url=settings.base_url,
    )
    if simulator is not None:
        print(
            f"demo: metrics at http://127.0.0.1:{httpd.server_port}/metrics "
            f"(simulator at {simulator.base_url}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
    exporter.collection.start()
    while not stop.wait(0.5):
        pass
    log.info("stopping")
    exporter.close()
    threading.Thread(target=httpd.shutdown, daemon=True).start()
    log.info("stopped")
    return 0
