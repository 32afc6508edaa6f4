"""Download a corpus's official archive and unpack it under the data root, resumably and atomically.

What appears under `data_root` while `fetch_corpus` works:

    .downloads/<h>-<archive name>.part       the download in progress (resumed with an HTTP Range request)
    .downloads/<h>-<archive name>.part.json  the server's validator (ETag / Last-Modified) for If-Range
    .downloads/<h>-<archive name>            the complete archive (deleted after unpacking unless kept)
    .downloads/.lock                         held (flock) while a fetch runs
    .<folder>.extract-XXXX/                  unpacking in progress (removed on failure and on the next run)
    <folder>/                                the corpus; appears in one os.replace, complete, with
                                             `.deepear-done` (JSON: url, bytes, sha256, date) already in it

`<h>` is a short hash of the URL, so two corpora served by the same archive (esc10, esc50_urban) share one
download, and a different URL never resumes another URL's partial file. `<folder>` is the registry entry's
first candidate (the shared data pack's folder name); the corpus readers accept both layouts.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import http.client
import json
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from deepear.data import registry
from deepear.errors import DataError

log = logging.getLogger(__name__)

DONE_MARKER = ".deepear-done"
DOWNLOADS = ".downloads"
_CHUNK = 256 * 1024
_USER_AGENT = "deepear-fetch/0.1 (python-urllib)"

Progress = Callable[[int, int | None], None]


class _CorruptArchive(Exception):
    """The archive's bytes cannot be read as the archive they claim to be (internal)."""


# ----------------------------------------------------------------------------------------------- public


def archive_path(data_root: str | Path, url: str) -> Path:
    """Where the complete archive downloaded from `url` is kept: `<data_root>/.downloads/<h>-<name>`.

    The partial download is the same path plus `.part`.
    """
    name = Path(urllib.parse.urlsplit(url).path).name or "archive"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    h = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return Path(data_root) / DOWNLOADS / f"{h}-{name}"


