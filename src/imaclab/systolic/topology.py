"""SCALE-Sim topology CSVs: read and write both formats.

Convolution format (``topology_utils.load_arrays_conv``)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    Conv1, 224, 224, 3, 3, 3, 32, 2,

(one stride for both directions, or ``Stride height, Stride width`` as two
columns).  A layer whose name contains ``DP`` is a depthwise convolution: SCALE-Sim
runs it as ``Channels`` single-channel convolutions with ``Num Filter`` filters
each; it is read as a :class:`~imaclab.systolic.layers.DepthwiseConvLayer` with
``multiplier = Num Filter``.

GEMM format (``load_arrays_gemm``)::

    Layer, M, N, K,
    q_proj, 1, 4096, 4096,

Trailing commas are optional here (SCALE-Sim needs them, and drops the last
field of a line without one); text after the last field (``#dw`` comments) and
blank lines are ignored.  Errors name the file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from imaclab.errors import ConfigError, InputError
from imaclab.systolic.layers import ConvLayer, DepthwiseConvLayer, GemmLayer, Layer

CONV_HEADER = ["Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
               "Num Filter", "Stride Height", "Stride Width"]
GEMM_HEADER = ["Layer", "M", "N", "K"]
#: SCALE-Sim marks depthwise layers by this substring of the name (topology_utils.load_arrays_conv).
DEPTHWISE_MARK = "DP"


def resolve_topology(name: str | Path) -> Path:
    """A CSV path as given, or the name of a topology shipped in ``imaclab/systolic/topologies``
    (searched recursively, e.g. ``resnet18``)."""
    path = Path(name)
    if path.suffix.lower() == ".csv" or path.exists():
        return path
    from importlib import resources

    from imaclab.errors import unknown_name

    shipped = Path(str(resources.files("imaclab.systolic").joinpath("topologies")))
    found = sorted(shipped.rglob(f"{name}.csv")) if shipped.is_dir() else []
    if not found:
        known = sorted(p.stem for p in shipped.rglob("*.csv")) if shipped.is_dir() else []
        raise unknown_name("topology", str(name), known or ["<path>.csv"])
    return found[0]


def _is_header(fields: list[str]) -> bool:
    """A header line has a non-numeric cell where a layer line has its numbers (after the name)."""
    return any(not _is_number(cell) for cell in fields[1:]) or len(fields) == 1


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_fields(path: Path) -> list[str]:
    for raw in path.read_text().splitlines():
        fields = _fields(raw)
        if fields:
            return fields
    return []


def detect_gemm(path: str | Path) -> bool:
    """True when the topology CSV is in the GEMM format: a ``Layer, M, N, K`` header, or (without a
    header) four fields per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: topology file not found")
    fields = _first_fields(path)
    if fields and _is_header(fields):
        return [f.lower() for f in fields[1:4]] == ["m", "n", "k"]
    return len(fields) == 4


