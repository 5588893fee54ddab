"""Generated JSON report documents validate against Amazon's bundled schemas for any seller.

``test_sandbox_documents`` validates one seller's documents; this test draws many sellers
(seeds, marketplaces, catalogue sizes, history lengths) and many windows, including reports
requested while the days are still provisional or partial (``as_of`` inside the window), where
the counts are scaled and percentages are easiest to get wrong.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from importlib import resources

import jsonschema

from spapi_sandbox.documents import NoDataError, render_report
from spapi_sandbox.seller import SellerConfig, SimulatedSeller

from ..support import END_DATE

ST = "GET_SALES_AND_TRAFFIC_REPORT"
SCHEMA_FILES = {
    ST: "sellerSalesAndTrafficReport.json",
    "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT": "sellingPartnerSearchTermsReport.json",
    "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT": "sellingPartnerRepeatPurchaseReport.json",
    "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT": "sellingPartnerMarketBasketAnalysisReport.json",
}
PERIODS = {
    "GET_BRAND_ANALYTICS_SEARCH_TERMS_REPORT": ("DAY", "WEEK", "MONTH", "QUARTER"),
    "GET_BRAND_ANALYTICS_REPEAT_PURCHASE_REPORT": ("WEEK", "MONTH", "QUARTER"),
    "GET_BRAND_ANALYTICS_MARKET_BASKET_REPORT": ("DAY", "WEEK", "MONTH", "QUARTER"),
}
MARKETPLACES = (
    "ATVPDKIKX0DER",  # US
    "A2EUQ1WTGCTBG2",  # CA
    "A1AM78C64UM0Y8",  # MX
    "A1PA6795UKMFR9",  # DE
    "A1F83G8C2ARO7P",  # UK
    "A13V1IB3VIYZZH",  # FR
    "A1VC38T7YXB528",  # JP
)
SELLERS = 24
WINDOWS_PER_SELLER = 6


def _validator(report_type: str) -> jsonschema.Draft7Validator:
    path = resources.files("spapi_toolkit").joinpath(
        f"data/spapi-models/schemas/reports/{SCHEMA_FILES[report_type]}"
    )
    schema = json.loads(path.read_text("utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def _requests(rng: random.Random, seller: SimulatedSeller, mp: str):
    """(report type, start, end, options, as_of) of a few random requests to ``seller``."""
    history = (seller.config.start_date, seller.config.end_date)
    for _ in range(WINDOWS_PER_SELLER):
        first = history[0] + timedelta(days=rng.randrange(-5, seller.config.days))
        last = first + timedelta(days=rng.randrange(0, 40))
        start = datetime.combine(first, datetime.min.time(), UTC)
        end = datetime.combine(last, datetime.min.time(), UTC)
        # as_of: final, or a few hours to days after the window's end (provisional days)
        as_of = rng.choice(
            [
                None,
                end + timedelta(hours=rng.uniform(1, 80)),
                end - timedelta(hours=rng.uniform(0, 30)),
            ]
        )
        options = {
            "dateGranularity": rng.choice(("DAY", "WEEK", "MONTH")),
            "asinGranularity": rng.choice(("PARENT", "CHILD", "SKU")),
        }
        yield ST, start, end, options, as_of
        kind = rng.choice(sorted(PERIODS))
        yield kind, start, end, {"reportPeriod": rng.choice(PERIODS[kind])}, None
    del history


def _check_percentages(document: dict) -> None:
    """Percentages agree with the counts they are of: none without page views or sessions."""
    traffic = [row["trafficByDate"] for row in document["salesAndTrafficByDate"]]
    traffic += [row["trafficByAsin"] for row in document["salesAndTrafficByAsin"]]
    for t in traffic:
        for suffix in ("", "B2B"):
            if t[f"pageViews{suffix}"] == 0:
                assert t[f"buyBoxPercentage{suffix}"] == 0, t
            if t[f"sessions{suffix}"] == 0:
                assert t[f"unitSessionPercentage{suffix}"] == 0, t
        assert t["pageViewsB2B"] <= t["pageViews"] and t["sessionsB2B"] <= t["sessions"], t


def test_json_documents_of_many_sellers_validate():
    validators = {kind: _validator(kind) for kind in SCHEMA_FILES}
    rng = random.Random(20261127)
    validated = {kind: 0 for kind in SCHEMA_FILES}
    for n in range(SELLERS):
        mps = tuple(rng.sample(MARKETPLACES, rng.randint(1, 3)))
        config = SellerConfig(
            seed=rng.randrange(10**6),
            products=rng.choice((1, 3, 8, 20, 45)),
            days=rng.choice((1, 7, 30, 60)),
            end_date=END_DATE - timedelta(days=rng.randrange(0, 400)),
            marketplace_ids=mps,
        )
        seller = SimulatedSeller(config)
        for kind, start, end, options, as_of in _requests(rng, seller, mps[0]):
            mp = rng.choice(mps)
            try:
                document = json.loads(render_report(seller, kind, [mp], start, end, options, as_of))
            except NoDataError:
                continue
            errors = list(validators[kind].iter_errors(document))
            assert not errors, (
                f"seller {n} {config} {kind} {mp} {start:%F}..{end:%F} {options} as_of={as_of}: "
                f"{errors[0].json_path}: {errors[0].message}"
            )
            if kind == ST:
                _check_percentages(document)
            validated[kind] += 1
    print(f"\nvalidated {validated}")
    assert validated[ST] >= SELLERS * WINDOWS_PER_SELLER // 2
    assert all(validated.values())
