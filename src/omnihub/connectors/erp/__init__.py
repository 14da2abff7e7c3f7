"""The ERP connector: invoices, credit notes and contacts in the ERP's own codes (docs/erp.md)."""
