"""Faust table cells: keyed per partition, bumped without mutating, summed into per-practice totals."""

from hypothesis import given
from hypothesis import strategies as st

from billing.retention.rules.table_cells import bumped, cell_key, split_key, totals


def test_keys_round_trip_even_with_separators_in_names() -> None:
    assert split_key(cell_key("discount_percent", "treatment", 3)) == ("discount_percent", "treatment", 3)
    assert split_key(cell_key("a@b", "control", 12)) == ("a@b", "control", 12)


def test_bump_adds_one_case_and_leaves_the_old_cell_alone() -> None:
    old = {"30": [2, 1]}
    new = bumped(old, 30, True)
    assert new == {"30": [3, 2]} and old == {"30": [2, 1]}
    assert bumped(new, 60, False) == {"30": [3, 2], "60": [1, 0]}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["credit", "plan_change"]),
            st.sampled_from(["treatment", "control"]),
            st.integers(0, 3),
            st.sampled_from([30, 60, 90]),
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_totals_over_partitions_equal_counting_everything_in_one_place(outcomes) -> None:
    cells: dict[str, dict] = {}
    expected: dict = {}
    for practice, arm, partition, horizon, retained in outcomes:
        key = cell_key(practice, arm, partition)
        cells[key] = bumped(cells.get(key), horizon, retained)
        slot = expected.setdefault(practice, {}).setdefault(arm, {}).setdefault(str(horizon), [0, 0])
        slot[0] += 1
        slot[1] += int(retained)
    assert totals(cells.items()) == expected
