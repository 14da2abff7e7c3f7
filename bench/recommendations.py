"""Benchmark: recommendation quality — hit rate@10 on a time-split hold-out of the Superstore order history,
against a popularity baseline, in one run.

    python bench/recommendations.py [--csv ../shared/datasets/superstore/superstore_orders.csv] [--split 0.8]

Orders before the split date train; for every customer who bought in the hold-out and also before, the top 10 of
`automation.rules.blend` (item-to-item co-purchase of what they bought, their sub-category interests, a small
popularity prior; never what they own) is a hit when it holds any product they bought in the hold-out. The
baseline is the 10 best sellers they do not own. The same scoring function the API uses
(`GET /customers/{id}/recommendations`), on the dataset's rows rather than through the server (the Superstore
importer is not there yet); availability is not part of the evaluation (the dataset has no stock).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from omnihub.automation.rules import blend  # noqa: E402

DEFAULT_CSV = ROOT.parent.parent / "shared" / "datasets" / "superstore" / "superstore_orders.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--split", type=float, default=0.8, help="share of the order dates that train")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    rows = []
    with args.csv.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            rows.append((datetime.strptime(r["Order Date"], "%d/%m/%y"), r["Order ID"], r["Customer ID"],
                         r["Product ID"], r["Sub-Category"].lower()))
    rows.sort()
    cut = rows[int(len(rows) * args.split)][0]
    train = [r for r in rows if r[0] < cut]
    test = [r for r in rows if r[0] >= cut]
    started = time.perf_counter()

    baskets: dict[str, set[str]] = defaultdict(set)
    owned: dict[str, set[str]] = defaultdict(set)
    interests: dict[str, Counter[str]] = defaultdict(Counter)
    category: dict[str, str] = {}
    for _, order, customer, sku, sub in train:
        baskets[order].add(sku)
        owned[customer].add(sku)
        interests[customer][sub] += 1
        category[sku] = sub
    orders_of: dict[str, set[str]] = defaultdict(set)  # sku -> orders (for co-purchase counts)
    for order, skus in baskets.items():
        for sku in skus:
            orders_of[sku].add(order)
    popularity = Counter({sku: len(orders) for sku, orders in orders_of.items()})
    popular_pool = dict(popularity.most_common(200))

    future: dict[str, set[str]] = defaultdict(set)
    for _, _, customer, sku, _ in test:
        future[customer].add(sku)
    people = sorted(c for c in future if c in owned)

    hits = base_hits = 0
    for customer in people:
        co: Counter[str] = Counter()
        for sku in owned[customer]:
            for order in orders_of[sku]:
                for other in baskets[order]:
                    if other not in owned[customer]:
                        co[other] += 1
        ranked = blend(dict(co.most_common(200)), popular_pool, dict(interests[customer]), category,
                       owned[customer], args.k)
        hits += bool({sku for sku, _ in ranked} & future[customer])
        baseline = [sku for sku, _ in popularity.most_common() if sku not in owned[customer]][:args.k]
        base_hits += bool(set(baseline) & future[customer])
    elapsed = time.perf_counter() - started
    rate, base = hits / len(people), base_hits / len(people)
    print(f"Superstore: {len(rows):,} lines, {len(baskets):,} training orders, {len(category):,} products; "
          f"split at {cut:%Y-%m-%d}; {len(people):,} customers bought before and after")
    print(f"hit rate@{args.k}: blend {rate:.4f} ({hits}/{len(people)}), popularity {base:.4f} ({base_hits}/"
          f"{len(people)}), ratio {rate / base if base else float('inf'):.2f}x; {elapsed:.1f} s")


if __name__ == "__main__":
    main()
