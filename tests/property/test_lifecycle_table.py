"""Every operation from every position of the lifecycle, at every moment that matters
(`gcp_domain.testing.table`): the cells the random runs reach only rarely."""

from __future__ import annotations

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from gcp_domain.testing import GiftCertificateMachine
from gcp_domain.testing.table import MOMENTS, OPERATIONS, PATHS, walk_the_table


# One walk is every cell; a failure names its cell, so there is nothing to shrink.
@settings(max_examples=1, database=None, phases=[Phase.generate])
@given(st.data())
def test_every_operation_from_every_position(data: st.DataObject) -> None:
    cells = walk_the_table(GiftCertificateMachine, data)
    # Unissued positions have no expiresAt, and a few rules do not apply everywhere.
    assert cells > len(PATHS) * len(MOMENTS) * len(OPERATIONS) * 3 // 4, cells
