"""Plain-text summary tables shared by every result's ``summary()``.

A :class:`SummaryTable` prints as an aligned text table (like statsmodels' summaries)
and renders as HTML in notebooks. Results build one with a title, a few header
key/value pairs and a table of rows.
"""
import html

import numpy as np

__all__ = ["SummaryTable", "format_number"]


def format_number(x, digits=4):
    """Compact numeric formatting: fixed for moderate magnitudes, scientific otherwise."""
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    ax = abs(x)
    if 1e-3 <= ax < 1e6:
        return f"{x:.{digits}g}" if ax < 1 else f"{x:.{max(digits, 1)}g}" if ax >= 1e4 else f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return f"{x:.{digits - 1}e}"


class SummaryTable:
    """A titled text table: header facts, then columns of numbers.

    Parameters
    ----------
    title : str
    info : list of (str, object)
        Key/value facts printed above the table (method, n, bandwidth, ...).
    columns : list of str
        Column names of the table.
    rows : list of (str, sequence)
        Row label and one value per column.
    notes : list of str
        Lines printed below the table (warnings, conventions).
    """

    def __init__(self, title, info=(), columns=(), rows=(), notes=()):
        self.title = str(title)
        self.info = [(str(k), v) for k, v in info]
        self.columns = [str(c) for c in columns]
        self.rows = [(str(lbl), list(vals)) for lbl, vals in rows]
        self.notes = [str(n) for n in notes]

    def _cells(self):
        return [[lbl] + [format_number(v) for v in vals] for lbl, vals in self.rows]

    def as_text(self):
        cells = self._cells()
        header = [""] + self.columns
        widths = [max(len(str(r[i])) for r in [header] + cells) for i in range(len(header))] if cells else [len(h) for h in header]
        lines = []
        body_w = max([sum(widths) + 2 * (len(widths) - 1) if widths else 0, len(self.title)] +
                     [len(f"{k}: {format_number(v)}") for k, v in self.info])
        lines.append(self.title.center(body_w))
        lines.append("=" * body_w)
        key_w = max([24] + [len(k) + 2 for k, _ in self.info])
        for k, v in self.info:
            lines.append(f"{k + ':':<{key_w}}{format_number(v)}")
        if self.columns:
            lines.append("-" * body_w)
            lines.append("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths))))
            lines.append("-" * body_w)
            for r in cells:
                lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        lines.append("=" * body_w)
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self):
        return self.as_text()

    def __repr__(self):
        return self.as_text()

    def _repr_html_(self):
        out = [f"<b>{html.escape(self.title)}</b>", "<table>"]
        for k, v in self.info:
            out.append(f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_number(v))}</td></tr>")
        out.append("</table>")
        if self.columns:
            out.append("<table><tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in self.columns) + "</tr>")
            for r in self._cells():
                out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
        for n in self.notes:
            out.append(f"<p>{html.escape(n)}</p>")
        return "\n".join(out)
