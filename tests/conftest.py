"""Shared fixtures: the real MNIST files (../shared/data/mnist, or $NAS_MNIST_DIR) and a private
decode cache per test session, so tests never touch ~/.cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas.data.datasets import ENV_CACHE, ENV_DIR, FILES, TEAM_COPY
from nas.process import prepare_process

prepare_process()  # what the command line does first: NNI's lighter import, known warnings filtered


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = Path(os.environ.get(ENV_DIR) or TEAM_COPY)
    if not all((folder / f).exists() for f in FILES):
        pytest.fail(f"MNIST not found in {folder}: set {ENV_DIR}")
    return folder


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("nas-cache")
    old = os.environ.get(ENV_CACHE)
    os.environ[ENV_CACHE] = str(cache)
    yield cache
    if old is None:
        os.environ.pop(ENV_CACHE, None)
    else:
        os.environ[ENV_CACHE] = old


@pytest.fixture(scope="session")
def small_splits(data_dir):
    """2,000 real training images, 1,000 validation, the full test set."""
    from nas.data.datasets import load_splits

    return load_splits(data_dir, val_size=1000, train_subset=2000)
