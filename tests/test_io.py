import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neuralode_repro.io import load_arrays, save_arrays, write_bytes, write_json, write_text
from neuralode_repro.staging import OutputError, atomic_path, staged, unstaged


def test_save_arrays_is_byte_deterministic(tmp_path):
    arrays = {"b": np.arange(5.0), "a": np.eye(2), "kind": np.array("linear")}
    save_arrays(tmp_path / "x.npz", arrays)
    first = (tmp_path / "x.npz").read_bytes()
    save_arrays(tmp_path / "x.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "x.npz").read_bytes() == first
    back = load_arrays(tmp_path / "x.npz")
    assert str(back["kind"]) == "linear" and back["kind"].shape == ()
    np.testing.assert_array_equal(back["a"], np.eye(2))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and os.listdir(tmp_path) == []


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"cannot write .*file/sub/m\.json"):
        write_json(blocker / "sub" / "m.json", {})


def test_missing_input_names_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run `dvc repro`"):
        load_arrays(tmp_path / "missing.npz")


def test_staged_outputs_appear_together_on_success(tmp_path):
    with staged():
        write_json(tmp_path / "m" / "a.json", {"x": 1})
        write_text(tmp_path / "f" / "sub" / "b.csv", "1\n")
        write_json(tmp_path / "m" / "a.json", {"x": 2})  # written twice: the last wins
        assert not (tmp_path / "m" / "a.json").exists()  # nothing visible yet
    assert json.loads((tmp_path / "m" / "a.json").read_text()) == {"x": 2}
    assert (tmp_path / "f" / "sub" / "b.csv").read_text() == "1\n"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["a.json"]  # no temp left


def test_staged_failure_removes_files_and_new_folders(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "old.json").write_text("{}")
    with pytest.raises(RuntimeError, match="boom"), staged():
        write_json(tmp_path / "keep" / "old.json", {"new": 1})
        write_text(tmp_path / "new" / "deep" / "c.csv", "1\n")
        raise RuntimeError("boom")
    assert (tmp_path / "keep" / "old.json").read_text() == "{}"  # untouched
    assert sorted(os.listdir(tmp_path)) == ["keep"]  # new/deep removed
    assert os.listdir(tmp_path / "keep") == ["old.json"]


def test_unstaged_write_outlives_a_failed_stage(tmp_path):
    """Training checkpoints are written inside unstaged(): kept when the stage fails,
    while the stage's own outputs around them are still staged."""
    with pytest.raises(RuntimeError), staged():
        with unstaged(), atomic_path(tmp_path / "ckpt.pt") as tmp:
            tmp.write_bytes(b"state")
        assert (tmp_path / "ckpt.pt").read_bytes() == b"state"  # at once
        write_text(tmp_path / "out.json", "{}")
        raise RuntimeError("later failure")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def test_staging_belongs_to_the_thread_that_opened_it(tmp_path):
    """A ContextVar, not a global stack: another thread's writes are not this stage's
    (they appear at once), unless it runs in a copy of the stage's context."""
    import contextvars
    import threading

    with staged():
        other = threading.Thread(target=write_text, args=(tmp_path / "other.txt", "x"))
        other.start()
        other.join()
        assert (tmp_path / "other.txt").exists()
        ctx = contextvars.copy_context()
        inside = threading.Thread(target=ctx.run, args=(write_text, tmp_path / "in.txt", "y"))
        inside.start()
        inside.join()
        assert not (tmp_path / "in.txt").exists()  # staged with the block
    assert (tmp_path / "in.txt").read_text() == "y"


def test_disk_full_names_the_path_and_leaves_nothing(tmp_path, disk_full_after):
    disk_full_after(1)
    with pytest.raises(OutputError, match=r"cannot write .*b\.png: No space left on device; "
                                          r"free space"), staged():
        write_text(tmp_path / "a.json", "{}")
        write_bytes(tmp_path / "figs" / "b.png", b"png")
    assert os.listdir(tmp_path) == []


