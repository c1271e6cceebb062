"""Workload layers and their lowering to SCALE-Sim's GEMM view.

SCALE-Sim runs every layer as one matrix product of two *operand matrices*:

* IFMAP operand ``M x K``: one row per output pixel (of one filter), one column per
  element of the convolution window (``im2col``);
* filter operand ``K x N``: one column per filter;
* OFMAP ``M x N``.

with (``topology_utils.py``)::

    ofmap_h = ceil((ifmap_h - filter_h + stride_h) / stride_h)     (no padding)
    ofmap_w = ceil((ifmap_w - filter_w + stride_w) / stride_w)
    M = ofmap_h * ofmap_w      N = num_filters      K = filter_h * filter_w * channels

A :class:`GemmLayer` ``(m, n, k)`` is SCALE-Sim's GEMM row ``Layer, M, N, K`` with
``M = m`` (rows of the ifmap operand = output rows), ``N = n`` (filters = output
columns), ``K = k`` (reduction).  SCALE-Sim lowers it to the convolution
``ifmap = M x K, filter = 1 x K, channels = 1, filters = N, stride = 1``, whose
operand matrices are exactly ``M x K`` and ``K x N``.

A :class:`DepthwiseConvLayer` (``channels`` input channels, each convolved with its
own ``multiplier`` filters) is lowered explicitly to ``channels`` identical
convolutions with one input channel and ``multiplier`` filters, run one after the
other -- what SCALE-Sim does for layers whose name contains ``DP``
(``topology_utils.load_arrays_conv``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError


class GemmLayer(ConfigModel):
    """``C[m x n] = A[m x k] @ B[k x n]``; SCALE-Sim GEMM row ``name, M=m, N=n, K=k``."""

    kind: Literal["gemm"] = Field("gemm", description="Layer type tag")
    name: str = Field("gemm", description="Layer name")
    m: int = Field(..., ge=1, description="Rows of the input operand = output rows (SCALE-Sim M, ofmap pixels)")
    n: int = Field(..., ge=1, description="Columns of the weight operand = output columns (SCALE-Sim N, filters)")
    k: int = Field(..., ge=1, description="Reduction length (SCALE-Sim K, window size)")

    def gemm_dims(self) -> tuple[int, int, int]:
        """SCALE-Sim's ``(M, N, K)`` of the operand matrices."""
        return self.m, self.n, self.k

    @property
    def instances(self) -> int:
        """How many identical GEMMs this layer runs back to back."""
        return 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k


class ConvLayer(ConfigModel):
    """A 2-D convolution as SCALE-Sim describes it (no padding: pad the IFMAP size yourself)."""

    kind: Literal["conv"] = Field("conv", description="Layer type tag")
    name: str = Field("conv", description="Layer name")
    ifmap_height: int = Field(..., ge=1, description="Input feature-map height in pixels (padding included)")
    ifmap_width: int = Field(..., ge=1, description="Input feature-map width in pixels (padding included)")
    filter_height: int = Field(..., ge=1, description="Filter height in pixels")
    filter_width: int = Field(..., ge=1, description="Filter width in pixels")
    channels: int = Field(..., ge=1, description="Input channels")
    num_filters: int = Field(..., ge=1, description="Filters = output channels")
    stride_height: int = Field(1, ge=1, description="Vertical stride in pixels")
    stride_width: int = Field(1, ge=1, description="Horizontal stride in pixels (CSV with one stride: same as height)")

    @model_validator(mode="after")
    def _filter_fits(self) -> ConvLayer:
        _check_window(self.name, self.ifmap_height, self.ifmap_width, self.filter_height, self.filter_width)
        return self

    @property
    def ofmap_height(self) -> int:
        return _ofmap_size(self.ifmap_height, self.filter_height, self.stride_height)

    @property
    def ofmap_width(self) -> int:
        return _ofmap_size(self.ifmap_width, self.filter_width, self.stride_width)

    def gemm_dims(self) -> tuple[int, int, int]:
        """SCALE-Sim's ``(M, N, K)``: ofmap pixels per filter, filters, window size."""
        return (self.ofmap_height * self.ofmap_width, self.num_filters,
                self.filter_height * self.filter_width * self.channels)

    @property
    def instances(self) -> int:
        return 1

    @property
    def macs(self) -> int:
        m, n, k = self.gemm_dims()
        return m * n * k


