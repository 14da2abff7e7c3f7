"""Benchmark: recommendation quality — hit rate@10 on a time-split hold-out of the Superstore order history,
against popularity baselines under the same ownership rule, in one run.

    python bench/recommendations.py [--csv ../shared/datasets/superstore/superstore_orders.csv] [--split 0.8]
                                    [--robust]

Orders before the split date train; for every customer who bought in the hold-out and also before, the top 10 of
`automation.ranking.for_person` (what `GET /customers/{id}/recommendations` ranks with, fed the same way:
popularity over the 200 best sellers and the co-purchased candidates, item-to-item co-purchase by cosine with
shrinkage seeded by their 20 most-bought products, their sub-category affinity, what they bought before) is a hit
when it holds any product they bought in the hold-out. Each ownership rule is compared with the popularity
baseline under the same rule: with owned products allowed, the 10 best sellers; with them left out, the 10 best
sellers they do not own. Availability is not part of the evaluation (the dataset has no stock).

Tuning happened on validation folds carved out of the training period, never on the hold-out: the script prints
the validation figures first (the last 20 % of the training lines, then the two equal windows before it), then
the hold-out. `--robust` adds other split shares and a paired bootstrap over the hold-out's customers.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import random
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
Row = tuple[datetime, str, str, str, str, int]  # date, order, customer, product, sub-category, quantity
RULES = ("with_owned", "without_owned")


def load(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            rows.append((datetime.strptime(r["Order Date"], "%d/%m/%y"), r["Order ID"], r["Customer ID"],
                         r["Product ID"], r["Sub-Category"].lower(), int(r["Quantity"])))
    rows.sort()
    return rows


def split(rows: list[Row], share: float) -> tuple[list[Row], list[Row], datetime]:
    cut = rows[int(len(rows) * share)][0]
    return [r for r in rows if r[0] < cut], [r for r in rows if r[0] >= cut], cut


def folds(train: list[Row]) -> list[tuple[list[Row], list[Row], datetime]]:
    """Validation windows inside the training period: its last 20 % of lines (the bench's validation split), then
    the two equal windows before it; each is predicted from everything before it."""
    out = []
    for start, end in ((0.8, 1.0), (0.6, 0.8), (0.4, 0.6)):
        cut, stop = train[int(len(train) * start)][0], train[min(int(len(train) * end), len(train) - 1)][0]
        window = [r for r in train if cut <= r[0] < stop] if end < 1.0 else [r for r in train if r[0] >= cut]
        out.append(([r for r in train if r[0] < cut], window, cut))
    return out


Case = tuple[Counter[str], dict[str, dict[str, int]], dict[str, int], set[str]]  # owned, pairs, counts, future


def prepare(train: list[Row], test: list[Row]) -> tuple[list[Case], dict[str, int], list[str], dict[str, str]]:
    """Per evaluated customer (sorted) what the API would read (owned units, each seed's 200 most co-purchased,
    the order counts of every SKU involved) and what they bought in the test window; the best sellers."""
    baskets: dict[str, set[str]] = defaultdict(set)
    owned: dict[str, Counter[str]] = defaultdict(Counter)
    category: dict[str, str] = {}
    for _, order, customer, sku, sub, quantity in train:
        baskets[order].add(sku)
        owned[customer][sku] += quantity
        category[sku] = sub
    orders_with: Counter[str] = Counter()
    pairs_of: dict[str, Counter[str]] = defaultdict(Counter)
    for skus in baskets.values():
        for sku in skus:
            orders_with[sku] += 1
            for other in skus:
                if other != sku:
                    pairs_of[sku][other] += 1
    best = sorted(orders_with, key=lambda s: (-orders_with[s], s))
    popular = {sku: orders_with[sku] for sku in best[:POOL]}
    future: dict[str, set[str]] = defaultdict(set)
    for _, _, customer, sku, _, _ in test:
        future[customer].add(sku)
    cases: list[Case] = []
    for customer in sorted(c for c in future if c in owned):
        mine = owned[customer]
        seeds = sorted(mine, key=lambda s: (-mine[s], s))[:SEEDS]
        pairs = {seed: dict(sorted(pairs_of[seed].items(), key=lambda kv: (-kv[1], kv[0]))[:POOL]) for seed in seeds}
        counts = {sku: orders_with[sku] for sku in set(mine).union(*pairs.values()) if orders_with[sku]}
        cases.append((mine, pairs, counts, future[customer]))
    return cases, popular, best, category


def evaluate(prepared: tuple[list[Case], dict[str, int], list[str], dict[str, str]], k: int,
             rules: tuple[str, ...] = RULES) -> dict[str, list[bool]]:
    """Per evaluated customer, whether each list hit: the ranking and the popularity baseline under each ownership
    rule."""
    cases, popular, best, category = prepared
    flags: dict[str, list[bool]] = defaultdict(list)
    for mine, pairs, counts, future in cases:
        for rule in rules:
            ranked = ranking.for_person(mine, pairs, counts, popular, category, include_owned=rule == "with_owned",
                                        limit=k)
            flags[f"ranking_{rule}"].append(bool({sku for sku, _ in ranked} & future))
        flags["popularity_with_owned"].append(bool(set(best[:k]) & future))
        not_owned = [sku for sku in best[:k + len(mine)] if sku not in mine][:k]
        flags["popularity_without_owned"].append(bool(set(not_owned) & future))
    return flags


def tune(train: list[Row], k: int) -> None:
    """The grid the weights were chosen from, on the validation folds only (never the hold-out)."""
    prepared = [prepare(fit, window) for fit, window, _ in folds(train)]
    results = []
    for w_co, w_affinity, w_again in itertools.product((0.0, 0.2, 0.4, 0.8), (0.0, 0.5, 1.0, 2.0, 4.0),
                                                       (0.0, 0.5, 1.0, 2.0)):
        ranking.W_CO, ranking.W_AFFINITY, ranking.W_AGAIN = w_co, w_affinity, w_again
        for rule in RULES if w_again == 0.0 else ("with_owned",):
            hits = [sum(evaluate(p, k, (rule,))[f"ranking_{rule}"]) for p in prepared]
            results.append((sum(hits), hits, rule, w_co, w_affinity, w_again))
    results.sort(key=lambda r: (-r[0], r[3], r[4], r[5]))
    print("validation folds: hits (per fold), rule, W_CO, W_AFFINITY, W_AGAIN — best 12, then the best without "
          "owned products")
    for row in [*results[:12], next(r for r in results if r[2] == "without_owned")]:
        print("  ", *row)


def report(label: str, flags: dict[str, list[bool]], k: int) -> dict[str, float]:
    people = len(flags["popularity_with_owned"])
    print(f"{label}: {people} customers")
    ratios = {}
    for rule in RULES:
        model, base = sum(flags[f"ranking_{rule}"]), sum(flags[f"popularity_{rule}"])
        shipped = " (the default)" if (rule == "with_owned") == ranking.INCLUDE_OWNED else ""
        ratios[rule] = model / base if base else math.inf
        print(f"  {rule}{shipped}: ranking hit rate@{k} {model / people:.4f} ({model} hits) vs popularity "
              f"{base / people:.4f} ({base}) = {ratios[rule]:.2f}x")
    return ratios


def robustness(flags: dict[str, list[bool]], rule: str, samples: int = 2000) -> None:
    """Paired bootstrap over customers (seeded) and the discordant pairs: is the ratio one lucky hit?"""
    model, base = flags[f"ranking_{rule}"], flags[f"popularity_{rule}"]
    only_model = sum(m and not b for m, b in zip(model, base, strict=True))
    only_base = sum(b and not m for m, b in zip(model, base, strict=True))
    n = only_model + only_base
    p = sum(math.comb(n, i) for i in range(only_model, n + 1)) / 2 ** n if n else 1.0
    print(f"  {rule}: hit by the ranking only {only_model}, by popularity only {only_base} (one-sided sign test "
          f"p = {p:.2g}); hits needed for 1.5x: {math.ceil(1.5 * sum(base))}, had {sum(model)}")
    rng = random.Random(18)
    people = len(model)
    ratios = []
    for _ in range(samples):
        pick = [rng.randrange(people) for _ in range(people)]
        b = sum(base[i] for i in pick)
        ratios.append(sum(model[i] for i in pick) / b if b else math.inf)
    ratios.sort()
    at = lambda q: ratios[int(q * (samples - 1))]  # noqa: E731
    print(f"  {rule}: bootstrap ({samples} resamples of the {people} customers) ratio 5 % {at(0.05):.2f}x, "
          f"median {at(0.5):.2f}x, 95 % {at(0.95):.2f}x; share >= 1.5x: "
          f"{sum(r >= 1.5 for r in ratios) / samples:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--split", type=float, default=0.8, help="share of the order lines that train")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--robust", action="store_true", help="other split shares and a bootstrap")
    parser.add_argument("--tune", action="store_true", help="the weight grid on the validation folds, no hold-out")
    args = parser.parse_args()

    rows = load(args.csv)
    started, cpu = time.perf_counter(), time.process_time()
    train, test, cut = split(rows, args.split)
    print(f"Superstore: {len(rows):,} lines, {len({r[3] for r in rows}):,} products; hold-out from {cut:%Y-%m-%d}; "
          f"{ranking.describe()}; chosen on the validation folds")
    if args.tune:
        tune(train, args.k)
        return
    for fit, window, start in folds(train):
        report(f"validation from {start:%Y-%m-%d} (tuning)", evaluate(prepare(fit, window), args.k), args.k)
    flags = evaluate(prepare(train, test), args.k)
    report(f"hold-out from {cut:%Y-%m-%d}", flags, args.k)
    if args.robust:
        for rule in RULES:
            robustness(flags, rule)
        for share in (0.7, 0.75, 0.85):
            other_train, other_test, other_cut = split(rows, share)
            report(f"hold-out at {share:.2f} (from {other_cut:%Y-%m-%d})",
                   evaluate(prepare(other_train, other_test), args.k), args.k)
    print(f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
