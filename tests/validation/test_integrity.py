"""``gilt check`` verifies a golden-vector folder before it compares anything: SHA256SUMS and
manifest hashes, paths that stay inside the folder, hex word widths and counts. Every tampering
below must stop the check with exit status 2 and name the file; the untouched folder passes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gilt.cli import main
from validation.manifest import (
    IntegrityError,
    ManifestError,
    member_path,
    read_sums,
    verify_files,
)

CASE = ["--op", "matmul", "--param", "m=4,k=8,n=4", "--formats", "npy,hex,bin"]
NAME = "matmul_m4_k8_n4_w4a8"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    assert main(["golden", *CASE, "--out", str(out)]) == 0
    return out / NAME


@pytest.fixture
def golden(pristine, tmp_path) -> Path:
    copy = tmp_path / NAME
    shutil.copytree(pristine, copy)
    return copy


def _check(directory: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["check", str(directory), "--results", str(directory)])
    err = capsys.readouterr().err.strip()
    return rc, err


def _rewrite_sums(directory: Path, edit) -> None:
    path = directory / "SHA256SUMS"
    path.write_text(edit(path.read_text()))


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def _save_manifest(directory: Path, manifest: dict, *, resum: bool = True) -> None:
    """Write a tampered manifest; with ``resum`` also fix SHA256SUMS so only the manifest's
    own checks can catch it (a careful forger)."""
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    (directory / "manifest.json").write_bytes(data)
    (directory / "manifest.yaml").unlink()
    if resum:
        digest = hashlib.sha256(data).hexdigest()
        _rewrite_sums(directory, lambda text: "".join(
            (f"{digest}  manifest.json\n" if line.endswith("  manifest.json") else
             "" if line.endswith("  manifest.yaml") else line + "\n")
            for line in text.splitlines()))


def test_untouched_folder_passes(golden, capsys):
    rc, err = _check(golden, capsys)
    assert rc == 0 and err == ""
    assert verify_files(golden) == 3 * 4  # npy/hex/bin of 4 tensors


TAMPERINGS = {
    "data byte flipped": (lambda d: (d / "output.bin").write_bytes(
        bytes([(d / "output.bin").read_bytes()[0] ^ 1]) + (d / "output.bin").read_bytes()[1:]),
        "output.bin"),
    "file truncated": (lambda d: (d / "weight.hex").write_text(
        "\n".join((d / "weight.hex").read_text().splitlines()[:-1]) + "\n"), "weight.hex"),
    "file deleted": (lambda d: (d / "input.npy").unlink(), "input.npy"),
    "SHA256SUMS missing": (lambda d: (d / "SHA256SUMS").unlink(), "SHA256SUMS"),
    "SHA256SUMS garbage line": (lambda d: _rewrite_sums(d, lambda t: t + "not a checksum\n"),
                                "SHA256SUMS"),
    "SHA256SUMS ../ entry": (lambda d: _rewrite_sums(
        d, lambda t: t + f"{'0' * 64}  ../outside.txt\n"), "outside the folder"),
    "SHA256SUMS absolute entry": (lambda d: _rewrite_sums(
        d, lambda t: t + f"{'0' * 64}  /etc/passwd\n"), "outside the folder"),
    "SHA256SUMS wrong digest": (lambda d: _rewrite_sums(
        d, lambda t: t.replace(t[:64], "f" * 64, 1)), "SHA256SUMS"),
    "SHA256SUMS lacks a file": (lambda d: _rewrite_sums(
        d, lambda t: "".join(line + "\n" for line in t.splitlines()
                             if not line.endswith("output.hex"))), "output.hex"),
    "SHA256SUMS lists a missing file": (lambda d: _rewrite_sums(
        d, lambda t: t + f"{'0' * 64}  ghost.npy\n"), "ghost.npy"),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_tampered_folder_fails_with_the_file_named(golden, capsys, what):
    tamper, named = TAMPERINGS[what]
    tamper(golden)
    rc, err = _check(golden, capsys)
    assert rc == 2, (what, err)
    assert len(err.splitlines()) == 1 and named in err, (what, err)
    assert "Traceback" not in err


def test_manifest_path_outside_the_folder_is_refused(golden, tmp_path, capsys):
    """A manifest naming ``../../etc/passwd`` (with matching size and hash, and SHA256SUMS
    re-made) must not be read: the path itself is refused."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    manifest = _manifest(golden)
    record = manifest["tensors"][0]["files"]["npy"]
    record.update(path="../secret.txt", bytes=9, sha256=hashlib.sha256(b"not yours").hexdigest())
    _save_manifest(golden, manifest)
    rc, err = _check(golden, capsys)
    assert rc == 2 and "'../secret.txt'" in err and "outside the folder" in err
    for path in ("../../etc/passwd", "/etc/passwd", "a/../../x"):
        with pytest.raises(IntegrityError, match="outside the folder"):
            member_path(golden, path)


