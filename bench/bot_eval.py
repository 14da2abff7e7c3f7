"""Benchmark: how well the service bot answers and hands off, through the HTTP API of a running hub.

    OMNIHUB_SMTP_URL=smtp://127.0.0.1:19025 omnihub serve --port 19010   # e-mail replies can be queued
    omnihub worker                                                        # the bot runs in the dispatcher
    python bench/bot_eval.py --url http://127.0.0.1:19010 --key ADMIN_KEY

It publishes the sample knowledge base (bench/data/kb_sample.yaml; earlier copies with the same titles are
deleted first), makes a shop and, for each order question, a customer with a shipped order (their e-mail
verified or not, as the question's label says), and then sends every labelled question of
bench/data/bot_eval.yaml as a customer's e-mail (`POST /messages`, each from its own address: one conversation
per question). It waits for the bot's turn (a reply by `author: bot` or a `handoff`) and scores it:

* an **answer** is correct when it cites the expected article (`(kb_…)` at its end), or, for an order question
  from the verified customer, names their order; an order answered to the unverified customer is wrong;
* a **handoff** is correct for unanswerable questions, people asked for, complaints and unverified order
  questions (which also get a request to verify, never the order).

Prints: precision of the answers given, recall of the handoffs that should happen, the share of questions
answered wrongly, how many answerable questions were answered, and the latency from the message to the bot's
turn (p50/p99; it includes the worker's dispatch interval). Nothing needs to listen on the SMTP URL: the
replies are read from the thread, not from a mailbox.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).parent
CITATION = re.compile(r"\((kb_[A-Za-z0-9_]+)\)\s*$")


def call(client: httpx.Client, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
    response = client.request(method, path, **kw)
    if response.status_code not in expect:
        raise SystemExit(f"{method} {path} -> {response.status_code}: {response.text[:400]}")
    return response.json() if response.content else None


def publish_kb(client: httpx.Client, articles: list[dict[str, Any]]) -> dict[str, str]:
    titles = {a["title"] for a in articles}
    cursor = None
    while True:
        page = call(client, "GET", "/api/v1/kb/articles", params={"limit": 200, **({"cursor": cursor} if cursor
                                                                                   else {})})
        for old in page["items"]:
            if old["title"] in titles:
                call(client, "DELETE", f"/api/v1/kb/articles/{old['id']}", expect=(204,))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return {a["title"]: call(client, "POST", "/api/v1/kb/articles", json={**a, "published": True})["id"]
            for a in articles}


def make_shop(client: httpx.Client, run: str) -> str:
    """A warehouse, a product with stock and a channel to sell it: the orders of the order questions."""
    loc, sku, chan = f"bw{run}", f"BOT-{run}", f"bot{run}"
    call(client, "POST", "/api/v1/locations", json={"code": loc, "name": "Bench warehouse", "kind": "warehouse",
                                                    "lat": 40.4, "lon": -3.7, "pickup": False})
    call(client, "POST", "/api/v1/products", json={"sku": sku, "name": "Zapatilla", "category": "running"})
    call(client, "POST", "/api/v1/channels", json={"code": chan, "name": "Bench", "kind": "web", "currency": "EUR",
                                                   "country": "ES", "locations": [loc], "stock_buffer": 0})
    call(client, "PUT", f"/api/v1/channels/{chan}/prices", json=[{"sku": sku, "amount": "59.90"}])
    call(client, "PUT", f"/api/v1/stock/{loc}/{sku}", json={"on_hand": 1000})
    return run


def customer_with_order(client: httpx.Client, run: str, n: int, verified: bool) -> dict[str, Any]:
    """A customer of their own (one conversation per question) with a shipped order; their e-mail verified or
    not."""
    email = f"o{n}.{'v' if verified else 'u'}.{run}@bench.omnihub.io"
    order = call(client, "POST", "/api/v1/orders", json={
        "channel": f"bot{run}", "customer": [{"kind": "email", "value": email, "verified": verified}],
        "lines": [{"sku": f"BOT-{run}", "quantity": 1}], "payments": [{"method": "card", "amount": "59.90"}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid",
                                                   "postal_code": "28013", "country": "ES"}}})
    call(client, "POST", f"/api/v1/orders/{order['id']}/shipments",
         json={"carrier": "SEUR", "tracking_number": f"SE-{run}-{n}", "location": f"bw{run}"})
    return {"email": email, "order": order["number"]}


def bot_turn(client: httpx.Client, conversation_id: str, message_id: str, timeout: float) -> dict[str, Any]:
    """Poll the conversation until the bot answered after the message or handed off on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = call(client, "GET", f"/api/v1/conversations/{conversation_id}")
        ids = [m["id"] for m in seen["messages"]]
        after = seen["messages"][ids.index(message_id) + 1:] if message_id in ids else []
        answers = [m for m in after if m["direction"] == "out" and m["author"] == "bot"]
        handoff = seen.get("handoff")
        if handoff and handoff["message_id"] == message_id:
            return {"handoff": handoff["reason"], "text": answers[0]["text"] if answers else None}
        if answers:
            return {"handoff": None, "text": answers[0]["text"]}
        time.sleep(0.2)
    return {"handoff": None, "text": None, "timeout": True}


