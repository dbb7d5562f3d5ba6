"""Databases as older DAMNIT versions wrote them (formats v0 to v3), made with plain SQL.

The schemas follow DAMNIT's (its `V0_SCHEMA` and migrations to v1, v2, v3);
test_migrations checks them against DAMNIT's own code when DAMNIT is available.
"""

import sqlite3

V0_SCHEMA = """
CREATE TABLE runs(proposal, runnr, start_time, added_at, comment);
CREATE UNIQUE INDEX proposal_run ON runs (proposal, runnr);
CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value);
CREATE TABLE variables(name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT,
                       description TEXT, attributes TEXT);
CREATE TABLE time_comments(timestamp, comment);
"""

V1_SCHEMA = """
CREATE TABLE run_info(proposal, run, start_time, added_at);
CREATE UNIQUE INDEX proposal_run ON run_info (proposal, run);
CREATE TABLE run_variables(proposal, run, name, version, value, timestamp, max_diff,
                           provenance, summary_type, summary_method);
CREATE UNIQUE INDEX variable_version ON run_variables (proposal, run, name, version);
CREATE VIEW runs AS SELECT * FROM run_info;
CREATE VIEW max_diffs AS SELECT proposal, run FROM run_info;
CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value);
CREATE TABLE variables(name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT,
                       description TEXT, attributes TEXT);
CREATE TABLE time_comments(timestamp, comment);
"""

V2_CHANGE = "ALTER TABLE run_variables ADD COLUMN attributes;"

V3_CHANGE = """
CREATE TABLE tags(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE variable_tags(
    variable_name TEXT NOT NULL,
    tag_id INTEGER NOT NULL,
    FOREIGN KEY (variable_name) REFERENCES variables(name) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (variable_name, tag_id)
);
"""

PROPOSAL = 1234
START = 1_700_000_000.0


def make_database(path, version, intermediate=False):
    """Write runs.sqlite in `path` as DAMNIT format `version` wrote it, with two runs, a
    computed variable (energy), a comment, user variables (sample: string, good: boolean,
    shots: integer, dose: number), a standalone comment and (v3) a tag.

    intermediate: DAMNIT's early v1, whose run_variables had a `stored_type` column.
    """
    path.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path / "runs.sqlite")
    with conn:
        if version == 0:
            conn.executescript(V0_SCHEMA)
            for col in ("energy", "sample", "good", "shots", "dose", "image"):
                conn.execute(f"ALTER TABLE runs ADD COLUMN {col}")
            conn.executemany(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(PROPOSAL, 1, START, START + 5, "hello", 2.5, "Fe", 1, 7, 0.5, None),
                 (PROPOSAL, 2, START + 60, START + 65, None, 3.5, None, 0, None, None, None)])
        else:
            conn.executescript(V1_SCHEMA)
            if intermediate:
                conn.execute("ALTER TABLE run_variables ADD COLUMN stored_type")
            if version >= 2:
                conn.executescript(V2_CHANGE)
            if version >= 3:
                conn.executescript(V3_CHANGE)
            conn.execute("INSERT INTO metameta VALUES ('data_format_version', ?)", (version,))
            conn.executemany("INSERT INTO run_info VALUES (?, ?, ?, ?)",
                             [(PROPOSAL, 1, START, START + 5),
                              (PROPOSAL, 2, START + 60, START + 65)])
            rows = [(1, "energy", 2.5, "context.py"), (2, "energy", 3.5, "context.py"),
                    (1, "comment", "hello", "manual-input"), (1, "sample", "Fe", "manual-input"),
                    (1, "good", 1, "manual-input"), (2, "good", 0, "manual-input"),
                    (1, "shots", 7, "manual-input"), (1, "dose", 0.5, "manual-input")]
            conn.executemany(
                "INSERT INTO run_variables (proposal, run, name, version, value, timestamp,"
                " provenance) VALUES (?, ?, ?, 1, ?, ?, ?)",
                [(PROPOSAL, run, name, value, START + 100, prov)
                 for run, name, value, prov in rows])
            conn.execute("INSERT INTO variables VALUES ('energy', NULL, 'XGM/Energy', 'e', NULL)")
        conn.execute("INSERT INTO metameta VALUES ('proposal', ?)", (PROPOSAL,))
        conn.executemany(
            "INSERT INTO variables (name, type, title, description) VALUES (?, ?, ?, ?)",
            [("sample", "string", "Sample", "what was in the beam"),
             ("good", "boolean", "Good run", None), ("shots", "integer", "Shots", None),
             ("dose", "number", "Dose", None)])
        conn.execute("INSERT INTO time_comments VALUES (?, ?)", (START + 30, "beam down"))
        if version >= 3:
            conn.execute("INSERT INTO tags (name) VALUES ('xgm')")
            conn.execute("INSERT INTO variable_tags VALUES ('energy', 1)")
    conn.close()
    return path / "runs.sqlite"
