"""The simulated seller's competitor watchlist, as its team would write it.

Per marketplace: a keyword search for each of the seller's two biggest noun families (the
family's noun in the marketplace's language, the words a shopper types), and one rival ASIN of a
third family watched by name, with a note. Deterministic (a function of the seed): the demo
writes the file with ``watchlist_csv`` and loads it with ``spapi reference load watchlist``, and
the daily snapshots then follow the searches' results and the named rival.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from spapi_sandbox.seller import SimulatedSeller, local_noun

SEARCHES_PER_MARKETPLACE = 2


def watchlist_rows(seller: SimulatedSeller) -> list[tuple[str, str, str, str, str, str]]:
    """(marketplace_id, kind, value, brand, watch, note) of the seller's watchlist."""
    families = [noun for noun, _ in Counter(p.noun for p in seller.products()).most_common()]
    rivals = seller.rivals()
    rows = []
    for marketplace_id in seller.config.marketplace_ids:
        for noun in families[:SEARCHES_PER_MARKETPLACE]:
            keyword = local_noun(noun, marketplace_id)
            rows.append((marketplace_id, "search", keyword, "", "true", f"our {noun} family"))
        named = [r for r in rivals if r.noun not in families[:SEARCHES_PER_MARKETPLACE]]
        if named:
            rival = named[0]
            rows.append((marketplace_id, "asin", rival.asin, "", "true",
                         f"{rival.brand}'s {rival.noun}: the rival our buyers name"))  # fmt: skip
    return list(dict.fromkeys(rows))


def watchlist_csv(seller: SimulatedSeller) -> bytes:
    """The ``watchlist`` file (see ``spapi_toolkit.lake.reference``) of ``seller``."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("marketplace_id", "kind", "value", "brand", "watch", "note"))
    writer.writerows(watchlist_rows(seller))
    return text.getvalue().encode("utf-8")