def ask(client: httpx.Client, item: dict[str, Any], person: dict[str, Any] | None, run: str, n: int,
        timeout: float) -> dict[str, Any]:
    who = person["email"] if person else f"q{n}.{run}@bench.omnihub.io"
    started = time.perf_counter()
    receipt = call(client, "POST", "/api/v1/messages", json={"channel": "email", "identity": {"email": who},
                                                            "text": item["text"]})
    turn = bot_turn(client, receipt["conversation_id"], receipt["message_id"], timeout)
    return {**turn, "seconds": time.perf_counter() - started}


def score(item: dict[str, Any], turn: dict[str, Any], kb: dict[str, str], person: dict[str, Any] | None) -> str:
    """correct_answer, wrong_answer, correct_handoff, missed_answer (handed off an answerable one), timeout."""
    if turn.get("timeout"):
        return "timeout"
    answered = turn["handoff"] is None and turn["text"] is not None
    if "answer" in item:
        if not answered:
            return "missed_answer"
        cited = CITATION.search(turn["text"])
        return "correct_answer" if cited and cited.group(1) == kb[item["answer"]] else "wrong_answer"
    if item.get("order") == "verified":
        if not answered:
            return "missed_answer"
        return "correct_answer" if person and person["order"] in turn["text"] else "wrong_answer"
    if item.get("order") == "unverified" and turn["text"] and person and person["order"] in turn["text"]:
        return "wrong_answer"  # the order told to someone not verified
    return "wrong_answer" if answered else "correct_handoff"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:19010")
    parser.add_argument("--key", required=True, help="an admin API key")
    parser.add_argument("--questions", default=str(HERE / "data" / "bot_eval.yaml"))
    parser.add_argument("--kb", default=str(HERE / "data" / "kb_sample.yaml"))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the bot's turn")
    parser.add_argument("--verbose", action="store_true", help="print every question's outcome")
    args = parser.parse_args(argv)

    items = yaml.safe_load(Path(args.questions).read_text())["questions"]
    articles = yaml.safe_load(Path(args.kb).read_text())["articles"]
    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"}, timeout=30) as client:
        kb = publish_kb(client, articles)
        make_shop(client, run)
        people = [customer_with_order(client, run, n, item["order"] == "verified") if "order" in item else None
                  for n, item in enumerate(items)]
        with ThreadPoolExecutor(args.concurrency) as pool:
            turns = list(pool.map(lambda n: ask(client, items[n], people[n], run, n, args.timeout),
                                  range(len(items))))

    outcomes = [score(item, turn, kb, person) for item, turn, person in zip(items, turns, people, strict=True)]
    given = sum(o in ("correct_answer", "wrong_answer") for o in outcomes)
    correct = outcomes.count("correct_answer")
    should_hand_off = [o for item, o in zip(items, outcomes, strict=True)
                       if "handoff" in item or item.get("order") == "unverified"]
    answerable = [o for item, o in zip(items, outcomes, strict=True)
                  if "answer" in item or item.get("order") == "verified"]
    wrong = outcomes.count("wrong_answer")
    latencies = sorted(t["seconds"] for t in turns if not t.get("timeout"))
    if args.verbose or wrong or outcomes.count("timeout"):
        for item, turn, outcome in zip(items, turns, outcomes, strict=True):
            if args.verbose or outcome in ("wrong_answer", "timeout"):
                print(f"{outcome:16} {turn.get('handoff') or '':22} {item['text'][:60]!r} -> "
                      f"{(turn.get('text') or '')[-60:]!r}")
    print(f"questions {len(items)} ({sum('answer' in i for i in items)} from the KB, "
          f"{sum('order' in i for i in items)} about the order, {sum('handoff' in i for i in items)} to hand off)")
    print(f"precision of answers given: {correct / given if given else 0:.3f} ({correct}/{given})")
    print(f"recall of correct handoffs: {should_hand_off.count('correct_handoff') / len(should_hand_off):.3f} "
          f"({should_hand_off.count('correct_handoff')}/{len(should_hand_off)})")
    print(f"answered wrongly: {wrong / len(items):.1%} ({wrong}/{len(items)})")
    print(f"answerable answered: {answerable.count('correct_answer') / len(answerable):.3f} "
          f"({answerable.count('correct_answer')}/{len(answerable)}; the rest handed off)")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)))]
        print(f"message to bot's turn: p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    if outcomes.count("timeout"):
        print(f"timeouts: {outcomes.count('timeout')} (is `omnihub worker` running?)")
        sys.exit(1)


if __name__ == "__main__":
    main()
