"""`entra-emu serve`: run the local server (HTTPS proxy + base URL + control API) until Ctrl-C."""
from __future__ import annotations

import logging
import sys

import click

from .transport.server import DEFAULT_PORT, MAX_CONNECTIONS


def _seed(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Use 0.0.0.0 only if other machines must reach it (no authentication).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port for proxy, base URL and control API; 0 picks a free one.")
@click.option("--state-dir", default=None, type=click.Path(file_okay=False),
              help="Where the CA and server certificate live (default ~/.entra-emu, or $ENTRA_EMU_STATE_DIR).")
@click.option("--seed", default="0", show_default=True, help="World seed (ids, names, keys).")
@click.option("--scenario", default=None, metavar="NAME|FILE",
              help="A shipped scenario (see `entra-emu scenarios`) or a scenario file (YAML/JSON) to load at start.")
@click.option("--snapshot", "snapshot_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Snapshot file to restore at start (instead of an empty world).")
@click.option("--max-connections", default=MAX_CONNECTIONS, show_default=True, type=click.IntRange(1, 100000),
              help="Connections served at once; past it the idlest is closed, or the new one gets 503.")
@click.option("-v", "--verbose", is_flag=True, help="Log every TLS and handler problem.")
def serve(host: str, port: int, state_dir: str | None, seed: str, scenario: str | None,
          snapshot_path: str | None, max_connections: int, verbose: bool) -> None:
    """Serve the emulated Microsoft endpoints on one local port."""
    from .transport.control import ControlError
    from .transport.server import EmulatorServer, print_startup
    from .world import snapshot

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    world = None
    if snapshot_path:
        try:
            world = snapshot.restore(snapshot_path)
        except snapshot.SnapshotError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        server = EmulatorServer(world, host=host, port=port, state_dir=state_dir, seed=_seed(seed),
                                max_connections=max_connections)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if scenario:
        try:
            server.control.load_scenario_path(scenario)
        except (ControlError, OSError, ValueError) as exc:
            server.stop()
            raise click.ClickException(str(exc)) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach this port can use the control API",
                   err=True)
    print_startup(server, sys.stdout)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        click.echo("entra-emu stopped.", err=True)
