"""The study's statistics against answers known in advance: interval coverage on a known
distribution, the false-positive rate of null tables, a planted effect found, known correlations."""

import numpy as np
import pytest

from workbench.statistics import (
    benjamini_hochberg, bootstrap_ci, compare_to_baseline, correlation, kendalls_w, mean_ci, mean_spearman,
    paired_difference,
)


def _coverage(n, *, sims=600, expanded=True):
    rng = np.random.default_rng(n)
    hits = 0
    for s in range(sims):
        low, high = bootstrap_ci(rng.normal(0.5, 0.03, n), n_boot=2000, seed=s, expanded=expanded)
        hits += low <= 0.5 <= high
    return hits / sims


@pytest.mark.parametrize("n, least", [(5, 0.86), (10, 0.92), (20, 0.92)])
def test_expanded_bootstrap_interval_covers_the_true_mean_near_its_level(n, least):
    """95% intervals: measured 89% with 5 values (the range of 5 values holds the mean 94% of the
    time, and no bootstrap interval leaves it), 94-95% with 10 or 20."""
    assert least <= _coverage(n) <= 1.0


def test_no_bootstrap_interval_of_three_values_reaches_95_percent():
    """A bootstrap interval never leaves the range of the values, and 3 normal values straddle
    their mean only 1 - 2 / 2^3 = 75% of the time: studies need 5 seeds or more (94%)."""
    assert 0.70 <= _coverage(3) <= 0.80


def test_plain_percentile_bootstrap_undercovers_small_samples():
    """Why the interval is expanded: the textbook percentile bootstrap of 5 values covers ~83%."""
    assert _coverage(5, expanded=False) < 0.88


def _study_table(rng, n_datasets, n_seeds, *, sd=0.02, seed_sd=0.01, planted=None):
    """Accuracies {dataset: {seed: acc}} and scratch {seed: acc}; seeds share a common offset
    (a seed that helps scratch helps every dataset a little), as paired designs expect."""
    offsets = rng.normal(0, seed_sd, n_seeds)
    scratch = {s: 0.5 + offsets[s] + rng.normal(0, sd) for s in range(n_seeds)}
    table = {}
    for d in range(n_datasets):
        lift = planted[1] if planted and planted[0] == d else 0.0
        table[d] = {s: 0.5 + lift + offsets[s] + rng.normal(0, sd) for s in range(n_seeds)}
    return table, scratch


def _calls(table, scratch, *, pooled=True):
    if pooled:
        p = [d.p for d in compare_to_baseline(table, scratch).values()]
    else:
        p = [paired_difference(v, scratch, seed=0).p for v in table.values()]
    return benjamini_hochberg(p) < 0.05


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_null_tables_give_significant_calls_at_no_more_than_the_nominal_rate(n_seeds):
    rng = np.random.default_rng(1)
    tables = 300
    any_call = calls = 0
    for _ in range(tables):
        sig = _calls(*_study_table(rng, 17, n_seeds))
        any_call += sig.any()
        calls += sig.sum()
    # Under the global null Benjamini-Hochberg keeps even the chance of any false call <= 5%.
    assert any_call / tables <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / tables)
    assert calls / (tables * 17) <= 0.05


def test_a_planted_ten_point_dataset_is_detected_with_three_seeds():
    """17 datasets, 3 seeds, 2 points of seed noise (what fine-tuning on the embedded tasks shows):
    the pooled test finds the +10 dataset every time; 17 paired t-tests with 2 degrees of freedom
    each, after the correction, mostly do not."""
    rng = np.random.default_rng(2)
    tables = 300
    found = found_paired = 0
    false_share = []
    for _ in range(tables):
        table, scratch = _study_table(rng, 17, 3, planted=(4, 0.10))
        sig = _calls(table, scratch)
        found += sig[4]
        false_share.append((sig.sum() - sig[4]) / max(sig.sum(), 1))
        found_paired += _calls(table, scratch, pooled=False)[4]
    assert found / tables >= 0.97
    # The comparisons share scratch, so false calls come in clusters, but their share among the
    # calls (the false discovery rate Benjamini-Hochberg controls) stays at 5%: measured 3.9%.
    assert np.mean(false_share) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / tables)
    assert found_paired / tables <= 0.5


