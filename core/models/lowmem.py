"""Less memory for the VAE decode on the CPU, with the same pixels.

The full decoder's peak is its first 512x512 convolution: a 256-channel input of 268 MB, its output of as much,
and oneDNN's copies of both in its blocked layout, about 1 GB in all. A 3x3 convolution with stride 1 computes
each output row from three input rows (a 1x1 from one), so it can run in bands of rows (each band read with its
row of halo on either side) into one output tensor, and only a band is ever copied into the blocked layout. At the
decoder's widths (128 to 512 channels) oneDNN then gives every value bit for bit what the whole convolution gives:
the full-size decoder's 512x512 decode was compared exactly on this project's CPU (docs/performance.md, "Memory");
for a narrow layer it may pick another kernel for a band, and the last bits can differ. The decoder's SiLUs each
follow a GroupNorm whose output they alone read, so they may overwrite it (``inplace``): the same values, one 268
MB tensor fewer at the 512x512 blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import types

BAND_ROWS = 32  # rows of output per band: as fast as the whole convolution here (28 ms per 256-channel band)
MIN_PIXELS = 256 * 256  # smaller inputs run whole: their copies are small and banding would only add calls


def lean_decoder(decoder, *, rows: int = BAND_ROWS, min_pixels: int = MIN_PIXELS) -> int:
    """Make ``decoder`` (an ``AutoencoderKL``'s decoder) use less memory with the same output: its 3x3 and 1x1
    convolutions run in bands of ``rows`` output rows where the input has at least ``min_pixels`` pixels, and
    its SiLUs work in place. Returns how many convolutions were changed."""
    import torch  # torch loads on first use: pages import core without it

    changed = 0
    for module in decoder.modules():
        if isinstance(module, torch.nn.SiLU):
            module.inplace = True
        elif _bandable(module):
            module.forward = types.MethodType(banded_forward(rows, min_pixels), module)
            changed += 1
    return changed


def _bandable(module) -> bool:
    import torch  # torch loads on first use: pages import core without it

    return (isinstance(module, torch.nn.Conv2d) and module.kernel_size in ((3, 3), (1, 1))
            and module.padding == (module.kernel_size[0] // 2,) * 2 and module.stride == (1, 1)
            and module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == "zeros")


def banded_forward(rows: int, min_pixels: int):
    import torch  # torch loads on first use: pages import core without it
    import torch.nn.functional as F  # torch loads on first use: pages import core without it

    def forward(self, x):
        height, width = x.shape[-2:]
        halo = self.padding[0]  # 1 for a 3x3 kernel, 0 for 1x1
        if x.dim() != 4 or height * width < min_pixels or height <= rows:
            return F.conv2d(x, self.weight, self.bias, padding=halo)
        out = torch.empty((x.shape[0], self.out_channels, height, width), dtype=x.dtype, device=x.device)
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            band = x[:, :, max(0, top - halo):min(height, bottom + halo)]  # the band and its halo rows
            if halo:
                band = F.pad(band, (0, 0, halo * (top == 0), halo * (bottom == height)))  # zeros past the edge
            out[:, :, top:bottom] = F.conv2d(band, self.weight, self.bias, padding=(0, halo))
        return out

    return forward


def release_free_memory() -> bool:
    """Hand memory the C allocator holds free back to the system (glibc's ``malloc_trim``): freed activations of
    a few MB each stay in the allocator's heap otherwise, counted in the process's resident memory, while the
    next stage maps fresh memory for its own. Returns False where the C library has no ``malloc_trim``."""
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if not _trim:
        return False
    _trim(0)
    return True


_trim = None
