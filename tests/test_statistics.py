"""The statistics behind Insights against known cases: published values, scipy's own procedures, simulations."""

import math

import numpy as np
import pytest

from core import agreement
from core.judging.factors import proportion_interval
from core.judging.statistics import (
    ALIGNMENT, SAME, STARS, TOO_FEW, Comparison, Estimate, adjusted_p, adjusted_stars, bounded_mean, fit_raters,
    mean_interval, rank_test, verdicts, welch_test,
)

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: four observers, twelve units.
KRIPPENDORFF_2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
                     [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]


def as_ratings(matrix):
    return [{"generation_id": f"unit{u}", "person": f"observer{o}", "stars": int(v), "created_at": "2026-11-01"}
            for o, row in enumerate(matrix) for u, v in enumerate(row) if v == v]


def test_mean_interval_matches_a_hand_computed_t_interval():
    # mean 5, sample sd sqrt(32/7), t(0.975, 7) = 2.364624: half-width 2.364624 * 2.138090 / sqrt(8) = 1.787482
    estimate = mean_interval([2, 4, 4, 4, 5, 5, 7, 9])
    assert estimate.n == 8 and estimate.mean == 5.0
    assert estimate.lo == pytest.approx(3.212518, abs=1e-5) and estimate.hi == pytest.approx(6.787482, abs=1e-5)


def test_wilson_interval_matches_the_published_value_for_8_of_10():
    estimate = proportion_interval(8, 10)
    assert estimate.mean == 0.8
    assert estimate.lo == pytest.approx(0.4902, abs=1e-4) and estimate.hi == pytest.approx(0.9433, abs=1e-4)
    assert proportion_interval(0, 5).lo == 0.0 and proportion_interval(5, 5).hi == 1.0


def test_under_three_values_there_is_a_mean_but_no_interval():
    assert bounded_mean([4.5, 4.5], STARS) == Estimate(2, 4.5)
    assert bounded_mean([], STARS) == Estimate(0)
    assert bounded_mean([None, NAN], STARS) == Estimate(0)
    assert "too few" in bounded_mean([5.0], STARS).text()


@pytest.mark.parametrize("n", [3, 4, 5, 8, 13, 30, 100, 1000])
def test_star_and_alignment_intervals_never_leave_their_scale(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        near_ceiling = rng.choice([4, 5, 5, 5], size=n).astype(float)  # where Student's t would pass 5
        near_floor = rng.choice([1, 1, 1, 2], size=n).astype(float)
        spread = rng.choice([1, 5], size=n).astype(float)
        for sample in (near_ceiling, near_floor, spread):
            e = bounded_mean(sample, STARS)
            assert STARS[0] <= e.lo <= e.mean <= e.hi <= STARS[1]
        aligned = np.clip(rng.normal(0.95, 0.2, size=n), -1, 1)
        e = bounded_mean(aligned, ALIGNMENT)
        assert ALIGNMENT[0] <= e.lo <= e.mean <= e.hi <= ALIGNMENT[1]


def test_the_old_t_interval_left_the_scale_where_the_bootstrap_does_not():
    # The case from the issue: two people, ratings 4 and 5 (mean 4.5): Student's t said [-1.85, 10.85].
    t = mean_interval([4, 5, 4, 5, 5, 5])
    assert t.hi > 5  # what the page used to print for a plainly good recipe
    assert bounded_mean([4, 5, 4, 5, 5, 5], STARS).hi <= 5


def test_a_large_sample_uses_student_t_cut_to_the_scale():
    rng = np.random.default_rng(7)
    sample = rng.choice([1, 2, 3, 4, 5], size=20_000).astype(float)
    e, t = bounded_mean(sample, STARS), mean_interval(sample)
    assert (e.lo, e.hi) == pytest.approx((t.lo, t.hi))


def test_the_bootstrap_is_the_same_from_one_reading_to_the_next():
    assert bounded_mean([1, 3, 5, 4], STARS) == bounded_mean([1, 3, 5, 4], STARS)


def test_rank_and_welch_tests_say_which_way_and_refuse_too_few():
    higher = rank_test([5, 5, 4, 5, 4, 5], [1, 2, 1, 2, 1, 1])
    assert higher.direction == "higher" and higher.p < 0.05
    assert rank_test([1, 2, 1, 2, 1, 1], [5, 5, 4, 5, 4, 5]).direction == "lower"
    assert rank_test([5, 5], [1, 1, 1]) == Comparison(TOO_FEW, None)
    assert rank_test([3, 3, 3], [3, 3, 3]) == Comparison(SAME, 1.0)
    assert welch_test([0.3, 0.31, 0.32, 0.3], [0.1, 0.12, 0.11, 0.1]).direction == "higher"
    assert welch_test([0.3, 0.3, 0.3], [0.1, 0.1, 0.1]) == Comparison("higher", 0.0)  # no spread, plainly different


def step_up(p_values, q=0.05):
    """Benjamini and Hochberg (1995) as they wrote it: reject the k smallest, k the largest with p_(k) <= k q / m."""
    m = len(p_values)
    order = np.argsort(p_values)
    passing = [k for k in range(1, m + 1) if p_values[order[k - 1]] <= k * q / m]
    rejected = set(order[:max(passing)].tolist()) if passing else set()
    return [i in rejected for i in range(m)]


def test_benjamini_hochberg_matches_scipy_and_the_step_up_procedure():
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(3)
    for _ in range(200):
        m = int(rng.integers(2, 12))
        p = np.concatenate([rng.uniform(0, 0.02, size=int(rng.integers(0, m))), rng.uniform(0, 1, size=m)])[:m]
        tests = [Comparison("higher", float(v)) for v in p]
        assert adjusted_p(tests) == pytest.approx(false_discovery_control(p, method="bh").tolist())
        assert [v == "higher" for v in verdicts(tests)] == step_up(p)
    assert verdicts([Comparison(TOO_FEW, None), Comparison("lower", 0.001)]) == [TOO_FEW, "lower"]


def false_verdict_share(correct: bool, tables: int = 400) -> float:
    """Tables of seven groups of ten images whose stars all come from one distribution (no group differs): the
    share of tables that still call some group higher or lower."""
    rng = np.random.default_rng(11)
    false = 0
    for _ in range(tables):
        stars = rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.2, 0.3, 0.25, 0.15], size=(7, 10)).astype(float)
        tests = [rank_test(stars[g], np.delete(stars, g, axis=0).ravel()) for g in range(7)]
        said = verdicts(tests) if correct else [t.direction if t.p < 0.05 else SAME for t in tests]
        false += any(v in ("higher", "lower") for v in said)
    return false / tables


