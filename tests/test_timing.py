import time

from windrisk import timing


def test_steps_sum_per_name_and_reset() -> None:
    timing.totals(reset=True)
    for _ in range(2):
        with timing.step("a"):
            time.sleep(0.01)
    try:
        with timing.step("b"):
            raise KeyError("x")
    except KeyError:
        pass
    got = timing.totals(reset=True)
    assert list(got) == ["a", "b"]
    assert got["a"] >= 0.02 and got["b"] >= 0
    assert timing.totals() == {}
