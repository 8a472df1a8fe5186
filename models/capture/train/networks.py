"""The capture networks (SEREP Table 2): image encoder E_img, heads H_code, H_lmks, head pose and gaze, and the
domain classifier C_d behind a gradient-reversal layer.

Backbones are written here (timm/torchvision do not import with the CPU torch of this project): MobileNetV2 in
torchvision's exact layout (so its ImageNet state dict loads, `pretrained.py`) and ConvNeXt-T/B for the GPU preset.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from models.vocab import capture64, mediapipe478

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EMBEDDING = 512
CODE_SIZE = 64


def _conv_bn(inp, out, kernel=3, stride=1, groups=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, out, stride, expand):
        super().__init__()
        hidden = inp * expand
        layers = [_conv_bn(inp, hidden, 1)] if expand != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and inp == out

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (width 1.0) without the classifier; ``features.*`` names match its state dict."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
    out_channels = 1280

    def __init__(self):
        super().__init__()
        layers, inp = [_conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        layers.append(_conv_bn(inp, self.out_channels, 1))
        self.features = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    pyramid_channels = (32, 96, out_channels)  # strides 8, 16, 32

    def feature_map(self, x):
        return self.features(x)

    def pyramid(self, x) -> list[torch.Tensor]:
        """The feature maps at strides 8, 16 and 32 (the last is `feature_map`'s)."""
        maps = []
        for block in (self.features[:7], self.features[7:14], self.features[14:]):
            x = block(x)
            maps.append(x)
        return maps

    @staticmethod
    def grid(resolution: int) -> int:
        """Side of the last feature map: five stride-2 convolutions padded to keep ceil(n / 2)."""
        for _ in range(5):
            resolution = (resolution + 1) // 2
        return resolution

    def pool(self, feature_map):
        return feature_map.mean((2, 3))

    def forward(self, x):
        return self.pool(self.feature_map(x))


class _LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """ConvNeXt (Liu et al. 2022) without drop-path; random init (no ImageNet weights are at hand, README)."""

    SIZES = {"convnext_t": ((3, 3, 9, 3), (96, 192, 384, 768)), "convnext_b": ((3, 3, 27, 3), (128, 256, 512, 1024))}

    def __init__(self, size: str = "convnext_t"):
        super().__init__()
        depths, dims = self.SIZES[size]
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), _LayerNorm2d(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample.append(nn.Sequential(_LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList([nn.Sequential(*[_ConvNeXtBlock(d) for _ in range(n)]) for n, d in zip(depths, dims)])
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.out_channels = dims[-1]
        self.pyramid_channels = tuple(dims[1:])
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @staticmethod
    def grid(resolution: int) -> int:
        """Side of the last feature map: the stride-4 stem, then three unpadded stride-2 downsamplings."""
        return resolution // 4 // 2 // 2 // 2

    def feature_map(self, x):
        return self.pyramid(x)[-1]

    def pyramid(self, x) -> list[torch.Tensor]:
        """The stage outputs at strides 8, 16 and 32."""
        maps = []
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))
            maps.append(x)
        return maps[1:]

    def pool(self, feature_map):
        return self.norm(feature_map.mean((2, 3)))

    def forward(self, x):
        return self.pool(self.feature_map(x))


class ResBlock(nn.Module):
    """x + GroupNorm(GELU(Linear(x))) (Table 2)."""

    def __init__(self, dim, groups):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.GroupNorm(groups, dim)

    def forward(self, x):
        return x + self.norm(F.gelu(self.linear(x)))


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return _GradientReversal.apply(x, self.scale)


class DomainClassifier(nn.Module):
    """C_d = GRL + Linear 512->256 + GroupNorm(16) + GELU + 2 x ResBlock + Linear 256->1 (logit of "real")."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.net = nn.Sequential(GradientReversal(scale), nn.Linear(EMBEDDING, 256), nn.GroupNorm(16, 256), nn.GELU(),
                                 ResBlock(256, 16), ResBlock(256, 16), nn.Linear(256, 1))

    def forward(self, features):
        return self.net(features)[:, 0]


def rotation_from_6d(x: torch.Tensor) -> torch.Tensor:
    """(B, 6) -> (B, 3, 3) by Gram-Schmidt on two columns (Zhou et al. 2019)."""
    a, b = x[:, :3], x[:, 3:]
    c1 = F.normalize(a, dim=1)
    c2 = F.normalize(b - (c1 * b).sum(1, keepdim=True) * c1, dim=1)
    return torch.stack([c1, c2, torch.cross(c1, c2, dim=1)], 2)


BACKBONES = {"mobilenet_v2": MobileNetV2, "convnext_t": lambda: ConvNeXt("convnext_t"),
             "convnext_b": lambda: ConvNeXt("convnext_b")}


POOLINGS = ("mean", "spatial")
# the network's shape in configs written before pooling, the dense head and heatmaps existed (models and runs of then)
EARLIER_SHAPE = {"pooling": "mean", "dense_landmarks": False, "heatmaps": False}
SPATIAL_CHANNELS = 64  # per cell of the last feature map, with pooling="spatial"


class SpatialNeck(nn.Module):
    """Keeps where things are: a 1x1 convolution to a few channels per cell of the last feature map, flattened
    (the mean pooling of a 4 x 4 map at 128² leaves the heads to read a lip gap or a lid from channel sums)."""

    def __init__(self, backbone: nn.Module, resolution: int):
        super().__init__()
        channels, cells = backbone.out_channels, backbone.grid(resolution) ** 2
        self.reduce = nn.Sequential(nn.Conv2d(channels, SPATIAL_CHANNELS, 1), nn.GroupNorm(8, SPATIAL_CHANNELS), nn.GELU())
        self.project = nn.Linear(SPATIAL_CHANNELS * cells, EMBEDDING)

    def forward(self, feature_map):
        return self.project(self.reduce(feature_map).flatten(1))


HEATMAP_WIDTH = 96


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) heatmap logits -> (B, P, 2) expected x, y of each softmax in [-1, 1] crop units (cell centres:
    cell j of n sits at (2j + 1) / n - 1, so the map covers the crop exactly)."""
    b, p, h, w = logits.shape
    prob = torch.softmax(logits.flatten(2), 2).view(b, p, h, w)
    xs = (2 * torch.arange(w, dtype=logits.dtype, device=logits.device) + 1) / w - 1
    ys = (2 * torch.arange(h, dtype=logits.dtype, device=logits.device) + 1) / h - 1
    return torch.stack([(prob.sum(2) * xs).sum(2), (prob.sum(3) * ys).sum(2)], 2)


class HeatmapLandmarks(nn.Module):
    """All 478 MediaPipe points as the expectations of per-point heatmaps on the stride-8 map (integral regression,
    Sun et al. 2018), fed top-down from strides 32 and 16 (a small FPN). A convolution's output moves with the
    face, so a point's position is read where it is instead of being regressed from a flattened embedding: the
    expression lives in sub-pixel offsets of the lips and lids (README, Evaluation)."""

    def __init__(self, channels: tuple[int, int, int], width: int = HEATMAP_WIDTH,
                 points: int = mediapipe478.N_LANDMARKS):
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, 1) for c in channels])
        self.smooth = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(8, width), nn.GELU(),
                                    nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(8, width), nn.GELU())
        self.logits = nn.Conv2d(width, points, 1)

    def forward(self, pyramid: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral[2](pyramid[2])
        for level in (1, 0):
            lateral = self.lateral[level](pyramid[level])
            x = F.interpolate(x, size=lateral.shape[-2:], mode="nearest") + lateral
        return soft_argmax(self.logits(self.smooth(x)))


class GeometricCode(nn.Module):
    """A linear readout of the code from the predicted points' shape (translation and scale removed): with the
    ground-truth points a least-squares map of this form reads the code to 15 % of the neutral face's error on
    held-out renders, 10 % frontally (README, `probe`). Zero at the start; the points are detached, so the
    landmark losses alone place them."""

    def __init__(self, points: int = mediapipe478.N_LANDMARKS):
        super().__init__()
        self.linear = nn.Linear(2 * points, CODE_SIZE)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        p = points.detach()
        p = p - p.mean(1, keepdim=True)
        p = p / p.pow(2).sum(2).mean(1).add(1e-8).sqrt()[:, None, None]
        return self.linear(p.flatten(1))


class CaptureNet(nn.Module):
    """Image (B, R, R, 3) float RGB in 0..255 -> code, landmarks in [-1, 1] crop units, rotation 6D, gaze, features
    (and with `dense`, the 478 MediaPipe points in crop units: a training-only head, not exported, unless `heatmaps`).
    `pooling`: "mean" (SEREP: the backbone's pooled features) or "spatial" (SpatialNeck; needs `resolution`).
    `heatmaps`: the 478 points come from HeatmapLandmarks (and are then part of what the export computes: the 64
    landmarks are their subset, and GeometricCode adds to H_code's code) instead of a linear head on the embedding."""

    def __init__(self, backbone: str = "mobilenet_v2", pooling: str = "mean", resolution: int = 128,
                 dense: bool = False, heatmaps: bool = False):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; one of {', '.join(BACKBONES)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; one of {', '.join(POOLINGS)}")
        if heatmaps and not dense:
            raise ValueError("heatmaps predict the dense 478 points: turn dense landmarks on with them")
        self.backbone_name, self.pooling, self.heatmaps = backbone, pooling, heatmaps
        self.backbone = BACKBONES[backbone]()
        first = (nn.Linear(self.backbone.out_channels, EMBEDDING) if pooling == "mean"
                 else SpatialNeck(self.backbone, resolution))
        self.neck = nn.Sequential(first, nn.GroupNorm(32, EMBEDDING), nn.GELU())
        self.code = nn.Sequential(*[ResBlock(EMBEDDING, 32) for _ in range(3)], nn.Linear(EMBEDDING, CODE_SIZE))
        self.landmarks = None if heatmaps else nn.Linear(EMBEDDING, 2 * len(capture64.NAMES))
        self.dense = (HeatmapLandmarks(self.backbone.pyramid_channels) if heatmaps
                      else nn.Linear(EMBEDDING, 2 * mediapipe478.N_LANDMARKS) if dense else None)
        self.geometric_code = GeometricCode() if heatmaps else None
        self.pose = nn.Linear(EMBEDDING, 6)
        self.gaze = nn.Linear(EMBEDDING, 4)
        self.domain = DomainClassifier()
        with torch.no_grad():  # start at a face seen from the front: camera +y down, +z forward flip the head's Y, Z
            self.pose.weight.mul_(0.01)
            self.pose.bias.copy_(torch.tensor([1.0, 0, 0, 0, -1.0, 0]))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).mul(255).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).mul(255).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: dict) -> "CaptureNet":
        """The network a training config describes (a config from before pooling, dense or heatmaps: EARLIER_SHAPE)."""
        shape = {**EARLIER_SHAPE, **config}
        return cls(shape["backbone"], shape["pooling"], int(shape.get("resolution", 128)),
                   bool(shape["dense_landmarks"]), bool(shape["heatmaps"]))

    def _embed(self, last_map):
        return self.neck(self.backbone.pool(last_map) if self.pooling == "mean" else last_map)

    def _normalised(self, image):
        return (image.permute(0, 3, 1, 2) - self.mean) / self.std

    def features(self, image):
        return self._embed(self.backbone.feature_map(self._normalised(image)))

    def forward(self, image):
        x = self._normalised(image)
        pyramid = self.backbone.pyramid(x) if self.heatmaps else [self.backbone.feature_map(x)]
        f = self._embed(pyramid[-1])
        out = {"z_exp": self.code(f), "rotation": rotation_from_6d(self.pose(f)), "gaze": self.gaze(f).view(-1, 2, 2),
               "features": f}
        if self.heatmaps:
            out["dense"] = self.dense(pyramid)
            out["landmarks"] = out["dense"][:, torch.as_tensor(capture64.MP478)]
            out["z_exp"] = out["z_exp"] + self.geometric_code(out["dense"])
        else:
            out["landmarks"] = self.landmarks(f).view(-1, len(capture64.NAMES), 2)
            if self.dense is not None:
                out["dense"] = self.dense(f).view(-1, mediapipe478.N_LANDMARKS, 2)
        return out


class Exported(nn.Module):
    """What the ONNX file holds: uint8 crops in; code, landmarks in crop pixels, rotation matrix, gaze out."""

    def __init__(self, net: CaptureNet, resolution: int, dtype=torch.float32):
        super().__init__()
        self.net, self.resolution, self.dtype = net.to(dtype), resolution, dtype

    def forward(self, image):
        out = self.net(image.to(self.dtype))
        outputs = (out["z_exp"], (out["landmarks"] + 1) * (self.resolution / 2), out["rotation"], out["gaze"])
        return tuple(o.float() for o in outputs)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