def read_marker(folder: str | Path) -> dict | None:
    """The done-marker JSON of a fetched corpus folder, or None when `folder` was not (fully) fetched."""
    p = Path(folder) / DONE_MARKER
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fetch_corpus(name: str, data_root: str | Path, *, url: str | None = None,
                 progress: Progress | None = None, timeout_s: float = 60,
                 sha256: str | None = None, keep_archive: bool = False) -> Path:
    """Download corpus `name`'s archive and unpack it to `<data_root>/<candidates[0]>`; return that folder.

    Args:
        name: registry name (`deepear.data.registry.CORPORA`).
        data_root: the data root (created if missing).
        url: download from here instead of the registry's address (a mirror, a local server, `file://`).
        progress: called as `progress(bytes_done, bytes_total_or_None)` while downloading.
        timeout_s: socket timeout in seconds for connecting and for each read.
        sha256: expected hex digest of the archive; default: the registry's `extra["sha256"]` when
            downloading from the registry's own URL, else no check.
        keep_archive: keep `.downloads/<archive>` after unpacking (another corpus may share it).
    Returns: the corpus folder, which holds `.deepear-done`.

    A folder that already holds the done marker is returned without any network access. A folder without
    it is replaced only once the new copy is fully unpacked. An interrupted download is resumed on the next
    call; a corrupt archive is deleted. Every failure raises DataError saying what to do.
    """
    info = registry.get(name)
    root = Path(data_root)
    dest = root / info.candidates[0]
    if read_marker(dest) is not None:
        log.info("%s is already fetched in %s", info.title, dest)
        return dest
    src_url = url or info.url
    expected = sha256
    if expected is None and src_url == info.url:
        expected = info.extra.get("sha256")
    downloads = root / DOWNLOADS
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot write to data root {root}: {err}") from err

    with _locked(downloads):
        if read_marker(dest) is not None:         # another process finished it while we waited
            return dest
        _remove_leftovers(dest)
        final = archive_path(root, src_url)
        part = final.with_name(final.name + ".part")
        if final.is_file():
            log.info("using the already downloaded archive %s", final)
        else:
            _download(src_url, part, info, dest, progress, timeout_s)
            os.replace(part, final)
            _meta_path(part).unlink(missing_ok=True)
        size = final.stat().st_size
        digest = _sha256_file(final)
        if expected and digest.lower() != expected.lower():
            final.unlink(missing_ok=True)
            raise DataError(
                f"the archive downloaded from {src_url} has sha256 {digest}, expected {expected}; "
                f"deleted it. Re-run `deepear data fetch {name}`; if it happens again the file on the server "
                f"changed. {_manual(info, dest)}")
        marker = {"name": info.name, "url": src_url, "bytes": size, "sha256": digest,
                  "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "archive_root": info.archive_root}
        _unpack_and_commit(final, dest, info, src_url, marker)
        if not keep_archive:
            final.unlink(missing_ok=True)
    log.info("fetched %s into %s (%d archive bytes)", info.title, dest, size)
    return dest


# --------------------------------------------------------------------------------------------- download


def _download(url: str, part: Path, info: registry.CorpusInfo, dest: Path,
              progress: Progress | None, timeout_s: float) -> None:
    """Download `url` into `part`, resuming from its current size when the server honours Range."""
    for _attempt in range(3):
        have = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            validator = _read_validator(part)
            if validator:
                headers["If-Range"] = validator
            log.info("resuming %s at byte %d", url, have)
        else:
            log.info("downloading %s", url)
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
        except urllib.error.HTTPError as err:
            with contextlib.closing(err):
                if err.code == 416 and have:
                    total = _range_total(err.headers.get("Content-Range"))
                    if total == have:
                        log.info("the partial download %s is already complete", part)
                        if progress is not None:
                            progress(have, total)
                        return
                    log.warning("server refused to resume %s at byte %d; restarting", url, have)
                    _discard(part)
                    continue
                raise DataError(_net_message(url, f"HTTP {err.code} {err.reason}", part, info, dest)) from err
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise DataError(_net_message(url, str(reason), part, info, dest)) from err

        with resp:
            status = resp.status or 200              # file:// answers have no status
            length = _int_or_none(resp.headers.get("Content-Length"))
            if status == 206 and have:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                if cr is None or cr[0] != have or (length is not None and length != cr[1] - cr[0] + 1):
                    log.warning("server answered the Range request for %s inconsistently "
                                "(Content-Range %r, Content-Length %r); restarting",
                                url, resp.headers.get("Content-Range"), length)
                    _discard(part)
                    continue
                total, mode, done = cr[2], "ab", have
            elif status in (200, 206):
                if have:
                    log.info("server ignored the Range request for %s; restarting from byte 0", url)
                total, mode, done = length, "wb", 0
                _write_validator(part, resp.headers)
            else:
                raise DataError(_net_message(url, f"unexpected HTTP status {status}", part, info, dest))
            done = _copy_stream(resp, part, mode, done, total, url, info, dest, progress)

        if total is not None and done < total:
            raise DataError(
                f"download of {url} was interrupted at {done} of {total} bytes (the server closed the "
                f"connection); {done} bytes are kept in {part}. Re-run `deepear data fetch {info.name}` "
                f"to resume. {_manual(info, dest)}")
        if total is not None and done > total:
            _discard(part)
            raise DataError(f"{url} sent {done} bytes but announced {total}; deleted the partial file. "
                            f"Re-run `deepear data fetch {info.name}`. {_manual(info, dest)}")
        return
    raise DataError(_net_message(url, "the server kept answering Range requests inconsistently",
                                 part, info, dest))


def _copy_stream(resp: IO[bytes], part: Path, mode: str, done: int, total: int | None, url: str,
                 info: registry.CorpusInfo, dest: Path, progress: Progress | None) -> int:
    """Append (mode "ab") or write ("wb") the response body to `part`; returns the file's size in bytes."""
    if progress is not None:
        progress(done, total)
    try:
        fh = open(part, mode)
    except OSError as err:
        raise DataError(f"cannot write the download {part}: {err}") from err
    with fh:
        while True:
            try:
                chunk = resp.read(_CHUNK)
            except (OSError, http.client.HTTPException, ValueError) as err:
                fh.flush()
                raise DataError(
                    f"download of {url} was interrupted at {done} bytes"
                    f"{'' if total is None else f' of {total}'}: {err}; the bytes so far are kept in "
                    f"{part}. Re-run `deepear data fetch {info.name}` to resume. {_manual(info, dest)}"
                ) from err
            if not chunk:
                break
            try:
                fh.write(chunk)
            except OSError as err:
                raise DataError(f"cannot write the download {part}: {err}") from err
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        fh.flush()
        os.fsync(fh.fileno())
    return done


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _write_validator(part: Path, headers) -> None:
    """Remember the response's ETag (strong only) or Last-Modified, sent back as If-Range on resume."""
    etag = headers.get("ETag")
    validator = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
    meta = _meta_path(part)
    if not validator:
        meta.unlink(missing_ok=True)
        return
    _write_json_atomic(meta, {"validator": validator})


def _read_validator(part: Path) -> str | None:
    try:
        value = json.loads(_meta_path(part).read_text(encoding="utf-8")).get("validator")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """`bytes START-END/TOTAL` (TOTAL may be `*`) -> (start, end, total); None when malformed."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    if end < start or (total is not None and end >= total):
        return None
    return start, end, total


def _range_total(value: str | None) -> int | None:
    """The TOTAL of a 416 answer's `bytes */TOTAL`."""
    m = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", value or "")
    return int(m.group(1)) if m else None


def _net_message(url: str, reason: str, part: Path, info: registry.CorpusInfo, dest: Path) -> str:
    have = part.stat().st_size if part.is_file() else 0
    kept = (f" {have} bytes already downloaded are kept in {part} and resumed on the next run."
            if have else "")
    return (f"could not download {info.title} from {url}: {reason}.{kept} Check the network and re-run "
            f"`deepear data fetch {info.name}`. {_manual(info, dest)}")


def _manual(info: registry.CorpusInfo, dest: Path) -> str:
    what = f"its {info.archive_root}/ folder" if info.archive_root else "its contents"
    return (f"To get it by hand: download {info.url} (see {info.homepage}; licence {info.licence}) "
            f"and unpack {what} to {dest}.")


# ---------------------------------------------------------------------------------------------- unpack


def _unpack_and_commit(archive: Path, dest: Path, info: registry.CorpusInfo, url: str,
                       marker: dict) -> None:
    """Unpack `archive` next to `dest`, then swap it in with os.replace; nothing half-done is left."""
    root_parts = _safe_parts(info.archive_root, "registry archive_root") if info.archive_root else ()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        try:
            n_files = _extract(archive, tmp, root_parts)
        except _CorruptArchive as err:
            archive.unlink(missing_ok=True)
            raise DataError(
                f"the archive downloaded from {url} is corrupt ({err}); deleted it. Re-run "
                f"`deepear data fetch {info.name}` to download it again. {_manual(info, dest)}") from None
        if n_files == 0:
            archive.unlink(missing_ok=True)
            where = f"under {info.archive_root}/" if info.archive_root else "at all"
            raise DataError(f"the archive downloaded from {url} has no files {where}; deleted it. "
                            f"Check the URL. {_manual(info, dest)}")
        src = tmp.joinpath(*root_parts)
        _write_json_atomic(src / DONE_MARKER, dict(marker, files=n_files))
        old = None
        if dest.exists() or dest.is_symlink():
            log.warning("%s exists without a %s marker (an interrupted fetch or a manual copy); "
                        "replacing it", dest, DONE_MARKER)
            old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(dest, old)
        os.replace(src, dest)
        if old is not None:
            _remove(old)
    finally:
        _remove(tmp)


def _extract(archive: Path, into: Path, root_parts: tuple[str, ...]) -> int:
    """Unpack the members of `archive` under `root_parts` into `into`; returns the number of files."""
    kind = _archive_kind(archive)
    try:
        if kind == "zip":
            return _extract_zip(archive, into, root_parts)
        return _extract_tar(archive, into, root_parts)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile,
            lzma.LZMAError, NotImplementedError, RuntimeError) as err:
        raise _CorruptArchive(f"{type(err).__name__}: {err}") from err


