"""The bot's pure parts: language, tokens, what a message asks for, the decision, the answers' words, and the BM25
index's ranking and confidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.service import bot_rules
from omnihub.service.bot_rules import Hit, decide
from omnihub.service.retrieval import KnowledgeIndex

ARTICLES = [
    {"id": "kb_es_ship", "language": "es", "title": "Gastos de envío", "keywords": ["portes", "Canarias"],
     "body": "El envío a la península cuesta 4,95 €, gratis desde 50 €. A Canarias cuesta 12,95 €."},
    {"id": "kb_es_ret", "language": "es", "title": "Devoluciones", "keywords": ["devolver"],
     "body": "Tienes 30 días para devolver un artículo sin usar en cualquier tienda."},
    {"id": "kb_en_ship", "language": "en", "title": "Shipping costs", "keywords": ["delivery"],
     "body": "Shipping to mainland Spain costs €4.95, free from €50. The Canary Islands cost €12.95."},
    {"id": "kb_en_ret", "language": "en", "title": "Returns", "keywords": ["send back"],
     "body": "You have 30 days to return an unused item in any store."},
]


@pytest.mark.parametrize(("text", "language"), [
    ("¿Cuánto tarda el envío?", "es"), ("Quiero devolver unas zapatillas", "es"), ("¿Envíos?", "es"),
    ("How long does shipping take?", "en"), ("I want to return my shoes", "en"), ("Bizum", None),
])
def test_language_by_stop_words_and_spanish_marks(text: str, language: str | None) -> None:
    assert bot_rules.detect_language(text) == language


def test_tokens_drop_stop_words_and_stem_per_language() -> None:
    assert bot_rules.tokens("¿Cuánto cuestan los envíos a Canarias?", "es") == ["cuest", "envi", "canari"]
    assert bot_rules.tokens("How much do the shipping costs to the Canaries?", "en") == ["ship", "cost", "canari"]


@pytest.mark.parametrize("text", ["Quiero hablar con una persona", "¿Me pasas con un agente?", "agent",
                                  "I want to talk to a human", "Can I speak to a real person?"])
def test_asking_for_a_person(text: str) -> None:
    assert bot_rules.wants_person(text)


@pytest.mark.parametrize("text", ["¿Puede recoger el pedido otra persona?", "¿Cuánto cuesta el envío?"])
def test_not_asking_for_a_person(text: str) -> None:
    assert not bot_rules.wants_person(text)


@pytest.mark.parametrize(("text", "asks"), [
    ("¿Dónde está mi pedido?", True), ("mi paquete no ha llegado", True), ("¿Cuándo llega mi pedido?", True),
    ("Where is my order?", True), ("I'd like to track my order", True), ("Has my package been shipped yet?", True),
    ("¿Puedo cancelar mi pedido?", False), ("How do I cancel an order?", False), ("¿Cuánto cuesta el envío?", False),
])
def test_the_order_status_question(text: str, asks: bool) -> None:
    assert bot_rules.asks_order_status(text) is asks


def test_cash_on_delivery_is_not_a_refund() -> None:
    assert not bot_rules.asks_refund("¿Aceptáis pago contra reembolso?", True)
    assert bot_rules.asks_refund("Quiero un reembolso", True)
    assert not bot_rules.asks_refund("Quiero un reembolso", False)


HIT = Hit("kb_1", "Devoluciones", "Tienes 30 días.", "es", 2.0, 0.8)


@pytest.mark.parametrize(("text", "flags", "action", "reason"), [
    ("Quiero hablar con una persona", {}, "handoff", "asked_for_person"),
    ("¿Y las devoluciones?", {"complaint": True}, "handoff", "complaint"),
    ("¿Y las devoluciones?", {"refund": True}, "handoff", "refund_asked"),
    ("¿Dónde está mi pedido?", {"verified": True}, "answer_order", None),
    ("¿Dónde está mi pedido?", {"verified": False}, "ask_verification", "identity_not_verified"),
    ("¿Y las devoluciones?", {}, "answer_article", None),
    ("¿Y las devoluciones?", {"hit": Hit("kb_1", "Devoluciones", "x", "es", 0.3, 0.2)}, "handoff", "low_confidence"),
    ("¿Vendéis tarjetas regalo?", {"hit": None}, "handoff", "low_confidence"),
    ("¡Muchas gracias!", {"hit": None}, "none", None),
    ("ok, thanks a lot", {"hit": None}, "none", None),
    ("Hola", {"hit": None}, "handoff", "low_confidence"),
    ("Gracias, pero quiero hablar con una persona", {"hit": None}, "handoff", "asked_for_person"),
])
def test_the_decision(text: str, flags: dict, action: str, reason: str | None) -> None:
    args = {"complaint": False, "refund": False, "verified": None, "hit": HIT, **flags}
    decision = decide(text, threshold=0.5, **args)
    assert (decision.action, decision.reason) == (action, reason)


def test_an_article_answer_cites_its_article_and_is_cut_at_a_paragraph() -> None:
    answer = bot_rules.article_answer(HIT)
    assert answer == "Tienes 30 días.\n\nFuente: «Devoluciones» (kb_1)"
    long = Hit("kb_2", "Returns", ("word " * 60 + "\n\n") * 20, "en", 1.0, 1.0)
    cut = bot_rules.article_answer(long)
    assert len(cut) < 1600 and cut.endswith("Source: «Returns» (kb_2)") and " …\n\n" in cut


def test_the_order_answer_says_status_carrier_and_tracking() -> None:
    order = {"number": "W-1042", "status": "shipped", "pickup": None, "promised_at": None}
    text = bot_rules.order_answer(order, [{"carrier": "SEUR", "tracking_number": "SE123"}], None, None, "es")
    assert text == "Tu pedido W-1042 está: enviado. Va con SEUR, número de seguimiento SE123."


def test_the_order_answer_for_a_pickup_says_where_and_until_when_without_the_code() -> None:
    order = {"number": "W-7", "status": "ready_for_pickup", "promised_at": None,
             "pickup": {"location": "mad", "status": "ready", "code": "493021",
                        "expires_at": datetime(2026, 1, 12, 21, 0, tzinfo=UTC)}}
    slot = {"starts_at": datetime(2026, 1, 6, 17, 0, tzinfo=UTC), "ends_at": datetime(2026, 1, 6, 19, 0, tzinfo=UTC)}
    text = bot_rules.order_answer(order, [], "Tienda Fuencarral", slot, "en")
    assert text == ("Your order W-7 is ready for pickup. You can pick it up at Tienda Fuencarral. Your slot: "
                    "2026-01-06 17:00 UTC to 2026-01-06 19:00 UTC. Your pickup code is valid until 2026-01-12 21:00 "
                    "UTC; show it in the store.")
    assert "493021" not in text


def test_bm25_ranks_in_the_question_language_with_a_confidence() -> None:
    index = KnowledgeIndex.build(ARTICLES)
    language, hits = index.search("¿Cuánto cuesta el envío a Canarias?")
    assert language == "es" and hits[0].article_id == "kb_es_ship" and hits[0].confidence == 1.0
    language, hits = index.search("How many days do I have to return a jacket?")
    assert language == "en" and hits[0].article_id == "kb_en_ret"
    assert 0.3 < hits[0].confidence < 1.0  # no article says "jacket"


def test_a_question_the_articles_do_not_cover_has_low_confidence() -> None:
    index = KnowledgeIndex.build(ARTICLES)
    _, hits = index.search("¿Vendéis tarjetas regalo para Canarias?")
    assert hits[0].article_id == "kb_es_ship" and hits[0].confidence < 0.4
    assert index.search("¿Organizáis quedadas para correr?")[1] == []


def test_an_empty_index_finds_nothing() -> None:
    assert KnowledgeIndex.build([]).search("¿Dónde está mi pedido?") == ("es", [])