def test_pooled_comparison_matches_the_paired_test_for_one_source_and_covers_at_its_level():
    values, base = {0: 0.61, 1: 0.66, 2: 0.60}, {0: 0.50, 1: 0.58, 2: 0.49}
    one = compare_to_baseline({"a": values}, base)["a"]
    paired = paired_difference(values, base)
    assert one.p == pytest.approx(paired.p) and (one.ci_low, one.ci_high) == pytest.approx((paired.ci_low, paired.ci_high))
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(400):
        table, scratch = _study_table(rng, 6, 3, planted=(0, 0.05))
        d = compare_to_baseline(table, scratch)[0]
        hits += d.ci_low <= 0.05 <= d.ci_high
        assert d.ci_method == "pooled t" and d.n == 3
    assert 0.92 <= hits / 400 <= 0.98
    partial = compare_to_baseline({"a": values, "b": {0: 0.5, 1: 0.6}, "c": values}, base)
    assert partial["b"].ci_method == "t" and partial["b"].n == 2  # a source missing a seed is paired alone


def test_mean_ci_uses_t_below_five_values_and_bootstrap_from_five():
    low, high, method = mean_ci([0.5, 0.52, 0.55])
    assert method == "t" and low < 0.5 and high > 0.55  # wider than the range, as a t interval of 3 is
    assert mean_ci([0.5, 0.52, 0.55, 0.5, 0.51])[2] == "bootstrap"


def test_paired_difference_uses_the_shared_seeds():
    d = paired_difference({0: 0.6, 1: 0.7, 2: 0.65, 9: 0.1}, {0: 0.5, 1: 0.6, 2: 0.5})
    assert d.n == 3 and d.mean == pytest.approx((0.1 + 0.1 + 0.15) / 3)
    assert d.ci_low <= d.mean <= d.ci_high and 0 < d.p < 0.05
    assert np.isnan(paired_difference({0: 1.0}, {1: 1.0}).mean)


def test_benjamini_hochberg_matches_hand_computed_values():
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, np.nan, 0.20])
    # ranks 1..4 of the 4 finite values: 0.01*4/1=0.04, 0.03*4/2=0.06, 0.04*4/3=0.053, 0.2*4/4=0.2, then
    # each is the minimum of itself and every later one: 0.04, 0.053, 0.053, 0.2
    assert adjusted[:3] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3])
    assert np.isnan(adjusted[3]) and adjusted[4] == pytest.approx(0.20)


def test_kendalls_w_from_agreement_to_noise():
    same = np.tile(np.arange(8.0), (4, 1))
    assert kendalls_w(same) == pytest.approx(1.0)
    assert mean_spearman(1.0, 4) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    ws = [kendalls_w(rng.random((3, 17))) for _ in range(200)]
    assert np.mean(ws) == pytest.approx(1 / 3, abs=0.05)  # E[W] = 1/m for unrelated rankings


def test_correlation_known_answers():
    x = np.arange(10.0)
    perfect = correlation(x, 2 * x + 1, n_boot=500, n_perm=999)
    assert perfect.r == pytest.approx(1.0) and perfect.p <= 0.002 and perfect.ci_low > 0.99
    rho = correlation(x, x ** 3, method="spearman", n_boot=500, n_perm=999)
    assert rho.r == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    ps = [correlation(rng.random(12), rng.random(12), n_boot=50, n_perm=199, seed=s).p for s in range(100)]
    assert np.mean(np.array(ps) < 0.05) <= 0.12  # independent variables: p below 5% about 5% of the time
    assert np.isnan(correlation([1, 1, 1], [1, 2, 3]).r)
