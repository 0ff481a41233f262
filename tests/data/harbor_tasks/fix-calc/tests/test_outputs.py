# HARBOR-HIDDEN-TESTS-MARKER-b71c: the agent must never see this file before scoring.
import sys

sys.path.insert(0, "/app")

import calc


def test_add():
    assert calc.add(2, 3) == 5
    assert calc.add(-4, 4) == 0


def test_mul():
    assert calc.mul(3, 7) == 21


def test_mean():
    assert calc.mean([1, 2, 3, 6]) == 3
