"""The bot's pure logic, no I/O: language detection, tokens for retrieval (stop words out, Snowball stems), what
the customer asks for (a person, their order), the decision (answer from an article, answer with the order, ask
to verify, hand off) and the words of each answer in Spanish and English. The retrieval index itself is in
`retrieval.py`; the use case that reads the database and queues the answers is `bot.py`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

LANGUAGES = ("es", "en")
_WORD = re.compile(r"[a-z0-9ñ]+")



def _split(text: str) -> list[str]:
    return text.split()


STOPWORDS: dict[str, frozenset[str]] = {
    "es": frozenset(_split("""
        a al algo algun alguna algunas alguno algunos ante antes aqui asi aun bien cada casi como con contra cual
        cuales cualquier cuando de del desde donde dos el ella ellas ellos en entre era eres es esa esas ese eso
        esos esta estaba estais estamos estan estar estas este esto estos estoy fue fueron ha habeis haber habia
        han has hasta hay he hola la las le les lo los mas me mi mis mucho muchos muy nada ni no nos nosotros nuestra
        nuestras nuestro nuestros o os otra otro para pero poco por porque puede puedo pues que quien quiero se
        sea ser si sin sino sobre somos son soy su sus tambien te teneis tener tengo ti tiene tienen toda todas todo
        todos tu tus un una unas uno unos usted ustedes vosotros vuestra vuestro y ya yo gracias buenas buenos dias
        tardes noches favor saber quisiera podeis podrias podria hacer hace cuanto cuanta cuantos cuantas cual
        alguien hay necesito
    """)),
    "en": frozenset(_split("""
        a about above after again all am an and any are as at be because been before being below between both but
        by can could did do does doing down during each few for from further had has have having he her here hers
        him his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
        other our ours out over own same she should so some such than that the their theirs them then there these
        they this those through to too under until up very was we were what when where which while who whom why
        will with would you your yours hello hi hey thanks thank please tell know want wanted like get got im
        much many need anyone
    """)),
}
# Words that say which language a short message is in beyond its stop words.
_MARKERS = {"es": ("¿", "¡", "ñ", "á", "é", "í", "ó", "ú"), "en": ()}

PERSON = {
    "es": ("hablar con una persona", "hablar con alguien", "hablar con un agente", "hablar con un humano",
           "con una persona", "con un humano", "con un agente", "con un operador", "con una operadora",
           "persona real", "agente humano", "atencion humana", "pasame con", "paseme con", "ponme con",
           "quiero un agente", "operador", "humano"),
    "en": ("talk to a person", "speak to a person", "talk to someone", "speak to someone", "talk to a human",
           "speak to a human", "real person", "human", "agent", "representative", "operator", "live chat with",
           "customer service rep", "talk to a real"),
}
ORDER_NOUNS = ("pedido", "pedidos", "orden", "paquete", "envio", "compra", "order", "orders", "package", "parcel",
               "shipment", "delivery", "purchase")
ORDER_ASKS = ("donde esta", "donde anda", "estado", "cuando llega", "cuando me llega", "cuando recibire",
              "cuando lo recibo", "no llega", "no ha llegado", "no me ha llegado", "seguimiento", "rastrear",
              "localizar", "recoger", "recogida", "sigue sin", "ha salido", "se ha enviado",
              "where is", "where's", "status", "track", "tracking", "when will", "when does", "arrive", "arrived",
              "has not arrived", "hasn't arrived", "not arrived", "pick up", "pickup", "collect", "shipped yet",
              "been shipped", "dispatched")
# General questions about orders that the knowledge base answers, not the customer's own order.
_ORDER_GENERAL = ("cambiar", "cancelar", "anular", "modificar", "change", "cancel", "modify", "edit")

ORDER_STATUS_TEXT = {
    "es": {"draft": "en preparación", "pending_payment": "pendiente de pago", "paid": "pagado, lo estamos preparando",
           "ready_for_pickup": "listo para recoger", "partially_shipped": "enviado en parte", "shipped": "enviado",
           "delivered": "entregado", "collected": "recogido", "partially_returned": "devuelto en parte",
           "returned": "devuelto", "cancelled": "cancelado"},
    "en": {"draft": "being prepared", "pending_payment": "waiting for payment", "paid": "paid, we are preparing it",
           "ready_for_pickup": "ready for pickup", "partially_shipped": "partly shipped", "shipped": "shipped",
           "delivered": "delivered", "collected": "collected", "partially_returned": "partly returned",
           "returned": "returned", "cancelled": "cancelled"},
}


@lru_cache(maxsize=4096)  # a message's text is asked about several times on the bot's turn: normalised once
def plain(text: str) -> str:
    """Lower case without accents (ñ kept), so 'Envío' and 'envio' are one word."""
    out = []
    for ch in unicodedata.normalize("NFC", text.lower()):
        if ch == "ñ":
            out.append(ch)
            continue
        out.extend(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return "".join(out)


def words(text: str) -> list[str]:
    return _WORD.findall(plain(text))


def detect_language(text: str) -> str | None:
    """'es' or 'en' by stop-word overlap (and Spanish marks: ¿ ¡ ñ accents); None when nothing tells."""
    tokens = words(text)
    scores = {lang: sum(1 for t in tokens if t in STOPWORDS[lang]) for lang in LANGUAGES}
    lowered = text.lower()
    scores["es"] += sum(2 for m in _MARKERS["es"] if m in lowered)
    if scores["es"] == scores["en"]:
        return None
    return "es" if scores["es"] > scores["en"] else "en"


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Any:
    import Stemmer  # PyStemmer: Snowball stemmers compiled in the package, nothing fetched

    return Stemmer.Stemmer({"es": "spanish", "en": "english"}[language])


def tokens(text: str, language: str) -> list[str]:
    """Content words of `text`, stemmed for `language`: what the index and the queries are made of."""
    kept = [w for w in words(text) if w not in STOPWORDS[language] and (len(w) > 1 or w.isdigit())]
    return [s for s in _stemmer(language).stemWords(kept) if s]


@lru_cache(maxsize=64)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled pattern for a list of phrases, each a whole word or words."""
    return re.compile(rf"(?<![a-z0-9ñ])(?:{'|'.join(re.escape(p) for p in phrases)})(?![a-z0-9ñ])")


