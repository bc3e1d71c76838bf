"""MAE-AST masked autoencoder for spectrogram-shaped inputs, and the SSAST-style joint baseline.

Input ``x: [N, 1, n_mels, T]``. Tokens are either 16x16 ``patch``es (row-major over the
``(n_mels/16, T/16)`` grid) or ``frame``s of all mel bins x 2 frames (MAE-AST). Each token is its
raw values (256 for both defaults), projected linearly. Fixed 1-D sinusoidal positions are added
at the encoder and decoder inputs (MAE-AST), computed for whatever length arrives, so a model
pre-trained on 1024 frames fine-tunes on 100- or 500-frame clips.

* ``joint=False`` (MAE-AST): the deep encoder sees only the visible tokens; a shallow decoder gets
  the encoder outputs plus a learned mask token at every removed position.
* ``joint=True`` (SSAST): mask tokens replace the removed tokens at the input and the whole
  sequence runs through the encoder; the heads sit on the encoder outputs (no decoder).

Both share :meth:`MaskedAutoencoder.forward_loss`: ``mse_weight x MSE`` on masked tokens plus
``infonce_weight x InfoNCE`` (each masked token's prediction must pick its own target among the
clip's masked targets), MAE-AST's 10 : 1 by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from workbench.config import Config, setting
from workbench.models.masking import MASKINGS, chunk_mask, num_masked, random_mask

TOKENS = ("patch", "frame")
POOLS = ("mean", "cls", "stats", "none")  # forward_features' poolings


@dataclass
class MAEConfig(Config):
    """Hyper-parameters of :class:`MaskedAutoencoder` (see module docstring)."""

    n_mels: int = setting(128, min=1)  # input height (mel bins)
    frames: int = setting(1024, min=1)  # default input width; any multiple of the token width is accepted
    tokens: str = setting("patch", choices=TOKENS)  # "patch" (patch_size x patch_size) | "frame" (n_mels x frame_width)
    patch_size: int = setting(16, min=1)
    frame_width: int = setting(2, min=1)
    masking: str = setting("random", choices=MASKINGS)  # "random" | "chunk"
    mask_ratio: float = setting(0.75, min=0.0, below=1.0)  # fraction of tokens removed
    chunk_sizes: tuple[int, ...] = (3, 4, 5)  # chunk sides for masking="chunk"
    chunk_per_batch: bool = False  # one chunk mask for the whole batch (MAE-AST's speed trick)
    enc_dim: int = setting(768, min=1)
    enc_depth: int = setting(12, min=1)
    enc_heads: int = setting(12, min=1)
    dec_dim: int = setting(768, min=1)
    dec_depth: int = setting(2, min=0)
    dec_heads: int = setting(12, min=1)
    mlp_ratio: float = setting(4.0, above=0.0)
    joint: bool = False  # SSAST-style: mask tokens through the whole encoder, no decoder
    norm_pix_loss: bool = False  # per-token normalised reconstruction target (He et al.)
    mse_weight: float = setting(10.0, min=0.0)
    infonce_weight: float = setting(1.0, min=0.0)
    use_cls: bool = False  # prepend a learned CLS token (for pool="cls" downstream)
    grad_checkpointing: bool = False  # recompute encoder and decoder blocks in backward to save memory

    def check(self) -> dict[str, str]:
        problems = {}
        if self.enc_dim % self.enc_heads:
            problems["enc_dim"] = f"not divisible by enc_heads={self.enc_heads}"
        if self.dec_dim % self.dec_heads:
            problems["dec_dim"] = f"not divisible by dec_heads={self.dec_heads}"
        if self.tokens == "patch" and self.n_mels % self.patch_size:
            problems["n_mels"] = f"not a multiple of patch_size={self.patch_size}"
        if self.frames % self.token_width:
            problems["frames"] = f"not a multiple of the token width {self.token_width}"
        return problems

    @property
    def token_width(self) -> int:
        return self.patch_size if self.tokens == "patch" else self.frame_width

    @property
    def token_dim(self) -> int:
        """Raw values per token."""
        return self.patch_size ** 2 if self.tokens == "patch" else self.n_mels * self.frame_width

    def grid(self, frames: int) -> tuple[int, int]:
        """Token grid ``(rows, cols)`` for an input of ``frames`` columns."""
        if self.tokens == "patch":
            return self.n_mels // self.patch_size, frames // self.patch_size
        return 1, frames // self.frame_width


class MAEOutput(NamedTuple):
    loss: torch.Tensor  # scalar: mse_weight * mse + infonce_weight * infonce
    pred: torch.Tensor  # [N, L, token_dim] predictions at removed tokens, the target at visible ones
    mask: torch.Tensor  # [N, L] bool, True = removed
    target: torch.Tensor  # [N, L, token_dim] the (possibly per-token normalised) target
    mse: torch.Tensor  # scalar, MSE over masked tokens
    infonce: torch.Tensor  # scalar, InfoNCE over masked tokens (0 when its weight is 0)


def sincos_1d(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sinusoidal positions ``[length, dim]`` (Vaswani et al.; MAE-AST adds them 1-D)."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=device) / max(half, 1))
    ang = pos * freq[None]
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0:2 * half:2] = torch.sin(ang)
    pe[:, 1:2 * half:2] = torch.cos(ang)
    return pe


def mask_indices(mask: torch.Tensor, n_masked: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the visible and of the removed tokens, each ascending: ``([N, L - k], [N, k])``.

    Every row must remove the same number ``k`` of tokens (the masking functions guarantee it), so
    both index sets are dense. Pass ``n_masked`` when it is known (a mask the model drew itself):
    then nothing waits on the device, and the shapes are static for ``torch.compile``. Without it
    the count is read from the mask and checked.
    """
    n, length = mask.shape
    if n_masked is None:
        counts = mask.sum(dim=1)
        n_masked = int(counts[0]) if n else 0
        if n and not bool((counts == n_masked).all()):
            raise ValueError("every sample must mask the same number of tokens (so the visible tokens form a "
                             f"dense batch); got per-sample counts {counts.tolist()}")
    # A stable sort of 0 (visible) / 1 (removed) lists visible positions first, each group ascending.
    order = torch.sort(mask.to(torch.uint8), dim=1, stable=True).indices
    return order[:, :length - n_masked], order[:, length - n_masked:]


