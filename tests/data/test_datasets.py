"""Data set loaders: IDX/CIFAR parsing on files written here, digits split, transforms, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from imaclab.errors import InputError, UnknownNameError
from imaclab.data.datasets import (DATASETS, FASHION_MNIST_DEFAULT_ROOT, Normalization, center_crop,
                                 load_dataset, read_idx, write_idx)


def _write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True, side: int = 28) -> dict:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        arrays[prefix] = (images, labels)
    return arrays


def test_idx_round_trip_all_types(tmp_path):
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            back = read_idx(write_idx(tmp_path / name, arr))
            assert back.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(back, arr)


def test_idx_header_bytes_follow_lecun_spec(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((2, 3), dtype=np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 2])
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert len(raw) == 12 + 6


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x02\x08\x01\x00\x00\x00\x02ab", "magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x02ab", "magic"),
    (b"\x00\x00\x08\x02\x00\x00", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05ab", "truncated or corrupt"),
    (b"\x00\x00", "not an IDX file"),
])
def test_malformed_idx_raises_input_error(tmp_path, payload, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=message):
        read_idx(path)


def test_mnist_from_root_gz_and_plain(tmp_path):
    for gz in (True, False):
        folder = tmp_path / ("gz" if gz else "plain")
        arrays = _write_mnist(folder, gz=gz)
        train = load_dataset("mnist", split="train", root=folder)
        test = load_dataset("mnist", split="test", root=folder)
        assert train.x.shape == (12, 1, 28, 28) and test.x.shape == (5, 1, 28, 28)
        assert train.x.dtype == np.float32 and train.y.dtype == np.int64
        np.testing.assert_allclose(train.x[:, 0], arrays["train"][0] / 255.0, atol=1e-7)
        np.testing.assert_array_equal(test.y, arrays["t10k"][1])
        assert train.num_classes == 10 and train.input_shape == (1, 28, 28)


def test_crop_resize_flatten(tmp_path):
    folder = tmp_path / "m"
    arrays = _write_mnist(folder)
    cropped = load_dataset("fashion-mnist", split="train", root=folder, crop=20, flatten=True)
    assert cropped.input_shape == (400,)
    expected = arrays["train"][0][:, 4:24, 4:24].reshape(12, -1) / 255.0
    np.testing.assert_allclose(cropped.x, expected, atol=1e-7)
    resized = load_dataset("mnist", split="test", root=folder, resize=14)
    assert resized.input_shape == (1, 14, 14)
    assert 0.0 <= resized.x.min() and resized.x.max() <= 1.0
    # a constant image stays constant under an anti-aliased resize
    const = np.full((1, 1, 28, 28), 0.5, dtype=np.float32)
    from imaclab.data.datasets import resize_images
    np.testing.assert_allclose(resize_images(const, 32), 0.5, atol=1e-6)
    with pytest.raises(InputError, match="crop 40"):
        center_crop(const, 40)


def test_mismatched_counts_and_missing_files(tmp_path):
    folder = tmp_path / "m"
    _write_mnist(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(InputError, match="5 images but"):
        load_dataset("mnist", root=folder)
    with pytest.raises(InputError, match="pass --data-root"):
        load_dataset("mnist")
    with pytest.raises(InputError, match="data folder not found"):
        load_dataset("mnist", root=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="train-images-idx3-ubyte.gz: file not found"):
        load_dataset("fashion-mnist", split="train", root=tmp_path / "empty")


def test_unknown_name():
    with pytest.raises(UnknownNameError, match="fashion-mnist"):
        load_dataset("fashion-mnst")
    assert set(DATASETS) == {"digits", "fashion-mnist", "mnist", "cifar10"}


def _write_cifar(folder: Path, per_batch: int = 4) -> np.ndarray:
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": list(rng.integers(0, 10, per_batch))}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh)
    return first


def test_cifar10_batches(tmp_path):
    first = _write_cifar(tmp_path / "cifar-10-batches-py")
    train = load_dataset("cifar10", split="train", root=tmp_path)
    test = load_dataset("cifar10", split="test", root=tmp_path)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    # CIFAR rows are channel-major: first 1024 bytes are the red plane
    np.testing.assert_allclose(train.x[0, 0].ravel(), first[0, :1024] / 255.0, atol=1e-7)
    np.testing.assert_allclose(train.x[0, 2].ravel(), first[0, 2048:] / 255.0, atol=1e-7)
    assert train.classes[3] == "c3"
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot unpickle"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(InputError, match="pass --data-root"):
        load_dataset("cifar10")


def test_digits_fixed_stratified_split():
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    assert len(train) + len(test) == 1797
    assert train.input_shape == (1, 8, 8) and train.x.max() == 1.0 and train.x.min() == 0.0
    counts_test = np.bincount(test.y, minlength=10)
    counts_all = counts_test + np.bincount(train.y, minlength=10)
    np.testing.assert_allclose(counts_test / counts_all, 0.2, atol=0.01)
    # deterministic, and disjoint: no test image appears in train
    again = load_dataset("digits", split="test")
    np.testing.assert_array_equal(test.x, again.x)
    train_rows = {row.tobytes() for row in train.x.reshape(len(train), -1)}
    overlap = sum(row.tobytes() in train_rows for row in test.x.reshape(len(test), -1))
    assert overlap < 5  # only true duplicate bitmaps in the source data may coincide


def test_subset_head_normalization():
    test = load_dataset("digits", split="test")
    sub = test.subset(50, seed=3)
    assert len(sub) == 50 and len(set(map(bytes, sub.x.reshape(50, -1)))) > 40
    np.testing.assert_array_equal(sub.y, test.subset(50, seed=3).y)
    np.testing.assert_array_equal(test.head(7).y, test.y[:7])
    norm = Normalization.fit(test)
    z = norm.apply(test.x)
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1.0) < 1e-3
    flat = test.flattened()
    assert flat.input_shape == (64,)
    np.testing.assert_allclose(norm.apply(flat.x), z.reshape(len(test), -1), atol=1e-5)


@pytest.mark.skipif(not FASHION_MNIST_DEFAULT_ROOT.is_dir(), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_test_split():
    test = load_dataset("fashion-mnist", split="test")
    assert len(test) == 10000 and test.input_shape == (1, 28, 28)
    assert np.bincount(test.y).tolist() == [1000] * 10
    assert test.classes[9] == "Ankle boot"