def test_when_no_group_differs_about_one_table_in_twenty_shows_a_false_verdict():
    assert false_verdict_share(correct=True) <= 0.07
    assert false_verdict_share(correct=False) > 0.15  # what the page did before: a third of tables, by chance


def test_krippendorffs_published_ordinal_alpha_is_reproduced():
    result = agreement.agreement(as_ratings(KRIPPENDORFF_2011))
    assert result.alpha == pytest.approx(0.815, abs=5e-4)  # the paper's ordinal alpha
    assert result.n_items == 11 and result.n_raters == 4  # unit 12 has one value: not pairable
    assert result.lo <= result.alpha <= result.hi and -1 <= result.lo and result.hi <= 1
    assert result.reading == "the team agrees well"


def test_the_bootstraps_alpha_is_the_packages_alpha_on_the_data_itself():
    rng = np.random.default_rng(5)
    for _ in range(20):
        counts = rng.multinomial(int(rng.integers(2, 6)), [0.1, 0.2, 0.3, 0.25, 0.15], size=int(rng.integers(5, 200)))
        ours = agreement.ordinal_alpha(agreement.coincidences(counts).sum(axis=0))
        assert float(ours) == pytest.approx(agreement.alpha_of(counts), abs=1e-9)


def test_agreement_reads_in_plain_words_and_says_when_there_is_too_little():
    assert agreement.Agreement(0.9, 0.8, 0.95, 20, 3).reading == "the team agrees well"
    assert agreement.Agreement(0.7, 0.5, 0.8, 20, 3).reading == "the team agrees somewhat"
    assert agreement.Agreement(0.2, 0.0, 0.4, 20, 3).reading == "the team barely agrees"
    few = agreement.agreement(as_ratings([[1, 2], [1, 3]]))
    assert few.alpha is None and few.reading.startswith("too few")


def test_pairs_periods_and_disagreements():
    ratings = as_ratings(KRIPPENDORFF_2011)
    pairs = agreement.by_pair(ratings)
    assert ("observer0", "observer3") in pairs and pairs[("observer0", "observer3")].n_raters == 2
    assert list(agreement.by_period(ratings)) == ["2026-11"]
    worst = agreement.disagreements(ratings)
    assert worst[0]["generation_id"] == "unit5" and worst[0]["stars"] == [1, 2, 3, 4] and worst[0]["spread"] == 3


def test_a_harsh_raters_offset_is_found_and_adjusting_removes_it():
    rng = np.random.default_rng(2)
    quality = rng.uniform(2, 4.5, size=60)
    items, raters, stars = [], [], []
    for item, q in enumerate(quality):
        for rater, offset in enumerate((0.0, 0.0, -1.0)):  # the third rater gives a star less
            items.append(item), raters.append(rater)
            stars.append(float(np.clip(round(q + offset + rng.normal(0, 0.3)), 1, 5)))
    items, raters, stars = np.array(items), np.array(raters), np.array(stars)
    offsets = fit_raters(items, raters, stars)
    assert offsets[2] == pytest.approx(-2 / 3, abs=0.15) and offsets[:2] == pytest.approx([1 / 3, 1 / 3], abs=0.15)
    assert np.average(offsets[raters]) == pytest.approx(0, abs=1e-9)  # centred on the team
    adjusted = adjusted_stars(items, raters, stars, offsets)
    harsh, kind = adjusted[raters == 2].mean(), adjusted[raters != 2].mean()
    assert abs(harsh - kind) < 0.15 < abs(stars[raters == 2].mean() - stars[raters != 2].mean())
    assert adjusted.min() >= 1 and adjusted.max() <= 5
