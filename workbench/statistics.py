"""Small-sample statistics for comparing pre-training sources over a few seeds.

* :func:`bootstrap_ci`: a percentile bootstrap interval of the mean, *expanded* for small samples
  (Hesterberg 2015): the percentiles are widened so that the interval has the width a t interval
  would have, because the plain percentile bootstrap of 3 to 5 values covers far less often than
  it claims (about 70% instead of 95% for 3 normal values; tested).
* :func:`mean_ci`: the interval the study reports: the expanded bootstrap from
  :data:`MIN_BOOTSTRAP` values on, a Student t interval below (no bootstrap interval of 3 values
  can cover more than 75%, because it never leaves their range; the t interval is exact for
  normal values and matches the t-test's call).
* :func:`paired_difference`: per-seed differences to a baseline on the seeds both share, their
  mean, :func:`mean_ci` and a two-sided paired t-test.
* :func:`compare_to_baseline`: every source of an evaluation against scratch (or the floor) at
  once, with the noise estimated from all of them: the additive model ``value = source + seed +
  noise`` (two-way ANOVA without replication) gives one residual variance with ``(k - 1)(n - 1)``
  degrees of freedom for k groups and n seeds, where a paired t-test per source has only n - 1.
  With 3 seeds that is the difference between detecting a 10-point source and missing it (tested).
  The differences themselves are still paired by seed.
* :func:`benjamini_hochberg`: p-values adjusted for the false discovery rate across a family of
  tests (the datasets of one task and protocol; the properties of one table).
* :func:`kendalls_w`: agreement of the rankings of the datasets across seeds.
* :func:`correlation`: Pearson or Spearman r with a bootstrap interval over the points and a
  two-sided permutation p-value.

Every random draw goes through a seeded ``numpy.random.Generator``: the same table gives the
same intervals and p-values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

N_BOOT = 10_000  # bootstrap resamples
MIN_BOOTSTRAP = 5  # fewer values get a Student t interval (see mean_ci)
N_PERM = 10_000  # permutations
ALPHA = 0.05


def bootstrap_ci(values, *, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0,
                 expanded: bool = True) -> tuple[float, float]:
    """``(low, high)``: a bootstrap interval of the mean of ``values`` (NaN for fewer than two).

    ``expanded``: Hesterberg's small-sample correction, the percentile interval at level
    ``1 - 2 Phi(-sqrt(n / (n - 1)) t_{n-1, (1 + level) / 2})`` instead of ``level``, which gives
    it the reach of a t interval; with 3 values it spans nearly their whole bootstrap range."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    if expanded:
        tail = float(stats.norm.cdf(-np.sqrt(n / (n - 1)) * stats.t.ppf(1 - tail, n - 1)))
    means = np.random.default_rng(seed).choice(x, size=(n_boot, n), replace=True).mean(axis=1)
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def t_interval(values, *, level: float = 0.95) -> tuple[float, float]:
    """``(low, high)``: the Student t interval of the mean (NaN for fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def mean_ci(values, *, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, str]:
    """``(low, high, method)``: :func:`bootstrap_ci` (expanded) for :data:`MIN_BOOTSTRAP` values or
    more, else :func:`t_interval`; ``method`` is ``"bootstrap"`` or ``"t"``."""
    n = int(np.isfinite(np.asarray(values, dtype=float)).sum())
    if n >= MIN_BOOTSTRAP:
        return (*bootstrap_ci(values, level=level, n_boot=n_boot, seed=seed), "bootstrap")
    return (*t_interval(values, level=level), "t")


@dataclass(frozen=True)
class PairedDifference:
    """A source minus its baseline over the seeds both have."""

    n: int  # shared seeds
    mean: float
    ci_low: float
    ci_high: float
    p: float  # two-sided paired t-test (NaN for fewer than two seeds or no variation)
    ci_method: str = "t"  # how the interval was made (see mean_ci)


def paired_difference(values: dict, baseline: dict, *, level: float = 0.95, seed: int = 0) -> PairedDifference:
    """``values`` and ``baseline``: ``{seed: score}``. Differences on the shared seeds, their mean,
    :func:`mean_ci` and the p-value of a two-sided paired t-test (the differences' mean is 0
    under the null)."""
    shared = sorted(set(values) & set(baseline))
    d = np.array([values[s] - baseline[s] for s in shared], dtype=float)
    if len(d) == 0:
        return PairedDifference(0, float("nan"), float("nan"), float("nan"), float("nan"))
    low, high, method = mean_ci(d, level=level, seed=seed)
    p = float("nan")
    if len(d) >= 2 and np.std(d) > 0:
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
    elif len(d) >= 2:  # every seed moved by exactly the same amount
        p = 1.0 if d[0] == 0 else 0.0
    return PairedDifference(len(d), float(d.mean()), low, high, p, method)


def compare_to_baseline(sources: dict, baseline: dict, *, level: float = 0.95) -> dict:
    """``{name: PairedDifference}`` of each source in ``sources`` (``{name: {seed: score}}``) minus
    ``baseline`` (``{seed: score}``). Sources that have every baseline seed share the pooled
    residual variance of the additive model (see the module docstring; ``ci_method`` "pooled t");
    with fewer than two such sources, fewer than two seeds, or for a source that lacks a seed,
    it is :func:`paired_difference`."""
    seeds = sorted(baseline)
    full = [name for name, v in sources.items() if set(seeds) <= set(v)]
    out = {name: paired_difference(v, baseline, level=level) for name, v in sources.items() if name not in full}
    if len(full) < 2 or len(seeds) < 2:
        out.update({name: paired_difference(sources[name], baseline, level=level) for name in full})
        return {name: out[name] for name in sources}
    y = np.array([[baseline[s] for s in seeds]] + [[sources[name][s] for s in seeds] for name in full], dtype=float)
    k, n = y.shape
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    df = (k - 1) * (n - 1)
    se = float(np.sqrt(2 * (resid ** 2).sum() / df / n))
    q = float(stats.t.ppf((1 + level) / 2, df))
    for row, name in enumerate(full, start=1):
        diff = float(y[row].mean() - y[0].mean())
        if se > 0:
            p = float(2 * stats.t.sf(abs(diff) / se, df))
        else:  # no noise at all: any difference is certain
            p = 1.0 if diff == 0 else 0.0
        out[name] = PairedDifference(n, diff, diff - q * se, diff + q * se, p, "pooled t")
    return {name: out[name] for name in sources}


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (the false discovery rate of calling each one
    significant); NaNs stay NaN and are not counted in the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    values = np.empty(m)
    values[order] = adjusted
    out[ok] = values
    return out


def kendalls_w(scores) -> float:
    """Kendall's coefficient of concordance of ``scores [raters, items]`` (here seeds x datasets):
    1 when every seed ranks the datasets alike, near 0 when the rankings are unrelated. Ties get
    average ranks (with the usual tie correction)."""
    x = np.asarray(scores, dtype=float)
    m, n = x.shape
    if m < 2 or n < 2:
        return float("nan")
    ranks = np.apply_along_axis(stats.rankdata, 1, x)
    totals = ranks.sum(axis=0)
    s = float(((totals - totals.mean()) ** 2).sum())
    ties = sum(float((c ** 3 - c).sum()) for c in (np.unique(r, return_counts=True)[1] for r in ranks))
    denominator = m ** 2 * (n ** 3 - n) - m * ties
    return 12 * s / denominator if denominator > 0 else float("nan")


def mean_spearman(w: float, raters: int) -> float:
    """The mean Spearman correlation between pairs of raters implied by Kendall's ``w``."""
    return (raters * w - 1) / (raters - 1) if raters > 1 else float("nan")