class DepthwiseConvLayer(ConfigModel):
    """Depthwise convolution: every input channel convolved with its own ``multiplier`` filters.

    Lowered to ``channels`` identical single-channel :class:`ConvLayer` runs
    (:meth:`per_channel`), one after the other, as SCALE-Sim does for ``DP`` layers.
    """

    kind: Literal["depthwise"] = Field("depthwise", description="Layer type tag")
    name: str = Field("depthwise", description="Layer name")
    ifmap_height: int = Field(..., ge=1, description="Input feature-map height in pixels (padding included)")
    ifmap_width: int = Field(..., ge=1, description="Input feature-map width in pixels (padding included)")
    filter_height: int = Field(..., ge=1, description="Filter height in pixels")
    filter_width: int = Field(..., ge=1, description="Filter width in pixels")
    channels: int = Field(..., ge=1, description="Input channels (each convolved separately)")
    multiplier: int = Field(1, ge=1, description="Filters per input channel (depth multiplier)")
    stride_height: int = Field(1, ge=1, description="Vertical stride in pixels")
    stride_width: int = Field(1, ge=1, description="Horizontal stride in pixels")

    @model_validator(mode="after")
    def _filter_fits(self) -> DepthwiseConvLayer:
        _check_window(self.name, self.ifmap_height, self.ifmap_width, self.filter_height, self.filter_width)
        return self

    def per_channel(self) -> ConvLayer:
        """The single-channel convolution run once per input channel."""
        return ConvLayer(name=f"{self.name}Channel_0", ifmap_height=self.ifmap_height, ifmap_width=self.ifmap_width,
                         filter_height=self.filter_height, filter_width=self.filter_width, channels=1,
                         num_filters=self.multiplier, stride_height=self.stride_height,
                         stride_width=self.stride_width)

    def lowered(self) -> list[ConvLayer]:
        """The ``channels`` convolutions SCALE-Sim runs (names ``<name>Channel_<i>``, as SCALE-Sim)."""
        base = self.per_channel()
        return [base.model_copy(update={"name": f"{self.name}Channel_{i}"}) for i in range(self.channels)]

    def gemm_dims(self) -> tuple[int, int, int]:
        """``(M, N, K)`` of one per-channel instance."""
        return self.per_channel().gemm_dims()

    @property
    def instances(self) -> int:
        return self.channels

    @property
    def macs(self) -> int:
        m, n, k = self.gemm_dims()
        return m * n * k * self.channels


Layer = GemmLayer | ConvLayer | DepthwiseConvLayer


def layer_from_dict(data: dict[str, Any], source: str | None = None) -> Layer:
    """Build a layer from a dict with a ``kind`` of ``gemm``, ``conv`` or ``depthwise``."""
    kinds: dict[str, type[Layer]] = {"gemm": GemmLayer, "conv": ConvLayer, "depthwise": DepthwiseConvLayer}
    kind = data.get("kind")
    if kind not in kinds:
        raise ConfigError(f"{source or 'layer'}: kind must be one of {', '.join(kinds)}, got {kind!r}")
    return kinds[kind].from_dict(data, source=source)


def _ofmap_size(ifmap: int, window: int, stride: int) -> int:
    # SCALE-Sim topology_utils.topo_calc_hyperparams: int(math.ceil((ifmap - filt + stride) / stride))
    return int(math.ceil((ifmap - window + stride) / stride))


def _check_window(name: str, ih: int, iw: int, fh: int, fw: int) -> None:
    # SCALE-Sim ISSUE #9 fix: the filter cannot be larger than the IFMAP.
    if fh > ih:
        raise ConfigError(f"layer '{name}': filter_height {fh} > ifmap_height {ih} "
                          "(pad the IFMAP or shrink the filter)")
    if fw > iw:
        raise ConfigError(f"layer '{name}': filter_width {fw} > ifmap_width {iw} (pad the IFMAP or shrink the filter)")
