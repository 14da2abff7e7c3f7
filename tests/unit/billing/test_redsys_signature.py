"""Redsys HMAC_SHA256_V1 against published vectors: the per-order 3DES key and signatures from the redsys-pos
library's tests (merchant key sq7HjrUOBfKmC576ILgskD5srU870gJ7, Redsys' public test key), and a real
notification from the same library's example, signed in URL-safe base64."""

from __future__ import annotations

import base64
import hashlib
import hmac

from omnihub.billing.providers import redsys

TEST_KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"
NOTIFICATION = (
    "eyJEc19EYXRlIjoiMjAlMkYxMCUyRjIwMTciLCJEc19Ib3VyIjoiMTclM0EyMyIsIkRzX1NlY3VyZVBheW1lbnQiOiIwIiwiRHNfQW1vdW50Ijoi"
    "MTAwIiwiRHNfQ3VycmVuY3kiOiI5NzgiLCJEc19PcmRlciI6IjAwMDA5NjU1RDg0IiwiRHNfTWVyY2hhbnRDb2RlIjoiMzI3MjM0Njg4IiwiRHNf"
    "VGVybWluYWwiOiIwMDEiLCJEc19SZXNwb25zZSI6Ijk5MTUiLCJEc19UcmFuc2FjdGlvblR5cGUiOiIwIiwiRHNfTWVyY2hhbnREYXRhIjoiIiwi"
    "RHNfQXV0aG9yaXNhdGlvbkNvZGUiOiIrKysrKysiLCJEc19Db25zdW1lckxhbmd1YWdlIjoiMSJ9")
NOTIFICATION_SIGNATURE = "vrUsaNbxfonyn4ONUos6oosUaTBY0_SGoKDel6qsHqk="


def test_the_per_order_key_is_the_order_encrypted_with_3des() -> None:
    assert base64.b64encode(redsys.order_key(TEST_KEY, "0")).decode() == "Qyx5NZhbucY="
    assert base64.b64encode(redsys.order_key(TEST_KEY, "1234567890")).decode() == "ntVrJPxp2xlsetWVajPl0g=="
    assert base64.b64encode(redsys.order_key(TEST_KEY, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")).decode() == \
        "zpFLv7NacMPOXx570s2BAdR9fZue1crKaHX2S/0/f/8="


def test_the_signature_is_hmac_sha256_under_the_order_key() -> None:
    key = redsys.order_key(TEST_KEY, "1234567890")
    assert base64.b64encode(hmac.new(key, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", hashlib.sha256).digest()).decode() == \
        "GE/JQv/dmzqHleoAto1Vt2gbPYvXBlj4ighJIeF0LXs="
    assert redsys.sign(TEST_KEY, "1234567890", "0") == "atZyAzLQQwcYi/3inEzi9eVflxJbAFUG/zy5JFittzs="


def test_a_published_notification_verifies_and_reads_as_declined() -> None:
    account = redsys.Account("web", "redsys", {"merchant_code": "327234688", "terminal": "1"}, {"secret": TEST_KEY})
    body = f"Ds_SignatureVersion=HMAC_SHA256_V1&Ds_MerchantParameters={NOTIFICATION}&Ds_Signature=" \
           f"{NOTIFICATION_SIGNATURE}".encode()
    notice = redsys.RedsysProvider().verify(body, {"content-type": "application/x-www-form-urlencoded"}, [account],
                                            guard=None)
    assert (notice.reference, notice.outcome, notice.reason) == ("00009655D84", "failed",
                                                                 "redsys: declined (Ds_Response 9915)")


def test_a_notification_under_another_key_is_refused() -> None:
    account = redsys.Account("web", "redsys", {"merchant_code": "327234688", "terminal": "1"},
                             {"secret": base64.b64encode(b"another-24-byte-key-here").decode()})
    body = f"Ds_SignatureVersion=HMAC_SHA256_V1&Ds_MerchantParameters={NOTIFICATION}&Ds_Signature=" \
           f"{NOTIFICATION_SIGNATURE}".encode()
    try:
        redsys.RedsysProvider().verify(body, {}, [account], guard=None)
    except redsys.NotVerified:
        return
    raise AssertionError("a notification signed under another key was accepted")
