"""The sandbox's FBA customer returns agree with its refunds: every return is a refunded FBA
item's units, processed when the refund was made; no merchant-fulfilled item comes back through
FBA; the returnless refunds are the only refunded units missing; a report requested earlier
shows only the returns processed by then."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from spapi_sandbox.documents import render_report
from spapi_sandbox.returns import COLUMNS, DISPOSITIONS, REASONS, returns
from spapi_sandbox.seller import SellerConfig, SimulatedSeller

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def seller() -> SimulatedSeller:
    return SimulatedSeller(SellerConfig(days=60))


def test_every_return_is_a_refunded_fba_items_units(seller):
    returnless = 0
    for market in (US, DE):
        items = {(i.amazon_order_id, i.sku): i for i in seller.order_items(market, START, END)}
        found = returns(seller, market, START, END)
        assert found
        for row in found:
            item = items[(row.order_id, row.sku)]
            assert item.fulfillment_channel == "Amazon"
            assert row.return_date == item.refund_date and row.quantity == item.units_refunded
            assert row.reason in REASONS and row.detailed_disposition in DISPOSITIONS
            reimbursed = row.detailed_disposition in ("DAMAGED", "CARRIER_DAMAGED")
            assert row.status == ("Reimbursed" if reimbursed else "Unit returned to inventory")
        refunded = {key for key, i in items.items()
                    if i.refund_date and i.fulfillment_channel == "Amazon"}  # fmt: skip
        returned = {(r.order_id, r.sku) for r in found}
        assert returned <= refunded
        returnless += len(refunded - returned)
    assert returnless  # some refunds come without the item: no return for them


def test_returned_units_per_day_and_asin_stay_within_the_refunded_units(seller):
    truth = {(t["marketplace_id"], t["date"], t["asin"]): t["units_refunded"]
             for t in seller.truth()}  # fmt: skip
    back = Counter()
    for market in (US, DE):
        for row in returns(seller, market, START, END):
            if row.local_date <= seller.config.end_date:
                back[(market, row.local_date, row.asin)] += row.quantity
    assert back and all(units <= truth[key] for key, units in back.items())


def test_a_report_shows_the_returns_processed_by_its_request(seller):
    every = returns(seller, US, START, END)
    middle = every[len(every) // 2].return_date
    by_then = [r for r in every if r.return_date <= middle]
    assert returns(seller, US, START, END, as_of=middle) == by_then
    report = render_report(seller, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA", [US], START,
                           END, {}, datetime(2027, 1, 1, tzinfo=UTC)).decode()  # fmt: skip
    header, *lines = report.splitlines()
    assert header.split("\t") == list(COLUMNS) and len(lines) == len(every)
    assert lines[0].split("\t")[0] == every[0].return_date.isoformat()
    assert date.fromisoformat(lines[0].split("\t")[0][:10]) >= START.date()
