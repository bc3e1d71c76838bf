"""For comparison only: the structure of the public MAE reference implementation (He et al.),
re-written here so the benchmark can time it at the same config as ``workbench.models``.

What makes it the "reference": explicit ``q @ k^T`` softmax attention (no fused SDPA kernel),
fp32, MAE's argsort-of-noise random masking with ``gather``, a learned-free 1-D sinusoidal
position table, and a separate decoder; MSE on masked patches only. Not used by the workbench.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workbench.models.mae import sincos_1d


class RefAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class RefBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), RefAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ReferenceMAE(nn.Module):
    """``x: [N, 1, 128, T]``, 16x16 patches, random masking, MSE on masked patches."""

    def __init__(self, *, enc_dim: int, enc_depth: int, enc_heads: int, dec_dim: int, dec_depth: int,
                 dec_heads: int, patch: int = 16, mask_ratio: float = 0.75) -> None:
        super().__init__()
        self.patch, self.mask_ratio = patch, mask_ratio
        self.patch_embed = nn.Linear(patch * patch, enc_dim)
        self.blocks = nn.ModuleList(RefBlock(enc_dim, enc_heads) for _ in range(enc_depth))
        self.norm = nn.LayerNorm(enc_dim)
        self.decoder_embed = nn.Linear(enc_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.decoder_blocks = nn.ModuleList(RefBlock(dec_dim, dec_heads) for _ in range(dec_depth))
        self.decoder_norm = nn.LayerNorm(dec_dim)
        self.decoder_pred = nn.Linear(dec_dim, patch * patch)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        p = self.patch
        x = x.reshape(n, h // p, p, w // p, p).permute(0, 1, 3, 2, 4)
        return x.reshape(n, (h // p) * (w // p), p * p)

    def random_masking(self, x: torch.Tensor):
        n, length, d = x.shape
        keep = int(length * (1 - self.mask_ratio))
        noise = torch.rand(n, length, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        return x_masked, torch.gather(mask, 1, ids_restore), ids_restore

    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        target = self.patchify(imgs)
        x = self.patch_embed(target)
        length = x.shape[1]
        x = x + sincos_1d(length, x.shape[-1], x.device)
        x, mask, ids_restore = self.random_masking(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] - x.shape[1], 1)
        x = torch.cat([x, mask_tokens], dim=1)
        x = torch.gather(x, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = x + sincos_1d(length, x.shape[-1], x.device)
        for blk in self.decoder_blocks:
            x = blk(x)
        pred = self.decoder_pred(self.decoder_norm(x))
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()
