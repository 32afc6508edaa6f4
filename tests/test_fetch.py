"""deepear.data.fetch against a local HTTP server on 127.0.0.1 (no internet): download, resume, unpack."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepear.data import registry
from deepear.data.fetch import DONE_MARKER, archive_path, fetch_corpus, read_marker
from deepear.errors import DataError

TIMEOUT_S = 5.0
DATA_ROOT = Path(os.environ.get("DEEPEAR_DATA") or Path(__file__).resolve().parents[2] / "shared" / "datasets")


# ------------------------------------------------------------------------------------------ local server


class Site:
    """What the test server serves and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.ignore_range = False
        self.truncate_next: int | None = None     # send only this many body bytes once, then hang up
        self.lock = threading.Lock()

    def statuses(self) -> list[int]:
        return [r["status"] for r in self.requests]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:        # keep pytest output clean
            pass

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            with site.lock:
                site.requests.append({"path": self.path, "range": self.headers.get("Range"),
                                      "if_range": self.headers.get("If-Range"), "status": status})
                cut, site.truncate_next = site.truncate_next, None
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            self.close_connection = True

        def do_GET(self) -> None:
            data = site.files.get(self.path)
            if data is None:
                self._answer(404, b"not found", {})
                return
            etag = {"ETag": '"' + hashlib.sha256(data).hexdigest()[:16] + '"'}
            rng = self.headers.get("Range")
            if rng is None or site.ignore_range:
                self._answer(200, data, etag)
                return
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            assert m, rng
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            self._answer(206, data[start:end + 1],
                         {**etag, "Content-Range": f"bytes {start}-{end}/{len(data)}"})

    return Handler


@pytest.fixture
def server():
    site = Site()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -------------------------------------------------------------------------------------------- archives


def _wav_bytes(freq_hz: float, seconds: float = 0.25, sr: int = 8000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), sr, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


FSDD_ROOT = registry.get("fsdd").archive_root                  # free-spoken-digit-dataset-master
FSDD_FILES = {f"{FSDD_ROOT}/recordings/{d}_test_0.wav": _wav_bytes(300 + 100 * d) for d in range(3)}
FSDD_FILES[f"{FSDD_ROOT}/README.md"] = b"free spoken digits (test copy)\n"
NOISE_FILES = {"./_background_noise_/white_noise.wav": _wav_bytes(1000),
               "./_background_noise_/README.md": b"noise\n",
               "./yes/0a7c2a8d_nohash_0.wav": _wav_bytes(440),
               "./validation_list.txt": b"yes/0a7c2a8d_nohash_0.wav\n"}
MUSIC_FILES = {"macroform-cold_day.wav": _wav_bytes(220), "LICENSE": b"CC BY-SA 3.0\n"}


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _serve(site: Site, base: str, path: str, data: bytes) -> str:
    site.files[path] = data
    return base + path


def _leftovers(root: Path) -> list[str]:
    """Hidden unpack/old folders next to corpus folders, and anything in .downloads but the lock."""
    hidden = [p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".downloads"]
    dl = [p.name for p in (root / ".downloads").iterdir() if p.name != ".lock"] \
        if (root / ".downloads").is_dir() else []
    return hidden + dl


# ---------------------------------------------------------------------------------------------- tests


def test_zip_fetch_creates_folder_and_marker(server, data_root):
    base, site = server
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    calls: list[tuple[int, int | None]] = []
    dest = fetch_corpus("fsdd", data_root, url=url, progress=lambda d, t: calls.append((d, t)),
                        timeout_s=TIMEOUT_S)
    assert dest == data_root / "fsdd_8k"
    for name, data in FSDD_FILES.items():
        rel = name.split("/", 1)[1]                               # archive_root's contents land in dest
        assert (dest / rel).read_bytes() == data
    x, sr = sf.read(dest / "recordings" / "1_test_0.wav")
    assert sr == 8000 and x.shape == (2000,)
    marker = json.loads((dest / DONE_MARKER).read_text())
    assert marker["url"] == url and marker["bytes"] == len(archive)
    assert marker["sha256"] == hashlib.sha256(archive).hexdigest()
    assert re.match(r"\d{4}-\d\d-\d\dT", marker["date"])
    assert read_marker(dest) == marker
    assert calls[-1] == (len(archive), len(archive))
    assert _leftovers(data_root) == []                           # archive deleted, no temp folders
    assert site.statuses() == [200]


