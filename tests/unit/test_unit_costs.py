"""A seller's unit costs file: checked whole (every bad line named with its column, nothing
written), landed under the seller's id, once per file; the sandbox's own file passes."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from spapi_sandbox.seller import SellerConfig, SimulatedSeller
from spapi_sandbox.unit_costs import unit_costs, unit_costs_csv
from spapi_toolkit.lake.reference import ReferenceFileError, check_unit_costs, load_reference
from spapi_toolkit.lake.storage import Lake

HEADER = "sku,currency,unit_cost,valid_from\n"
SELLER = "A2SELLER1"
US = "ATVPDKIKX0DER"


def test_a_malformed_file_is_refused_whole_with_each_line_and_column(tmp_path):
    bad = tmp_path / "costs.csv"
    bad.write_text(HEADER + "SKU-1,USD,4.75,2026-01-01\n"
                   ",USD,1.00,2026-01-01\n"  # no SKU
                   "SKU-2,US,1.00,2026-01-01\n"
                   "SKU-3,EUR,-1.00,2026-01-01\n"
                   "SKU-4,EUR,1.005,2026-02-30\n"
                   "SKU-1,USD,4.95,2026-01-01\n"  # the same SKU, currency and day again
                   "SKU-5,EUR\n" + "S" * 41 + ",EUR,1,2026-01-01\n")  # fmt: skip
    lake = Lake.from_uri(str(tmp_path / "lake"))
    with pytest.raises(ReferenceFileError) as caught:
        load_reference(lake, "unit_costs", bad, seller=SELLER)
    message = str(caught.value)
    for expected in (f"{bad}: 8 problem(s), nothing loaded",
                     "line 3 column sku: '' is not a SKU (1 to 40 characters)",
                     "line 4 column currency: 'US' is not an ISO 4217 code",
                     "line 5 column unit_cost: '-1.00' is not an amount of money",
                     "line 6 column unit_cost: '1.005' is not an amount of money",
                     "line 6 column valid_from: '2026-02-30' is not a date",
                     "line 7: SKU-1 in USD from 2026-01-01 again (first on line 2)",
                     "line 8: 2 fields, the header has 4", "line 9 column sku: 'SSS"):  # fmt: skip
        assert expected in message, message
    assert not list(lake.list(""))  # nothing written
    spaced = "line 2 column sku: 'SKU-1 ' has spaces around it"
    with pytest.raises(ReferenceFileError, match=spaced):  # curation would keep the space
        check_unit_costs((HEADER + "SKU-1 ,USD,4.75,2026-01-01\n").encode(), "f.csv")
    with pytest.raises(ReferenceFileError, match=r"the header's names \[' currency'\] have "):
        check_unit_costs(b"sku, currency,unit_cost,valid_from\n", "f.csv")
    with pytest.raises(ReferenceFileError, match="'12345678901234567' is not an amount"):
        check_unit_costs((HEADER + "SKU-1,USD,12345678901234567,2026-01-01\n").encode(), "f")
    with pytest.raises(ReferenceFileError, match="no unit costs: the file has a header only"):
        check_unit_costs(HEADER.encode(), "f.csv")
    with pytest.raises(ReferenceFileError, match=r"line 1: the header lacks \['unit_cost'\]"):
        check_unit_costs(b"sku,currency,cost,valid_from\n", "f.csv")


def test_unit_costs_belong_to_a_seller_and_fx_rates_to_none(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    good = tmp_path / "costs.csv"
    good.write_text(HEADER + "SKU-1,USD,4.75,2026-01-01\n")
    with pytest.raises(ReferenceFileError, match="unit_costs belong to one seller: say whose"):
        load_reference(lake, "unit_costs", good)
    for wrong in ("../other", "reference"):  # "reference" is the FX rates' owner
        with pytest.raises(ReferenceFileError, match="is not a selling partner id"):
            load_reference(lake, "unit_costs", good, seller=wrong)
    with pytest.raises(ReferenceFileError, match="fx_rates belong to no seller"):
        load_reference(lake, "fx_rates", good, seller=SELLER)
    assert not list(lake.list(""))


def test_a_good_file_lands_under_its_seller_once(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    good = tmp_path / "costs.csv"
    good.write_text(HEADER + "SKU-1,USD,4.75,2026-01-01\nSKU-1,USD,4.95,2026-03-01\n"
                    "SKU-2,EUR,12,2025-12-01\n")  # fmt: skip
    manifest, checked = load_reference(lake, "unit_costs", good, seller=SELLER)
    assert (checked.rows, checked.first, checked.last) == (3, date(2025, 12, 1), date(2026, 3, 1))
    assert checked.details == {"skus": "2", "currencies": "EUR,USD"}
    assert manifest.key.startswith(f"raw/source=spapi/dataset=unit_costs/seller_id={SELLER}/"
                                   "marketplace_id=all/dt=2025-12-01/unit_costs-")  # fmt: skip
    again, _ = load_reference(lake, "unit_costs", good, seller=SELLER)
    assert again == manifest  # the same file lands nothing new


def test_the_sandbox_sellers_costs_pass_and_some_change_during_the_history():
    seller = SimulatedSeller(SellerConfig(products=40))
    rows = unit_costs(seller)
    checked = check_unit_costs(unit_costs_csv(seller), "sandbox")
    assert (checked.rows, checked.details["skus"]) == (len(rows), "40")
    per_sku = Counter(sku for sku, *_ in rows)
    assert set(per_sku.values()) == {1, 2}  # a supplier price change for some
    for sku, currency, cost, day in rows:
        product = seller.product(sku)
        assert product is not None and currency == "USD"
        assert Decimal("0.25") * product.price(US) <= cost <= Decimal("0.52") * product.price(US)
        assert day >= product.open_date
