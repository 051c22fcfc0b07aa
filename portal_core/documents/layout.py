"""The paper SIPSTACK's documents are printed on (fpdf2): US Letter, the wordmark, fonts that
print any partner's name, and the blocks that invoices and receipts share.

Fonts. A partner's legal name or address may be written in any script ("Société Générale",
"東京テレコム"), and an invoice must name its buyer as registered to be filed for expenses.
fpdf2's built-in fonts know Latin-1 only, so the documents embed fonts shipped in ``fonts/``
with their licences: DejaVu Sans (Latin, Greek, Cyrillic and much more; Bitstream Vera
licence, DejaVu changes public domain) and, for what it lacks, Droid Sans Fallback (Chinese,
Japanese, Korean; Apache 2.0). fpdf2 embeds only the glyphs a document uses, so a PDF stays
small. The fallback font (3.4 MB) is read only when a document has a character that DejaVu
Sans lacks. A character that neither font has (an emoji, say) is printed as "?" rather than
dropped: the document is never refused, and a reader can see that something was there.

Nothing here reads the database or imports streamlit: a document is built from values the
caller read, so a page, an e-mail or a command can make the same bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from portal_core.money import format_cents, format_line_price, format_rate

FONTS = Path(__file__).parent / "fonts"
_FAMILY = "dejavu"
_FALLBACK_FAMILY = "droidfallback"
_NOT_PRINTABLE = "?"

MARGIN = 18.0  # mm
_LINE = 5.0  # mm, the height of a line of body text
_BODY_SIZE = 9.5  # pt

# The portal's colours (portal_core/ui/assets/sipstack_logo.svg), as RGB.
GREEN = (22, 163, 74)
_GREEN_DARK = (21, 128, 61)
_GREEN_LIGHT = (74, 222, 128)
INK = (17, 24, 39)
MUTED = (107, 114, 128)
_RULE = (209, 213, 219)
_HEADING_FILL = (243, 244, 246)
AMBER = (180, 83, 9)


@dataclass(frozen=True)
class Total:
    """One row of a totals block: "Subtotal  $30.00"; the last one is usually bold."""

    label: str
    amount: str
    bold: bool = False


class Document(FPDF):
    """One SIPSTACK document: a Letter page with the wordmark, a footer on every page, and
    text that always prints (see the module docstring)."""

    def __init__(self, *, title: str, footer: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="letter")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 6)
        self.add_font(_FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(_FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        # A character is printed in DejaVu Sans only when both its styles have it.
        self._covered = _cmap(self, _FAMILY) & _cmap(self, _FAMILY + "B")
        self._fallback_covered: frozenset[int] | None = None
        self._footer_text = self.printable(footer)
        self.set_title(self.printable(title))
        self.set_author("SIPSTACK")
        self.set_creator("SIPSTACK Partner Portal")
        self.set_lang("en")
        self.set_text_color(*INK)
        self.set_draw_color(*_RULE)
        self.add_page()

    # --- Text that always prints -----------------------------------------------------------

    def printable(self, text: str) -> str:
        """``text`` with what no embedded font can draw replaced by "?", and control
        characters (a tab, a stray line break) by spaces."""
        shown: list[str] = []
        for char in unicodedata.normalize("NFC", text):
            code = ord(char)
            if unicodedata.category(char) == "Cc":
                shown.append(" ")
            elif code in self._covered or code in self._fallback():
                shown.append(char)
            else:
                shown.append(_NOT_PRINTABLE)
        return "".join(shown)

    def _fallback(self) -> frozenset[int]:
        """The fallback font's characters, reading the font the first time it is needed."""
        if self._fallback_covered is None:
            self.add_font(_FALLBACK_FAMILY, "", FONTS / "DroidSansFallback.ttf")
            # One style only: bold text borrows the regular CJK glyphs rather than none.
            self.set_fallback_fonts([_FALLBACK_FAMILY], exact_match=False)
            self._fallback_covered = _cmap(self, _FALLBACK_FAMILY)
        return self._fallback_covered

    def style(
        self, *, size: float = _BODY_SIZE, bold: bool = False, colour: tuple[int, ...] = INK
    ) -> None:
        self.set_font(_FAMILY, "B" if bold else "", size)
        self.set_text_color(*colour)

    # --- The page's furniture ----------------------------------------------------------------

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.style(size=7.5, colour=MUTED)
        self.cell(0, 4, self._footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    def masthead(self, title: str, subtitle: str) -> None:
        """The wordmark on the left, the document's title and number on the right."""
        top = self.t_margin
        self._wordmark(self.l_margin, top)
        self.set_xy(self.l_margin, top)
        self.style(size=20, bold=True)
        self.cell(0, 9, self.printable(title.upper()), align="R")
        self.set_xy(self.l_margin, top + 9)
        self.style(size=10, colour=MUTED)
        self.cell(0, 5, self.printable(subtitle), align="R")
        self.set_y(top + 20)
        self.rule()

    def _wordmark(self, x: float, y: float) -> None:
        """SIPSTACK's mark (three stacked bars) and name, drawn as the portal's logo SVG is
        (units of 0.3 mm), so the PDF needs no image."""
        unit = 0.3
        for bar_x, bar_y, width, fill in (
            (8, 0, 20, _GREEN_LIGHT),
            (4, 12, 28, GREEN),
            (0, 24, 36, _GREEN_DARK),
        ):
            self.set_fill_color(*fill)
            self.rect(
                x + bar_x * unit,
                y + bar_y * unit,
                width * unit,
                8 * unit,
                style="F",
                round_corners=True,
                corner_radius=4 * unit,
            )
        self.set_xy(x + 46 * unit, y + 1)
        self.set_char_spacing(0.4)
        self.style(size=19, bold=True, colour=GREEN)
        self.cell(text="SIPSTACK")
        self.set_char_spacing(0)
        self.set_text_color(*INK)
        self.set_fill_color(255, 255, 255)

    def rule(self, *, gap: float = 4) -> None:
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(gap)

    # --- Blocks --------------------------------------------------------------------------------

    def party(self, heading: str, lines: Sequence[str], *, x: float, width: float) -> float:
        """A name-and-address block ("From", "Billed to") at the current height; the first
        line in bold. Returns the height the block ends at."""
        self.set_x(x)
        self.style(size=7.5, bold=True, colour=MUTED)
        self.cell(width, 4, heading.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
        for index, line in enumerate(lines):
            self.set_x(x)
            self.style(bold=index == 0)
            self.multi_cell(
                width, _LINE, self.printable(line), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT
            )
        return self.get_y()

    def facts(
        self,
        rows: Sequence[tuple[str, str]],
        *,
        x: float,
        width: float,
        colours: dict[str, tuple[int, ...]] | None = None,
    ) -> float:
        """Labelled values, right-aligned (number, period, date, status). Returns the height
        the block ends at."""
        label_width = width * 0.45
        for label, value in rows:
            self.set_x(x)
            self.style(colour=MUTED)
            self.cell(label_width, _LINE, label)
            self.style(bold=True, colour=(colours or {}).get(label, INK))
            self.multi_cell(
                width - label_width,
                _LINE,
                self.printable(value),
                align="R",
                new_x=XPos.LEFT,
                new_y=YPos.NEXT,
            )
        return self.get_y()

    def items(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        col_widths: Sequence[float],
        right_aligned_from: int = 1,
    ) -> None:
        """A table of items (an invoice's lines): the first column wraps, the others (figures)
        are right-aligned. It breaks across pages with its headings repeated."""
        columns = len(headings)
        align = tuple("LEFT" if index < right_aligned_from else "RIGHT" for index in range(columns))
        self.style()
        with self.table(
            col_widths=tuple(col_widths),
            text_align=align,
            borders_layout=TableBordersLayout.HORIZONTAL_LINES,
            headings_style=FontFace(emphasis="BOLD", color=INK, fill_color=_HEADING_FILL),
            line_height=_LINE,
            padding=(1.6, 1.5),
            width=self.epw,
        ) as table:
            heading_row = table.row()
            for heading in headings:
                heading_row.cell(heading)
            for row in rows:
                cells = table.row()
                for text in row:
                    cells.cell(self.printable(text))

    def totals(self, rows: Sequence[Total], *, width: float = 90) -> None:
        """The totals, right-aligned under the items; a rule above each bold row."""
        x = self.w - self.r_margin - width
        label_width = width - 34
        if self.get_y() + len(rows) * (_LINE + 1) + 2 > self.page_break_trigger:
            self.add_page()  # the totals stay together, not split over two pages
        for row in rows:
            if row.bold:
                self.line(x, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
                self.ln(1.5)
            self.set_x(x)
            self.style(bold=row.bold, size=_BODY_SIZE + (1 if row.bold else 0))
            self.cell(label_width, _LINE + 1, self.printable(row.label))
            self.cell(width - label_width, _LINE + 1, row.amount, align="R")
            self.ln(_LINE + 1)

    def note(self, text: str, *, colour: tuple[int, ...] = MUTED, bold: bool = False) -> None:
        """A paragraph across the page (a payment note, "Prices in USD")."""
        self.set_x(self.l_margin)
        self.style(size=8.5, colour=colour, bold=bold)
        self.multi_cell(
            0, 4.5, self.printable(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def to_bytes(self) -> bytes:
        return bytes(self.output())


def _cmap(document: FPDF, font_key: str) -> frozenset[int]:
    font = document.fonts[font_key]
    if not isinstance(font, TTFFont):  # pragma: no cover - the fonts are ours
        raise TypeError(f"{font_key} is not an embedded TrueType font")
    return frozenset(font.cmap)


# --- Figures as printed ------------------------------------------------------------------------


def format_quantity(quantity: int) -> str:
    return f"{quantity:,}"


class PricedLine(Protocol):
    description: str
    quantity: int
    unit_micros: int
    amount_cents: int


class TaxLine(Protocol):
    tax: str
    rate_millipercent: int
    amount_cents: int


def priced_lines(
    document: Document,
    lines: Sequence[PricedLine],
    taxes: Sequence[TaxLine],
    *,
    subtotal: tuple[str, int],
    total: tuple[str, int],
) -> None:
    """An invoice's or a credit note's lines, then its subtotal, each tax at its rate (a line
    saying none outside Canada) and its total."""
    document.items(
        ("Description", "Quantity", "Unit price", "Amount"),
        [
            (
                line.description,
                format_quantity(line.quantity),
                format_line_price(line.unit_micros),
                format_cents(line.amount_cents),
            )
            for line in lines
        ],
        col_widths=(58, 14, 14, 14),
    )
    document.ln(3)
    rows = [Total(subtotal[0], format_cents(subtotal[1]))]
    rows.extend(
        Total(f"{tax.tax} ({format_rate(tax.rate_millipercent)})", format_cents(tax.amount_cents))
        for tax in taxes
    )
    if not taxes:
        rows.append(Total("Sales tax (buyer outside Canada)", format_cents(0)))
    rows.append(Total(total[0], format_cents(total[1]), bold=True))
    document.totals(rows)
