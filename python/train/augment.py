"""Training-time augmentation on batches of tensors (no torchvision): crop, flip, cutout.

Random crops of the reflection-padded image, horizontal flips and cutout (a zeroed square)
are the standard trio for small CIFAR models; they run on whole batches, on whatever device the
batch is on, and draw every random number from the caller's generator so that a run is
reproducible.
"""

from __future__ import annotations

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
