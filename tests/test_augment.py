"""SpecAugment and mixup: seeded, and doing only what they say."""

import numpy as np
import torch

from workbench.audio.augment import mixup, spec_augment


def test_spec_augment_is_seeded_and_masks_whole_bands():
    x = torch.randn(4, 1, 128, 64) + 5.0  # no value is 0 before masking
    a = spec_augment(x, freq_mask=20, time_mask=10, generator=torch.Generator().manual_seed(0))
    b = spec_augment(x, freq_mask=20, time_mask=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and not torch.equal(a, x)
    for i in range(4):
        zero = a[i, 0] == 0
        rows, cols = zero.all(dim=1), zero.all(dim=0)
        assert rows.sum() <= 20 and cols.sum() <= 10
        assert torch.equal(zero, rows[:, None] | cols[None, :])  # only whole rows and columns


def test_mixup_mixes_inputs_and_targets_with_one_weight():
    x = torch.arange(4.0)[:, None].expand(4, 3).clone()
    y = torch.eye(4)
    mx, my = mixup(x, y, alpha=0.4, rng=np.random.default_rng(1), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(my.sum(1), torch.ones(4))
    # each mixed row is lam * row i + (1 - lam) * row perm(i), the same lam for x and y
    lam_y = my.max(1).values
    assert torch.allclose(mx[:, 0], (my * torch.arange(4.0)).sum(1)) and (lam_y >= 0.5).all()
