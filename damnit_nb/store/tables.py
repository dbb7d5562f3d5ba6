"""The run table as DAMNIT's Python API gives it (`Database.table`), and the table exported
to CSV, Excel or Markdown (`Database.export`).

The DataFrame has DAMNIT's columns, order and dtypes: proposal, run, start_time (Europe/Berlin),
then one column per variable: those with values in name order (comment among them), then
those without any; comment is always there. Blobs read as placeholders (`<thumbnail>`,
`<sparkline>`, `<ndarray>`), complex numbers as complex. A cell a run has no value for is
pd.NA (NaN for runs with no values at all); an error is None. Runs without a start time (made
by hand, never taken) are left out.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import schema
from .values import decode_value

__all__ = ["run_table", "export", "EXPORT_FORMATS", "TIMEZONE"]

TIMEZONE = "Europe/Berlin"  # European XFEL's: DAMNIT shows start times in it
_RUN_COLUMNS = ("proposal", "run", "start_time", "added_at")

# What a blob summary reads as, by summary_type (a PNG thumbnail has none).
_PLACEHOLDERS = {"trendline": "<sparkline>", "numpy": "<ndarray>", None: "<thumbnail>",
                 "": "<thumbnail>"}

_CELLS_SQL = """
SELECT rv.proposal, rv.run, rv.name,
       CASE WHEN typeof(rv.value) != 'blob' OR rv.summary_type = 'complex' THEN rv.value
            WHEN rv.summary_type = 'trendline' THEN '<sparkline>'
            WHEN rv.summary_type = 'numpy' THEN '<ndarray>'
            WHEN coalesce(rv.summary_type, '') = '' THEN '<thumbnail>'
            ELSE '<blob>' END AS value,
       rv.summary_type
FROM run_variables AS rv
WHERE rv.version = (SELECT max(v2.version) FROM run_variables AS v2
                    WHERE v2.proposal = rv.proposal AND v2.run = rv.run AND v2.name = rv.name)
ORDER BY rv.proposal, rv.run
"""


def run_table(db, with_titles=False):
    """The run table of `db` as a DataFrame, as `damnit.Damnit(path).table()` gives it.

    with_titles: name the variable columns by title (and Proposal, Run, Timestamp).
    """
    import pandas as pd

    def frame(cursor):  # as pandas.read_sql_query makes it
        return pd.DataFrame.from_records(
            cursor.fetchall(), columns=[d[0] for d in cursor.description], coerce_float=True)

    with db.snapshot() as snap:
        runs = frame(snap.execute(
            "SELECT proposal, run, start_time FROM run_info WHERE start_time IS NOT NULL"
            " ORDER BY proposal, run"))
        cells = frame(snap.execute(_CELLS_SQL))
        names = [n for n in schema.variable_names(snap) if n not in _RUN_COLUMNS]
        titles = dict(snap.execute("SELECT name, title FROM variables").fetchall())

    df = runs
    if not cells.empty:
        key = ["proposal", "run"]
        wide = cells.pivot(index=key, columns="name", values="value")
        had = cells.assign(had=True).pivot(index=key, columns="name", values="had").notna()
        for name in wide.columns[~had.all()]:
            wide[name] = wide[name].astype(object)
            wide.loc[~had[name], name] = pd.NA
        complex_names = set(cells.loc[cells["summary_type"] == "complex", "name"])
        for name in complex_names:
            wide[name] = wide[name].astype(object).map(
                lambda v: decode_value(v, "complex") if isinstance(v, bytes) else v)
        df = df.merge(wide.reset_index(), on=key, how="left")
    for name in names:
        if name not in df.columns:
            df[name] = None
    df["start_time"] = pd.to_datetime(df["start_time"], unit="s", utc=True).dt.tz_convert(
        TIMEZONE)
    if "comment" not in df.columns:
        df.insert(3, "comment", None)
    # Values of one column came from different rows of one SQL column: give each column the
    # type its values share (as DAMNIT's row-by-row pass over the table does).
    if len(df):
        df = df.astype(object).infer_objects()
    df.columns.name = None
    if with_titles:
        renames = {n: t for n, t in titles.items() if t is not None}
        renames.update(proposal="Proposal", run="Run", start_time="Timestamp")
        df = df.rename(columns=renames)
    return df


# --------------------------------------------------------------------------- export ----

EXPORT_FORMATS = {".csv": "CSV", ".xlsx": "Excel (openpyxl)", ".md": "Markdown"}

# Table placeholders as DAMNIT's GUI exports them.
_EXPORT_TEXT = {"<thumbnail>": "<image>", "<sparkline>": "<trendline>"}


def _missing(value):
    """None, NaN, pd.NA or NaT."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, complex)):
        return False
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pd.NA
        return True


def _cell_text(value):
    """A cell as export text: None for missing, summaries' text, other values unchanged."""
    if _missing(value):
        return None
    if isinstance(value, str):
        return _EXPORT_TEXT.get(value, value)
    if isinstance(value, complex):
        return str(value)
    return value


def _export_frame(db, with_titles):
    import pandas as pd

    df = run_table(db, with_titles=with_titles)
    time_col = df.columns[2]
    df[time_col] = df[time_col].dt.strftime("%Y-%m-%d %H:%M:%S")
    out = pd.DataFrame({col: [_cell_text(v) for v in df[col]] for col in df.columns},
                       columns=df.columns)
    return out


def export(db, path, with_titles=True):
    """Write the run table to `path`, the format chosen by its suffix (EXPORT_FORMATS).

    Images, trendlines and arrays are written as their summary text (`<image>`,
    `<trendline>`, `<ndarray>` or a shape string), start times as local time text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        choices = ", ".join(f"{s} ({n})" for s, n in EXPORT_FORMATS.items())
        raise ValueError(f"Cannot export to {path.name!r}: use a file name ending in one of "
                         f"{choices}.")
    df = _export_frame(db, with_titles)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".xlsx":
        sheet = f"p{db.proposal} DAMNIT run table" if db.proposal is not None else "Runs"
        df.to_excel(path, sheet_name=sheet[:31], index=False, engine="openpyxl")
    else:
        path.write_text(markdown_table(df) + "\n", encoding="utf-8")
    return path


def _markdown_cell(value):
    if _missing(value):
        return ""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 10_000:
            text = str(int(value))
        elif math.isfinite(value) and 1e-4 < abs(value) < 10_000:
            text = f"{value:.4f}"
        else:
            text = f"{value:.3e}"
    else:
        text = str(value)
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(df):
    """A DataFrame as a compact Markdown (GitHub) table: numbers shortened as DAMNIT's GUI
    shows them, missing values empty."""
    header = [_markdown_cell(str(c)) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
    return "\n".join(lines)
