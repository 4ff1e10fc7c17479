"""Kinds that rearrange values between channels and positions, computing
nothing: pixel shuffle (sub-pixel upsampling) and channel shuffle (ShuffleNet).
"""

from __future__ import annotations

from typing import Any

from cnnsize.engine.errors import RuleError
from cnnsize.engine.geometry import RF, AxisRF, _div
from cnnsize.engine.registry import (
    Key,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    call_args,
    register,
    rf_of,
    spatial,
    t_int,
)

# --- pixel shuffle ----------------------------------------------------------------------


def _pixel_shuffle_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    if len(in_shapes[0]) != 3:
        raise NotImplementedError(f"torch's PixelShuffle takes 2 spatial axes, the input has {len(in_shapes[0]) - 1}")
    return Layer(nn.PixelShuffle(p["scale"]))


def _pixel_shuffle_from(imp: Any, node: Any, target: Any) -> None:
    if node.op == "call_module":
        r = target.upscale_factor
    else:
        r = call_args(node, ("input", "upscale_factor"))["upscale_factor"]
    imp.add(node, "pixel_shuffle", {"scale": int(r)})


def _depth_to_space_onnx(imp: Any, node: Any) -> None:
    if imp.attr(node, "mode", "DCR") != "CRD":
        # DCR orders channels differently from torch's pixel_shuffle (the same counts, another layout)
        imp.unsupported(node, "in DCR mode (cnnsize's pixel_shuffle is CRD, torch's order)")
        return
    imp.add(node, "pixel_shuffle", {"scale": int(imp.attr(node, "blocksize"))}, [node.input[0]])


@register(
    "pixel_shuffle",
    {"scale": Key(t_int(1), "upscaling factor r: C*r^2 channels become C, each spatial size times r", required=True)},
    aliases=("pixelshuffle",),
    category="shape",
    summary="pixel shuffle (sub-pixel convolution's rearrangement): C*r^2 x H x W to C x rH x rW, no cost",
    to_torch=_pixel_shuffle_torch,
    from_torch=(
        TorchMap(
            _pixel_shuffle_from, modules=("torch.nn.PixelShuffle",), functions=("torch.nn.functional.pixel_shuffle",)
        ),
    ),
    from_onnx=(
        OnnxMap(_depth_to_space_onnx, ("DepthToSpace",), "blocksize; mode CRD (torch's pixel_shuffle); DCR refused"),
    ),
)
def pixel_shuffle(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, sp = spatial(x, "pixel_shuffle")
    r = p["scale"]
    block = r ** len(sp)
    if c % block:
        raise RuleError(
            "shape-mismatch",
            f"pixel_shuffle with scale {r} needs channels divisible by {r}^{len(sp)} = {block}, got {c}",
            f"use {c // block * block or block} channels, or another scale",
            "scale",
        )

    # Output position Y reads input position floor(Y / r) (torch's and ONNX
    # DepthToSpace's layout), the map nearest upsampling by r uses: a unit's
    # field is its source's (same size, same first centre) and neighbours are
    # jump / r apart on average, the convention upsample keeps.
    def tr(rf: RF) -> RF:
        return tuple(AxisRF(a.size, _div(a.jump, r), a.start2) for a in rf)

    return Result((c // block, *(n * r for n in sp)), rf=rf_of(x, tr))


# --- channel shuffle --------------------------------------------------------------------


def _channel_shuffle_torch(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
    nn = t.nn

    Layer = t.Layer

    return Layer(nn.ChannelShuffle(p["groups"]))


def _channel_shuffle_from(imp: Any, node: Any, target: Any) -> None:
    if node.op == "call_module":
        g = target.groups
    else:
        g = call_args(node, ("input", "groups"))["groups"]
    imp.add(node, "channel_shuffle", {"groups": int(g)})


def _transpose_onnx(imp: Any, node: Any) -> None:
    src = imp.in_shape(node)
    prev = imp.producer(node.input[0])
    perm = [int(v) for v in imp.attr(node, "perm", [])]
    if (
        src is None
        or len(src) < 3
        or perm != [0, 2, 1, *range(3, len(src) + 1)]
        or prev is None
        or prev.kind != "reshape"
        or prev.src_shape != (src[0] * src[1], *src[2:])
        or imp.readers(node.input[0]) != 1
    ):
        imp.unsupported(node, f"with perm {perm} (only a channel shuffle's Transpose has a spec form)")
        return
    # the Reshape before it becomes part of the shuffle; the Reshape after it
    # (back to C x H x W) stays, a no-op
    imp.drop(prev)
    imp.add_layer(
        node, "channel_shuffle", {"groups": src[0]}, prev.inputs, "ONNX Reshape, Transpose, Reshape", check_shape=False
    )


@register(
    "channel_shuffle",
    {"groups": Key(t_int(1), "number of groups whose channels are interleaved (ShuffleNet)", required=True)},
    aliases=("channelshuffle",),
    category="shape",
    summary="channel shuffle (ShuffleNet): interleave the channels of groups, no cost",
    to_torch=_channel_shuffle_torch,
    from_torch=(
        TorchMap(
            _channel_shuffle_from,
            modules=("torch.nn.ChannelShuffle",),
            functions=("torch.nn.functional.channel_shuffle",),  # the same object as torch.channel_shuffle
        ),
    ),
    from_onnx=(
        OnnxMap(
            _transpose_onnx,
            ("Transpose",),
            "only as ONNX writes a channel shuffle: Reshape (C, H, W) to (g, C/g, H, W), this Transpose swapping "
            "those two axes, Reshape back; any other Transpose of an activation is refused",
        ),
    ),
)
def channel_shuffle(p: dict[str, Any], ins: list[Tensor]) -> Result:
    x = ins[0]
    c, _sp = spatial(x, "channel_shuffle")  # as torch, which refuses a [N, C] input
    if c % p["groups"]:
        raise RuleError(
            "groups-mismatch",
            f"{c} channels are not divisible by groups={p['groups']}",
            "choose groups that divide the channels",
            "groups",
        )
    # a permutation of channels: each position's field is the input's
    return Result(x.shape, rf=x.rf)
