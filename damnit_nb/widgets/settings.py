"""`ViewSettings`: how one user likes to see one database's table (which columns, in which
order...), kept as a small JSON document in the user's config directory, never in the
database directory. Imports no widgets.

The document for a database is ``<config>/views/<sha1 of the resolved database path>.json``,
where ``<config>`` is ``$DAMNIT_NB_CONFIG_DIR`` if set, else ``$XDG_CONFIG_HOME/damnit_nb``,
else ``~/.config/damnit_nb``. It reads::

    {"database": "/gpfs/exfel/exp/.../usr/Shared/amore", "settings": {"columns": {...}}}

("database" is there for humans looking at the files). Settings are an aid, not data: a file
that cannot be read gives a warning and the defaults; a directory that cannot be written gives
one warning and the settings live on in memory for the session.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = ["ViewSettings", "config_dir"]

_UNSET = object()


def config_dir():
    """The user's damnit_nb config directory (it may not exist yet): ``$DAMNIT_NB_CONFIG_DIR``
    if set, else ``$XDG_CONFIG_HOME/damnit_nb``, else ``~/.config/damnit_nb``."""
    explicit = os.environ.get("DAMNIT_NB_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg).expanduser() / "damnit_nb"
    return Path.home() / ".config" / "damnit_nb"


class ViewSettings:
    """The view settings of one database for this user: ``get(name, default)`` and
    ``set(name, value)`` (saved at once). Thread-safe.

    ``database_dir``: the database's directory (resolved; only its path is used). The file is
    found and read when this is made; `path` says where it is.
    """

    def __init__(self, database_dir):
        self.database_dir = Path(database_dir).expanduser().resolve()
        digest = hashlib.sha1(os.fsencode(str(self.database_dir))).hexdigest()
        self.path = config_dir() / "views" / f"{digest}.json"
        self._lock = threading.Lock()
        self._own = set()  # names set here: what a save writes over the file's values
        self._warned_write = False
        values, problem = self._read()
        if problem is not None:
            warnings.warn(f"damnit_nb: cannot read the view settings in {self.path} "
                          f"({problem}); the defaults are used, and the file is replaced "
                          "when a setting changes", RuntimeWarning, stacklevel=2)
        self._values = values

    def __repr__(self):
        return f"ViewSettings({str(self.database_dir)!r})"

    def get(self, name, default=None):
        """The value of setting ``name`` (a copy), or ``default`` if it was never set."""
        with self._lock:
            value = self._values.get(name, _UNSET)
        return default if value is _UNSET else copy.deepcopy(value)

    def set(self, name, value):
        """Set ``name`` to ``value`` and save the file (atomically). ``value`` must be
        JSON-serialisable (dicts with string keys, lists, strings, finite numbers, booleans,
        None): TypeError otherwise. Tuples come back as lists."""
        if not isinstance(name, str):
            raise TypeError(f"A setting's name is a string, not {name!r}")
        try:
            value = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise TypeError(f"The setting {name!r} must be JSON-serialisable (dicts with string "
                            f"keys, lists, strings, finite numbers, booleans, None); {value!r} "
                            f"is not: {e}") from None
        with self._lock:
            self._values[name] = value
            self._own.add(name)
            problem = self._save_locked()
            warn = problem is not None and not self._warned_write
            if warn:
                self._warned_write = True
        if warn:
            warnings.warn(f"damnit_nb: cannot save the view settings to {self.path} "
                          f"({problem}); they are kept in memory for this session only",
                          RuntimeWarning, stacklevel=2)

    # -- the file -----------------------------------------------------------------------------
    def _read(self):
        """``(values, problem)``: the file's settings ({} if there is no file), and why they
        could not be read (None if they could)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return {}, None  # nothing saved yet
        except (OSError, UnicodeDecodeError) as e:
            return {}, str(e)
        try:
            doc = json.loads(text)
        except ValueError as e:
            return {}, f"not JSON: {e}"
        values = doc.get("settings") if isinstance(doc, dict) else None
        if not isinstance(values, dict):
            return {}, 'not a settings file: no "settings" object'
        return values, None

    def _save_locked(self):
        """Write the file with this object's settings over the file's own (another kernel's
        may have changed others); the problem as text if it failed, else None."""
        on_disk, _ = self._read()
        on_disk.update((name, self._values[name]) for name in self._own)
        doc = {"database": str(self.database_dir), "settings": on_disk}
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                       suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
            tmp = None
        except OSError as e:
            return str(e)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return None
