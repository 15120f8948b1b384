"""Faults while gilt writes: Ctrl-C, SIGTERM and SIGKILL mid-write, concurrent writers, a
read-only folder, a full disk. After each: no half-written output, no user file replaced, and
whatever a killed run left is removed by the next run.

Read-only and full-disk cases mount a small tmpfs and need root; without it the read-only case
falls back to a chmod-ed folder and the full-disk case skips, saying why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common import files
from common.files import MARKER, PendingOutputs, write_text_atomic
from gilt.cli import main
from validation.manifest import verify_files

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    env.pop("GILT_DEBUG", None)
    return env


def _start(argv, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gilt", *argv], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(0.002)
    return False


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and
                  p.name != MARKER)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


GATED_GOLDEN = ["golden", "--network", "gated_net", "--all-nodes", "--formats", "all",
                "--out", "out"]


def _staging(out: Path) -> list[Path]:
    return [p for p in out.glob(".gated_net_w4a8.staging-*")] if out.exists() else []


@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_interrupt_mid_write_leaves_nothing(tmp_path, sig, status, word):
    """Ctrl-C (or SIGTERM) while the golden folder is being written: exit 130 (143) with one
    line, the staging folder removed, no output folder."""
    proc = _start(GATED_GOLDEN, tmp_path)
    assert _wait_for(lambda: bool(_staging(tmp_path / "out")), proc), "never saw the staging"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.strip().splitlines()[-1] == f"gilt golden: {word}"
    assert "Traceback" not in err + out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_sigkill_mid_write_is_cleaned_by_the_next_run(tmp_path, capsys):
    """SIGKILL leaves the hidden staging folder (nothing can run then); the next run of the
    same command removes it and writes a complete, verified folder."""
    proc = _start(GATED_GOLDEN, tmp_path)
    out = tmp_path / "out"
    assert _wait_for(lambda: bool(_staging(out)) and any(_staging(out)[0].iterdir()), proc)
    proc.kill()
    proc.communicate(timeout=60)
    left = _staging(out)
    assert left and not (out / "gated_net_w4a8").exists()  # killed: staging only
    rerun = subprocess.run([sys.executable, "-m", "gilt", *GATED_GOLDEN], cwd=tmp_path,
                           env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _hidden(out) == [] and not any(p.exists() for p in left)
    layers = [p for p in (out / "gated_net_w4a8").iterdir() if p.is_dir()]
    assert layers and all(verify_files(p) > 0 for p in layers)


def test_swap_cut_between_its_two_renames_is_repaired(tmp_path):
    """A kill after the old folder was moved aside but before the new one moved in leaves
    ``.NAME.old-PID`` and no NAME: the next write puts the old folder back first."""
    target = tmp_path / "rep"
    backup = tmp_path / f".rep.old-{_dead_pid()}"
    backup.mkdir()
    (backup / MARKER).write_text("x")
    (backup / "index.html").write_text("old report")
    assert files.clean_leftovers(target) == [backup]
    assert (target / "index.html").read_text() == "old report" and not backup.exists()


def test_killed_file_write_and_legacy_leftovers_are_removed(tmp_path):
    target = tmp_path / "table.csv"
    pid = _dead_pid()
    killed = tmp_path / f".table.csv.{pid}.abcd1234.tmp"
    killed.write_text("half")
    old_style = tmp_path / ".table.csv.old-12345678"  # the `.F.old-PID` older gilt left
    old_style.write_text("x")
    alive = tmp_path / f".table.csv.{os.getpid()}.zzzz9999.tmp"  # ours: in use, kept
    alive.write_text("busy")
    other = tmp_path / ".table.csv.5.notours"  # not a gilt name: kept
    other.write_text("keep")
    write_text_atomic(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    assert not killed.exists() and not old_style.exists() and alive.exists() and other.exists()


def test_out_never_replaces_a_file_or_a_foreign_folder(tmp_path, capsys):
    precious = tmp_path / "F"
    precious.write_text("precious")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for out in (precious, mine):
        assert main(["report", "--net", "gated_net", "--out", str(out)]) == 2
        assert main(["sweep", str(ROOT / "examples" / "sweep.yaml"), "--out", str(out)]) == 2
        assert main(["golden", "--op", "matmul", "--out", str(out)]) == 2 or out.is_dir()
    assert precious.read_text() == "precious" and (mine / "thesis.tex").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F", "mine"]
    err = capsys.readouterr().err
    assert "never replaces a file" in err and "did not write" in err


def test_concurrent_writers_of_one_folder(tmp_path):
    """Four processes write the same golden case at once: all succeed, the folder that stays
    is complete and verifies, nothing hidden is left."""
    argv = ["golden", "--op", "matmul", "--param", "m=32,k=64,n=32", "--out", "out"]
    procs = [_start(argv, tmp_path) for _ in range(4)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    out = tmp_path / "out"
    (case,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert verify_files(case) > 0 and _hidden(out) == []


def test_concurrent_writers_of_one_file(tmp_path):
    """Threads replacing one file: every read sees one writer's whole content."""
    target = tmp_path / "x.txt"
    payloads = [str(i) * 50_000 for i in range(8)]
    seen: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            if target.exists():
                seen.append(target.read_text())

    def writer(text):
        for _ in range(5):
            write_text_atomic(target, text)

    r = threading.Thread(target=reader)
    r.start()
    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert target.read_text() in payloads and all(s in payloads for s in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def _mount_tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    return proc.returncode == 0


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    if _mount_tmpfs(folder, "ro,size=64k"):
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
        return
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        pytest.skip("cannot make a read-only folder here (root without mount permission)")
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path):
    folder = tmp_path / "full"
    if not _mount_tmpfs(folder, "size=64k"):
        pytest.skip("a full disk is simulated with a 64 KiB tmpfs, which needs root and "
                    "mount permission")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_read_only_folder_is_one_line_and_writes_nothing(read_only_folder, capsys):
    probes = [
        ["npu", "--net", "gated_net", "--csv", str(read_only_folder / "x.csv")],
        ["report", "--net", "gated_net", "--out", str(read_only_folder / "rep")],
        ["golden", "--op", "matmul", "--out", str(read_only_folder / "g")],
        ["sweep", str(ROOT / "examples" / "sweep.yaml"), "--out",
         str(read_only_folder / "s")],
        ["check", "--all-kernels", "--junit", str(read_only_folder / "j.xml")],
    ]
    for argv in probes:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not writable" in err, (argv, err)
    assert list(read_only_folder.iterdir()) == []


