"""Plain-torch reference models that mirror torchvision's architectures.

No torchvision import: every builder re-creates the torchvision module tree
(same classes names, same attribute names, same forward) so that hook-based
peers (thop, ptflops, torchinfo, torchscan) and tracing/dispatch-based peers
(fvcore, ptflops aten, FlopCounterMode) see exactly what they would see on
``torchvision.models.<name>()``.  Weights are left at torch's default init;
none of the recorded figures depends on weight values.

Parameter counts (checked by ``tests/test_refmodels.py``) equal torchvision's
published figures:

=============  ===========
alexnet         61,100,840
vgg16          138,357,544
vgg16_bn       138,365,992
resnet18        11,689,512
resnet50        25,557,032
mobilenet_v2     3,504,872
=============  ===========

Mirrored torchvision sources (torchvision 0.2x, unchanged in these parts for
years): ``models/alexnet.py``, ``models/vgg.py`` (cfg "D"), ``models/resnet.py``
(ResNet v1.5: stride on the 3x3 conv of the bottleneck),
``models/mobilenetv2.py`` and ``ops/misc.py::Conv2dNormActivation``.

Two extra nets are not torchvision models:

* ``tconv_net``: a small encoder/decoder with a stride-2 ConvTranspose2d, a
  ``torch.cat`` concat and a residual ``+`` (input 3x64x64).
* ``probe_net``: a grab-bag of layer kinds the six torchvision models lack
  (AvgPool2d, AdaptiveMaxPool2d, grouped conv with bias, Upsample
  nearest/bilinear, Sigmoid,
  SiLU, Hardswish, GELU, an element-wise ``*`` gate, LayerNorm, GroupNorm,
  Softmax, a bias-free Linear, nn.Flatten), so the peer rule tables can be
  checked for those kinds too (input 8x32x32).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "MODELS",
    "INPUTS",
    "PUBLISHED_PARAMS",
    "alexnet",
    "vgg16",
    "vgg16_bn",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "tconv_net",
    "probe_net",
    "build",
]


# --------------------------------------------------------------------------- AlexNet
class AlexNet(nn.Module):
    """torchvision.models.alexnet (the "one weird trick" variant: 64/192 channels)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def alexnet() -> nn.Module:
    return AlexNet()


# --------------------------------------------------------------------------- VGG
_VGG_CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg_make_layers(cfg: list, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision.models.vgg.VGG."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def vgg16() -> nn.Module:
    return VGG(_vgg_make_layers(_VGG_CFG_D, batch_norm=False))


def vgg16_bn() -> nn.Module:
    return VGG(_vgg_make_layers(_VGG_CFG_D, batch_norm=True))


# --------------------------------------------------------------------------- ResNet
def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)  # called twice per forward, as in torchvision
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)  # called three times per forward, as in torchvision
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet (v1.5)."""

    def __init__(self, block: type, layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet18() -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50() -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3])


# --------------------------------------------------------------------------- MobileNetV2
def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """torchvision.ops.misc.Conv2dNormActivation (Conv2d, BatchNorm2d, activation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: Callable[..., nn.Module] | None = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        dilation: int = 1,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=bias
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = self.stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1, activation_layer=nn.ReLU6))
        layers.extend(
            [
                Conv2dNormActivation(
                    hidden_dim, hidden_dim, stride=stride, groups=hidden_dim, activation_layer=nn.ReLU6
                ),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            ]
        )
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup
        self._is_cn = stride > 1

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.mobilenetv2.MobileNetV2 (width 1.0)."""

    def __init__(
        self, num_classes: int = 1000, width_mult: float = 1.0, round_nearest: int = 8, dropout: float = 0.2
    ) -> None:
        super().__init__()
        input_channel = 32
        last_channel = 1280
        inverted_residual_setting = [
            # t, c, n, s
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [Conv2dNormActivation(3, input_channel, stride=2, activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride, expand_ratio=t))
                input_channel = output_channel
        features.append(
            Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1, activation_layer=nn.ReLU6)
        )
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        # functional pool, as torchvision: no module hook sees it
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def mobilenet_v2() -> nn.Module:
    return MobileNetV2()


# --------------------------------------------------------------------------- tconv_net
class TConvNet(nn.Module):
    """3x64x64 -> conv 16 3x3 s2 p1 (no bias) + BN + ReLU -> ConvTranspose2d 8 4x4 s2 p1 (bias)
    -> cat with a 1x1 conv branch (3->8, bias) of the input -> conv 3 3x3 p1 (bias) -> + input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.up = nn.ConvTranspose2d(16, 8, kernel_size=4, stride=2, padding=1)
        self.skip = nn.Conv2d(3, 8, kernel_size=1)
        self.fuse = nn.Conv2d(16, 3, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))  # 16x32x32
        y = self.up(y)  # 8x64x64
        y = torch.cat([y, self.skip(x)], dim=1)  # 16x64x64
        return self.fuse(y) + x  # 3x64x64


def tconv_net() -> nn.Module:
    return TConvNet()


# --------------------------------------------------------------------------- probe_net
class ProbeNet(nn.Module):
    """8x32x32 input; one of each layer kind the torchvision models above lack."""

    def __init__(self) -> None:
        super().__init__()
        self.gconv = nn.Conv2d(8, 16, kernel_size=3, padding=1, groups=4)  # grouped, bias
        self.gn = nn.GroupNorm(4, 16)
        self.silu = nn.SiLU()
        self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2)  # 16x16x16
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")  # 16x32x32
        self.hswish = nn.Hardswish()
        self.gate_conv = nn.Conv2d(16, 16, kernel_size=1)
        self.sigmoid = nn.Sigmoid()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)  # 16x16x16
        self.up_bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)  # 16x32x32
        self.amaxpool = nn.AdaptiveMaxPool2d((8, 8))  # 16x8x8
        self.flatten = nn.Flatten()  # 1024
        self.ln = nn.LayerNorm(1024)
        self.fc1 = nn.Linear(1024, 64, bias=False)
        self.gelu = nn.GELU()
        self.fc2 = nn.Linear(64, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.silu(self.gn(self.gconv(x)))
        x = self.avgpool(x)
        x = self.hswish(self.up_nearest(x))
        x = x * self.sigmoid(self.gate_conv(x))  # element-wise gate (SE-like mul)
        x = self.amaxpool(self.up_bilinear(self.maxpool(x)))
        x = self.ln(self.flatten(x))
        x = self.fc2(self.gelu(self.fc1(x)))
        return self.softmax(x)


def probe_net() -> nn.Module:
    return ProbeNet()


# --------------------------------------------------------------------------- registry
MODELS: dict[str, Callable[[], nn.Module]] = {
    "alexnet": alexnet,
    "vgg16": vgg16,
    "vgg16_bn": vgg16_bn,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "tconv_net": tconv_net,
    "probe_net": probe_net,
}

# per-sample input shape (C, H, W); batch 1 is prepended by the recorders
INPUTS: dict[str, tuple[int, int, int]] = {
    "alexnet": (3, 224, 224),
    "vgg16": (3, 224, 224),
    "vgg16_bn": (3, 224, 224),
    "resnet18": (3, 224, 224),
    "resnet50": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224),
    "tconv_net": (3, 64, 64),
    "probe_net": (8, 32, 32),
}

# torchvision's documented parameter counts (weights tables of torchvision.models)
PUBLISHED_PARAMS: dict[str, int] = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
}


def build(name: str, seed: int = 0) -> nn.Module:
    """Build model ``name`` deterministically, in eval mode."""
    torch.manual_seed(seed)
    return MODELS[name]().eval()
