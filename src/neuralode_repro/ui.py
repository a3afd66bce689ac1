"""``make ui``: the MLflow UI on this repository's store, opened on the runs.

MLflow 3 opens an experiment in its GenAI view ("Traces 0", "No data available") unless
the page's URL asks for the model-training one (``?workflowType=machine_learning``; the
UI reads it per page, and the sidebar's *GenAI | Model training* switch stores the
choice in the browser). The ``mlflow.experimentKind`` tag alone does not change that
(MLflow 3.17). So this prints the pipeline experiment's URL with that parameter, then
starts ``mlflow ui`` with one worker and without the job runner, whose huey processes
serve GenAI jobs only (here: ~4 s and 7 processes to the first page, ~8 s and 20 with
MLflow's defaults).

    python -m neuralode_repro.ui [--port 5000] [--host 127.0.0.1] [--params params.yaml]

A port already taken fails here, before the URL: MLflow's server (uvicorn) only logs
its bind error and exits 0, after the URL of whatever else listens there was printed.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sqlite3
import sys
from pathlib import Path

from .config import CommonConfig, ConfigError, load_params, load_section
from .tracking_store import sqlite_path, tracking_uri, use_mlflow_settings

VIEW = "workflowType=machine_learning"



def experiment_id(db: Path, name: str) -> str | None:
    """The id of the active experiment ``name`` in the sqlite store ``db`` (read with
    sqlite3: no mlflow import, so the URL prints at once); None if it has none yet."""
    if not db.is_file():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        try:
            row = con.execute("SELECT experiment_id FROM experiments WHERE name = ? AND "
                              "lifecycle_stage = 'active'", (name,)).fetchone()
        except sqlite3.DatabaseError:  # not an MLflow store (yet)
            return None
    return None if row is None else str(row[0])


def runs_url(base: str, exp_id: str | None) -> str:
    """The experiment's runs in the model-training view (the experiments list if none)."""
    page = f"experiments/{exp_id}" if exp_id is not None else "experiments"
    return f"{base.rstrip('/')}/#/{page}?{VIEW}"


def bind_problem(host: str, port: int) -> str | None:
    """Why ``mlflow ui`` cannot listen on ``host:port`` now, with the fix; None if it
    can. Binds a socket as uvicorn does (family from the address, ``SO_REUSEADDR``, so a
    closed server's lingering connections are no conflict) and closes it at once."""
    other = port + 1 if 0 < port < 65535 else 5001
    again = f"`make ui UI_PORT={other}` (or `python -m neuralode_repro.ui --port {other}`)"
    if not 0 < port < 65536:
        return f"--port {port} is not a TCP port (1-65535); pick one, e.g. {again}"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            why = err.strerror or str(err)
            if err.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another `make ui` or "
                        f"server?); stop that, or pick another port: {again}")
            if err.errno == errno.EACCES:
                return f"no permission to listen on port {port} on {host}; pick another: {again}"
            if err.errno == errno.EADDRNOTAVAIL or isinstance(err, socket.gaierror):
                return (f"cannot listen on --host {host} ({why}): not an address of this "
                        f"machine; keep the default 127.0.0.1")
            return f"cannot listen on {host}:{port} ({why}); pick another port: {again}"
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m neuralode_repro.ui", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        name = load_section(CommonConfig, "common", args.params, params).mlflow_experiment
    except ConfigError as err:
        sys.exit(f"error: {err}")
    uri = tracking_uri()
    db = sqlite_path(uri)
    if db is None:  # a shared server: already running; just say where to look
        print(f"MLFLOW_TRACKING_URI is a server; open {runs_url(uri, None)} and pick {name!r}")
        return
    problem = bind_problem(args.host, args.port)
    if problem is not None:
        sys.exit(f"error: {problem}")
    exp_id = experiment_id(db, name)
    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address
    print(f"MLflow UI: {runs_url(f'http://{host}:{args.port}', exp_id)}"
          + ("" if exp_id else f"  (no {name!r} experiment yet: `make repro` logs its runs)"),
          flush=True)
    mlflow = Path(sys.executable).parent / "mlflow"
    # the server is MLflow too: no telemetry, and the pipeline's HTTP settings
    env = use_mlflow_settings({**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    os.execve(mlflow, [str(mlflow), "ui", "--workers", "1", "--backend-store-uri", uri,
                       "--host", args.host, "--port", str(args.port)], env)


if __name__ == "__main__":
    main()