def load_topology(path: str | Path, gemm: bool = False) -> list[Layer]:
    """Layers of a SCALE-Sim topology CSV (``gemm=True`` for the ``Layer, M, N, K`` format).

    The first line is a header when it has a non-numeric cell where the numbers go;
    a file without a header line starts with its first layer.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: topology file not found")
    lines = path.read_text().splitlines()
    if not lines:
        raise InputError(f"{path}: empty topology file (expected a header line and one line per layer)")
    layers: list[Layer] = []
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        fields = _fields(raw)
        if not fields:
            continue
        if not header_seen:
            header_seen = True
            if _is_header(fields):
                continue
        if gemm:
            layers.append(_gemm_row(path, number, fields))
        else:
            layers.append(_conv_row(path, number, fields))
    if not layers:
        raise InputError(f"{path}: no layers (expected an optional header line and one line per layer)")
    return layers


def save_topology(layers: Iterable[Layer], path: str | Path, gemm: bool | None = None) -> Path:
    """Write layers as a SCALE-Sim CSV (trailing commas included, readable by SCALE-Sim v2.0.2).

    ``gemm=None`` picks the GEMM format when every layer is a :class:`GemmLayer`.
    In the convolution format a GEMM is written as SCALE-Sim lowers it
    (``M x K`` IFMAP, ``1 x K`` filter, 1 channel, ``N`` filters) and a depthwise
    layer gets ``DP`` appended to its name if the name lacks it.
    """
    layers = list(layers)
    path = Path(path)
    if gemm is None:
        gemm = bool(layers) and all(isinstance(layer, GemmLayer) for layer in layers)
    rows: list[list] = []
    if gemm:
        header = GEMM_HEADER
        for layer in layers:
            if not isinstance(layer, GemmLayer):
                raise ConfigError(f"layer '{layer.name}' ({layer.kind}) cannot be written in the GEMM format; "
                                  "use gemm=False")
            rows.append([layer.name, layer.m, layer.n, layer.k])
    else:
        header = CONV_HEADER
        for layer in layers:
            rows.append(_conv_fields(layer))
    from imaclab.files import write_text

    lines = [", ".join(header) + ","] + [", ".join(str(x) for x in row) + "," for row in rows]
    write_text(path, "\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ parsing
def _fields(raw: str) -> list[str]:
    text = raw.strip()
    if not text or text.startswith("#"):
        return []
    parts = [p.strip() for p in text.split(",")]
    # drop empty trailing fields and trailing comments such as "#dw"
    while parts and (parts[-1] == "" or parts[-1].startswith("#")):
        parts.pop()
    return parts


def _int(path: Path, line: int, column: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{path}:{line}: {column} '{text}' is not an integer") from None
    if value < 1:
        raise InputError(f"{path}:{line}: {column} must be >= 1, got {value}")
    return value


def _gemm_row(path: Path, line: int, fields: list[str]) -> GemmLayer:
    if len(fields) < 4:
        raise InputError(f"{path}:{line}: expected 4 fields 'Layer, M, N, K', got {len(fields)} "
                         "(is this a convolution topology? drop --gemm)")
    if len(fields) > 4:
        raise InputError(f"{path}:{line}: expected 4 fields 'Layer, M, N, K', got {len(fields)} "
                         "(is this a convolution topology? drop --gemm)")
    name = fields[0]
    m, n, k = (_int(path, line, col, text) for col, text in zip(("M", "N", "K"), fields[1:4]))
    return GemmLayer(name=name, m=m, n=n, k=k)


def _conv_row(path: Path, line: int, fields: list[str]) -> Layer:
    if len(fields) not in (8, 9):
        hint = " (is this a GEMM topology? add --gemm)" if len(fields) == 4 else ""
        raise InputError(f"{path}:{line}: expected 8 or 9 fields 'Layer name, IFMAP Height, IFMAP Width, "
                         f"Filter Height, Filter Width, Channels, Num Filter, Strides[, Stride width]', "
                         f"got {len(fields)}{hint}")
    name = fields[0]
    values = [_int(path, line, col, text) for col, text in zip(CONV_HEADER[1:], fields[1:])]
    ih, iw, fh, fw, ch, nf, sh = values[:7]
    sw = values[7] if len(values) == 8 else sh
    if fh > ih:
        raise InputError(f"{path}:{line}: Filter Height {fh} > IFMAP Height {ih}")
    if fw > iw:
        raise InputError(f"{path}:{line}: Filter Width {fw} > IFMAP Width {iw}")
    if DEPTHWISE_MARK in name:
        return DepthwiseConvLayer(name=name, ifmap_height=ih, ifmap_width=iw, filter_height=fh, filter_width=fw,
                                  channels=ch, multiplier=nf, stride_height=sh, stride_width=sw)
    return ConvLayer(name=name, ifmap_height=ih, ifmap_width=iw, filter_height=fh, filter_width=fw, channels=ch,
                     num_filters=nf, stride_height=sh, stride_width=sw)


def _conv_fields(layer: Layer) -> list:
    if isinstance(layer, GemmLayer):
        return [layer.name, layer.m, layer.k, 1, layer.k, 1, layer.n, 1, 1]
    if isinstance(layer, DepthwiseConvLayer):
        name = layer.name if DEPTHWISE_MARK in layer.name else f"{layer.name}_{DEPTHWISE_MARK}"
        return [name, layer.ifmap_height, layer.ifmap_width, layer.filter_height, layer.filter_width,
                layer.channels, layer.multiplier, layer.stride_height, layer.stride_width]
    if DEPTHWISE_MARK in layer.name:
        raise ConfigError(f"conv layer name '{layer.name}' contains '{DEPTHWISE_MARK}', which SCALE-Sim reads as "
                          "depthwise: rename it or use DepthwiseConvLayer")
    return [layer.name, layer.ifmap_height, layer.ifmap_width, layer.filter_height, layer.filter_width,
            layer.channels, layer.num_filters, layer.stride_height, layer.stride_width]
