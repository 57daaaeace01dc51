"""Data that explains itself: each misleading data message of a user's first runs now names the real
fault in one line (the folder and the files it lacks, the label value, the empty file, the missing
folder), a mistyped folder is never created, and downloads stop after a stall, say offline which
files to place where, and say nothing of resuming a training when interrupted. The network is a
server on 127.0.0.1 made here: one that accepts and never answers, one that sends part of a file and
stops, one that serves the file, and a port that refuses."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nas.data.datasets import DataError, load_splits, load_uint8, resolve_data_dir
from nas.data.download import MIRRORS_ENV, STALL_ENV, Source, fetch
from test_datasets import write_cifar, write_idx

KMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")


class Silent:
    """A server on 127.0.0.1 that accepts connections and never answers; with `head`, it first sends
    those bytes (the start of a response) and then goes quiet."""

    def __init__(self, head: bytes = b""):
        self.head, self.conns = head, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by the test
                return
            self.conns.append(conn)
            if self.head:
                conn.recv(4096)
                conn.sendall(self.head)

    def close(self):
        for c in [self.sock, *self.conns]:
            c.close()


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there now: connection refused


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def _labels(path: Path, y: np.ndarray) -> None:
    path.write_bytes(gzip.compress(struct.pack(">II", 0x801, len(y)) + y.astype(np.uint8).tobytes()))


def test_a_folder_with_the_training_files_only_names_the_test_files_it_lacks(tmp_path):
    folder = write_idx(tmp_path / "mine", classes=5)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).unlink()
    with pytest.raises(DataError) as err:
        load_uint8(folder, dataset="idx")
    msg = _one_line(err)
    assert f"{folder} lacks t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "give --data-dir" not in msg  # it was given


def test_a_stray_label_is_named_out_of_range_and_a_missing_class_is_named_missing(tmp_path):
    folder = write_idx(tmp_path / "mine", classes=5)
    y = np.arange(300) % 5
    y[123] = 200
    _labels(folder / "train-labels-idx1-ubyte.gz", y)
    with pytest.raises(DataError) as err:
        load_uint8(folder, dataset="idx")
    msg = _one_line(err)
    assert "label 200 at index 123 is out of range" in msg and "the other labels are 0..4" in msg
    assert "never occurs" not in msg
    _labels(folder / "train-labels-idx1-ubyte.gz", np.arange(300) % 5 + 1)  # 1..5: 1-based
    with pytest.raises(DataError) as err:
        load_uint8(folder, dataset="idx")
    assert "label 0 never occurs: the labels are 1..5" in _one_line(err) and "1-based" in str(err.value)
    _labels(folder / "train-labels-idx1-ubyte.gz", np.zeros(300))
    with pytest.raises(DataError, match="every label is 0: a classifier needs at least 2 classes"):
        load_uint8(folder, dataset="idx")


def test_an_image_file_of_no_images_says_it_holds_none(tmp_path):
    folder = write_idx(tmp_path / "mine", classes=5)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 0, 20, 20)))
    with pytest.raises(DataError) as err:
        load_uint8(folder, dataset="idx")
    msg = _one_line(err)
    assert msg.startswith("IDX dataset: ") and "t10k-images-idx3-ubyte.gz: holds no images" in msg
    assert "truncated" not in msg and "padded" not in msg


@pytest.mark.parametrize("dataset", ["idx", "kmnist", "cifar10"])
def test_a_missing_folder_is_named_and_never_created_or_downloaded_into(tmp_path, dataset, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, refused_url())  # were anything tried, it would fail another way
    typo = tmp_path / "dat" / "mine"
    with pytest.raises(DataError) as err:
        resolve_data_dir(typo, dataset=dataset)
    msg = _one_line(err)
    assert f"folder {typo} (--data-dir) does not exist" in msg
    if dataset != "idx":  # where a download would go instead
        assert "nothing is downloaded into a folder that does not exist" in msg and f"/{dataset}" in msg
    assert not (tmp_path / "dat").exists()


def test_an_empty_or_wrong_folder_says_what_it_holds_instead(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"")
    with pytest.raises(DataError) as err:
        resolve_data_dir(tmp_path / "pics", dataset="idx")
    assert "holds none of its files, train-images-idx3-ubyte[.gz]" in _one_line(err) and "it holds a.png" in str(err.value)
    with pytest.raises(DataError, match="is a file; give the folder"):
        resolve_data_dir(tmp_path / "pics" / "a.png", dataset="idx")


def test_a_download_that_stalls_stops_in_one_line_and_leaves_nothing(tmp_path, silent, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, silent.url)
    monkeypatch.setenv(STALL_ENV, "2")
    folder = tmp_path / "kmnist"
    folder.mkdir()  # a folder given that exists is downloaded into
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        resolve_data_dir(folder, dataset="kmnist")
    took = time.monotonic() - t0
    msg = _one_line(err)
    assert 1.5 < took < 20, took
    assert f"no byte for 2 s from {silent.url}train-images-idx3-ubyte.gz" in msg
    assert all(name in msg for name in KMNIST_FILES) and f"in {folder} " in msg
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("dataset, files", [("kmnist", KMNIST_FILES), ("cifar10", ("cifar-10-python.tar.gz",))])
def test_offline_a_download_says_which_files_to_place_where(tmp_path, dataset, files, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, refused_url())
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))  # no --data-dir: the cache folder
    with pytest.raises(DataError) as err:
        resolve_data_dir(None, dataset=dataset)
    msg = _one_line(err)
    assert "connection refused by 127.0.0.1" in msg
    assert f"place {', '.join(files)} in {tmp_path / 'cache' / dataset} " in msg
    assert list((tmp_path / "cache" / dataset).iterdir()) == []


def test_a_partial_download_never_counts_and_the_next_mirror_serves_the_file(tmp_path, capsys):
    payload = os.urandom(300_000)
    served = tmp_path / "served"
    served.mkdir()
    (served / "f.gz").write_bytes(payload)
    handler = functools.partial(type("Quiet", (http.server.SimpleHTTPRequestHandler,),
                                     {"log_message": lambda *a: None}), directory=str(served))
    full = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=full.serve_forever, daemon=True).start()
    half = Silent(b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + payload[:1000])
    src = Source((half.url, f"http://127.0.0.1:{full.server_address[1]}/"), (("f.gz", hashlib.md5(payload).hexdigest()),))
    folder = tmp_path / "got"
    folder.mkdir()
    try:
        with pytest.raises(DataError) as err:  # the stalled mirror alone: nothing is left behind
            fetch("Toy", folder, Source(src.mirrors[:1], src.files), stall_s=1)
        assert "after 1,000 bytes" in _one_line(err) and list(folder.iterdir()) == []
        fetch("Toy", folder, src, stall_s=1)
    finally:
        half.close()
        full.shutdown()
    assert (folder / "f.gz").read_bytes() == payload and [p.name for p in folder.iterdir()] == ["f.gz"]
    err_text = capsys.readouterr().err
    assert "Toy f.gz: downloading http://127.0.0.1:" in err_text and "Toy f.gz: 300.0 kB / 300.0 kB done" in err_text


def test_a_cifar10_archive_placed_in_the_folder_is_unpacked_and_used(tmp_path):
    write_cifar(tmp_path / "src" / "cifar-10-batches-py", per_batch=20)
    given = tmp_path / "given"
    given.mkdir()
    with tarfile.open(given / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    s = load_splits(given, val_size=10, dataset="cifar10")
    assert s.train_x.shape == (90, 3, 32, 32) and (given / "cifar-10-batches-py" / "test_batch").is_file()
    assert not (given / "cifar-10-batches-py.part").exists()


@pytest.mark.slow
def test_an_interrupted_download_exits_130_in_one_line_without_a_resume_hint(tmp_path, silent):
    """`nas train` on KMNIST whose download hangs, stopped with Ctrl-C: nothing was trained."""
    (tmp_path / "k").mkdir()
    env = {**os.environ, MIRRORS_ENV: silent.url, STALL_ENV: "120", "NAS_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "nas", "train", "exp2", "--dataset", "kmnist", "--data-dir",
                             str(tmp_path / "k"), "--epochs", "1", "--out", str(tmp_path / "run")],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stderr.readline()  # the download has begun, and hangs
        assert "KMNIST train-images-idx3-ubyte.gz: downloading" in first, first
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    lines = rest.strip().splitlines()
    assert rc == 130 and len(lines) == 1, rest
    assert lines[0].startswith("error: KMNIST train-images-idx3-ubyte.gz: download interrupted")
    assert "nothing was trained" in lines[0] and "--resume" not in rest and "checkpoint" not in rest
    assert list((tmp_path / "k").iterdir()) == [] and not (tmp_path / "run").exists()


def test_the_download_sources_are_torchvisions():
    import torchvision.datasets as tv

    from nas.data.download import SOURCES

    for dataset, cls in (("mnist", tv.MNIST), ("fashion-mnist", tv.FashionMNIST), ("kmnist", tv.KMNIST)):
        assert SOURCES[dataset].mirrors == tuple(cls.mirrors) and SOURCES[dataset].files == tuple(cls.resources)
    assert SOURCES["cifar10"].mirrors[0] + SOURCES["cifar10"].names[0] == tv.CIFAR10.url
    assert SOURCES["cifar10"].files[0][1] == tv.CIFAR10.tgz_md5
