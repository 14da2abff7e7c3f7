"""Redsys (Spanish cards, and Bizum with `DS_MERCHANT_PAYMETHODS = z`), as its integration guide documents
HMAC_SHA256_V1:

- the parameters are a JSON object, base64-encoded: `Ds_MerchantParameters`;
- the key for one order is the merchant's secret (base64) used as a 3DES key to encrypt the order number
  (CBC, zero IV, zero-padded to 8 bytes);
- `Ds_Signature` is base64(HMAC-SHA256(that key, Ds_MerchantParameters)). Notifications sign the same way
  with the URL-safe alphabet.

The customer pays on Redsys' page: starting a payment asks Redsys nothing — it builds the form the front end
posts (`next_action`), and the signed notification says how it went. Refunds go through the REST operation
(`trataPeticionREST`, transaction type 3). Redsys pays at once (no separate capture here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:  # cryptography >= 43 keeps 3DES among the "decrepit" algorithms (Redsys still derives its keys with it)
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - cryptography 42
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef]

from omnihub.billing.providers import Account, Notice, NotVerified, PaymentAsk, ProviderFailed, Started, register
from omnihub.billing.providers.http import call, json_call
from omnihub.core.outbound import OutboundGuard

FORM_URL = "https://sis.redsys.es/sis/realizarPago"
API_BASE = "https://sis.redsys.es"
REST_PATH = "/sis/rest/trataPeticionREST"
QUERY_PATH = "/apl02/services/SerClsWSConsulta"
NOT_FOUND = "XML0024"  # the query service's "no operations for that order"
MAX_ANSWER = 1024 * 1024
VERSION = "HMAC_SHA256_V1"
BIZUM = "z"
# ISO 4217 numeric codes of the currencies a Spanish acquirer settles.
NUMERIC = {"EUR": "978", "USD": "840", "GBP": "826", "CHF": "756", "JPY": "392", "SEK": "752", "DKK": "208",
           "NOK": "578", "PLN": "985", "MXN": "484", "CAD": "124", "AUD": "036", "KWD": "414"}


def order_key(secret_b64: str, order: str) -> bytes:
    """The per-order key: 3DES-CBC (zero IV) of the order number, zero-padded to a multiple of 8 bytes."""
    data = order.encode()
    data += b"\0" * (-len(data) % 8)
    encryptor = Cipher(TripleDES(base64.b64decode(secret_b64)), modes.CBC(b"\0" * 8)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sign(secret_b64: str, order: str, merchant_parameters: str) -> str:
    """Ds_Signature (standard base64) of the encoded parameters for `order`."""
    digest = hmac.new(order_key(secret_b64, order), merchant_parameters.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def encode_parameters(params: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(params, separators=(",", ":")).encode()).decode()


def decode_parameters(encoded: str) -> dict[str, Any]:
    padded = encoded + "=" * (-len(encoded) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")))


def _same_signature(given: str, expected: str) -> bool:
    """Redsys signs notifications in URL-safe base64 and forms in the standard alphabet: compare the bytes."""
    def raw(value: str) -> bytes:
        try:
            return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
        except ValueError:
            return b""

    return hmac.compare_digest(raw(given), raw(expected))


def order_number(payment_id: str) -> str:
    """Redsys' order (4-12 characters, the first 4 digits), derived from ours and unique enough to find it."""
    digest = hashlib.sha256(payment_id.encode()).hexdigest()
    return f"{int(digest[:8], 16) % 10000:04d}{digest[8:16].upper()}"


def _field(params: Mapping[str, Any], name: str) -> Any:
    """Notification fields are spelled Ds_Order, Ds_Response…; some integrations upper-case them."""
    return params.get(name, params.get(name.upper()))