def _gather_tokens(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``h[b, idx[b, i]]`` for ``h: [N, L, D]``, ``idx: [N, K]`` -> ``[N, K, D]``."""
    return torch.gather(h, 1, idx[..., None].expand(-1, -1, h.shape[-1]))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention over ``x: [B, T, D]``; with ``queries: [B, Tq, D]`` (rows of the same
        normalised input) only those positions attend, to every key of ``x``: ``[B, Tq, D]``."""
        b, t, d = x.shape
        hs = d // self.heads
        if queries is None:
            qkv = self.qkv(x).view(b, t, 3, self.heads, hs).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)  # (B, nh, T, hs)
        else:  # the q rows of the fused projection on the queries, the k and v rows on everything
            w, bias = self.qkv.weight, self.qkv.bias
            k, v = F.linear(x, w[d:], bias[d:]).view(b, t, 2, self.heads, hs).permute(2, 0, 3, 1, 4).unbind(0)
            q = F.linear(queries, w[:d], bias[:d]).view(b, queries.shape[1], self.heads, hs).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, q.shape[2], d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``x: [N, T, D]`` -> ``[N, T, D]``, or only the positions ``rows: [N, k]`` -> ``[N, k, D]``.

        Every output position depends on the others only through attention's keys and values, so
        computing just ``rows`` gives exactly those rows of the full output at a fraction of the
        cost (the pre-training loss reads only the removed tokens of the last block).
        """
        h = self.norm1(x)
        if rows is None:
            x = x + self.attn(h)
        else:
            x = _gather_tokens(x, rows) + self.attn(h, _gather_tokens(h, rows))
        return x + self.mlp(self.norm2(x))


class MaskedAutoencoder(nn.Module):
    """MAE-AST (``joint=False``) or SSAST-style joint model (``joint=True``); see module docstring."""

    def __init__(self, cfg: MAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.token_dim, cfg.enc_dim)
        self.mask_token_enc = nn.Parameter(torch.zeros(cfg.enc_dim)) if cfg.joint else None
        self.cls_token = nn.Parameter(torch.zeros(cfg.enc_dim)) if cfg.use_cls else None
        self.blocks = nn.ModuleList(Block(cfg.enc_dim, cfg.enc_heads, cfg.mlp_ratio) for _ in range(cfg.enc_depth))
        self.norm = nn.LayerNorm(cfg.enc_dim)
        head_dim = cfg.enc_dim
        if not cfg.joint:
            self.decoder_embed = nn.Linear(cfg.enc_dim, cfg.dec_dim)
            self.mask_token = nn.Parameter(torch.zeros(cfg.dec_dim))
            self.decoder_blocks = nn.ModuleList(
                Block(cfg.dec_dim, cfg.dec_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth))
            self.decoder_norm = nn.LayerNorm(cfg.dec_dim)
            head_dim = cfg.dec_dim
        self.head_recon = nn.Linear(head_dim, cfg.token_dim)  # MSE head
        self.head_infonce = nn.Linear(head_dim, cfg.token_dim)  # InfoNCE head
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for p in (self.mask_token_enc, self.cls_token, getattr(self, "mask_token", None)):
            if p is not None:
                nn.init.normal_(p, std=0.02)

    # ---- tokens --------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        c = self.cfg
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != c.n_mels:
            raise ValueError(f"expected input [N, 1, {c.n_mels}, T], got shape {tuple(x.shape)}")
        if x.shape[3] % c.token_width or x.shape[3] == 0:
            raise ValueError(f"input has T={x.shape[3]} frames, not a positive multiple of the token "
                             f"width {c.token_width} ({c.tokens} tokens)")

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, F, T]`` -> ``[N, L, token_dim]`` (patch: row-major grid; frame: along time)."""
        self._check_input(x)
        n, _, f, t = x.shape
        c = self.cfg
        if c.tokens == "patch":
            p = c.patch_size
            x = x.reshape(n, f // p, p, t // p, p).permute(0, 1, 3, 2, 4)
            return x.reshape(n, (f // p) * (t // p), p * p)
        w = c.frame_width
        x = x.reshape(n, f, t // w, w).permute(0, 2, 1, 3)
        return x.reshape(n, t // w, f * w)

    def unpatchify(self, tokens: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Inverse of :meth:`patchify`: ``[N, L, token_dim]`` -> ``[N, 1, F, T]``."""
        c = self.cfg
        n, length, _ = tokens.shape
        frames = frames or length * c.token_width // (c.n_mels // c.patch_size if c.tokens == "patch" else 1)
        f = c.n_mels
        if c.tokens == "patch":
            p = c.patch_size
            x = tokens.reshape(n, f // p, frames // p, p, p).permute(0, 1, 3, 2, 4)
            return x.reshape(n, 1, f, frames)
        w = c.frame_width
        x = tokens.reshape(n, frames // w, f, w).permute(0, 2, 1, 3)
        return x.reshape(n, 1, f, frames)

    def make_mask(self, n: int, frames: int, *, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu", mask_ratio: float | None = None,
                  masking: str | None = None) -> torch.Tensor:
        """``[n, L]`` bool mask (True = removed) using the config's or the given ratio/strategy."""
        c = self.cfg
        ratio = c.mask_ratio if mask_ratio is None else mask_ratio
        masking = masking or c.masking
        rows, cols = c.grid(frames)
        if masking == "random":
            return random_mask(n, rows * cols, ratio, generator=generator, device=device)
        if masking == "chunk":
            return chunk_mask(n, (rows, cols), ratio, sizes=c.chunk_sizes, generator=generator,
                              device=device, per_batch=c.chunk_per_batch)
        raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")

    # ---- encoder / decoder ---------------------------------------------------------------------
    def _run_blocks(self, blocks: nn.ModuleList, x: torch.Tensor, checkpointed: bool,
                    rows: torch.Tensor | None = None) -> torch.Tensor:
        """Run ``blocks`` on ``x: [N, T, D]``. With ``rows: [N, k]`` the last block computes only
        those positions (see :meth:`Block.forward`) and ``[N, k, D]`` comes back."""
        if rows is not None and not len(blocks):
            return _gather_tokens(x, rows)
        for i, blk in enumerate(blocks):
            r = rows if i == len(blocks) - 1 else None
            if checkpointed and self.training and x.requires_grad:
                x = checkpoint(blk, x, r, use_reentrant=False)
            else:
                x = blk(x, r)
        return x

    def _encode(self, x: torch.Tensor, mask: torch.Tensor | None, visible: torch.Tensor | None,
                rows: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder trunk. MAE (``visible: [N, L_v]`` given): only those tokens are embedded and
        encoded. Joint: every token, removed ones replaced by the mask token. ``rows`` (token
        positions, CLS not counted) restricts the last block's output to those positions."""
        tokens = self.patchify(x)
        n, length, _ = tokens.shape
        pos = sincos_1d(length, self.cfg.enc_dim, x.device)
        if visible is not None:  # MAE-AST: the removed tokens are never embedded
            h = self.patch_embed(_gather_tokens(tokens, visible))
            h = h + pos[visible].to(h.dtype)
        else:
            h = self.patch_embed(tokens)
            if mask is not None and self.cfg.joint:
                h = torch.where(mask[..., None], self.mask_token_enc.to(h.dtype).expand_as(h), h)
            h = h + pos.to(h.dtype)
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.to(h.dtype).expand(n, 1, -1), h], dim=1)
            rows = None if rows is None else rows + 1
        h = self._run_blocks(self.blocks, h, self.cfg.grad_checkpointing, rows)
        return self.norm(h)

    def _decode(self, latent: torch.Tensor, visible: torch.Tensor, length: int,
                rows: torch.Tensor | None = None) -> torch.Tensor:
        """MAE-AST decoder trunk: encoder outputs at ``visible``, the mask token everywhere else,
        positions added, blocks, norm. ``[N, L, dec_dim]``, or ``[N, k, dec_dim]`` at ``rows``."""
        if self.cls_token is not None:
            latent = latent[:, 1:]
        v = self.decoder_embed(latent)
        full = self.mask_token.to(v.dtype).expand(v.shape[0], length, -1)
        full = full.scatter(1, visible[..., None].expand(-1, -1, v.shape[-1]), v)
        h = full + sincos_1d(length, self.cfg.dec_dim, v.device).to(v.dtype)
        return self.decoder_norm(self._run_blocks(self.decoder_blocks, h, self.cfg.grad_checkpointing, rows))

    def forward_encoder(self, x: torch.Tensor, mask: torch.Tensor | None, *,
                        n_masked: int | None = None) -> torch.Tensor:
        """Encode. ``mask: [N, L]`` True = removed, or None for all tokens.

        MAE: returns ``[N, L_visible, enc_dim]`` for the visible tokens in their original order.
        Joint: returns ``[N, L, enc_dim]`` with mask tokens in the removed places.
        A CLS token, if configured, is prepended (one extra position). ``n_masked``: see
        :func:`mask_indices`.
        """
        visible = mask_indices(mask, n_masked)[0] if mask is not None and not self.cfg.joint else None
        return self._encode(x, mask, visible)

    def forward_decoder(self, latent: torch.Tensor, mask: torch.Tensor, *,
                        n_masked: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Heads on all ``L`` positions: ``(recon [N, L, token_dim], infonce [N, L, token_dim])``, the
        MSE head's reconstruction and the InfoNCE head's prediction.

        For inspection and teaching: :meth:`forward` skips the positions the loss never reads."""
        if self.cfg.joint:
            h = latent[:, 1:] if self.cls_token is not None else latent
        else:
            h = self._decode(latent, mask_indices(mask, n_masked)[0], mask.shape[1])
        return self.head_recon(h), self.head_infonce(h)

    def target_tokens(self, x: torch.Tensor) -> torch.Tensor:
        target = self.patchify(x)
        if self.cfg.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def _masked_loss(self, target: torch.Tensor, recon: torch.Tensor, infonce_pred: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, mse, infonce)`` from the removed tokens only: each ``[N, k, token_dim]``."""
        target, recon = target.float(), recon.float()
        zero = torch.zeros((), device=target.device)
        k = target.shape[1]
        mse = ((recon - target) ** 2).mean() if k else zero
        infonce = zero
        if self.cfg.infonce_weight > 0 and k:
            # Each removed token's prediction must pick its own target among the clip's removed targets.
            logits = torch.bmm(infonce_pred.float(), target.transpose(1, 2))  # [N, k, k]
            labels = torch.arange(k, device=logits.device).expand(logits.shape[0], -1)
            infonce = F.cross_entropy(logits.reshape(-1, k), labels.reshape(-1))
        loss = self.cfg.mse_weight * mse + self.cfg.infonce_weight * infonce
        return loss, mse, infonce

    def forward_loss(self, target: torch.Tensor, recon: torch.Tensor, infonce_pred: torch.Tensor,
                     mask: torch.Tensor, *, n_masked: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, mse, infonce)`` over masked tokens; ``target/recon/infonce_pred: [N, L, D]``, ``mask: [N, L]``."""
        removed = mask_indices(mask, n_masked)[1]  # every sample removes the same number of tokens
        return self._masked_loss(*(_gather_tokens(t, removed) for t in (target, recon, infonce_pred)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> MAEOutput:
        """Mask (unless ``mask`` is given), encode, decode, score. ``x: [N, 1, n_mels, T]``.

        Only what the loss reads is computed: the MAE embeds and encodes the visible tokens, and
        the last block (decoder, or the joint model's encoder), its norm and the heads run only at
        the removed positions. The loss equals ``forward_loss`` on :meth:`forward_decoder`'s
        all-position outputs (tested); ``pred`` holds the predictions at the removed tokens and
        the target at the visible ones.
        """
        self._check_input(x)
        k = None  # removed tokens per sample, known without reading the mask when we draw it
        if mask is None:
            mask = self.make_mask(x.shape[0], x.shape[-1], generator=generator, device=x.device)
            rows, cols = self.cfg.grid(x.shape[-1])
            k = num_masked(rows * cols, self.cfg.mask_ratio)
        visible, removed = mask_indices(mask, k)
        if self.cfg.joint:
            h = self._encode(x, mask, None, removed)
        else:
            h = self._decode(self._encode(x, mask, visible), visible, mask.shape[1], removed)
        recon = self.head_recon(h)
        infonce_pred = self.head_infonce(h) if self.cfg.infonce_weight > 0 else None
        target = self.target_tokens(x)
        loss, mse, infonce = self._masked_loss(_gather_tokens(target, removed), recon, infonce_pred)
        pred = target.to(recon.dtype).scatter(1, removed[..., None].expand_as(recon), recon.detach())
        return MAEOutput(loss, pred, mask, target, mse, infonce)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, out: MAEOutput) -> torch.Tensor:
        """Reconstruction as an image ``[N, 1, F, T]``: visible tokens from the input, masked ones
        from the prediction (mapped back through each token's own mean/std when norm_pix_loss)."""
        pred = out.pred.float()
        if self.cfg.norm_pix_loss:
            raw = self.patchify(x).float()
            pred = pred * (raw.var(dim=-1, keepdim=True) + 1e-6).sqrt() + raw.mean(dim=-1, keepdim=True)
        tokens = torch.where(out.mask[..., None], pred, self.patchify(x).float())
        return self.unpatchify(tokens, x.shape[-1])

    def forward_features(self, x: torch.Tensor, pool: str = "mean") -> torch.Tensor:
        """Encoder-only path for downstream use, no masking.

        ``pool="mean"``: ``[N, enc_dim]`` mean over tokens; ``"cls"``: the CLS output (needs
        ``use_cls=True``); ``"stats"``: the mean and the standard deviation over time of each
        row of tokens, ``[N, rows * 2 * enc_dim]`` (8 rows of 16x16 patches, 1 row of frames):
        the frequency layout survives, where a mean over all patches would blend it; ``"none"``:
        all token outputs ``[N, L(+1), enc_dim]``.
        """
        h = self.forward_encoder(x, None)
        if pool == "none":
            return h
        if pool == "cls":
            if self.cls_token is None:
                raise ValueError("pool='cls' needs a model built with use_cls=True")
            return h[:, 0]
        tokens = h[:, 1:] if self.cls_token is not None else h
        if pool == "mean":
            return tokens.mean(dim=1)
        if pool == "stats":
            rows, cols = self.cfg.grid(x.shape[-1])
            grid = tokens.reshape(tokens.shape[0], rows, cols, -1)
            std = grid.std(dim=2) if cols > 1 else torch.zeros_like(grid[:, :, 0])
            return torch.cat([grid.mean(dim=2), std], dim=-1).flatten(1)
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")

    def feature_dim(self, pool: str = "mean") -> int:
        """Width of :meth:`forward_features`' output for ``pool`` (not ``"none"``)."""
        if pool == "stats":
            return self.cfg.grid(self.cfg.frames)[0] * 2 * self.cfg.enc_dim
        return self.cfg.enc_dim

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters a downstream classifier needs (embedding, encoder blocks, final norm)."""
        prefixes = ("patch_embed.", "blocks.", "norm.", "cls_token")
        return {k: v for k, v in self.state_dict().items() if k.startswith(prefixes)}
