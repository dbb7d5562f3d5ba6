"""Changing a file in place so that a killed writer can be undone: an undo journal.

`JournaledFile` is a binary file object (what h5py's file-object driver needs: read,
readinto, write, seek, tell, truncate, flush) over a file. Before a write or a truncation
changes bytes the file held when it was opened, it appends those bytes to a journal file as
a record (whole 4 KiB pages of them); each byte is saved once, and bytes past the original
end need no record (rolling back truncates them). `recover` reads a journal left behind and
either rolls the file back (records applied in reverse, then truncated to its original
size) or, when the caller says the write was committed, keeps the file as it is; then
deletes the journal.

A journal of kind "replace" records a pending replacement instead: a complete new file
under a temporary name that `recover` renames into place if committed, else deletes.

Journal format (little-endian), written with unbuffered writes, each record whole before
the bytes it saves are overwritten:

- header: magic ``DNBJRNL1``, token (16 ASCII bytes, naming the write), kind (``U`` undo,
  ``R`` replace), original size (u64), name length (u16) and name (UTF-8: the replacement
  file, for kind R), CRC-32 of all of that (u32);
- records (kind U): offset (u64), length (u32), CRC-32 of offset, length and bytes (u32),
  the bytes.

A header or record cut short, or failing its CRC, ends the journal: a writer killed while
appending it never overwrote what it was saving. The journal guards against a killed
process; like a temporary file and rename without fsync, not against a host losing power.
"""

from __future__ import annotations

import bisect
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import faults

__all__ = ["JournaledFile", "Journal", "read_journal", "recover", "write_replace_journal",
           "JOURNAL_SUFFIX"]

JOURNAL_SUFFIX = ".journal"
_MAGIC = b"DNBJRNL1"
_HEAD = struct.Struct("<8s16scQH")
_CRC = struct.Struct("<I")
_RECORD = struct.Struct("<QII")  # offset, length, crc
UNDO, REPLACE = b"U", b"R"
_PAGE = 4096


def _header(token, kind, size, name=""):
    raw_name = name.encode()
    head = _HEAD.pack(_MAGIC, token.encode("ascii"), kind, size, len(raw_name)) + raw_name
    return head + _CRC.pack(zlib.crc32(head))


def _write_all(fd, data, offset=None):
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[n:]
        if offset is not None:
            offset += n


def write_replace_journal(journal_path, token, replacement):
    """Record a pending replacement of the file by `replacement` (a file next to it)."""
    fd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        _write_all(fd, _header(token, REPLACE, 0, Path(replacement).name))
    except BaseException:
        Path(journal_path).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


@dataclass
class Journal:
    """A journal as read back: its header and its complete records (offset, old bytes)."""

    token: str
    kind: bytes
    original_size: int
    name: str
    records: list = field(default_factory=list)