def test_symbolic_link_out_of_the_folder_is_refused(golden, tmp_path, capsys):
    outside = tmp_path / "elsewhere.npy"
    shutil.copy(golden / "output.npy", outside)
    (golden / "output.npy").unlink()
    (golden / "output.npy").symlink_to(outside)
    rc, err = _check(golden, capsys)
    assert rc == 2 and "link leading outside the folder" in err


@pytest.mark.parametrize("field, value, message", [
    ("words", 3, "words=3"),
    ("elements_per_word", 3, "elements_per_word=3"),
    ("word_bits", 100000, "word_bits=100000"),
    ("word_bits", 12, "does not hold whole"),
])
def test_hex_word_count_and_width_must_match_the_tensor(golden, capsys, field, value, message):
    manifest = _manifest(golden)
    hex_record = next(t for t in manifest["tensors"] if t["name"] == "weight")["files"]["hex"]
    hex_record[field] = value
    _save_manifest(golden, manifest)
    rc, err = _check(golden, capsys)
    assert rc == 2 and message in err and "weight.hex" in err, err


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["tensors"][0].update(shape=[-1, 8]), "not a list of non-negative ints"),
    (lambda m: m["tensors"][0].update(count=7), "is not the product of shape"),
    (lambda m: m["tensors"][0].update(dtype="int5"), "dtype 'int5'"),
    (lambda m: m["tensors"][0]["files"]["npy"].update(sha256="xyz"), "64 lower-case hex"),
    (lambda m: m["tensors"][0]["files"]["npy"].update(bytes=-1), "is not a size"),
    (lambda m: m["tensors"][0]["files"].update(pdf={}), "unknown file format 'pdf'"),
])
def test_malformed_manifest_entries_are_named(golden, capsys, edit, message):
    manifest = _manifest(golden)
    edit(manifest)
    _save_manifest(golden, manifest)
    rc, err = _check(golden, capsys)
    assert rc == 2 and message in err, err


def test_manifest_edited_without_new_sums_is_caught_by_sha256sums(golden, capsys):
    manifest = _manifest(golden)
    manifest["seed"] = 99
    _save_manifest(golden, manifest, resum=False)
    rc, err = _check(golden, capsys)
    assert rc == 2 and "manifest.json" in err


def test_read_sums_parses_sha256sum_format(golden):
    sums = read_sums(golden)
    assert set(sums) >= {"manifest.json", "output.npy", "weight.hex"}
    assert all(len(d) == 64 for d in sums.values())
    (golden / "SHA256SUMS").write_text("")
    with pytest.raises(IntegrityError, match="lists no file"):
        read_sums(golden)


def test_kernel_check_verifies_too(golden, capsys):
    """--kernel reads the same golden folder: a tampered one stops it the same way."""
    pytest.importorskip("kernels.registry")
    (golden / "SHA256SUMS").unlink()
    capsys.readouterr()
    assert main(["check", str(golden), "--kernel", "cpu.matmul_int"]) == 2
    assert "SHA256SUMS" in capsys.readouterr().err


def test_manifest_error_is_a_value_error():
    assert issubclass(IntegrityError, ValueError) and issubclass(ManifestError, ValueError)


@settings(max_examples=60)
@given(data=st.data())
def test_any_flipped_byte_in_any_file_is_caught(pristine, tmp_path_factory, data):
    """Flip one bit anywhere in any file of the folder: verification fails, naming that file
    (or SHA256SUMS / the manifest when the flip lands in them)."""
    folder = tmp_path_factory.mktemp("flip") / NAME
    shutil.copytree(pristine, folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != ".gilt-output")
    name = data.draw(st.sampled_from(names))
    path = folder / name
    blob = bytearray(path.read_bytes())
    offset = data.draw(st.integers(0, len(blob) - 1))
    before = blob[offset]
    blob[offset] ^= 1 << data.draw(st.integers(0, 7))
    if name == "SHA256SUMS" and chr(before).isalpha() and \
            chr(before).lower() == chr(blob[offset]).lower():
        return  # a digest's letter changed case: the same digest, as for sha256sum -c
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError) as info:
        from validation.manifest import load_manifest

        verify_files(folder, load_manifest(folder))
    assert name in str(info.value) or "manifest" in str(info.value) \
        or "SHA256SUMS" in str(info.value), (name, str(info.value))
