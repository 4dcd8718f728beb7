"""``porthole-relay serve``: run the relay until SIGINT/SIGTERM, then end sessions cleanly.

Prints where it listens and the fingerprint clients pin (SHA-256 of the certificate's public
key, the same value join links carry as ``fp=``), then nothing per connection: the relay has
nothing of a session to log. SIGHUP reloads the certificate and key from the same files
(a renewed certificate) without touching the connections already open.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from core.tlspin import format_fingerprint
from relay.admin_server import AdminSocketError
from relay.config import RelayConfig
from relay.decoy_secret import DecoySecretError
from relay.logs import configure as configure_logging
from relay.logs import log, log_relay_event
from relay.sdnotify import notify
from relay.server import Relay, RelayInfo, serve_relay
from relay.tls import CertificateError
from relay.tls_reload import ReloadableIdentity


def run_serve(args: argparse.Namespace) -> int:
    host, port = args.listen
    if (args.cert is None) != (args.key is None):
        print("porthole-relay serve: give both --cert and --key, or neither.", file=sys.stderr)
        return 2
    configure_logging(args.log_format, args.log_level)
    config = RelayConfig(
        data_dir=args.data_dir,
        host=host,
        port=port,
        cert_path=args.cert,
        key_path=args.key,
        raw=not getattr(args, "no_raw", False),
        observers=(log_relay_event,),
    )
    try:
        trio.run(_serve, config, getattr(args, "metrics", None))
    except BaseException as exc:
        problem = _startup_problem(exc)
        if problem is None:
            raise
        if isinstance(problem, MetricsListenError):
            sentence = str(problem)
        elif isinstance(problem, OSError) and not isinstance(problem, AdminSocketError):
            reason = problem.strerror or str(problem)
            sentence = f"cannot listen on {host}:{port}: {reason}."
        else:
            sentence = str(problem)
        print(f"porthole-relay serve: {sentence}", file=sys.stderr)
        return 1
    return 0


def _startup_problem(exc: BaseException) -> Exception | None:
    """The start-up failure a person can act on, if that is what ``exc`` is.

    trio wraps failures from inside nurseries in exception groups; a port in use or a data
    directory another relay owns must still read as one sentence, not a traceback.
    """
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_problem(inner)
            if found is not None:
                return found
        return None
    if isinstance(
        exc, CertificateError | DecoySecretError | AdminSocketError | MetricsListenError | OSError
    ):
        return exc
    return None


class MetricsListenError(Exception):
    """``--metrics`` cannot listen where asked (one sentence for the operator)."""


async def _start_metrics(
    nursery: trio.Nursery, relay: Relay, endpoint: tuple[str, int], scope: trio.CancelScope
) -> str:
    """Serve ``relay``'s metrics on ``endpoint`` in ``nursery`` until ``scope`` is cancelled
    (when the relay ends); return where, for the banner.

    prometheus-client is imported here, so a relay without ``--metrics`` never loads it.
    """
    from relay.metrics import attach, serve_metrics

    host, port = endpoint
    metrics = attach(relay)

    async def run(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await serve_metrics(metrics, host, port, task_status=task_status)

    try:
        bound: int = await nursery.start(run)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetricsListenError(f"cannot serve metrics on {host}:{port}: {reason}.") from None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{bound}/metrics"


async def _serve(config: RelayConfig, metrics: tuple[str, int] | None = None) -> None:
    stop = trio.Event()
    metrics_scope = trio.CancelScope()

    async def run_relay(task_status: trio.TaskStatus[RelayInfo] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve_relay(config, stop=stop, task_status=task_status)
        finally:
            metrics_scope.cancel()  # the metrics listener ends with the relay

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(run_relay)
            shown_host = f"[{info.host}]" if ":" in info.host else info.host
            print(f"porthole relay listening on {shown_host}:{info.port}", flush=True)
            print(f"certificate fingerprint: {format_fingerprint(info.fingerprint)}", flush=True)
            for warning in info.warnings:
                _warn(warning)
            if metrics is not None:
                where = await _start_metrics(nursery, info.relay, metrics, metrics_scope)
                print(f"metrics (Prometheus) on {where}", flush=True)
                log("relay.metrics", f"metrics on {where}", url=where)
            if not config.raw:
                print("framed porthole/1 is off (--no-raw): HTTPS and WebSocket only", flush=True)
            print(
                f"join links look like: porthole://{shown_host}:{info.port}/SESSIONID"
                f"?fp={info.fingerprint}",
                flush=True,
            )
            # systemd's Type=notify: the relay listens with its certificate loaded
            # (docs/design.md §7.7).
            notify(f"READY=1\nSTATUS=listening on {shown_host}:{info.port}")
            log(
                "relay.listening",
                f"listening on {shown_host}:{info.port}",
                host=info.host,
                port=info.port,
                fingerprint=info.fingerprint,
            )
            async for signum in signals:
                name = signal.Signals(signum).name
                if signum == signal.SIGHUP:
                    _reload_certificate(info.identity, info.relay)
                    continue
                print(f"{name}: ending sessions and shutting down", flush=True)
                notify("STOPPING=1")
                log("relay.stopping", f"{name}: ending sessions and shutting down", signal=name)
                stop.set()
                break


def _warn(sentence: str) -> None:
    print(f"porthole-relay serve: warning: {sentence}.", file=sys.stderr, flush=True)
    log("relay.certificate_warning", sentence, level=logging.WARNING)


def _reload_certificate(identity: ReloadableIdentity, relay: Relay) -> None:
    """SIGHUP: serve the certificate and key files as they are now, or say why not.

    A failed reload is not fatal: the relay keeps serving the pair it had, and says so.
    """
    before = identity.current.fingerprint
    try:
        loaded = identity.reload()
    except CertificateError as exc:
        sentence = f"{exc}; still serving the certificate loaded before"
        print(f"SIGHUP: certificate not reloaded: {sentence}", flush=True)
        log("relay.certificate_reload_failed", sentence, level=logging.WARNING, error=str(exc))
        return
    relay.certificate_reloaded(loaded)
    shown = format_fingerprint(loaded.fingerprint)
    if loaded.fingerprint == before:
        message = f"certificate reloaded from {loaded.cert}; fingerprint unchanged: {shown}"
    else:
        message = (
            f"certificate reloaded from {loaded.cert} with a NEW KEY; fingerprint now {shown}: "
            f"clients that pinned {format_fingerprint(before)} will refuse to connect until "
            f"they get new links"
        )
    print(f"SIGHUP: {message}", flush=True)
    log("relay.certificate_reloaded", message, fingerprint=loaded.fingerprint)
    for warning in loaded.warnings:
        _warn(warning)