def test_second_call_does_not_contact_the_server(server, data_root):
    base, site = server
    url = _serve(site, base, "/fsdd/master.zip", _zip(FSDD_FILES))
    first = fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    n = len(site.requests)
    second = fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert second == first and len(site.requests) == n == 1


def test_tar_gz_extracts_only_the_archive_root_folder(server, data_root):
    base, site = server
    url = _serve(site, base, "/speech_commands_v0.02.tar.gz", _tgz(NOISE_FILES))
    dest = fetch_corpus("noise", data_root, url=url, timeout_s=TIMEOUT_S)
    assert dest == data_root / "sc_bg_noise"
    assert (dest / "white_noise.wav").read_bytes() == NOISE_FILES["./_background_noise_/white_noise.wav"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(["white_noise.wav", "README.md", DONE_MARKER])
    assert not list(data_root.rglob("0a7c2a8d_nohash_0.wav"))   # other members were never written
    assert not list(data_root.rglob("validation_list.txt"))


def test_tar_gz_without_archive_root_unpacks_everything(server, data_root):
    base, site = server
    url = _serve(site, base, "/moh.tar.gz", _tgz(MUSIC_FILES))
    dest = fetch_corpus("music", data_root, url=url, timeout_s=TIMEOUT_S)
    assert dest == data_root / "moh_music_8k"
    for name, data in MUSIC_FILES.items():
        assert (dest / name).read_bytes() == data


def test_real_corpus_files_survive_the_round_trip(server, data_root):
    base, site = server
    real = sorted((DATA_ROOT / "fsdd_8k").glob("*_george_*.flac"))[:3]
    assert len(real) == 3, f"no FSDD files under {DATA_ROOT} (set DEEPEAR_DATA)"
    members = {f"{FSDD_ROOT}/recordings/{p.name}": p.read_bytes() for p in real}
    url = _serve(site, base, "/fsdd/master.tar.gz", _tgz(members))
    dest = fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    for p in real:
        got, sr = sf.read(dest / "recordings" / p.name, dtype="float32")
        want, sr0 = sf.read(p, dtype="float32")
        assert sr == sr0 == 8000 and np.array_equal(got, want)


def test_file_url_works_too(tmp_path, data_root):
    src = tmp_path / "moh.tar.gz"
    src.write_bytes(_tgz(MUSIC_FILES))
    dest = fetch_corpus("music", data_root, url=src.as_uri(), timeout_s=TIMEOUT_S)
    assert (dest / "LICENSE").read_bytes() == MUSIC_FILES["LICENSE"]


def test_resume_sends_range_and_result_is_byte_identical(server, data_root):
    base, site = server
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    final = archive_path(data_root, url)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True)
    n = len(archive) // 3
    part.write_bytes(archive[:n])
    calls: list[tuple[int, int | None]] = []
    dest = fetch_corpus("fsdd", data_root, url=url, keep_archive=True, timeout_s=TIMEOUT_S,
                        progress=lambda d, t: calls.append((d, t)))
    assert site.requests == [{"path": "/fsdd/master.zip", "range": f"bytes={n}-", "if_range": None,
                              "status": 206}]
    assert final.read_bytes() == archive and not part.exists()
    assert read_marker(dest)["sha256"] == hashlib.sha256(archive).hexdigest()
    assert calls[0] == (n, len(archive)) and calls[-1] == (len(archive), len(archive))


def test_server_ignoring_range_restarts_from_zero(server, data_root):
    base, site = server
    site.ignore_range = True
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    final = archive_path(data_root, url)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00" * 100)                 # appending the full body to this would corrupt it
    dest = fetch_corpus("fsdd", data_root, url=url, keep_archive=True, timeout_s=TIMEOUT_S)
    assert site.requests[0]["range"] == "bytes=100-" and site.statuses() == [200]
    assert final.read_bytes() == archive
    assert (dest / "README.md").read_bytes() == FSDD_FILES[f"{FSDD_ROOT}/README.md"]