def test_csv_round_trip_and_the_one_format(tmp_path):
    """Integers stay integers, floats keep 6 significant digits, a missing key is nan."""
    from neuralode_repro.io import read_csv, write_csv

    write_csv(tmp_path / "log.csv", [{"step": 1, "loss": 0.123456789, "ok": True},
                                     {"step": 2, "loss": 2.0}])
    assert (tmp_path / "log.csv").read_text() == "step,loss,ok\n1,0.123457,1\n2,2,nan\n"
    rows = read_csv(tmp_path / "log.csv")
    assert rows[0] == {"step": 1.0, "loss": 0.123457, "ok": 1.0}
    assert rows[1]["ok"] != rows[1]["ok"]  # nan
    (tmp_path / "bad.csv").write_text("a,b\n1\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: 1 values for 2 columns; rerun"):
        read_csv(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match=r"none\.csv not found; run `dvc repro`"):
        read_csv(tmp_path / "none.csv")


def test_csv_labels(tmp_path):
    """A label column (the solver of a sweep row) round-trips as a string."""
    from neuralode_repro.io import read_csv, write_csv

    write_csv(tmp_path / "s.csv", [{"method": "vode_adams", "tol": 1e-3}])
    assert read_csv(tmp_path / "s.csv") == [{"method": "vode_adams", "tol": 1e-3}]
    with pytest.raises(ValueError, match=r"CSV label 'a\\rb' holds a carriage return"):
        write_csv(tmp_path / "t.csv", [{"method": "a\rb"}])


def test_csv_quotes_labels_that_need_it_and_reads_them_back(tmp_path):
    """Commas, quotes and newlines in a label (or a column name) are quoted by the csv
    module, with csv's doubled quotes; lines still end in \\n."""
    from neuralode_repro.io import read_csv, write_csv

    rows = [{"label": 'say "hi", twice', "x": 1}, {"label": "two\nlines", "x": 2},
            {"label": "", "x": 3}, {"label": "a\x0bb\u2028c", "x": 4}]
    write_csv(tmp_path / "q.csv", rows, columns=["label", "x", "a,b"])
    assert (tmp_path / "q.csv").read_bytes() == (
        b'label,x,"a,b"\n"say ""hi"", twice",1,nan\n"two\nlines",2,nan\n,3,nan\n'
        b"a\x0bb\xe2\x80\xa8c,4,nan\n")
    back = read_csv(tmp_path / "q.csv")
    assert [(r["label"], r["x"]) for r in back] == [(r["label"], float(r["x"])) for r in rows]
    assert list(back[0]) == ["label", "x", "a,b"]


def test_csv_with_a_quote_left_open_names_the_file_and_stage(tmp_path):
    from neuralode_repro.io import read_csv

    (tmp_path / "cut.csv").write_text('label,x\n"cut short,1\n')
    with pytest.raises(ValueError, match=r"cut\.csv is not a readable CSV file \(line 2: "
                                         r"unexpected end of data\); rerun the stage"):
        read_csv(tmp_path / "cut.csv")


def test_model_file_round_trip_and_errors(tmp_path):
    import torch

    from neuralode_repro.artifacts import load_model, save_model

    model = torch.nn.Linear(2, 3)
    save_model(tmp_path / "m.pt", model, {"out": 3}, meta={"mlflow_run_id": "abc"})
    loaded, config, meta = load_model(tmp_path / "m.pt", lambda c: torch.nn.Linear(2, c["out"]))
    assert config == {"out": 3} and meta == {"mlflow_run_id": "abc"} and not loaded.training
    for name, p in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], p)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(OSError, match=r"junk\.pt is not a readable model file .*dvc repro -f"):
        load_model(tmp_path / "junk.pt", lambda c: model)
    torch.save({"state_dict": {}}, tmp_path / "old.pt")  # the format before model files
    with pytest.raises(OSError, match=r"old\.pt is not a model file of this project"):
        load_model(tmp_path / "old.pt", lambda c: model)
    with pytest.raises(FileNotFoundError, match=r"none\.pt not found; run `dvc repro`"):
        load_model(tmp_path / "none.pt", lambda c: model)


