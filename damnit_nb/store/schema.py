"""The SQLite schema of DAMNIT's data format v4, plus damnit_nb's own bookkeeping tables.

DAMNIT builds this schema by numbered migrations (v1: core tables, v2: run_variables.attributes,
v3: tags, v4: a trigger removing orphaned tags). A new database gets the end result at once;
an existing v4 database is used as it is; older ones are upgraded by `migrations`, which uses
the v3 and v4 pieces here. Extra tables (ours) are ignored by DAMNIT: the code version each
value came from, and the token of the last committed write of each run's HDF5 file.
"""

import sqlite3
from secrets import token_hex

from .errors import CorruptDatabaseError, InvalidNameError, UnsupportedFormatError

__all__ = [
    "FORMAT_VERSION",
    "create_schema",
    "read_format_version",
    "ensure_code_versions_table",
    "has_code_versions_table",
    "ensure_run_file_writes_table",
    "has_run_file_writes_table",
    "CODE_VERSIONS_TABLE",
    "RUN_FILE_WRITES_TABLE",
    "rebuild_views",
    "variable_names",
    "check_name",
    "split_statements",
    "TAGS_SCHEMA",
    "ORPHAN_TAGS_TRIGGER",
]

FORMAT_VERSION = 4

CODE_VERSIONS_TABLE = "damnit_nb_code_versions"
RUN_FILE_WRITES_TABLE = "damnit_nb_run_file_writes"

_CORE_SCHEMA = """
CREATE TABLE run_info(proposal, run, start_time, added_at);
CREATE UNIQUE INDEX proposal_run ON run_info (proposal, run);

CREATE TABLE run_variables(
    proposal, run, name, version, value, timestamp, max_diff, provenance,
    summary_type, summary_method, attributes
);
CREATE UNIQUE INDEX variable_version ON run_variables (proposal, run, name, version);

CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value);
CREATE TABLE variables(
    name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT, description TEXT, attributes TEXT
);
CREATE TABLE time_comments(timestamp, comment);
"""

# v3
TAGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS variable_tags(
    variable_name TEXT NOT NULL,
    tag_id INTEGER NOT NULL,
    FOREIGN KEY (variable_name) REFERENCES variables(name) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (variable_name, tag_id)
);
"""

# v4
ORPHAN_TAGS_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS delete_orphan_tags_after_variable_tag_delete
AFTER DELETE ON variable_tags
FOR EACH ROW
BEGIN
    DELETE FROM tags WHERE id = OLD.tag_id
    AND NOT EXISTS (SELECT 1 FROM variable_tags WHERE tag_id = OLD.tag_id);
END;
"""

_CODE_VERSIONS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {CODE_VERSIONS_TABLE}(
    proposal, run, name, code_version, computed_at,
    PRIMARY KEY (proposal, run, name)
)
"""

_RUN_FILE_WRITES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {RUN_FILE_WRITES_TABLE}(
    proposal, run, token,
    PRIMARY KEY (proposal, run)
)
"""


def create_schema(conn: sqlite3.Connection, proposal=None):
    """Create every table and view of a new v4 database. Call inside a transaction."""
    for statement in split_statements(_CORE_SCHEMA + TAGS_SCHEMA + ORPHAN_TAGS_TRIGGER):
        conn.execute(statement)
    conn.execute(_CODE_VERSIONS_SCHEMA)
    conn.execute(_RUN_FILE_WRITES_SCHEMA)
    meta = {"data_format_version": FORMAT_VERSION, "db_id": token_hex(20)}
    if proposal is not None:
        meta["proposal"] = proposal
    conn.executemany("INSERT INTO metameta VALUES (?, ?)", list(meta.items()))
    rebuild_views(conn)


def split_statements(script):
    """Split a script into statements, keeping a trigger body (which has ';' inside) whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        in_trigger = text.upper().startswith("CREATE TRIGGER")
        if text.endswith(";") and (not in_trigger or text.upper().endswith("END;")):
            statements.append(text)
            current = []
    return statements


def read_format_version(conn: sqlite3.Connection, path):
    """Return the data format version of an existing database, or None if it is empty.

    0 is DAMNIT's oldest, unversioned format (a `runs` table, no version in metameta).
    Raises CorruptDatabaseError if SQLite cannot read the file, UnsupportedFormatError if it is
    not a DAMNIT database.
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return None
        if "metameta" not in tables:
            raise UnsupportedFormatError(path, 0, FORMAT_VERSION)
        row = conn.execute(
            "SELECT value FROM metameta WHERE key='data_format_version'"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, CorruptDatabaseError):
            raise
        raise CorruptDatabaseError(path, str(exc)) from exc
    raw = row[0] if row is not None else None
    try:
        version = int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        raise UnsupportedFormatError(path, raw, FORMAT_VERSION) from None
    if version < 0 or (version == 0 and "runs" not in tables):
        raise UnsupportedFormatError(path, version, FORMAT_VERSION)
    return version


def ensure_code_versions_table(conn: sqlite3.Connection):
    """Create our bookkeeping table if it is missing (a database made by DAMNIT)."""
    conn.execute(_CODE_VERSIONS_SCHEMA)


def has_code_versions_table(conn: sqlite3.Connection):
    """Whether our bookkeeping table exists (it does not in a database made by DAMNIT)."""
    return _has_table(conn, CODE_VERSIONS_TABLE)


def ensure_run_file_writes_table(conn: sqlite3.Connection):
    """Create the table of committed run file writes if it is missing."""
    conn.execute(_RUN_FILE_WRITES_SCHEMA)


def has_run_file_writes_table(conn: sqlite3.Connection):
    """Whether the table of committed run file writes exists."""
    return _has_table(conn, RUN_FILE_WRITES_TABLE)


def _has_table(conn, name):
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
    return row is not None


def check_name(name):
    """Raise InvalidNameError unless name is dotted identifiers, as DAMNIT requires."""
    if not isinstance(name, str) or not name or not all(
        part.isidentifier() for part in name.split(".")
    ):
        raise InvalidNameError(name)
    return name


def variable_names(conn: sqlite3.Connection):
    """Names with a column in the `runs` view: variables with values or definitions."""
    names = [r[0] for r in conn.execute("SELECT name FROM variables ORDER BY rowid")]
    known = set(names)
    for (name,) in conn.execute("SELECT DISTINCT name FROM run_variables"):
        if name not in known:
            names.append(name)
            known.add(name)
    return names


def _quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def _quote_ident(text):
    return '"' + text.replace('"', '""') + '"'


def rebuild_views(conn: sqlite3.Connection):
    """Recreate the `runs` and `max_diffs` views with one column per variable.

    As DAMNIT does whenever a variable is added. Call inside a transaction.
    """
    names = [n for n in variable_names(conn)
             if n not in ("proposal", "run", "start_time", "added_at")]

    def columns(col):
        return "".join(
            f", max(CASE WHEN name={_quote_literal(n)} THEN {col} END) AS {_quote_ident(n)}"
            for n in names
        )

    conn.execute("DROP VIEW IF EXISTS runs")
    conn.execute(
        "CREATE VIEW runs AS SELECT run_info.proposal, run_info.run, start_time, added_at"
        f"{columns('value')} FROM run_variables INNER JOIN run_info"
        " ON run_variables.proposal = run_info.proposal AND run_variables.run = run_info.run"
        " GROUP BY run_info.proposal, run_info.run"
    )
    conn.execute("DROP VIEW IF EXISTS max_diffs")
    conn.execute(
        f"CREATE VIEW max_diffs AS SELECT proposal, run{columns('max_diff')}"
        " FROM run_variables GROUP BY proposal, run"
    )