def test_interrupted_download_is_resumed_on_the_next_call(server, data_root):
    base, site = server
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    n = len(archive) // 2
    site.truncate_next = n                          # the server hangs up halfway through
    with pytest.raises(DataError, match="interrupted") as ei:
        fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert url in str(ei.value) and "resume" in str(ei.value)
    final = archive_path(data_root, url)
    part = final.with_name(final.name + ".part")
    assert part.stat().st_size == n and not (data_root / "fsdd_8k").exists()
    dest = fetch_corpus("fsdd", data_root, url=url, keep_archive=True, timeout_s=TIMEOUT_S)
    second = site.requests[-1]
    assert second["range"] == f"bytes={n}-" and second["status"] == 206
    assert second["if_range"] == '"' + hashlib.sha256(archive).hexdigest()[:16] + '"'  # ETag echoed
    assert final.read_bytes() == archive
    assert read_marker(dest)["bytes"] == len(archive)


def test_complete_part_file_is_not_downloaded_again(server, data_root):
    base, site = server
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    final = archive_path(data_root, url)
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(archive)   # crashed right before the rename
    dest = fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert site.statuses() == [416]
    assert read_marker(dest)["sha256"] == hashlib.sha256(archive).hexdigest()


@pytest.mark.parametrize("corpus, path, archive", [
    ("fsdd", "/fsdd/master.zip", _zip(FSDD_FILES)[:-200]),            # end of central directory cut
    ("noise", "/speech_commands_v0.02.tar.gz", _tgz(NOISE_FILES)[:-300]),
    ("music", "/moh.tar.gz", b"<html>this is an error page, not an archive</html>"),
])
def test_corrupt_archive_is_deleted_and_nothing_is_unpacked(server, data_root, corpus, path, archive):
    base, site = server
    url = _serve(site, base, path, archive)
    with pytest.raises(DataError, match="corrupt") as ei:
        fetch_corpus(corpus, data_root, url=url, timeout_s=TIMEOUT_S)
    assert "deleted" in str(ei.value) and "Re-run" in str(ei.value)
    assert not (data_root / registry.get(corpus).candidates[0]).exists()
    assert _leftovers(data_root) == []


def test_bad_member_after_good_ones_leaves_no_half_unpacked_folder(server, data_root):
    base, site = server
    archive = bytearray(_zip(FSDD_FILES))
    second = FSDD_FILES[f"{FSDD_ROOT}/recordings/1_test_0.wav"]
    i = bytes(archive).index(second[100:200]) + 50             # inside the 2nd member's stored bytes
    archive[i] ^= 0xFF                                           # CRC check fails after member 1 is written
    url = _serve(site, base, "/fsdd/master.zip", bytes(archive))
    with pytest.raises(DataError, match="corrupt"):
        fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert not (data_root / "fsdd_8k").exists()
    assert not list(data_root.rglob("*.wav")) and _leftovers(data_root) == []


@pytest.mark.parametrize("corpus, path, archive", [
    ("fsdd", "/evil.zip", _zip({f"{FSDD_ROOT}/ok.wav": b"x", f"{FSDD_ROOT}/../../evil.txt": b"pwned"})),
    ("music", "/evil.tar.gz", _tgz({"ok.wav": b"x", "../evil.txt": b"pwned"})),
    ("music", "/abs.tar.gz", _tgz({"ok.wav": b"x", "/tmp/deepear-test-evil.txt": b"pwned"})),
])
def test_path_traversal_member_is_refused(server, tmp_path, data_root, corpus, path, archive):
    base, site = server
    url = _serve(site, base, path, archive)
    with pytest.raises(DataError, match="unsafe"):
        fetch_corpus(corpus, data_root, url=url, timeout_s=TIMEOUT_S)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not Path("/tmp/deepear-test-evil.txt").exists()
    assert not (data_root / registry.get(corpus).candidates[0]).exists()
    assert not [p for p in data_root.iterdir() if ".extract-" in p.name]


