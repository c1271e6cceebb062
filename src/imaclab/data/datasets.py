"""Image-classification data sets, read from local files only (no downloads).

Every loader returns a :class:`Dataset` whose ``x`` is float32 ``[N, C, H, W]`` with
values in ``[0, 1]`` (or ``[N, C*H*W]`` with ``flatten=True``) and whose ``y`` is int64.
Normalization (per-channel mean/std) is a separate transform, :class:`Normalization`,
so that the raw ``[0, 1]`` pixels stay available for the IMAC circuit's input
voltage encoding.

Sources
-------
``digits``
    scikit-learn's bundled 8x8 handwritten digits (UCI "optdigits" test part, 1797
    images, pixel values 0..16 scaled to [0, 1]).  It has no official split, so we
    use a fixed stratified split: :data:`DIGITS_TEST_FRACTION` of every class goes to
    ``test`` (360 images), the rest to ``train`` (1437), drawn with seed
    :data:`DIGITS_SPLIT_SEED`.  The split never changes between versions.
``fashion-mnist``
    Zalando's Fashion-MNIST IDX files; by default Debian's ``dataset-fashion-mnist``
    package (``/usr/share/datasets/fashion-mnist``), else a folder given as ``root``.
    Standard split: 60000 train, 10000 test (``t10k``).
``mnist``
    MNIST-format IDX files (``train-images-idx3-ubyte`` etc., gzipped or not, also the
    ``train-images.idx3-ubyte`` spelling) in folder ``root``.
``cifar10``
    The CIFAR-10 "python version" batches (``data_batch_1`` .. ``data_batch_5``,
    ``test_batch``, optional ``batches.meta``) in folder ``root`` or in its
    ``cifar-10-batches-py`` sub-folder.  These are Python pickles: only load files
    you trust (as with torchvision).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imaclab.errors import InputError, unknown_name

DATASETS: list[str] = ["digits", "fashion-mnist", "mnist", "cifar10"]
"""Names accepted by :func:`load_dataset`."""

DIGITS_SPLIT_SEED = 0
"""Seed of the fixed stratified train/test split of scikit-learn's digits."""
DIGITS_TEST_FRACTION = 0.2
"""Fraction of every digit class held out as the digits ``test`` split."""
DIGITS_SIDE = 8
DIGITS_MAX_PIXEL = 16.0
"""scikit-learn's digits pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap)."""

FASHION_MNIST_DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the IDX files."""

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_IMAGE_SHAPE = (3, 32, 32)

Split = Literal["train", "test"]

# IDX element type code -> big-endian numpy dtype (LeCun's IDX specification).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ------------------------------------------------------------------------------------ Dataset
@dataclass(frozen=True)
class Dataset:
    """A labelled image set held in memory.

    ``x``: float32 ``[N, C, H, W]`` (or ``[N, D]`` when flattened), pixel values in [0, 1].
    ``y``: int64 ``[N]`` class indices in ``0 .. num_classes-1``.
    """

    x: np.ndarray
    y: np.ndarray
    name: str
    num_classes: int
    classes: tuple[str, ...] = field(default=())
    split: str = "test"

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise InputError(f"data set '{self.name}': {self.x.shape[0]} images but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(C, H, W)``, or ``(D,)`` when flattened."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def num_features(self) -> int:
        """Number of input values per sample (C*H*W)."""
        return int(np.prod(self.x.shape[1:]))

    def head(self, n: int) -> Dataset:
        """The first ``n`` samples (all of them if there are fewer)."""
        return self._take(np.arange(min(int(n), len(self))))

    def subset(self, n: int, seed: int = 0) -> Dataset:
        """``n`` samples drawn without replacement with a seeded generator, in drawn order."""
        n = min(int(n), len(self))
        idx = np.random.default_rng(seed).permutation(len(self))[:n]
        return self._take(idx)

    def flattened(self) -> Dataset:
        """The same samples as ``[N, C*H*W]`` row vectors (the MLP / crossbar input order)."""
        return self._replace(x=np.ascontiguousarray(self.x.reshape(len(self), -1)))

    def _take(self, idx: np.ndarray) -> Dataset:
        return self._replace(x=self.x[idx], y=self.y[idx])

    def _replace(self, **changes) -> Dataset:
        fields: dict[str, Any] = dict(x=self.x, y=self.y, name=self.name, num_classes=self.num_classes,
                      classes=self.classes, split=self.split)
        fields.update(changes)
        return Dataset(**fields)

    def to_dict(self) -> dict:
        """Summary (no pixel data): name, split, size, sample shape, classes."""
        return {"name": self.name, "split": self.split, "num_samples": len(self),
                "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "classes": list(self.classes)}


@dataclass(frozen=True)
class Normalization:
    """Per-channel standardization ``(x - mean) / std`` applied at training time.

    Kept apart from :class:`Dataset` so the [0, 1] pixels remain the circuit's inputs.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def identity(cls, channels: int = 1) -> Normalization:
        return cls(mean=(0.0,) * channels, std=(1.0,) * channels)

    @classmethod
    def fit(cls, data: Dataset) -> Normalization:
        """Per-channel mean and std of ``data`` (use the training split)."""
        x = data.x
        if x.ndim == 2:  # flattened: one channel
            return cls(mean=(float(x.mean()),), std=(max(float(x.std()), 1e-8),))
        axes = (0, 2, 3)
        return cls(mean=tuple(float(v) for v in x.mean(axis=axes)),
                   std=tuple(max(float(v), 1e-8) for v in x.std(axis=axes)))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Normalize a ``[N, C, H, W]`` or ``[N, D]`` float array (returns float32)."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        if x.ndim == 4:
            mean, std = mean.reshape(1, -1, 1, 1), std.reshape(1, -1, 1, 1)
        return ((x - mean) / std).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