@dataclass(frozen=True)
class Correlation:
    r: float
    ci_low: float
    ci_high: float
    p: float  # two-sided permutation p-value
    n: int


def correlation(x, y, *, method: str = "pearson", level: float = 0.95, n_boot: int = N_BOOT,
                n_perm: int = N_PERM, seed: int = 0) -> Correlation:
    """Pearson or Spearman ``r`` of paired points, a percentile bootstrap interval over the
    points, and the two-sided permutation p-value ``(1 + #{|r_perm| >= |r|}) / (1 + n_perm)``.
    Fewer than 3 finite points, or a constant variable, give NaNs."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    nan = Correlation(float("nan"), float("nan"), float("nan"), float("nan"), n)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    r_of = _pearson if method == "pearson" else (lambda a, b: _pearson(stats.rankdata(a), stats.rankdata(b)))
    r = r_of(x, y)
    rng = np.random.default_rng(seed)
    boots = np.array([r_of(x[i], y[i]) for i in rng.integers(0, n, size=(n_boot, n))])
    boots = boots[np.isfinite(boots)]
    low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if len(boots) else (np.nan, np.nan)
    if method == "spearman":  # ranks permute with the values: rank once
        x, y = stats.rankdata(x), stats.rankdata(y)
    perms = np.array([_pearson(x, rng.permutation(y)) for _ in range(n_perm)])
    p = (1 + int((np.abs(perms) >= abs(r) - 1e-12).sum())) / (1 + n_perm)
    return Correlation(float(r), float(low), float(high), float(p), n)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc ** 2).sum() * (yc ** 2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else float("nan")


__all__ = ["ALPHA", "Correlation", "MIN_BOOTSTRAP", "N_BOOT", "N_PERM", "PairedDifference", "benjamini_hochberg",
           "bootstrap_ci", "compare_to_baseline", "correlation", "kendalls_w", "mean_ci", "mean_spearman", "paired_difference", "t_interval"]
