"""Networks after CycleGAN's ``networks.py`` (Zhu et al. 2017; Johnson et al. 2016): a ResNet generator
(7x7 conv, two stride-2 downsamples, N residual blocks, two upsamples, 7x7 conv) with reflect padding,
and a PatchGAN discriminator. The generators here output a *residual* (one channel) that the caller adds
to a base field, which is what makes DrcGAN "deep residual"."""

from __future__ import annotations

import functools

import torch
from torch import nn


def norm_layer(kind: str):
    """Factory: 'instance' (affine, no running stats), 'batch' or 'none'."""
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=True, track_running_stats=False)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    if kind == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"unknown norm layer {kind!r}")


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            norm(dim),
        )

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-out. Input H, W multiples of 4.

    The last layer is zero-initialised, so an untrained generator returns a zero residual."""

    def __init__(self, in_ch: int, out_ch: int = 1, ngf: int = 64, n_blocks: int = 9, norm: str = "instance"):
        super().__init__()
        nl = norm_layer(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7), nl(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), nl(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, nl) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                nl(ngf * mult // 2),
                nn.ReLU(True),
            ]
        self.head = nn.Conv2d(ngf, out_ch, 7)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        layers += [nn.ReflectionPad2d(3), self.head]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: C64-C128-C256-C512 (n_layers = 3: 70x70 receptive field), one logit per patch."""

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        nl = norm_layer(norm)
        layers = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1),
                nl(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1), nl(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def lsgan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017)."""
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return torch.mean((pred.float() - target.float()) ** 2)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over ``mask`` pixels only (gap pixels contribute nothing)."""
    m = mask.to(pred.dtype)
    diff = torch.where(mask, (pred - target).abs(), torch.zeros((), dtype=pred.dtype, device=pred.device))
    return diff.sum() / m.sum().clamp(min=1.0)


def masked_rmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Root mean square error over ``mask`` pixels only: the scale of :func:`masked_l1` (so the same
    weight means about the same pull), the gradient of the mean square (the conditional mean, which the
    RMSE a product is scored by rewards, where L1 pulls towards the conditional median)."""
    m = mask.to(pred.dtype)
    sq = torch.where(mask, (pred - target).square(), torch.zeros((), dtype=pred.dtype, device=pred.device))
    return (sq.sum() / m.sum().clamp(min=1.0) + 1e-12).sqrt()