class RedsysProvider:
    name = "redsys"
    secret_fields = ("secret",)
    public_fields = ("merchant_code", "terminal", "api_base", "form_url", "notify_url", "url_ok", "url_ko",
                     "hold_minutes")
    required_fields = ("secret", "merchant_code", "terminal")
    authorises = False
    # URLOK/URLKO carry the signed Ds_SignatureVersion/Ds_MerchantParameters/Ds_Signature (with "parámetros en
    # las URLs" on): verified like the notification, no payment named in the clear.
    return_parameter = None

    def _signed(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        encoded = encode_parameters(params)
        return {"Ds_SignatureVersion": VERSION, "Ds_MerchantParameters": encoded,
                "Ds_Signature": sign(account.secrets["secret"], params["DS_MERCHANT_ORDER"], encoded)}

    def _base_params(self, account: Account, ask: PaymentAsk, transaction_type: str) -> dict[str, str]:
        try:
            currency = NUMERIC[ask.currency]
        except KeyError:
            raise ProviderFailed(f"redsys: {ask.currency} is not a currency Redsys settles here",
                                 permanent=True) from None
        return {"DS_MERCHANT_AMOUNT": str(ask.minor), "DS_MERCHANT_ORDER": order_number(ask.payment_id),
                "DS_MERCHANT_MERCHANTCODE": str(account.config["merchant_code"]), "DS_MERCHANT_CURRENCY": currency,
                "DS_MERCHANT_TRANSACTIONTYPE": transaction_type,
                "DS_MERCHANT_TERMINAL": str(account.config["terminal"])}

    def start(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Started:
        params = self._base_params(account, ask, "0")
        params["DS_MERCHANT_MERCHANTDATA"] = ask.payment_id
        for key, name in (("notify_url", "DS_MERCHANT_MERCHANTURL"), ("url_ok", "DS_MERCHANT_URLOK"),
                          ("url_ko", "DS_MERCHANT_URLKO")):
            if account.config.get(key):
                params[name] = str(account.config[key])
        if ask.method.endswith("bizum"):
            params["DS_MERCHANT_PAYMETHODS"] = BIZUM
        return Started(reference=params["DS_MERCHANT_ORDER"], next_action={
            "type": "redsys_form", "method": "POST", "url": str(account.config.get("form_url") or FORM_URL),
            "fields": self._signed(account, params)})

    def capture(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        return None  # paid at once (transaction type 0)

    def cancel(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        return None  # nothing was taken: the customer simply never completes Redsys' page

    def refund(self, account: Account, ask: PaymentAsk, minor: int, refund_id: str, guard: OutboundGuard) -> str:
        params = self._base_params(account, ask, "3")
        params["DS_MERCHANT_AMOUNT"] = str(minor)
        answer = json_call(guard, "POST", account.base(API_BASE) + REST_PATH, payload=self._signed(account, params),
                           what="redsys refund")
        if not isinstance(answer, dict) or answer.get("errorCode"):
            code = answer.get("errorCode") if isinstance(answer, dict) else "unreadable answer"
            raise ProviderFailed(f"redsys refund refused: {code}", permanent=True)
        encoded = str(answer.get("Ds_MerchantParameters", ""))
        result = decode_parameters(encoded)
        order = str(_field(result, "Ds_Order") or params["DS_MERCHANT_ORDER"])
        if not _same_signature(str(answer.get("Ds_Signature", "")), sign(account.secrets["secret"], order, encoded)):
            raise ProviderFailed("redsys refund: the answer's signature does not check out", permanent=False)
        response = str(_field(result, "Ds_Response") or "")
        if response != "0900":
            raise ProviderFailed(f"redsys refund refused: Ds_Response {response}", permanent=True)
        return f"{order}:{_field(result, 'Ds_AuthorisationCode') or ''}".rstrip(":")

    def list_payments(self, account: Account, since: int, until: int, guard: OutboundGuard) -> list[dict[str, Any]]:
        raise ProviderFailed("redsys: no list by dates here; reconcile asks order by order (look_up)", permanent=True)

    def look_up(self, account: Account, references: list[str], guard: OutboundGuard) -> list[dict[str, Any]]:
        """What Redsys' query web service (`consultaOperaciones` at `/apl02/services/SerClsWSConsulta`, the
        "Transacción simple" query) says of each of our orders: the `<Version>` element signed HMAC_SHA256_V1 with
        the order's key, in the SOAP envelope's `cadenaXML`. An order Redsys does not know (`XML0024`) is left out."""
        out = []
        for order in references:
            record = self._query(account, order, guard)
            if record is not None:
                out.append(record)
        return out

    def _query(self, account: Account, order: str, guard: OutboundGuard) -> dict[str, Any] | None:
        version = (f'<Version Ds_Version="0.0"><Message><Transaction>'
                   f"<Ds_MerchantCode>{escape(str(account.config['merchant_code']))}</Ds_MerchantCode>"
                   f"<Ds_Terminal>{escape(str(account.config['terminal']))}</Ds_Terminal>"
                   f"<Ds_Order>{escape(order)}</Ds_Order><Ds_TransactionType>0</Ds_TransactionType>"
                   f"</Transaction></Message></Version>")
        signature = base64.b64encode(hmac.new(order_key(account.secrets["secret"], order), version.encode(),
                                              hashlib.sha256).digest()).decode()
        inner = f"<Messages>{version}<Signature>{signature}</Signature><SignatureVersion>{VERSION}</SignatureVersion>" \
                "</Messages>"
        envelope = ('<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                    'xmlns:web="http://webservices.apl02.redsys.es"><soapenv:Header/><soapenv:Body>'
                    f"<web:consultaOperaciones><cadenaXML><![CDATA[{inner}]]></cadenaXML></web:consultaOperaciones>"
                    "</soapenv:Body></soapenv:Envelope>")
        status, _, raw = call(guard, "POST", account.base(API_BASE) + QUERY_PATH, body=envelope.encode(), headers={
            "Content-Type": "text/xml;charset=utf-8", "Accept": "text/xml", "SOAPAction": "consultaOperaciones"})
        if status >= 400:
            raise ProviderFailed(f"redsys query: HTTP {status}", permanent=status < 500)
        if len(raw) > MAX_ANSWER:
            raise ProviderFailed("redsys query: answer too large", permanent=True)
        try:
            returned = next(e for e in ElementTree.fromstring(raw).iter()
                            if e.tag.endswith("consultaOperacionesReturn"))
            messages = ElementTree.fromstring(returned.text or "")
        except (ElementTree.ParseError, StopIteration):
            raise ProviderFailed("redsys query: not the documented answer", permanent=True) from None
        error = messages.findtext(".//ErrorMsg/Ds_ErrorCode")
        if error == NOT_FOUND:
            return None
        if error:
            raise ProviderFailed(f"redsys query: {error}", permanent=True)
        answers = [r for r in messages.iter("Response") if (r.findtext("Ds_Order") or "") == order]
        if not answers:
            return None
        response = answers[-1].findtext("Ds_Response") or ""
        taken = response.isdigit() and int(response) <= 99
        return {"reference": order, "status": f"Ds_Response {response}", "taken": taken,
                "amount_minor": int(answers[-1].findtext("Ds_Amount") or 0),
                "state": answers[-1].findtext("Ds_State")}

    def verify(self, raw: bytes, headers: Mapping[str, str], accounts: list[Account], guard: OutboundGuard
               ) -> Notice:
        if "json" in headers.get("content-type", ""):
            form = {k: str(v) for k, v in json.loads(raw).items()}
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        encoded, given = form.get("Ds_MerchantParameters", ""), form.get("Ds_Signature", "")
        if form.get("Ds_SignatureVersion") != VERSION or not encoded or not given:
            raise NotVerified("not an HMAC_SHA256_V1 notification")
        try:
            params = decode_parameters(encoded)
        except ValueError:
            raise NotVerified("Ds_MerchantParameters is not base64 JSON") from None
        order = str(_field(params, "Ds_Order") or "")
        merchant = str(_field(params, "Ds_MerchantCode") or "")
        for account in accounts:
            if str(account.config.get("merchant_code")) != merchant:
                continue
            if _same_signature(given, sign(account.secrets["secret"], order, encoded)):
                return parse_notification(params)
        raise NotVerified("the Ds_Signature matches no configured merchant key")


def parse_notification(params: Mapping[str, Any]) -> Notice:
    order = str(_field(params, "Ds_Order"))
    response = str(_field(params, "Ds_Response") or "")
    kind = f"redsys.type{_field(params, 'Ds_TransactionType') or '0'}"
    event_id = f"{order}:{response}:{_field(params, 'Ds_TransactionType') or '0'}"
    amount = _field(params, "Ds_Amount")
    amount_minor = int(amount) if amount is not None and str(amount).isdigit() else None
    if str(_field(params, "Ds_TransactionType") or "0") == "3":
        return Notice(event_id=event_id, kind=kind, outcome="refunded", reference=order)
    if response.isdigit() and int(response) <= 99:
        return Notice(event_id=event_id, kind=kind, outcome="authorized", reference=order, amount_minor=amount_minor,
                      details={"authorisation_code": _field(params, "Ds_AuthorisationCode")})
    return Notice(event_id=event_id, kind=kind, outcome="failed", reference=order,
                  reason=f"redsys: declined (Ds_Response {response})")


register(RedsysProvider())