def test_connection_refused_names_the_url_and_the_homepage(data_root):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))                 # bound but not listening: connections are refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/fsdd/master.zip"
        with pytest.raises(DataError) as ei:
            fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    msg = str(ei.value)
    assert url in msg and "refused" in msg.lower()
    assert registry.get("fsdd").homepage in msg and "by hand" in msg


def test_http_error_names_the_url_and_status(server, data_root):
    base, _site = server
    url = base + "/missing.zip"
    with pytest.raises(DataError, match="HTTP 404") as ei:
        fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert url in str(ei.value)


def test_existing_destination_without_marker_is_replaced(server, data_root):
    base, site = server
    url = _serve(site, base, "/fsdd/master.zip", _zip(FSDD_FILES))
    stale = data_root / "fsdd_8k"
    (stale / "recordings").mkdir(parents=True)
    (stale / "recordings" / "half_written.wav").write_bytes(b"RIFF")
    dest = fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert not (dest / "recordings" / "half_written.wav").exists()
    assert (dest / "recordings" / "0_test_0.wav").is_file() and read_marker(dest) is not None
    assert _leftovers(data_root) == []


def test_failed_download_keeps_the_existing_unmarked_folder(server, data_root):
    base, _site = server
    old = data_root / "fsdd_8k" / "mine.wav"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"RIFF")
    with pytest.raises(DataError):
        fetch_corpus("fsdd", data_root, url=base + "/missing.zip", timeout_s=TIMEOUT_S)
    assert old.read_bytes() == b"RIFF"                            # replaced only by a complete copy


def test_leftover_unpack_folders_are_cleaned(server, data_root):
    base, site = server
    url = _serve(site, base, "/fsdd/master.zip", _zip(FSDD_FILES))
    junk = data_root / ".fsdd_8k.extract-abc123" / "x.wav"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"x")
    fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert not junk.parent.exists()


def test_sha256_mismatch_deletes_the_archive(server, data_root):
    base, site = server
    archive = _zip(FSDD_FILES)
    url = _serve(site, base, "/fsdd/master.zip", archive)
    with pytest.raises(DataError, match="sha256"):
        fetch_corpus("fsdd", data_root, url=url, sha256="0" * 64, timeout_s=TIMEOUT_S)
    assert not (data_root / "fsdd_8k").exists() and _leftovers(data_root) == []
    dest = fetch_corpus("fsdd", data_root, url=url, sha256=hashlib.sha256(archive).hexdigest(),
                        timeout_s=TIMEOUT_S)
    assert read_marker(dest) is not None


def test_archive_without_the_expected_folder_is_refused(server, data_root):
    base, site = server
    url = _serve(site, base, "/other.zip", _zip({"something-else/a.wav": _wav_bytes(500)}))
    with pytest.raises(DataError, match=f"no files under {FSDD_ROOT}"):
        fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert not (data_root / "fsdd_8k").exists() and _leftovers(data_root) == []


def test_concurrent_fetch_is_refused(server, data_root):
    fcntl = pytest.importorskip("fcntl")            # POSIX only; the lock is a no-op elsewhere
    base, site = server
    url = _serve(site, base, "/fsdd/master.zip", _zip(FSDD_FILES))
    (data_root / ".downloads").mkdir(parents=True)
    with open(data_root / ".downloads" / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DataError, match="another"):
            fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S)
    assert site.requests == []
    assert fetch_corpus("fsdd", data_root, url=url, timeout_s=TIMEOUT_S).is_dir()   # lock released


def test_unknown_corpus_is_a_data_error(data_root):
    with pytest.raises(DataError, match="unknown corpus"):
        fetch_corpus("nope", data_root)


def test_archive_path_is_per_url():
    esc10, urban, fsdd = (registry.get(n).url for n in ("esc10", "esc50_urban", "fsdd"))
    assert archive_path("d", esc10) == archive_path("d", urban)      # one download serves both
    assert archive_path("d", esc10) != archive_path("d", fsdd)       # both are named master.zip
    assert archive_path("d", fsdd).name.endswith("-master.zip")
    assert archive_path("d", fsdd).parent == Path("d") / ".downloads"
