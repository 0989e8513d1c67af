"""Training-time augmentation on batches of tensors (no torchvision).

``augment``: random crops of the reflection-padded image, horizontal flips and cutout (a zeroed
square), the standard trio for small CIFAR models. ``trivial_augment``, applied before it: one
randomly chosen photometric or geometric operation per image at a random strength
(TrivialAugment, Mueller and Hutter 2021). With a few hundred images per class it is what lets a
longer schedule keep improving instead of memorising the training set.

Everything runs on whole batches, on whatever device the batch is on, and draws every random
number from the caller's generator (on the CPU), so that a run is reproducible.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def augment(images: Tensor, generator: torch.Generator, pad: int, cutout: int) -> Tensor:
    """Float images ``(N, C, H, W)`` -> randomly shifted by up to ``pad`` pixels (reflection at
    the borders), mirrored with probability 1/2, with a ``cutout`` x ``cutout`` square zeroed
    at a random centre (partly outside the image near the borders)."""
    n, _, height, width = images.shape
    device = images.device

    def randint(high: int) -> Tensor:
        return torch.randint(0, high, (n,), generator=generator).to(device)

    if pad > 0:
        padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
        top, left = randint(2 * pad + 1), randint(2 * pad + 1)
        rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
        batch = torch.arange(n, device=device)[:, None, None, None]
        channel = torch.arange(images.shape[1], device=device)[None, :, None, None]
        images = padded[batch, channel, rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(device)
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    if cutout > 0:
        top, left = randint(height) - cutout // 2, randint(width) - cutout // 2
        dy = torch.arange(height, device=device)[None, :, None] - top[:, None, None]
        dx = torch.arange(width, device=device)[None, None, :] - left[:, None, None]
        inside = (dy >= 0) & (dy < cutout) & (dx >= 0) & (dx < cutout)
        images = images.masked_fill(inside[:, None], 0.0)
    return images


# Operation(images, signed magnitude in [-1, 1] per image) -> images; the magnitudes scale the
# ranges of RandAugment at full strength: shear 0.3, shift 30 % of the side, rotation 30 degrees,
# enhancement factors 0.1-1.9, posterize to 4 bits, solarize from threshold 0.
Operation = Callable[[Tensor, Tensor], Tensor]


def _affine(images: Tensor, rows: tuple[Tensor, Tensor]) -> Tensor:
    """Resample with the 2x3 matrices ``rows`` (per image, in normalised coordinates); pixels
    from outside the image are mid-grey."""
    theta = torch.stack([torch.stack(row, dim=1) for row in rows], dim=1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images - 0.5, grid, align_corners=False) + 0.5


def _geometric(kind: str) -> Operation:
    def apply(images: Tensor, m: Tensor) -> Tensor:
        one, zero = torch.ones_like(m), torch.zeros_like(m)
        if kind == "rotate":
            angle = m * math.radians(30)
            cos, sin = angle.cos(), angle.sin()
            return _affine(images, ((cos, -sin, zero), (sin, cos, zero)))
        rows = {
            "shear_x": ((one, 0.3 * m, zero), (zero, one, zero)),
            "shear_y": ((one, zero, zero), (0.3 * m, one, zero)),
            "translate_x": ((one, zero, 0.6 * m), (zero, one, zero)),  # 2 = the image's width
            "translate_y": ((one, zero, zero), (zero, one, 0.6 * m)),
        }[kind]
        return _affine(images, rows)

    return apply


def _grey(images: Tensor) -> Tensor:
    return (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)


def _enhance(degenerate: Callable[[Tensor], Tensor]) -> Operation:
    """PIL's ImageEnhance: blend from ``degenerate(images)`` by a factor of 1 + 0.9 m."""

    def apply(images: Tensor, m: Tensor) -> Tensor:
        base = degenerate(images)
        factor = (1 + 0.9 * m).view(-1, 1, 1, 1)
        return (base + factor * (images - base)).clamp(0, 1)

    return apply


def _smoothed(images: Tensor) -> Tensor:
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13
    kernel = kernel.to(images.device, images.dtype).expand(images.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=images.shape[1])


def _posterize(images: Tensor, m: Tensor) -> Tensor:
    step = (2 ** (4 * m.abs()).round()).view(-1, 1, 1, 1)  # keep 8 down to 4 bits
    return torch.floor(images * 255 / step) * step / 255


def _solarize(images: Tensor, m: Tensor) -> Tensor:
    threshold = (1 - m.abs()).view(-1, 1, 1, 1)
    return torch.where(images >= threshold, 1 - images, images)


def _autocontrast(images: Tensor, m: Tensor) -> Tensor:
    low = images.amin(dim=(2, 3), keepdim=True)
    high = images.amax(dim=(2, 3), keepdim=True)
    spread = high - low
    return torch.where(spread > 0, (images - low) / spread.clamp_min(1e-6), images)


def _equalize(images: Tensor, m: Tensor) -> Tensor:
    """Histogram equalisation of each channel (256 levels)."""
    n, c, h, w = images.shape
    levels = (images * 255).round().long().clamp(0, 255).view(n * c, h * w)
    counts = torch.zeros(n * c, 256, device=images.device)
    counts.scatter_add_(1, levels, torch.ones_like(levels, dtype=counts.dtype))
    cdf = counts.cumsum(dim=1)
    first = torch.where(counts > 0, cdf, torch.full_like(cdf, h * w)).amin(dim=1, keepdim=True)
    table = ((cdf - first) / (h * w - first).clamp_min(1)).clamp(0, 1)
    return table.gather(1, levels).view(n, c, h, w).to(images.dtype)


OPERATIONS: dict[str, Operation | None] = {
    "identity": None,
    "shear_x": _geometric("shear_x"),
    "shear_y": _geometric("shear_y"),
    "translate_x": _geometric("translate_x"),
    "translate_y": _geometric("translate_y"),
    "rotate": _geometric("rotate"),
    "brightness": _enhance(torch.zeros_like),
    "color": _enhance(lambda images: _grey(images).expand_as(images)),
    "contrast": _enhance(lambda images: _grey(images).mean(dim=(1, 2, 3), keepdim=True)),
    "sharpness": _enhance(_smoothed),
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
}


def trivial_augment(images: Tensor, generator: torch.Generator, strength: float) -> Tensor:
    """Float images ``(N, C, H, W)`` in [0, 1] -> each with one of ``OPERATIONS`` (uniformly
    chosen) at a magnitude drawn uniformly from [0, ``strength``] with a random sign
    (``strength`` 1 = RandAugment's full ranges; 0 = unchanged)."""
    if strength <= 0:
        return images
    n, device = images.shape[0], images.device
    choice = torch.randint(0, len(OPERATIONS), (n,), generator=generator)
    magnitude = torch.rand(n, generator=generator) * strength
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    signed = (magnitude * sign).to(device, images.dtype)
    result = images.clone()
    for index, operation in enumerate(OPERATIONS.values()):
        chosen = (choice == index).nonzero().flatten().to(device)
        if operation is not None and len(chosen) > 0:
            result[chosen] = operation(images[chosen], signed[chosen]).clamp(0, 1)
    return result
