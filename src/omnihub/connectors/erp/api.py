"""ERP connector routes (admin only): thin — parse, call the service or a query, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from omnihub.connectors.erp import inbound, queries, service
from omnihub.connectors.erp.schemas import (
    DocumentKind,
    DocumentStatus,
    ErpConfigIn,
    ErpConfigOut,
    ErpDocumentOut,
    ErpLines,
    InboundOut,
)
from omnihub.core.outbound import OutboundGuard
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.deps import Context, requires

router = APIRouter(tags=["erp"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.put("/connectors/erp", response_model=ErpConfigOut)
def configure_erp(body: ErpConfigIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Where the ERP is, its token (never returned) and the mapping of codes; held documents are mapped again."""
    with ctx.db.transaction() as conn:
        return service.configure(conn, ctx.clock, body.model_dump(), OutboundGuard(ctx.settings.outbound_allow),
                                 secret_key=ctx.settings.secret_key)


@router.get("/connectors/erp", response_model=ErpConfigOut)
def get_erp(ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.config_out(conn)


@router.get("/connectors/erp/documents", response_model=Page[ErpDocumentOut])
def list_erp_documents(status: DocumentStatus | None = None, kind: DocumentKind | None = None,
                       limit: int = Limit, cursor: str | None = Query(None, max_length=20),
                       ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Every document owed to the ERP with its status (`held` ones say why), newest first."""
    with ctx.db.read() as conn:
        return queries.list_documents(conn, status=status, kind=kind, limit=limit, cursor=cursor)


@router.post("/connectors/erp/stock", response_model=InboundOut)
def erp_stock(body: ErpLines, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Stock counts (or movements) from the ERP, in its own field names and codes (the mapping's
    `inbound.stock`): each line becomes a ledger entry carrying the ERP's reference, or is rejected with its
    reason; a line whose reference was applied already changes nothing."""
    with ctx.db.transaction() as conn:
        return inbound.apply_lines(conn, ctx.clock, "stock", body, actor=ctx.principal.key_id)


@router.post("/connectors/erp/prices", response_model=InboundOut)
def erp_prices(body: ErpLines, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Prices from the ERP (the mapping's `inbound.prices`) for the channel the mapping names, line by line."""
    with ctx.db.transaction() as conn:
        return inbound.apply_lines(conn, ctx.clock, "prices", body, actor=ctx.principal.key_id)
