"""Downloads of the named datasets' files (MNIST, Fashion-MNIST, KMNIST, CIFAR-10), with a progress
line, a stall timeout and one-line errors that say which files to place where.

The mirrors and checksums are torchvision's; the transfer is done here, with the standard library,
so that a download can never hang silently: each read waits at
most the stall timeout (60 s, or $NAS_DOWNLOAD_STALL_S) for a byte. A file is written under a
temporary name and renamed only once complete and checked, so a partial download never counts as
present. $NAS_DATA_MIRRORS (comma-separated base URLs) replaces the published mirrors: a local copy
of the files, or a test's server.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nas.errors import DataError

STALL_S = 60.0               # seconds without a byte before a download is given up
STALL_ENV = "NAS_DOWNLOAD_STALL_S"
MIRRORS_ENV = "NAS_DATA_MIRRORS"
PROGRESS_EVERY = {True: 0.5, False: 10.0}  # seconds between progress lines: on a terminal, else in a log
CHUNK = 1 << 16
CIFAR_ARCHIVE_FOLDER = "cifar-10-batches-py"


class DownloadInterrupted(DataError):
    """Ctrl-C or SIGTERM during a download: nothing was trained, so nothing can be resumed."""


@dataclass(frozen=True)
class Source:
    """Where a dataset's files are published: base URLs tried in order, and each file's md5."""
    mirrors: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (file name, md5 of the file as published)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.files]


# Each named dataset's published files: mirrors and the md5 of each file as published (torchvision's
# lists, as of torchvision 0.29; its module is not imported for them: that takes seconds).
SOURCES = {
    "mnist": Source(("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"), (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion-mnist": Source(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",), (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"))),
    "kmnist": Source(("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",), (
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"))),
    "cifar10": Source(("https://www.cs.toronto.edu/~kriz/",), (
        ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),)),
}


def source(dataset: str) -> Source:
    """The published files of a named dataset; $NAS_DATA_MIRRORS replaces their mirrors."""
    given = [m.strip() for m in os.environ.get(MIRRORS_ENV, "").split(",") if m.strip()]
    if not given:
        return SOURCES[dataset]
    return Source(tuple(m if m.endswith("/") else m + "/" for m in given), SOURCES[dataset].files)


def stall_seconds() -> float:
    raw = os.environ.get(STALL_ENV)
    if not raw:
        return STALL_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise DataError(f"${STALL_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _Progress:
    """One line of progress (bytes / total), overwritten on a terminal, else at most every 10 s."""

    def __init__(self, what: str, total: int, out: TextIO):
        self.what, self.total, self.out = what, total, out
        self.tty = out.isatty()
        self.every = PROGRESS_EVERY[self.tty]
        self.last = time.monotonic()
        self.open_line = False  # a terminal line overwritten in place, not yet ended
        self.width = 0

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        line = f"{self.what}: {_size(done)} / {_size(self.total) if self.total else '?'}" + (" done" if final else "")
        if self.tty:
            self.out.write(f"\r{line.ljust(self.width)}" + ("\n" if final else ""))  # covers a longer line
            self.width = len(line)
            self.open_line = not final
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def end(self) -> None:
        """End an overwritten line, so that what is printed next starts on its own."""
        if self.open_line:
            self.out.write("\n")
            self.open_line = False


def _why(e: BaseException, url: str, stall_s: float) -> str:
    """A failed request in a few words: what a user offline, or on a stalled network, reads."""
    reason = e.reason if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError) else e
    host = urllib.request.urlparse(url).netloc
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} from {url}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no byte for {stall_s:g} s from {url}"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {host}"
    if isinstance(reason, socket.gaierror):
        return f"host {host.split(':')[0]} not found (offline, or no DNS)"
    if isinstance(reason, http.client.HTTPException):
        return f"{host} closed the connection ({type(reason).__name__})"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{reason.strerror.lower()} ({host})"
    return f"{str(reason)[:80] or type(reason).__name__} ({url})"


def _fetch_one(url: str, dest: Path, md5: str, what: str, stall_s: float, out: TextIO) -> str | None:
    """Download `url` to `dest` through a temporary file: None when done, else why it failed."""
    part = dest.with_name(dest.name + ".part")
    done, total, progress = 0, 0, None
    out.write(f"{what}: downloading {url} into {dest.parent} (gives up after {stall_s:g} s without a byte)\n")
    out.flush()
    try:
        with urllib.request.urlopen(url, timeout=stall_s) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            progress, digest = _Progress(what, total, out), hashlib.md5()
            while chunk := response.read1(CHUNK):  # what has come, so a stall keeps the count
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress.show(done)
        if total and done != total:
            return f"{urllib.request.urlparse(url).netloc} closed the connection after {done:,} of {total:,} bytes"
        if digest.hexdigest() != md5:
            return f"{url}: md5 {digest.hexdigest()}, expected {md5} (a damaged or different file)"
        progress.show(done, final=True)
        os.replace(part, dest)
        return None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        return _why(e, url, stall_s) + (f" after {done:,} bytes" if done else "")
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"after {done:,}" + (f" of {total:,}" if total else "") + " bytes") from None
    finally:
        if progress is not None:
            progress.end()
        part.unlink(missing_ok=True)


def fetch(label: str, folder: Path, src: Source, stall_s: float | None = None, out: TextIO | None = None) -> None:
    """Every file of `src` that `folder` lacks, each from the first mirror that serves it whole.
    One line of DataError when a file cannot be had: why, and which files to place where."""
    stall_s = stall_seconds() if stall_s is None else stall_s
    out = out or sys.stderr
    name = src.names[0]
    try:
        for name, md5 in src.files:
            if (folder / name).is_file():
                continue
            reasons = []
            for mirror in src.mirrors:
                why = _fetch_one(mirror + name, folder / name, md5, f"{label} {name}", stall_s, out)
                if why is None:
                    break
                reasons.append(why)
            else:
                lacking = [n for n in src.names if not (folder / n).is_file()]
                raise DataError(f"{label}: could not download {name} ({'; '.join(reasons)}): place "
                                f"{', '.join(lacking)} in {folder} (from {src.mirrors[0]}), or give "
                                "--data-dir a folder that holds them")
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM through the command line's handler
        raise DownloadInterrupted(f"{label} {name}: download interrupted{' ' + str(e) if str(e) else ''} (the "
                                  "partial file is removed); nothing was trained: run the same command to "
                                  "download again") from None


def extract_cifar(archive: Path, folder: Path) -> Path:
    """CIFAR-10's archive unpacked to `folder`/cifar-10-batches-py, through a temporary folder so that
    a half-unpacked one never counts as present; the archive's own members only, no links."""
    target = folder / CIFAR_ARCHIVE_FOLDER
    tmp = folder / (CIFAR_ARCHIVE_FOLDER + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).parts[:1] == (CIFAR_ARCHIVE_FOLDER,)]
            if not members:
                raise DataError(f"{archive}: holds no {CIFAR_ARCHIVE_FOLDER} folder (not CIFAR-10's python archive)")
            tar.extractall(tmp, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: not a readable .tar.gz ({str(e)[:80]}); remove it and download again") from None
    except KeyboardInterrupt:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadInterrupted(f"CIFAR-10: unpacking {archive} interrupted; nothing was trained: run the same "
                                  "command to unpack it again") from None
    os.replace(tmp / CIFAR_ARCHIVE_FOLDER, target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target
