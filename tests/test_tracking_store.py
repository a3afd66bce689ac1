"""The store is found from inside DVC temp workspaces, and MLflow runs with the
pipeline's settings, which importing sets nowhere."""

import json
import os
import subprocess
import sys

from neuralode_repro import tracking_store


def test_repo_root_maps_out_of_dvc_temp_workspace(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "proj/.dvc/tmp/exps/tmpab12"))
    assert tracking_store.repo_root() == (tmp_path / "proj").resolve()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert (tracking_store.tracking_uri()
            == f"sqlite:///{(tmp_path / 'proj').resolve()}/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_store.tracking_uri() == "http://127.0.0.1:5000"


def test_store_paths_are_url_decoded(tmp_path):
    """A store in a folder with a space is written ``%20`` in the URI: its artifacts
    go beside the real folder, as SQLAlchemy opens it, not into one named ``a%20b``."""
    folder = tmp_path / "a b"
    uri = f"sqlite:///{tmp_path}/a%20b/m.db"
    assert tracking_store.sqlite_path(uri) == folder / "m.db"
    assert tracking_store.artifact_root(uri) == (folder / "mlruns").as_uri()


SETTINGS = tuple(tracking_store.MLFLOW_SETTINGS)

# Records MLflow's settings as they are when mlflow is first imported (MLflow reads
# MLFLOW_DISABLE_TELEMETRY then), before and after a stage's run opens.
FIRST_IMPORT = """
import json, os, sys
SETTINGS = %r
seen = {}

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow" and not seen:
            seen.update({k: os.environ.get(k) for k in SETTINGS})
        return None

sys.meta_path.insert(0, Watch())
from neuralode_repro import runner, tracking
imported = {k: os.environ.get(k) for k in SETTINGS}
with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0):
    pass
print(json.dumps({"after_import": imported, "mlflow_imported_with": seen}))
"""


def test_mlflow_settings_are_set_by_the_tracker_not_by_importing(tmp_path):
    """Importing the pipeline's modules leaves the environment alone; a stage's run
    sets MLflow's settings before mlflow is imported, and a user's own value wins."""

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'm.db'}",
               MLFLOW_HTTP_REQUEST_TIMEOUT="3")
    out = subprocess.run([sys.executable, "-c", FIRST_IMPORT % (SETTINGS,)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["after_import"] == {"MLFLOW_DISABLE_TELEMETRY": None,
                                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": None,
                                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
    assert got["mlflow_imported_with"] == {"MLFLOW_DISABLE_TELEMETRY": "true",
                                           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                                           "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}


def test_use_mlflow_settings_fills_only_what_is_unset():
    env = {"MLFLOW_DISABLE_TELEMETRY": "false", "OTHER": "x"}
    assert tracking_store.use_mlflow_settings(env) is env
    assert env == {"MLFLOW_DISABLE_TELEMETRY": "false", "OTHER": "x",
                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