def _archive_kind(archive: Path) -> str:
    """"zip" or "tar" from the file's magic bytes (the name only for magic-less old tars)."""
    with open(archive, "rb") as fh:
        head = fh.read(512)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" \
            or head[257:262] == b"ustar":
        return "tar"
    if archive.name.endswith(".tar") and len(head) == 512:
        return "tar"
    raise _CorruptArchive("neither a zip nor a tar archive")


def _extract_zip(archive: Path, into: Path, root_parts: tuple[str, ...]) -> int:
    n = 0
    with zipfile.ZipFile(archive) as zf:
        members = [(m, _safe_parts(m.filename, f"member of {archive.name}")) for m in zf.infolist()]
        for m, parts in members:                  # every name is checked before anything is written
            rel = _wanted(parts, root_parts)
            if not rel:
                continue
            if m.is_dir():
                into.joinpath(*rel).mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_ISLNK(m.external_attr >> 16):
                log.warning("skipping symbolic link %s in %s", m.filename, archive.name)
                continue
            with zf.open(m) as src:
                _write_member(src, into, rel)
            n += 1
    return n


def _extract_tar(archive: Path, into: Path, root_parts: tuple[str, ...]) -> int:
    """Streams the tar (gz/bz2/xz): members outside `root_parts` are read past, never written."""
    n = 0
    with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tf:
        for m in tf:
            parts = _safe_parts(m.name, f"member of {archive.name}")
            rel = _wanted(parts, root_parts)
            if not rel:
                continue
            if m.isdir():
                into.joinpath(*rel).mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                src = tf.extractfile(m)
                if src is None:
                    raise tarfile.ReadError(f"cannot read member {m.name}")
                with src:
                    _write_member(src, into, rel)
                n += 1
            else:
                log.warning("skipping %s in %s (not a regular file)", m.name, archive.name)
    return n


