"""torch modules for what torch has no module for (LeNet's connection
tables, trainable subsampling and RBF units, untied biases, explicit pads and
crops, reshapes, separable convolutions, merges) and the wrapper ``Layer``
every spec layer becomes. The registry's ``to_torch`` parts import this
module lazily, so the analysis path never loads torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnsize.engine.kinds.activation import ACTIVATIONS


def torch_pads(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """[(before, after) per axis, first axis first] -> F.pad's last-axis-first order."""
    return tuple(v for a, b in reversed(list(pads)) for v in (a, b))


def torch_class(base: str, nd: int) -> Any:
    if nd not in (1, 2, 3):
        raise NotImplementedError(f"{base} with {nd} spatial axes has no torch module")
    return getattr(nn, f"{base}{nd}d")


# --- leaf modules for what torch has no module for -------------------------------


class UntiedBias(nn.Module):
    """One bias per output unit (LeNet 1989): a parameter of the output's shape."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(*shape))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class TableConv(nn.Module):
    inverse: torch.Tensor  # a registered buffer

    """Convolution whose output map ``j`` reads only the input maps ``table[j]``.

    Rows of equal length form one grouped convolution over the gathered input
    maps, so the weights hold exactly ``kvol * sum(len(row))`` values and torch
    counts exactly the table's multiply-accumulates (a masked dense weight
    would have too many parameters and FLOPs).
    """

    def __init__(
        self,
        table: list[list[int]],
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        bias: bool,
    ) -> None:
        super().__init__()
        self.table = [list(r) for r in table]
        self.nd = len(kernel)
        self.kernel, self.stride, self.padding, self.dilation = (
            tuple(kernel),
            tuple(stride),
            tuple(padding),
            tuple(dilation),
        )
        lengths: list[int] = []
        for row in table:
            if len(row) not in lengths:
                lengths.append(len(row))
        self.weights = nn.ParameterList()
        order: list[int] = []
        self.groups: list[int] = []
        for i, n in enumerate(lengths):
            rows = [j for j, r in enumerate(table) if len(r) == n]
            order += rows
            self.groups.append(len(rows))
            w = torch.empty(len(rows), n, *kernel)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.weights.append(nn.Parameter(w))
            self.register_buffer(
                f"index{i}", torch.tensor([c for j in rows for c in table[j]], dtype=torch.long), persistent=False
            )
        inverse = [0] * len(order)
        for pos, j in enumerate(order):
            inverse[j] = pos
        self.register_buffer("inverse", torch.tensor(inverse, dtype=torch.long), persistent=False)
        self.reorder = inverse != list(range(len(order)))
        self.bias = nn.Parameter(torch.zeros(len(table))) if bias else None
        self._conv = getattr(F, f"conv{self.nd}d")

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for i, w in enumerate(self.weights):
            xi = x.index_select(1, getattr(self, f"index{i}"))
            outs.append(self._conv(xi, w, None, self.stride, self.padding, self.dilation, self.groups[i]))
        y = torch.cat(outs, 1) if len(outs) > 1 else outs[0]
        if self.reorder:
            y = y.index_select(1, self.inverse)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, *([1] * self.nd))
        return y

    def extra_repr(self) -> str:
        return f"table={len(self.table)} rows, kernel={self.kernel}, stride={self.stride}"


class Subsample(nn.Module):
    """LeCun's trainable subsampling: sum over a window, times one coefficient
    per map, plus one bias per map."""

    def __init__(self, channels: int, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.nd = len(kernel)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1, *([1] * self.nd))
        if self.nd == 1:
            s = F.avg_pool1d(x, self.kernel, self.stride) * self.kernel[0]
        else:
            s = getattr(F, f"avg_pool{self.nd}d")(x, self.kernel, self.stride, divisor_override=1)
        return s * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class RBF(nn.Module):
    """Euclidean RBF output units with fixed codes (LeNet-5's output layer):
    y_i = sum_j (x_j - w_ij)^2. The codes are a buffer, not parameters."""

    codes: torch.Tensor  # a registered buffer

    def __init__(self, units: int, fan_in: int) -> None:
        super().__init__()
        codes = torch.empty(units, fan_in)
        if codes.device.type != "meta":
            # LeNet-5's codes are stylised +1/-1 bitmaps; random signs keep their shape
            g = torch.Generator().manual_seed(0)
            codes.copy_(torch.randint(0, 2, (units, fan_in), generator=g, device="cpu").float() * 2 - 1)
        self.register_buffer("codes", codes)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(x, 1)
        return ((x.unsqueeze(1) - self.codes.unsqueeze(0)) ** 2).sum(-1)


class Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.pads, self.mode, self.value = pads, mode, value

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "constant":
            return F.pad(x, self.pads, value=self.value)
        return F.pad(x, self.pads, mode=self.mode)

    def extra_repr(self) -> str:
        return f"pads={self.pads}, mode={self.mode}" + (f", value={self.value}" if self.value else "")


class Crop(nn.Module):
    """Remove (before, after) elements per spatial axis: a transposed conv's
    asymmetric padding, or the extra ceil-mode window an explicit pad admits."""

    def __init__(self, crops: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.crops = tuple(tuple(c) for c in crops)

    def forward(self, x: Tensor) -> Tensor:
        idx: list[slice] = [slice(None), slice(None)]
        for axis, (a, b) in enumerate(self.crops):
            n = x.shape[2 + axis]
            idx.append(slice(a, n - b))
        return x[tuple(idx)]

    def extra_repr(self) -> str:
        return f"crops={self.crops}"


class Reshape(nn.Module):
    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(-1, *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class SepConv(nn.Module):
    """Depthwise then pointwise convolution: one spec layer, two convolutions."""

    dw: Any  # a torch ConvNd (its type depends on the number of spatial axes)
    pw: Any

    def __init__(self, dw: nn.Module, dw_bias: nn.Module | None, pw: nn.Module) -> None:
        super().__init__()
        self.dw = dw
        self.dw_bias = dw_bias
        self.pw = pw

    def forward(self, x: Tensor) -> Tensor:
        x = self.dw(x)
        if self.dw_bias is not None:
            x = self.dw_bias(x)
        return self.pw(x)


class Merge(nn.Module):
    """add / mul / concat of several inputs. Shapes broadcast as the analysis
    does: per-sample axes aligned from the left (a [C] gate scales [C, H, W])."""

    def __init__(
        self, kind: str, in_shapes: Sequence[Sequence[int]], axis: int = 0, act: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.kind, self.axis = kind, axis
        rank = max(len(s) for s in in_shapes)
        self.views = [None if len(s) == rank else (*s, *([1] * (rank - len(s)))) for s in in_shapes]
        self.act = act

    def forward(self, *xs: Tensor) -> Tensor:
        ts = [x if v is None else x.reshape(-1, *v) for x, v in zip(xs, self.views)]
        if self.kind == "concat":
            y = torch.cat(ts, self.axis + 1)
        else:
            y = ts[0]
            for t in ts[1:]:
                y = y + t if self.kind == "add" else y * t
        if self.act is not None:
            y = self.act(y)
        return y

    def extra_repr(self) -> str:
        return self.kind + (f", axis={self.axis}" if self.kind == "concat" else "")


class Layer(nn.Module):
    """One spec layer with one input: [flatten] [pad] op [crop] [untied bias] [activation]."""

    def __init__(
        self,
        op: nn.Module,
        pad: nn.Module | None = None,
        crop: nn.Module | None = None,
        untied: nn.Module | None = None,
        act: nn.Module | None = None,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        self.flatten = flatten
        self.pad = pad
        self.op = op
        self.crop = crop
        self.untied = untied
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        if self.flatten:
            x = torch.flatten(x, 1)
        if self.pad is not None:
            x = self.pad(x)
        x = self.op(x)
        if self.crop is not None:
            x = self.crop(x)
        if self.untied is not None:
            x = self.untied(x)
        if self.act is not None:
            x = self.act(x)
        return x


# modules that the importer (torch.fx) keeps whole and maps back to one kind
LEAF_MODULES = (UntiedBias, TableConv, Subsample, RBF, Pad, Crop, Reshape, SepConv)


def torch_activation(name: str) -> nn.Module:
    """The torch module of activation ``name`` (fused or its own layer)."""
    act = ACTIVATIONS[name]
    cls = getattr(nn, act.module)
    # over channels: the axis the analysis counts softmax connections on
    return cls(dim=1) if act.over_channels else cls()  # type: ignore[no-any-return]


def fused_activation(p: dict[str, Any]) -> nn.Module | None:
    """The module of a layer's fused ``activation:`` key (None without one)."""
    a = p.get("activation")
    return torch_activation(a) if a else None


def symmetric(pads: Sequence[tuple[int, int]]) -> tuple[int, ...] | None:
    """Per-axis padding when every axis pads both sides equally, else None."""
    return tuple(a for a, _ in pads) if all(a == b for a, b in pads) else None
