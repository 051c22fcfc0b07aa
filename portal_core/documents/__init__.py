"""Documents a partner downloads and files: the invoice, credit note and payment receipt PDFs
(fpdf2). Built from values already read and scoped by queries, with money formatted by
``portal_core.money`` and dates in the billing time zone; no database, no streamlit."""

from portal_core.documents.credit_note_pdf import credit_note_file_name, credit_note_pdf
from portal_core.documents.invoice_pdf import invoice_file_name, invoice_pdf
from portal_core.documents.receipt_pdf import receipt_file_name, receipt_pdf

__all__ = [
    "credit_note_file_name",
    "credit_note_pdf",
    "invoice_file_name",
    "invoice_pdf",
    "receipt_file_name",
    "receipt_pdf",
]
