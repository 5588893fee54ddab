"""The query layer: the package's SQL parsed as Athena's, run on DuckDB over Parquet written the
way curation writes it, and sent to Athena (a moto server) with its parameters bound."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import boto3
import pandas as pd
import pytest
import requests
from sqlglot import exp

from spapi_toolkit.lake.catalog import table_columns
from spapi_toolkit.lake.marts import mart
from spapi_toolkit.lake.quality.gate import Failure, Outcome
from spapi_toolkit.lake.query import QueryError, connect, names
from spapi_toolkit.lake.query import sql as queries
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import table

from ..lakefiles import write_rows

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
D1, D2 = date(2026, 11, 3), date(2026, 11, 4)
PARAMS = {"start": D1, "end": D2, "marketplaces": [US, DE]}


def _sales(marketplace, day, asin, units, sales, sessions, page_views, share, currency="USD"):
    return dict(seller_id="A2SELLER", marketplace_id=marketplace, date=day, child_asin=asin,
                parent_asin="P" + asin, currency=currency, units_ordered=units,
                ordered_product_sales=Decimal(sales), sessions=sessions, page_views=page_views,
                buy_box_page_views=share * page_views, buy_box_share=share,
                reporting_currency="USD")  # fmt: skip


@pytest.fixture
def lake(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_rows(lake, mart("sales_daily"), [
        _sales(US, D1, "B01", 3, "30.00", 10, 20, 1.0),
        _sales(US, D1, "B02", 1, "5.50", 10, 80, 0.5),  # the day's share: (20 + 40) / 100
        _sales(US, D2, "B01", 2, "20.00", 4, 5, 0.0),
        _sales(DE, D1, "B01", 1, "9.99", 0, 0, 0.0, "EUR"),  # no sessions: rates are null
        _sales(US, date(2026, 11, 5), "B01", 9, "90.00", 9, 9, 1.0),  # outside the range
    ])  # fmt: skip
    write_rows(lake, table("order_items"), [_item(US, D1, "111-1", 2), _item(US, D1, "111-1", 1),
                                            _item(DE, D2, "302-2", 1)])  # fmt: skip
    write_rows(lake, table("kiosk_sales_traffic"), [
        _kiosk(US, D1, D1, "B01", 4, 1, "40.00"),
        _kiosk(US, D2, D2, "B01", 6, 2, "60.00"),
        _kiosk(US, D2, D2, "B02", 0, 1, "0.00"),  # a refund without orders: no rate
        _kiosk(DE, D1, D1, "B01", 2, 0, "19.98", "EUR"),
        _kiosk(US, D1, date(2026, 11, 9), "B01", 99, 50, "990.00"),  # a week: not split per day
        _kiosk(US, date(2026, 11, 5), date(2026, 11, 5), "B01", 9, 9, "90.00"),  # after the end
    ])  # fmt: skip
    write_rows(lake, table("returns"), [
        _return(US, D1, "111-1", "B01", "DEFECTIVE", "DEFECTIVE"),
        _return(US, D2, "111-2", "B01", "UNWANTED_ITEM", "SELLABLE"),
        _return(US, D2, "111-3", "B01", "DEFECTIVE", "CARRIER_DAMAGED"),
        _return(US, D1, "111-4", "B03", "NOT_AS_DESCRIBED", "SELLABLE"),  # not sold in the period
        _return(DE, date(2026, 11, 5), "302-9", "B01", "DEFECTIVE", "SELLABLE"),  # after the end
    ])  # fmt: skip
    return lake


def _return(marketplace, day, order, asin, reason, disposition):
    return dict(seller_id="A2SELLER", marketplace_id=marketplace, return_date=day,
                order_id=order, sku="S" + asin, asin=asin, quantity=1, reason=reason,
                detailed_disposition=disposition)  # fmt: skip


def _kiosk(marketplace, start, end, asin, ordered, refunded, sales, currency="USD"):
    row = dict.fromkeys(name for name, _, _ in table_columns(table("kiosk_sales_traffic")))
    row.update(seller_id="A2SELLER", marketplace_id=marketplace, start_date=start, end_date=end,
               child_asin=asin, parent_asin="P" + asin, currency=currency,
               units_ordered=ordered, units_refunded=refunded,
               ordered_product_sales=Decimal(sales))  # fmt: skip
    return row


def _item(marketplace, day, order, quantity):
    row = dict.fromkeys(name for name, _, _ in table_columns(table("order_items")))
    row.update(seller_id="A2SELLER", marketplace_id=marketplace, purchase_date=day,
               amazon_order_id=order, order_item_id=f"{order}-{quantity}", quantity=quantity,
               order_status="Shipped", is_business_order=False, extra=[])  # fmt: skip
    return row


def test_every_query_parses_as_athena_sql_and_filters_the_marts_on_their_day():
    assert names(), "the package ships its queries"
    for name in names():
        query = queries.load(name)
        tree = queries.parse(query.text, name)
        assert query.description, f"{name}: say what it answers in a leading comment"
        # one set of parameters for every query: a notebook's scope, a test, the benchmark
        assert set(queries.parameters(tree)) == set(PARAMS), name
        assert queries.partition_gaps(tree) == [], name


def test_every_query_runs_on_duckdb_with_rows_where_the_lake_has_its_tables(lake):
    con = connect(lake)
    written = {("aggregated", "sales_daily"), ("cleaned", "order_items"),
               ("cleaned", "kiosk_sales_traffic"), ("cleaned", "returns")}  # fmt: skip
    for name in names():
        frame = con.query(name, **PARAMS)
        assert len(frame.columns) > 0, name
        tree = queries.parse(queries.load(name).text)
        read = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db}
        if read <= written:  # the others run on the demo lake: tests/e2e/test_demo.py
            assert len(frame) > 0, name


def test_sales_by_day_rebuilds_the_ratios_from_the_summed_parts(lake):
    frame = connect(lake).query("sales_by_day", **PARAMS)
    rows = {(r.marketplace_id, r.date.date() if hasattr(r.date, "date") else r.date): r
            for r in frame.itertuples()}  # fmt: skip
    assert set(rows) == {(US, D1), (US, D2), (DE, D1)}
    day = rows[(US, D1)]
    assert (day.units_ordered, day.ordered_product_sales) == (4, Decimal("35.50"))
    assert day.buy_box_share == pytest.approx(0.6)  # weighted by page views, not (1 + 0.5) / 2
    assert day.unit_session_rate == pytest.approx(4 / 20)
    assert day.average_selling_price == pytest.approx(35.5 / 4)
    german = rows[(DE, D1)]
    assert german.currency == "EUR" and german.unit_session_rate != german.unit_session_rate  # NaN


def test_parameters_are_bound_not_formatted(lake):
    con = connect(lake)
    sneaky = "x') OR 1=1 --"
    frame = con.sql("select marketplace_id from aggregated.sales_daily where date = :day "
                    "and marketplace_id in (:m, 'ATVPDKIKX0DER')", day=D1, m=sneaky)  # fmt: skip
    assert set(frame.marketplace_id) == {US}
    with pytest.raises(QueryError, match=r"missing \['end'\]; unknown \['stop'\]"):
        con.query("sales_by_day", start=D1, stop=D2, marketplaces=[US])
    with pytest.raises(QueryError, match="as :name"):
        con.sql("select * from aggregated.sales_daily where date = ?")


def test_bad_sql_and_unknown_queries_say_what_is_wrong(lake):
    con = connect(lake)
    with pytest.raises(QueryError, match="not valid Athena"):
        con.sql("select from where")
    with pytest.raises(QueryError, match=r"no query named 'nope'; the package has: .*sales_by_day"):
        con.query("nope")
    with pytest.raises(QueryError, match=r"failed on DuckDB.*no_such_column"):
        con.sql("select no_such_column from aggregated.sales_daily")


REFUSED = [  # what cannot match is an error naming the mistake, never an empty result
    (
        dict(start=D2, end=D1, marketplaces=[US]),
        "query 'sales_by_day': start 2026-11-04 is after end 2026-11-03: no day is in between",
    ),
    (
        dict(start=D1, end=D2, marketplaces=["FR"]),
        r"query 'sales_by_day': the lake holds no data for FR \(A13V1IB3VIYZZH\); it holds "
        r"DE \(A1PA6795UKMFR9\), US \(ATVPDKIKX0DER\)",
    ),
    (
        dict(start=D1, end=D2, marketplaces=["XX"]),
        "query 'sales_by_day': unknown marketplace 'XX'; use a marketplace id or one of the "
        "country codes",
    ),
    (
        dict(start=D1, end=D2, marketplaces="US"),
        r"query 'sales_by_day': marketplaces is a list of ids or country codes, e.g. \['US'\], "
        "not 'US'",
    ),
]


@pytest.mark.parametrize(("params", "message"), REFUSED)
def test_a_query_that_cannot_match_is_refused_with_what_is_wrong(lake, params, message):
    with pytest.raises(QueryError, match=f"^{message}"):
        connect(lake).query("sales_by_day", **params)


def test_country_codes_stand_for_their_marketplaces(lake):
    con = connect(lake)
    by_code = con.query("sales_by_day", start=D1, end=D2, marketplaces=["US", "de"])
    by_id = con.query("sales_by_day", **PARAMS)
    pd.testing.assert_frame_equal(by_code, by_id)
    assert con.marketplaces() == [DE, US]


def test_a_table_not_kept_per_marketplace_is_fresh_for_all_of_them(lake):
    fx = dict(rate_date=D1, currency="EUR", reporting_currency="USD", rate=1.1)
    write_rows(lake, table("fx_rates"), [fx])
    con = connect(lake)
    [row] = con.freshness().query("table == 'fx_rates'").itertuples()
    assert (row.marketplace_id, row.first_day, row.last_day) == (None, str(D1), str(D1))
    assert con.marketplaces() == [DE, US]


def test_a_folder_without_a_lake_is_refused(tmp_path):
    with pytest.raises(QueryError, match=f"^no lake at {tmp_path / 'nowhere'}: the folder does"):
        connect(str(tmp_path / "nowhere"))
    (tmp_path / "notes").mkdir()
    with pytest.raises(QueryError, match="notes holds no lake: none of raw/, cleaned/, aggreg"):
        connect(str(tmp_path / "notes"))


def test_a_syntax_error_is_plain_text(lake):
    with pytest.raises(QueryError) as raised:
        connect(lake).sql("select from where")
    assert str(raised.value) == (
        "the query is not valid Athena (Trino) SQL: Expected table name but got 'where', at "
        "line 1, column 17: select from >>>where<<<"
    )


def test_abc_classes_over_the_period_at_their_boundaries(tmp_path):
    lake = Lake.from_uri(str(tmp_path))
    days = [D1, D2]  # each ASIN's sales split over two days: classes come from the period's sums
    sales = {"B1": "50.00", "B2": "30.00", "B3": "15.00", "B4": "5.00", "B5": "0.00"}
    write_rows(lake, mart("sales_daily"), [
        _sales(US, day, asin, 1, str(Decimal(amount) / 2), 1, 1, 1.0)
        for asin, amount in sales.items() for day in days
    ])  # fmt: skip
    found = connect(lake).query("abc_period", start=D1, end=D2, marketplaces=["US"])
    # revenue before each: 0 %, 50 %, exactly 80 % (so B), exactly 95 % (so C), no sales (C)
    assert list(found.abc_class) == ["A", "A", "B", "C", "C"]
    assert list(found.ordered_product_sales) == [Decimal(v) for v in sales.values()]
    assert list(found.revenue_rank) == [1, 2, 3, 4, 5]


def _listing(marketplace, sku, asin, buyable=True, issues=0, day=date(2026, 11, 5)):
    return dict(marketplace_id=marketplace, snapshot_date=day, sku=sku, asin=asin,
                is_buyable=buyable, is_discoverable=True, issue_count=issues,
                item_name=f"Product {asin}")  # fmt: skip


def _stock(marketplace, sku, asin, fulfillable, day=date(2026, 11, 5)):
    return dict(marketplace_id=marketplace, snapshot_date=day, sku=sku, asin=asin,
                afn_fulfillable_quantity=fulfillable)  # fmt: skip


def test_listing_health_names_unhealthy_listings_with_their_stock_and_sales(lake):
    write_rows(lake, table("listings_items"), [
        _listing(US, "SKU-1", "B01", buyable=False),  # 50.00 of sales in the period, 7 in stock
        _listing(US, "SKU-2", "B02", issues=2),  # 5.50 of sales
        _listing(US, "SKU-3", "B03"),  # healthy: not listed
        _listing(US, "SKU-1", "B01", day=date(2026, 11, 4)),  # an older snapshot: not read
        _listing(DE, "SKU-9", "B09", buyable=False),  # no sales, no stock
    ])  # fmt: skip
    write_rows(lake, table("fba_inventory"), [_stock(US, "SKU-1", "B01", 7),
                                              _stock(US, "SKU-2", "B02", 0)])  # fmt: skip
    found = connect(lake).query("listing_health", start=D1, end=D2, marketplaces=[US, DE])
    assert list(found.sku) == ["SKU-1", "SKU-2", "SKU-9"]  # the most sales at stake first
    first = found.iloc[0]
    assert (first.is_buyable, first.fulfillable_quantity, first.units_ordered) == (False, 7, 5)
    assert first.ordered_product_sales == Decimal("50.00")
    assert found.iloc[1].issue_count == 2
    assert pd.isna(found.iloc[2].fulfillable_quantity) and found.iloc[2].units_ordered == 0


def test_a_mart_read_without_its_day_filter_is_caught():
    def gaps(text):
        return queries.partition_gaps(queries.parse(text))

    assert gaps("select * from aggregated.sales_daily") == [
        "aggregated.sales_daily is read without a filter on date"
    ]
    assert gaps("select * from aggregated.sales_daily s join aggregated.orders_daily o "
                "on s.date = o.date where s.date = :d") == [
        "aggregated.orders_daily is read without a filter on date"
    ]  # fmt: skip
    assert gaps("with s as (select * from aggregated.sales_daily where date > :d) "
                "select * from s") == []  # fmt: skip
    assert gaps("select * from cleaned.order_items") == []  # cleaned tables are not checked


def test_athena_gets_its_databases_and_the_parameters_in_text_order():
    text = ("with c as (select asin from cleaned.order_items where purchase_date = :late) "
            "select * from aggregated.sales_daily s join c on c.asin = s.child_asin "
            "where s.date between :early and :late and s.currency = :currency")  # fmt: skip
    databases = {"cleaned": "spapi_c", "aggregated": "spapi_a"}
    params = {"late": D2, "early": D1, "currency": "it's"}
    sql, values = queries.for_athena(text, params, databases)
    assert "spapi_c.order_items" in sql and "spapi_a.sales_daily" in sql and ":" not in sql
    assert sql.count("?") == 4
    assert values == ["DATE '2026-11-04'", "DATE '2026-11-03'", "DATE '2026-11-04'", "'it''s'"]
    assert queries.literal([US, 3, None, True]) == f"ARRAY['{US}', 3, NULL, TRUE]"
    with pytest.raises(QueryError, match="reads the cleaned zone; no Glue database"):
        queries.for_athena(text, params, {"aggregated": "spapi_a"})


def test_connect_chooses_the_engine_from_the_parameters_or_the_environment(lake):
    assert connect(env={"SPAPI_LAKE": lake.uri}).engine.name == "duckdb"
    with pytest.raises(QueryError, match="no lake to query"):
        connect(env={})
    with pytest.raises(QueryError, match="on S3: query it through Athena"):
        connect("s3://bucket/lake", env={})
    with pytest.raises(QueryError, match="needs the Glue databases"):
        connect(env={"SPAPI_ATHENA_WORKGROUP": "wg"})
    athena = connect(env={"SPAPI_ATHENA_WORKGROUP": "wg", "SPAPI_GLUE_DATABASE": "c",
                          "SPAPI_GLUE_AGGREGATED_DATABASE": "a"})  # fmt: skip
    assert athena.engine.name == "athena"
    assert athena.engine.databases == {"cleaned": "c", "aggregated": "a"}


def test_the_asin_halves_split_the_period_in_the_middle(lake):
    frame = connect(lake).query("asin_halves", start=D1, end=date(2026, 11, 5),
                                marketplaces=[US])  # fmt: skip
    row = frame.set_index("child_asin").loc["B01"]
    assert (row.days_first_half, row.days_second_half) == (1, 2)  # Nov 3 | Nov 4, 5
    assert (row.units_first_half, row.units_second_half) == (3, 11)


def test_refunds_sum_the_one_day_windows_of_the_period_and_rebuild_the_rate(lake):
    frame = connect(lake).query("refunds_by_asin", **PARAMS)
    rows = {(r.marketplace_id, r.child_asin): r for r in frame.itertuples()}
    assert set(rows) == {(US, "B01"), (US, "B02"), (DE, "B01")}
    b01 = rows[(US, "B01")]  # Nov 3 and 4; the week from Nov 3 and Nov 5 are left out
    assert (b01.units_ordered, b01.units_refunded) == (10, 3)
    assert b01.ordered_product_sales == Decimal("100.00")
    assert b01.refund_rate == pytest.approx(0.3)  # 3 / 10, not the mean of 1/4 and 2/6
    assert b01.refunded_sales_estimate == pytest.approx(30.0)  # 3 units at 100.00 / 10
    assert (str(b01.first_day)[:10], str(b01.last_day)[:10]) == (str(D1), str(D2))
    b02 = rows[(US, "B02")]
    assert b02.units_refunded == 1 and pd.isna(b02.refund_rate)
    assert pd.isna(b02.refunded_sales_estimate)
    german = rows[(DE, "B01")]
    assert (german.currency, german.refund_rate) == ("EUR", 0.0)


def test_returns_per_asin_against_the_units_ordered_and_their_reasons_shares(lake):
    con = connect(lake)
    frame = con.query("returns_by_asin", **PARAMS)
    rows = {(r.marketplace_id, r.asin): r for r in frame.itertuples()}
    assert set(rows) == {(US, "B01"), (US, "B03")}  # DE's return is after the period
    b01 = rows[(US, "B01")]
    assert (b01.units_ordered, b01.units_returned) == (5, 3)
    assert b01.return_rate == pytest.approx(0.6)
    assert (b01.units_sellable, b01.units_unsellable, b01.units_reimbursed) == (1, 1, 1)
    assert pd.isna(rows[(US, "B03")].return_rate)  # returned, but not ordered in the period
    reasons = con.query("return_reasons", **PARAMS)
    b01_reasons = reasons[reasons.asin == "B01"]
    assert list(zip(b01_reasons.reason, b01_reasons.units, strict=True)) == [
        ("DEFECTIVE", 2), ("UNWANTED_ITEM", 1)]  # fmt: skip
    assert b01_reasons.share_of_asin_returns.sum() == pytest.approx(1.0)


def test_orders_count_once_however_many_items_they_hold(lake):
    frame = connect(lake).query("orders_per_day", **PARAMS).set_index("marketplace_id")
    assert (frame.loc[US, "orders"], frame.loc[US, "order_items"], frame.loc[US, "units"]) == (
        1, 2, 3)  # fmt: skip


def test_tables_columns_freshness_and_quality_of_a_local_lake(lake):
    lake.write_bytes("_state/aggregate/sales_daily.json",
                     json.dumps({"updated_at": "2026-11-28T07:00:00+00:00"}).encode())  # fmt: skip
    failure = Failure(
        "expect_column_values_to_be_between",
        "range",
        "units_ordered >= 0",
        ["units_ordered"],
        unexpected=1,
        partitions={f"marketplace_id={US}": 1},
    )
    result = Outcome(
        "aggregated",
        "sales_daily",
        "run-1",
        "2026-11-28T07:01:00+00:00",
        False,
        12,
        5,
        [failure],
        blocked=[f"marketplace_id={US}/date=2026-11-03"],
    ).latest()
    lake.write_bytes("_quality/latest/aggregated/sales_daily.json", json.dumps(result).encode())
    con = connect(lake)

    listed = con.tables().set_index("table")
    assert listed.loc["sales_daily", "zone"] == "aggregated"
    assert bool(listed.loc["sales_daily", "published"]) is True
    assert bool(listed.loc["listings", "published"]) is False
    docs = con.columns("sales_daily").set_index("column")
    assert (
        docs.loc["unit_session_rate", "description"]
        == mart("sales_daily").column("unit_session_rate").doc
    )
    order_items = con.columns("order_items")
    assert list(order_items.column) == [name for name, _, _ in table_columns(table("order_items"))]
    assert "cpf" not in set(order_items.column)  # pii = "drop": never published
    assert "restricted" in order_items.set_index("column").loc["ship_city", "description"]
    with pytest.raises(QueryError, match="no table 'nope'"):
        con.columns("nope")

    fresh = con.freshness()
    fresh = fresh[fresh.table == "sales_daily"].set_index("marketplace_id")
    assert fresh.loc[US, "last_day"] == "2026-11-05" and fresh.loc[US, "partitions"] == 3
    assert fresh.loc[DE, "first_day"] == "2026-11-03"
    assert fresh.loc[US, "curated_at"] == "2026-11-28T07:00:00+00:00"

    [checked] = con.quality().itertuples()
    assert (checked.table, checked.success, checked.failed) == ("sales_daily", False, 1)
    assert (checked.evaluated, checked.blocked) == (12, 1)
    assert checked.checked_at == "2026-11-28T07:01:00+00:00"
    assert checked.failures == "units_ordered >= 0 (1 rows)"


@pytest.mark.aws
def test_athena_runs_the_query_in_the_workgroup_with_execution_parameters(aws_env):
    s3, athena = boto3.client("s3"), boto3.client("athena")
    s3.create_bucket(Bucket="athena-results")
    athena.create_work_group(
        Name="analysts",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://athena-results/q/"}},
    )
    info = {"CatalogName": "c", "SchemaName": "s", "TableName": "t", "Precision": 0,
            "Scale": 0, "Nullable": "NULLABLE", "CaseSensitive": False}  # fmt: skip
    answer = {"results": [{
        "rows": [{"Data": [{"VarCharValue": "marketplace_id"}, {"VarCharValue": "units"}]},
                 {"Data": [{"VarCharValue": US}, {"VarCharValue": "4"}]}],
        "column_info": [{**info, "Name": "marketplace_id", "Label": "marketplace_id",
                         "Type": "varchar"},
                        {**info, "Name": "units", "Label": "units", "Type": "bigint"}],
    }]}  # fmt: skip
    seeded = requests.post(f"{aws_env}/moto-api/static/athena/query-results", json=answer,
                           timeout=10)  # fmt: skip
    assert seeded.status_code == 201
    con = connect(workgroup="analysts", databases={"cleaned": "spapi_c", "aggregated": "spapi_a"},
                  env={})  # fmt: skip

    frame = con.sql("select marketplace_id, sum(units_ordered) as units from "
                    "aggregated.sales_daily where date = :day and marketplace_id = :m group by 1",
                    day=D1, m=US)  # fmt: skip

    assert frame.to_dict("records") == [{"marketplace_id": US, "units": 4}]
    [run] = athena.list_query_executions(WorkGroup="analysts")["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=run)["QueryExecution"]
    assert "FROM spapi_a.sales_daily WHERE date = ? AND marketplace_id = ?" in sent["Query"]
    assert sent["ExecutionParameters"] == ["DATE '2026-11-03'", f"'{US}'"]
    assert sent["WorkGroup"] == "analysts"


def _profit(marketplace, day, sku, units, revenue, fees, refunds, cost, currency="USD"):
    """A profit_daily row: ``fees`` split as referral and FBA halves, ``cost`` None: unknown."""
    revenue, fees, refunds = Decimal(revenue), Decimal(fees), Decimal(refunds)
    margin = None if cost is None else revenue + fees + refunds - Decimal(cost)
    return dict(seller_id="A2SELLER", marketplace_id=marketplace, date=day, sku=sku,
                currency=currency, reporting_currency="USD", units_shipped=units,
                units_refunded=0, revenue=revenue, promotions=Decimal(0),
                referral_fees=fees / 2, fba_fees=fees / 2, other_fees=Decimal(0), refunds=refunds,
                refund_fees=Decimal(0), cost_of_goods=None if cost is None else Decimal(cost),
                units_without_cost=units if cost is None else 0, contribution_margin=margin,
                revenue_reporting=revenue, referral_fees_reporting=fees / 2,
                fba_fees_reporting=fees / 2, other_fees_reporting=Decimal(0),
                refunds_reporting=refunds, refund_fees_reporting=Decimal(0),
                cost_of_goods_reporting=None if cost is None else Decimal(cost),
                contribution_margin_reporting=margin)  # fmt: skip


def test_profit_per_sku_sums_its_days_and_has_no_margin_where_a_cost_is_unknown(tmp_path):
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_rows(lake, mart("profit_daily"), [
        _profit(US, D1, "S1", 2, "40.00", "-10.00", "0", "16.00"),
        _profit(US, D2, "S1", 1, "20.00", "-5.00", "-20.00", "8.00"),  # a refund: a loss that day
        _profit(US, D1, "S2", 1, "10.00", "-4.00", "0", "3.00"),
        _profit(US, D2, "S2", 1, "10.00", "-4.00", "0", None),  # no cost that day: no margin
        _profit(US, date(2026, 11, 5), "S1", 9, "90.00", "-9.00", "0", "1.00"),  # after the end
    ])  # fmt: skip
    write_rows(lake, mart("orders_daily"), [
        dict(seller_id="A2SELLER", marketplace_id=US, date=D1, sku="S1", asin="B01", units=2),
    ])  # fmt: skip
    con = connect(lake)
    us = {**PARAMS, "marketplaces": [US]}
    rows = {r.sku: r for r in con.query("profit_by_sku", **us).itertuples()}
    s1, s2 = rows["S1"], rows["S2"]
    assert (s1.units_shipped, s1.revenue, s1.cost_of_goods) == (
        3, Decimal("60.00"), Decimal("24.00"))  # fmt: skip
    assert s1.contribution_margin == Decimal("60") - 15 - 20 - 24
    assert s1.margin_rate == pytest.approx(1 / 60)
    assert s1.fee_share == pytest.approx(0.25) and s1.refund_share == pytest.approx(1 / 3)
    assert s1.cost_share == pytest.approx(0.4)
    assert s2.units_without_cost == 1 and s2.revenue == Decimal("20.00")
    assert pd.isna(s2.cost_of_goods) and pd.isna(s2.cost_of_goods_reporting)  # not 3.00 of 2 days
    assert pd.isna(s2.contribution_margin) and pd.isna(s2.contribution_margin_reporting)
    assert pd.isna(s2.margin_rate) and s2.fee_share == pytest.approx(0.4)
    asins = con.query("sku_asins", **us)
    assert list(zip(asins.sku, asins.asin, strict=True)) == [("S1", "B01")]  # S2: no orders
    days = con.query("profit_by_day", **us).set_index("date")
    assert days.loc[pd.Timestamp(D1), "contribution_margin_reporting"] == 14 + 3  # S1 + S2
    assert pd.isna(days.loc[pd.Timestamp(D2), "contribution_margin_reporting"])