def _has(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase found in `text` as whole words (None: none is). Most messages contain none of them at all:
    a substring test rules those out before the pattern runs."""
    if not any(phrase in text for phrase in phrases):
        return None
    found = _pattern(phrases).search(text)
    return found.group(0) if found else None


_THANKS = frozenset(_split("""gracias muchas mil ok okay vale perfecto genial estupendo entendido de acuerdo thanks
    thank you thx great perfect cool fine got it understood nice hola hi hello buenas bye adios un saludo saludos
    regards cheers"""))


def only_thanks(text: str) -> bool:
    """'¡Gracias!', 'ok, perfecto', 'thanks a lot': nothing to answer and nothing for a person to do."""
    found = words(text)
    return bool(found) and len(found) <= 6 and all(w in _THANKS or w in ("a", "lot", "so", "much", "y", "te", "os")
                                                   for w in found) and any(
        w in ("gracias", "thanks", "thank", "thx", "ok", "okay", "vale", "perfecto", "perfect", "genial", "great",
              "entendido", "understood", "cheers") for w in found)


def wants_person(text: str) -> bool:
    """'quiero hablar con una persona', 'agent', 'human'…"""
    flat = plain(text)
    return _has(flat, PERSON["es"]) is not None or _has(flat, PERSON["en"]) is not None


_REFUNDS = ("reembolso", "refund", "dinero", "money back", "chargeback", "reembolsar", "reembolsen")
_MY_DELIVERY = ("mi envio", "my delivery")
_TRACKING = ("track my", "rastrear mi", "seguimiento de mi", "seguimiento del envio", "tracking number")


def asks_refund(text: str, refund_words: bool) -> bool:
    """The priority rules' refund words, except 'contra reembolso' (cash on delivery, a payment question)."""
    if not refund_words:
        return False
    flat = plain(text)
    return _has(flat.replace("contra reembolso", " "), _REFUNDS) is not None


@lru_cache(maxsize=1024)  # asked up to three times of each message on the bot's turn (pure)
def asks_order_status(text: str) -> bool:
    """'¿Dónde está mi pedido?', 'where is my order', 'mi paquete no llega': an order noun with a status ask, and
    not a general question about changing or cancelling orders (the knowledge base answers those)."""
    flat = plain(text)
    if _has(flat, _ORDER_GENERAL):
        return False
    noun = _has(flat, ORDER_NOUNS) or _has(flat, _MY_DELIVERY)
    ask = _has(flat, ORDER_ASKS)
    return bool(noun and ask) or bool(_has(flat, _TRACKING))


# ---- the decision ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """The best article for a question and how much of the question it covers (0..1)."""

    article_id: str
    title: str
    body: str
    language: str
    score: float
    confidence: float


@dataclass(frozen=True)
class Decision:
    action: str  # answer_article, answer_order, ask_verification, handoff, none (a thank-you: nothing to do)
    reason: str | None = None  # why a handoff: asked_for_person, complaint, refund_asked, low_confidence, …
    hit: Hit | None = None


def decide(text: str, *, complaint: bool, refund: bool, verified: bool | None, hit: Hit | None,
           threshold: float) -> Decision:
    """What the bot does with one customer message. A person asked for, a complaint or a refund always goes to a
    person; the order question is answered only to a verified identity (otherwise the bot asks to write from
    one and hands off); an article answers only above the threshold. Anything else is handed off: the bot never
    makes an answer up."""
    if wants_person(text):
        return Decision("handoff", "asked_for_person")
    if complaint:
        return Decision("handoff", "complaint")
    if refund:
        return Decision("handoff", "refund_asked")
    if asks_order_status(text):
        return Decision("answer_order") if verified else Decision("ask_verification", "identity_not_verified")
    if only_thanks(text):
        return Decision("none")
    if hit is not None and hit.confidence >= threshold:
        return Decision("answer_article", hit=hit)
    return Decision("handoff", "low_confidence", hit=hit)


# ---- the words ---------------------------------------------------------------------------------------------------

ANSWER_LIMIT = 1500


def article_answer(hit: Hit) -> str:
    """The article's text, cut at a paragraph if long, and the article it came from."""
    body = hit.body.strip()
    if len(body) > ANSWER_LIMIT:
        cut = body.rfind("\n\n", 0, ANSWER_LIMIT)
        body = body[: cut if cut > 200 else ANSWER_LIMIT].rstrip() + " …"
    source = "Fuente" if hit.language == "es" else "Source"
    return f"{body}\n\n{source}: «{hit.title}» ({hit.article_id})"


def verification_request(language: str) -> str:
    if language == "en":
        return ("To tell you about your orders we need to know it is you: please write to us from the phone number "
                "or verified e-mail you used to order. A person from our team will also look at your message.")
    return ("Para darte información de tus pedidos necesitamos saber que eres tú: escríbenos desde el teléfono o el "
            "e-mail verificado con el que compraste. Una persona del equipo revisará también tu mensaje.")


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return value
    return str(value)


def order_answer(order: Mapping[str, Any], shipments: Sequence[Mapping[str, Any]], place: str | None,
                 slot: Mapping[str, Any] | None, language: str) -> str:
    """The customer's latest order in words: its status, then carrier and tracking of each shipment, or where to
    pick it up and until when the pickup code is valid. Only facts from the order; the code itself is not
    repeated here (the customer received it when the order was ready)."""
    es = language != "en"
    status = ORDER_STATUS_TEXT["es" if es else "en"].get(order["status"], order["status"])
    parts = [f"Tu pedido {order['number']} está: {status}." if es else
             f"Your order {order['number']} is {status}."]
    for shipment in shipments:
        carrier = shipment.get("carrier") or ("el transportista" if es else "the carrier")
        tracking = shipment.get("tracking_number")
        if tracking:
            parts.append(f"Va con {carrier}, número de seguimiento {tracking}." if es else
                         f"It travels with {carrier}, tracking number {tracking}.")
        else:
            parts.append(f"Va con {carrier}." if es else f"It travels with {carrier}.")
    pickup = order.get("pickup") or None
    if pickup:
        where = place or pickup.get("location")
        if pickup.get("status") in ("ready", "ready_for_pickup") or order["status"] == "ready_for_pickup":
            parts.append(f"Puedes recogerlo en {where}." if es else f"You can pick it up at {where}.")
        else:
            parts.append(f"Se recoge en {where}." if es else f"It will be picked up at {where}.")
        if slot:
            parts.append(f"Tu franja: de {_when(slot['starts_at'])} a {_when(slot['ends_at'])}." if es else
                         f"Your slot: {_when(slot['starts_at'])} to {_when(slot['ends_at'])}.")
        if pickup.get("expires_at"):
            parts.append(f"Tu código de recogida vale hasta {_when(pickup['expires_at'])}; enséñalo en la tienda."
                         if es else f"Your pickup code is valid until {_when(pickup['expires_at'])}; show it in "
                         "the store.")
    elif order.get("promised_at") and order["status"] in ("paid", "partially_shipped", "shipped"):
        parts.append(f"Fecha prometida: {_when(order['promised_at'])}." if es else
                     f"Promised for {_when(order['promised_at'])}.")
    return " ".join(parts)