def test_full_disk_leaves_the_old_outputs_and_no_temporary(full_disk, capsys):
    old = full_disk / "layers.csv"
    old.write_text("old table\n")
    # the CSV (about 27 KB) fits, the JSON does not: neither may change
    assert main(["npu", "--net", "resnet50", "--quiet", "--csv", str(old), "--json",
                 str(full_disk / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left" in err and len(err.splitlines()) == 1
    assert old.read_text() == "old table\n"
    assert sorted(p.name for p in full_disk.iterdir()) == ["layers.csv"]
    # a folder that does not fit: no staging left, no target
    assert main(["golden", "--op", "conv2d", "--param", "c=32,h=32,w=32,k=32", "--formats",
                 "all", "--out", str(full_disk / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in full_disk.iterdir()) == ["g", "layers.csv"]
    assert list((full_disk / "g").iterdir()) == []


def test_pending_outputs_commit_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(RuntimeError), PendingOutputs() as out:
        out.add(a, "new a")
        out.add(b, "new b")
        raise RuntimeError("a later step failed")
    assert a.read_text() == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with PendingOutputs() as out:
        out.add(a, "new a")
        out.add(b, b"new b")
    assert a.read_text() == "new a" and b.read_text() == "new b"


def test_ctrl_c_stops_a_sweep_and_its_worker_processes(tmp_path):
    """Ctrl-C reaches the whole process group (as from a terminal): the workers ignore it, the
    parent stops them, prints one line and exits 130; no output folder, no worker left."""
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gilt", "sweep", str(ROOT / "examples" / "sweep-npu-array.yaml"),
         "--workers", "2", "--out", "s"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = proc.stderr.readline()  # the progress bar's first line: points are running
    assert first.startswith("sweep ["), first
    workers = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "gilt sweep: interrupted"
    assert "Traceback" not in out + err
    assert not (tmp_path / "s").exists() and _hidden(tmp_path) == []
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive


def test_outputs_of_earlier_versions_may_be_replaced_but_nothing_else(tmp_path):
    """Folders written before the marker existed are recognized by their files; any other
    non-empty folder is refused."""
    report = tmp_path / "gilt-report"
    (report / "figures").mkdir(parents=True)
    (report / "index.html").write_text("<html>")
    (report / "report.md").write_text("# r")
    golden = tmp_path / "g"
    golden.mkdir()
    (golden / "manifest.json").write_text('{\n  "schema": "gilt-golden-vectors"\n}')
    (golden / "output.npy").write_bytes(b"x")
    for folder in (report, golden, tmp_path / "new", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert files.check_output_dir(folder) == folder
    (report / "thesis.tex").write_text("mine")
    with pytest.raises(files.OutputPathError, match="did not write"):
        files.check_output_dir(report)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "index.html").write_text("my homepage")
    with pytest.raises(files.OutputPathError, match="did not write"):
        files.check_output_dir(lone)
