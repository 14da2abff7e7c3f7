"""Benchmark: recommendation quality — hit rate@10 on a time-split hold-out of the Superstore order history,
against a popularity baseline, in one run.

    python bench/recommendations.py [--csv ../shared/datasets/superstore/superstore_orders.csv] [--split 0.8]

Orders before the split date train; for every customer who bought in the hold-out and also before, the top 10 of
`automation.ranking` (what `GET /customers/{id}/recommendations` ranks with: popularity over the 200 best sellers
and the co-purchased candidates, item-to-item co-purchase by cosine with shrinkage seeded by their 20 most-bought
products, their sub-category affinity) is a hit when it holds any product they bought in the hold-out. The
baseline is the 10 best sellers they do not own (and, for reference, the 10 best sellers). Availability is not
part of the evaluation (the dataset has no stock).

Tuning happened on a validation split carved out of the training period (its last 20 % of lines), never on the
hold-out: the script prints the validation figures first, then the hold-out, for the weights as shipped, with
and without leaving out what the person already owns.
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
from omnihub.automation import ranking  # noqa: E402
from omnihub.automation.recommendations import POOL, SEEDS  # noqa: E402

DEFAULT_CSV = ROOT.parent.parent / "shared" / "datasets" / "superstore" / "superstore_orders.csv"
Row = tuple[datetime, str, str, str, str]


def split(rows: list[Row], share: float) -> tuple[list[Row], list[Row], datetime]:
    cut = rows[int(len(rows) * share)][0]
    return [r for r in rows if r[0] < cut], [r for r in rows if r[0] >= cut], cut


def evaluate(train: list[Row], test: list[Row], k: int) -> dict[str, int]:
    """Hits of the ranking (owned left out / left in) and of the two popularity baselines; 'people' evaluated."""
    baskets: dict[str, set[str]] = defaultdict(set)
    owned: dict[str, Counter[str]] = defaultdict(Counter)
    category: dict[str, str] = {}
    for _, order, customer, sku, sub in train:
        baskets[order].add(sku)
        owned[customer][sku] += 1
        category[sku] = sub
    orders_with: Counter[str] = Counter()
    pairs_of: dict[str, Counter[str]] = defaultdict(Counter)
    for skus in baskets.values():
        for sku in skus:
            orders_with[sku] += 1
            for other in skus:
                if other != sku:
                    pairs_of[sku][other] += 1
    popular = dict(orders_with.most_common(POOL))
    future: dict[str, set[str]] = defaultdict(set)
    for _, _, customer, sku, _ in test:
        future[customer].add(sku)
    people = sorted(c for c in future if c in owned)
    hits = Counter({"people": len(people)})
    for customer in people:
        mine = owned[customer]
        seeds = sorted(mine, key=lambda s: (-mine[s], s))[:SEEDS]
        pairs = {seed: dict(pairs_of[seed].most_common(POOL)) for seed in seeds}
        co = ranking.co_purchase(pairs, orders_with)
        pool = {**{sku: orders_with[sku] for sku in co}, **popular}
        units: Counter[str] = Counter()
        for sku, n in mine.items():
            units[category[sku]] += n
        shares = ranking.affinity(units)
        for name, exclude in (("ranking_excluding_owned", set(mine)), ("ranking_with_owned", set())):
            ranked = ranking.rank(co, pool, shares, category, exclude, k)
            hits[name] += bool({sku for sku, _ in ranked} & future[customer])
        baseline = [sku for sku, _ in orders_with.most_common() if sku not in mine][:k]
        hits["popularity_not_owned"] += bool(set(baseline) & future[customer])
        hits["popularity"] += bool({sku for sku, _ in orders_with.most_common(k)} & future[customer])
    return hits


def report(label: str, hits: dict[str, int], k: int) -> None:
    people, base = hits["people"], hits["popularity_not_owned"]
    print(f"{label}: {people} customers; popularity baseline (not owned) {base / people:.4f} ({base} hits); "
          f"popularity incl. owned {hits['popularity'] / people:.4f} ({hits['popularity']})")
    for name in ("ranking_excluding_owned", "ranking_with_owned"):
        shipped = " (as shipped)" if (name == "ranking_excluding_owned") == ranking.EXCLUDE_OWNED else ""
        print(f"  hit rate@{k} {name}{shipped}: {hits[name] / people:.4f} ({hits[name]} hits) = "
              f"{hits[name] / base if base else float('inf'):.2f}x the baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--split", type=float, default=0.8, help="share of the order lines that train")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    rows: list[Row] = []
    with args.csv.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            rows.append((datetime.strptime(r["Order Date"], "%d/%m/%y"), r["Order ID"], r["Customer ID"],
                         r["Product ID"], r["Sub-Category"].lower()))
    rows.sort()
    started = time.perf_counter()
    train, test, cut = split(rows, args.split)
    fit, validation, val_cut = split(train, args.split)
    print(f"Superstore: {len(rows):,} lines, {len({r[3] for r in rows}):,} products; hold-out from {cut:%Y-%m-%d}, "
          f"validation (inside the training period) from {val_cut:%Y-%m-%d}; weights W_CO={ranking.W_CO} "
          f"W_AFFINITY={ranking.W_AFFINITY} SHRINK={ranking.SHRINK}, chosen on the validation split")
    report("validation (tuning)", evaluate(fit, validation, args.k), args.k)
    report("hold-out", evaluate(train, test, args.k), args.k)
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
