"""A running job as a person reads it (issue 39, 4): stages in words, and a time left given only once the pace of
the painting is steady, smoothed so it does not jump."""

import pytest

from core import Pace, stage_words
from core.execution.progress import STEADY_STEPS


@pytest.mark.parametrize("stage, step, total, said", [
    ("load", 0, 0, "loading the models"),
    ("transcribe", 0, 0, "hearing the words"),
    ("generate", 3, 20, "painting: step 3 of 20"),
    ("generate", 0, 20, "painting: step 0 of 20"),
    (None, 0, 0, "starting"),
])
def test_stages_read_as_words_never_as_step_0_of_0(stage, step, total, said):
    assert stage_words(stage, step, total) == said


def test_no_estimate_until_the_pace_is_steady():
    pace = Pace.start(0, now=100.0)
    for step in range(1, STEADY_STEPS):
        pace = pace.seen(step, now=100.0 + step)
        assert pace.seconds_left(20) is None
    pace = pace.seen(STEADY_STEPS, now=100.0 + STEADY_STEPS)
    assert pace.seconds_left(20) == pytest.approx(20 - STEADY_STEPS)


def test_the_seconds_spent_before_painting_do_not_count():
    """The job was seen first at step 0 after a minute of loading: its steps take 2 s each, and so does the estimate."""
    pace = Pace.start(0, now=60.0)
    for step in range(1, 6):
        pace = pace.seen(step, now=60.0 + 2.0 * step)
    assert pace.seconds_left(10) == pytest.approx(2.0 * 5)


def test_one_slow_step_moves_the_estimate_a_little_not_all_the_way():
    pace = Pace.start(0, now=0.0)
    for step in range(1, 6):
        pace = pace.seen(step, now=float(step))  # 1 s a step
    steady = pace.seconds_left(50)
    pace = pace.seen(6, now=5.0 + 10.0)  # one step took 10 s (another job's preview, a busy machine)
    jumped = pace.seconds_left(50)
    assert steady == pytest.approx(45.0)
    assert steady < jumped < 10.0 * (50 - 6) / 2  # it moves, by well under half of what the slow step alone says


def test_seeing_the_same_step_again_changes_nothing():
    pace = Pace.start(0, now=0.0).seen(4, now=4.0)
    assert pace.seen(4, now=9.0) == pace and pace.seen(3, now=9.0) == pace