# ------------------------------------------------------------------------------------ loading
def load_dataset(name: str, *, split: Split = "test", root: str | Path | None = None,
                 crop: int | None = None, resize: int | None = None, flatten: bool = False) -> Dataset:
    """Load data set ``name`` (one of :data:`DATASETS`) from local files.

    ``split``: ``"train"`` or ``"test"`` (the data set's standard split).
    ``root``: folder holding the files (required for ``mnist`` and ``cifar10``; overrides
    the Debian location for ``fashion-mnist``; ignored for ``digits``).
    ``crop``: keep the centred ``crop x crop`` window (``crop=20`` on 28x28 images gives
    the 400-input MLP of the IMAC papers).  Applied before ``resize``.
    ``resize``: bilinear (anti-aliased) resize to ``resize x resize`` pixels.
    ``flatten``: return ``x`` as ``[N, C*H*W]`` rows (channel-major order).
    """
    key = name.strip().lower().replace("_", "-")
    aliases = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
               "sklearn-digits": "digits"}
    key = aliases.get(key, key)
    if key not in DATASETS:
        raise unknown_name("data set", name, DATASETS)
    if split not in ("train", "test"):
        raise InputError(f"data set split '{split}' is not known: use 'train' or 'test'")
    if key == "digits":
        x, y, classes = _load_digits(split)
    elif key == "fashion-mnist":
        folder = Path(root) if root is not None else FASHION_MNIST_DEFAULT_ROOT
        hint = ("install Debian's package (apt-get install dataset-fashion-mnist) or pass "
                "--data-root DIR holding the Fashion-MNIST IDX files") if root is None else \
            "check --data-root: it must hold the Fashion-MNIST IDX files"
        x, y = _load_idx_pair(folder, split, hint)
        classes = FASHION_MNIST_CLASSES
    elif key == "mnist":
        if root is None:
            raise InputError("data set 'mnist' is not bundled: pass --data-root DIR holding "
                             "train-images-idx3-ubyte[.gz] etc. (MNIST IDX files)")
        x, y = _load_idx_pair(Path(root), split, "check --data-root: it must hold the MNIST IDX files")
        classes = MNIST_CLASSES
    else:  # cifar10
        if root is None:
            raise InputError("data set 'cifar10' is not bundled: pass --data-root DIR holding the CIFAR-10 "
                             "python batches (data_batch_1..5, test_batch)")
        x, y, classes = _load_cifar10(Path(root), split)
    num_classes = len(classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(f"data set '{key}' ({split}): labels must lie in 0..{num_classes - 1}, "
                         f"found {int(y.min())}..{int(y.max())}")
    if crop is not None:
        x = center_crop(x, crop)
    if resize is not None:
        x = resize_images(x, resize)
    data = Dataset(x=np.ascontiguousarray(x, dtype=np.float32), y=y.astype(np.int64), name=key,
                   num_classes=num_classes, classes=tuple(classes), split=split)
    return data.flattened() if flatten else data


def center_crop(x: np.ndarray, size: int) -> np.ndarray:
    """The centred ``size x size`` window of ``[N, C, H, W]`` images."""
    h, w = x.shape[-2:]
    if not 1 <= size <= min(h, w):
        raise InputError(f"crop {size} does not fit {h}x{w} images: use 1..{min(h, w)}")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear, anti-aliased resize of ``[N, C, H, W]`` images to ``size x size``."""
    if size < 1:
        raise InputError(f"resize {size}: must be at least 1 pixel")
    if x.shape[-2:] == (size, size):
        return x
    import torch
    import torch.nn.functional as F

    out = F.interpolate(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), size=(size, size),
                        mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0).numpy()


# ------------------------------------------------------------------------------------ digits
def digits_file() -> Path:
    """scikit-learn's bundled ``digits.csv.gz`` (rows: 64 pixel counts, then the label).

    Read directly rather than through ``sklearn.datasets.load_digits``: importing
    scikit-learn costs seconds, the file is all we need.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("data set 'digits' comes with scikit-learn: pip install scikit-learn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise InputError(f"{path}: scikit-learn's digits file is missing; reinstall scikit-learn")
    return path


def _load_digits(split: Split) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    path = digits_file()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except ValueError as err:
        raise InputError(f"{path}: not the digits CSV ({err})") from None
    if table.ndim != 2 or table.shape[1] != DIGITS_SIDE * DIGITS_SIDE + 1:
        raise InputError(f"{path}: expected {DIGITS_SIDE * DIGITS_SIDE + 1} columns, found shape {table.shape}")
    images = (table[:, :-1] / DIGITS_MAX_PIXEL).astype(np.float32).reshape(-1, 1, DIGITS_SIDE, DIGITS_SIDE)
    labels = table[:, -1].astype(np.int64)
    test_mask = _stratified_test_mask(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    mask = test_mask if split == "test" else ~test_mask
    return images[mask], labels[mask], tuple(str(d) for d in range(10))


def _stratified_test_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask holding out ``round(fraction * count)`` samples of every class."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(labels.shape[0], dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        chosen = rng.permutation(members)[: int(round(fraction * members.size))]
        mask[chosen] = True
    return mask


# ------------------------------------------------------------------------------------ IDX
def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped if its name ends in ``.gz``) into a numpy array.

    Raises :class:`InputError` for a bad magic number, an unknown element type or a
    size that does not match the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4:
        raise InputError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise InputError(f"{path}: not an IDX file (magic bytes {raw[:4].hex()}; expected 0000 then a type "
                         f"code in {sorted(hex(c) for c in _IDX_DTYPES)} and a dimension count >= 1)")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise InputError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
    dims = struct.unpack(f">{ndim}I", raw[4:header_end])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header_end
    if payload != expected:
        raise InputError(f"{path}: IDX header declares shape {tuple(dims)} ({expected} bytes of data) "
                         f"but the file holds {payload} bytes; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if the name ends in ``.gz``); the inverse of :func:`read_idx`."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    dtype = np.dtype(array.dtype)
    if dtype not in codes:
        raise InputError(f"cannot write dtype {dtype} as IDX: use one of uint8, int8, int16, int32, float32, float64")
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array).astype(dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + body)
    return path


def _find_idx(folder: Path, split: Split, kind: str, hint: str) -> Path:
    """Find ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (either MNIST spelling)."""
    prefix = "train" if split == "train" else "t10k"
    dims = "idx3" if kind == "images" else "idx1"
    stems = [f"{prefix}-{kind}-{dims}-ubyte", f"{prefix}-{kind}.{dims}-ubyte"]
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise InputError(f"{folder / (stems[0] + '.gz')}: file not found (also tried without .gz and "
                     f"'{stems[1]}'); {hint}")


def _load_idx_pair(folder: Path, split: Split, hint: str) -> tuple[np.ndarray, np.ndarray]:
    if not folder.is_dir():
        raise InputError(f"{folder}: data folder not found; {hint}")
    images_path = _find_idx(folder, split, "images", hint)
    labels_path = _find_idx(folder, split, "labels", hint)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise InputError(f"{images_path}: expected 3 dimensions [N, H, W], found shape {images.shape}")
    if labels.ndim != 1:
        raise InputError(f"{labels_path}: expected 1 dimension [N], found shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise InputError(f"{images_path}: {images.shape[0]} images but {labels_path.name} has "
                         f"{labels.shape[0]} labels")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = (images.astype(np.float32) / scale)[:, None, :, :]
    return x, labels.astype(np.int64)


# ------------------------------------------------------------------------------------ CIFAR-10
def _load_cifar10(root: Path, split: Split) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    hint = "check --data-root: it must hold the CIFAR-10 python batches (data_batch_1..5, test_batch)"
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found; {hint}")
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for name in names:
        batch = _read_pickle(folder / name, hint)
        try:
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{folder / name}: not a CIFAR-10 batch (needs b'data' and b'labels' entries)") from None
        per_image = int(np.prod(CIFAR10_IMAGE_SHAPE))
        if data.ndim != 2 or data.shape[1] != per_image or data.shape[0] != labels.shape[0]:
            raise InputError(f"{folder / name}: CIFAR-10 data must be [N, {per_image}] uint8 with N labels, "
                             f"found data {data.shape} and {labels.shape[0]} labels")
        xs.append(data.reshape(-1, *CIFAR10_IMAGE_SHAPE))
        ys.append(labels)
    classes: tuple[str, ...] = CIFAR10_CLASSES
    meta_path = folder / "batches.meta"
    if meta_path.is_file():
        meta = _read_pickle(meta_path, hint)
        names_raw = meta.get(b"label_names") if isinstance(meta, dict) else None
        if names_raw:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names_raw)
    x = np.concatenate(xs).astype(np.float32) / 255.0
    return x, np.concatenate(ys), classes


def _read_pickle(path: Path, hint: str):
    if not path.is_file():
        raise InputError(f"{path}: file not found; {hint}")
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="bytes")
    except Exception as err:  # unpickling raises many types; all mean "not a batch file"
        raise InputError(f"{path}: cannot unpickle CIFAR-10 batch ({type(err).__name__}: {err})") from None