def _safe_parts(name: str, what: str) -> tuple[str, ...]:
    """Path components of archive member `name`; DataError for absolute paths and `..` (path traversal)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or "\x00" in norm:
        raise DataError(f"unsafe {what}: {name!r} is an absolute path; refusing to unpack it")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise DataError(f"unsafe {what}: {name!r} climbs out of the folder with '..'; refusing to unpack it")
    return parts


def _wanted(parts: tuple[str, ...], root_parts: tuple[str, ...]) -> tuple[str, ...]:
    """`parts` when the member lies strictly under `root_parts` (anything when that is ()), else ()."""
    if len(parts) > len(root_parts) and parts[:len(root_parts)] == root_parts:
        return parts
    return ()


def _write_member(src: IO[bytes], into: Path, rel: tuple[str, ...]) -> None:
    """Copy one member's bytes to `into/rel` (read errors propagate as archive errors)."""
    target = into.joinpath(*rel)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fh = open(target, "wb")
    except OSError as err:
        raise DataError(f"cannot write {target}: {err}") from err
    with fh:
        while chunk := src.read(_CHUNK):
            try:
                fh.write(chunk)
            except OSError as err:
                raise DataError(f"cannot write {target}: {err}") from err


# ---------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _locked(downloads: Path) -> Iterator[None]:
    """Hold `downloads/.lock` (flock, released by the OS if the process dies); DataError when busy."""
    try:
        import fcntl
    except ImportError:                           # Windows: no cross-process lock
        yield
        return
    path = downloads / ".lock"
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(f"another `deepear data fetch` is running under {downloads.parent} "
                            f"(it holds {path}); wait for it to finish and re-run") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(dest: Path) -> None:
    """Delete unpack folders that an interrupted earlier run left next to `dest`."""
    if not dest.parent.is_dir():
        return
    for p in list(dest.parent.glob(f".{dest.name}.extract-*")) + list(dest.parent.glob(f".{dest.name}.old-*")):
        log.info("removing %s left by an interrupted fetch", p)
        _remove(p)


def _remove(p: Path) -> None:
    """Delete a file, a symlink (never what it points to) or a folder tree; missing is fine."""
    if p.is_symlink() or p.is_file():
        p.unlink(missing_ok=True)
    elif p.is_dir():
        shutil.rmtree(p, ignore_errors=True)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