def read_journal(path) -> Journal | None:
    """The journal at `path`, or None if it does not exist or its header is incomplete
    (then its writer changed nothing yet)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < _HEAD.size:
        return None
    magic, token, kind, size, name_len = _HEAD.unpack_from(raw)
    end = _HEAD.size + name_len
    if magic != _MAGIC or len(raw) < end + _CRC.size:
        return None
    if _CRC.unpack_from(raw, end)[0] != zlib.crc32(raw[:end]):
        return None
    journal = Journal(token.decode("ascii"), kind, size, raw[_HEAD.size:end].decode())
    pos = end + _CRC.size
    while pos + _RECORD.size <= len(raw):
        offset, length, crc = _RECORD.unpack_from(raw, pos)
        data = raw[pos + _RECORD.size:pos + _RECORD.size + length]
        if len(data) < length or zlib.crc32(data, zlib.crc32(raw[pos:pos + 12])) != crc:
            break  # torn: its bytes were never overwritten
        journal.records.append((offset, data))
        pos += _RECORD.size + length
    return journal


def recover(journal_path, target, committed, lock=None):
    """Finish or undo the write a journal records; True if there was one.

    committed(token) says whether the write was committed elsewhere (its SQLite rows):
    then the file keeps its new contents (or the replacement is renamed into place);
    otherwise the file is rolled back (or the replacement deleted). lock(fd), if given, is
    called on the file before it is rolled back (to keep readers out). The journal is
    deleted last, so a recovery that is itself interrupted is simply done again.
    """
    journal_path, target = Path(journal_path), Path(target)
    journal = read_journal(journal_path)
    if journal is None:
        if not journal_path.exists():
            return False
    elif journal.kind == REPLACE:
        replacement = target.with_name(journal.name)
        if committed(journal.token) and replacement.exists():
            os.replace(replacement, target)
        else:
            replacement.unlink(missing_ok=True)
    elif not committed(journal.token):
        fd = os.open(target, os.O_RDWR)
        try:
            if lock is not None:
                lock(fd)
            _undo(fd, journal)
        finally:
            os.close(fd)
    journal_path.unlink(missing_ok=True)
    return True


def _undo(fd, journal):
    for offset, data in reversed(journal.records):
        _write_all(fd, data, offset)
    os.ftruncate(fd, journal.original_size)


class JournaledFile:
    """A file opened for reading and writing whose changes can be rolled back.

    path: the file (it must exist); journal_path: where the journal is written (created,
    with its header, when opened: there must be none), or None for a new file, which has no
    original bytes to save; token: names this write (16 ASCII characters). Close it, then
    delete the journal to keep the changes, or call `roll_back()` to undo them.

    An OSError from the file system is kept as `failure` and every later write raises it:
    h5py's driver reports such errors late and as its own, so callers check `failure`.
    """

    def __init__(self, path, journal_path, token):
        self.path = Path(path)
        self.journal_path = None if journal_path is None else Path(journal_path)
        self.token = token
        self.failure = None
        self._fd = os.open(self.path, os.O_RDWR)
        self._jfd = None
        try:
            self.original_size = os.fstat(self._fd).st_size
            if journal_path is None:
                if self.original_size:
                    raise ValueError(f"{path} is not empty: changing it needs a journal.")
            else:
                self._jfd = os.open(self.journal_path,
                                    os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                _write_all(self._jfd, _header(token, UNDO, self.original_size))
        except BaseException:
            created = self._jfd is not None
            self.close()
            if created:
                self.journal_path.unlink(missing_ok=True)
            raise
        self._pos = 0
        self._starts = []  # saved ranges [start, end) of the original bytes, disjoint
        self._ends = []
        self.records = 0
        self.saved_bytes = 0

    def fileno(self):
        return self._fd

    # --- what h5py's file-object driver calls ---

    def seek(self, offset, whence=os.SEEK_SET):
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = os.fstat(self._fd).st_size + offset
        return self._pos

    def tell(self):
        return self._pos

    def readinto(self, buffer):
        try:
            n = os.preadv(self._fd, [buffer], self._pos)
        except OSError as exc:
            self.failure = exc
            raise
        self._pos += n
        return n

    def read(self, size=-1):
        if size is None or size < 0:
            size = max(os.fstat(self._fd).st_size - self._pos, 0)
        data = os.pread(self._fd, size, self._pos)
        self._pos += len(data)
        return data

    def write(self, data):
        if self.failure is not None:  # nothing more once a write failed
            raise self.failure
        start = self._pos
        view = memoryview(data).cast("B")
        try:
            overwrites = start < self.original_size
            if overwrites:
                self._save(start, min(start + len(view), self.original_size))
            _write_all(self._fd, view, start)
        except OSError as exc:
            self.failure = exc
            raise
        self._pos = start + len(view)
        if overwrites:
            faults.reached("run-file-write")
        return len(view)

    def truncate(self, size=None):
        if self.failure is not None:
            raise self.failure
        size = self._pos if size is None else size
        try:
            if size < self.original_size:
                self._save(size, self.original_size)
            os.ftruncate(self._fd, size)
        except OSError as exc:
            self.failure = exc
            raise
        return size

    def flush(self):
        pass

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    # --- the journal ---

    def _save(self, start, end):
        """Journal the original bytes of [start, end) not saved yet, in whole pages (HDF5
        writes its metadata in many small pieces close together: fewer, larger records)."""
        start -= start % _PAGE
        end = min(end + (-end % _PAGE), self.original_size)
        for lo, hi in self._unsaved(start, end):
            old = os.pread(self._fd, hi - lo, lo)
            head = struct.pack("<QI", lo, len(old))
            record = head + _CRC.pack(zlib.crc32(old, zlib.crc32(head))) + old
            _write_all(self._jfd, record)
            self._mark(lo, lo + len(old))
            self.records += 1
            self.saved_bytes += len(old)

    def _unsaved(self, start, end):
        gaps = []
        i = bisect.bisect_right(self._ends, start)
        pos = start
        while pos < end:
            if i < len(self._starts) and self._starts[i] <= pos:
                pos = max(pos, self._ends[i])
                i += 1
                continue
            nxt = self._starts[i] if i < len(self._starts) else end
            gaps.append((pos, min(nxt, end)))
            pos = min(nxt, end)
        return gaps

    def _mark(self, start, end):
        i = bisect.bisect_left(self._ends, start)
        j = i
        while j < len(self._starts) and self._starts[j] <= end:
            start = min(start, self._starts[j])
            end = max(end, self._ends[j])
            j += 1
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def roll_back(self):
        """Undo every change since opening (h5py must have closed the file), close, and
        delete the journal. The file stays open (and locked) while it is restored; if
        restoring fails, the journal stays for `recover`."""
        try:
            if self._jfd is not None:
                os.close(self._jfd)
                self._jfd = None
            if self.journal_path is not None and self._fd is not None:
                journal = read_journal(self.journal_path)
                if journal is not None:
                    _undo(self._fd, journal)
        finally:
            self.close()
        if self.journal_path is not None:
            self.journal_path.unlink(missing_ok=True)

    def close(self):
        """Close the file and the journal (which stays, for `roll_back` or deletion)."""
        for name in ("_jfd", "_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)

    @property
    def closed(self):
        return self._fd is None