def test_training_summary_has_one_definition():
    from neuralode_repro.training import summarize

    steps = [{"loss": float(i), "nfe_forward": 2 * i, "nfe_backward": i} for i in range(1, 21)]
    # final_loss: the last 10% (2 of 20 steps); NFE: the mean over every step
    assert summarize(steps) == {"final_loss": 19.5, "nfe_forward_mean": 21.0,
                                "nfe_backward_mean": 10.5}
    assert summarize(steps[:3])["final_loss"] == 3.0  # at least one step
    # other finals over the same tail, for the rows that have them (the RNN: no elbo)
    elbo = [{**r, "elbo": -r["loss"]} for r in steps]
    assert summarize(elbo, finals=("elbo",))["final_elbo"] == -19.5
    assert "final_elbo" not in summarize(steps, finals=("elbo",))
    with pytest.raises(ValueError, match="no training steps"):
        summarize([])


def _publish_old(folder):
    """Outputs an earlier run of the stage published."""
    with staged():
        write_json(folder / "a.json", {"run": "old"})
        write_json(folder / "c.json", {"run": "old"})


def test_a_target_that_is_a_folder_keeps_the_previous_outputs(tmp_path):
    """Publishing is all-or-nothing against the previous outputs too: a.json is replaced
    before b.json turns out to be a folder, and is put back."""
    _publish_old(tmp_path)
    (tmp_path / "b.json").mkdir()
    with pytest.raises(OutputError, match=r"cannot write .*b\.json: it is a folder; remove "
                                          r"the folder or change the output path$"), staged():
        write_json(tmp_path / "a.json", {"run": "new"})
        write_json(tmp_path / "b.json", {"run": "new"})
        write_json(tmp_path / "c.json", {"run": "new"})
    for name in ("a.json", "c.json"):
        assert json.loads((tmp_path / name).read_text()) == {"run": "old"}
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json", "c.json"]  # no temp left
    assert os.listdir(tmp_path / "b.json") == []


def test_a_rename_that_fails_part_way_puts_every_previous_output_back(tmp_path, monkeypatch):
    """No check beforehand can promise that a rename succeeds: the third replace fails
    (an I/O error), after a.json was replaced and a new d.json appeared."""
    _publish_old(tmp_path)
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if str(dst).endswith("c.json") and not str(src).endswith(".old"):
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match=r"cannot write .*c\.json: Input/output error"), \
            staged():
        write_json(tmp_path / "a.json", {"run": "new"})
        write_json(tmp_path / "d.json", {"run": "new"})
        write_json(tmp_path / "c.json", {"run": "new"})
    assert calls  # the publish went through os.replace
    for name in ("a.json", "c.json"):
        assert json.loads((tmp_path / name).read_text()) == {"run": "old"}
    assert sorted(os.listdir(tmp_path)) == ["a.json", "c.json"]  # d.json gone, no temp left


@pytest.mark.parametrize("umask,staged_write,mode", [(0o027, False, "0o640"),
                                                     (0o002, True, "0o664")])
def test_file_modes_follow_the_umask_read_at_first_write(tmp_path, umask, staged_write, mode):
    """0666 less the umask, as open() gives (mkstemp alone makes 0600). The umask is set
    after the import, so it must be read when first needed; a fresh process each, as it
    is read once."""
    script = "\n".join([
        "import os, stat, sys", "from neuralode_repro import io, staging",
        f"os.umask({umask})", "with staging.staged():" if staged_write else "if True:",
        "    io.write_text(sys.argv[1], 'x')",
        "print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))"])
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.txt")],
                         check=True, capture_output=True, text=True).stdout
    assert out.strip() == mode


def test_a_signal_during_publish_waits_until_every_output_is_in_place(tmp_path, monkeypatch):
    """SIGTERM between two renames of a publish (issue 32): held until the set is
    complete, then delivered; the outputs are all new, none old."""
    import signal

    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text("old")
    real, renames = os.replace, []

    def replace(src, dst):
        real(src, dst)
        renames.append(dst)
        if len(renames) == 2:  # a's aside and a's new file: b not yet published
            os.kill(os.getpid(), signal.SIGTERM)

    class Stop(Exception):
        pass

    def stop(*_):
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(os, "replace", replace)
    try:
        with pytest.raises(Stop):
            with staged():
                write_text(tmp_path / "a.json", "new")
                write_text(tmp_path / "b.json", "new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.json")] == ["new", "new"]
