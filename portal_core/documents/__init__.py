"""Documents a partner downloads and files: the invoice PDF and the payment receipt PDF
(fpdf2). Built from values already read and scoped by queries, with money formatted by
``portal_core.money`` and dates in the billing time zone; no database, no streamlit."""

from portal_core.documents.invoice_pdf import invoice_file_name, invoice_pdf
from portal_core.documents.receipt_pdf import receipt_file_name, receipt_pdf

__all__ = ["invoice_file_name", "invoice_pdf", "receipt_file_name", "receipt_pdf"]
