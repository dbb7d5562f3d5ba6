"""The undo journal: changes made in place are rolled back exactly, torn records ignored."""

import os
import struct

import pytest

from damnit_nb.store.journal import (
    JournaledFile, read_journal, recover, write_replace_journal,
)

TOKEN = "0123456789abcdef"
ORIGINAL = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def paths(tmp_path):
    target = tmp_path / "run.h5"
    target.write_bytes(ORIGINAL)
    return target, tmp_path / ".run.h5.journal"


def _scribble(f):
    """Overwrites (some overlapping, some twice), a write past the end, a truncation."""
    f.seek(100)
    f.write(b"x" * 50)
    f.seek(120)
    f.write(b"y" * 100)  # overlaps the first one: only the new part is saved
    f.seek(100)
    f.write(b"z" * 10)  # already saved
    f.seek(len(ORIGINAL) - 5)
    f.write(b"w" * 20)  # straddles the original end
    f.seek(0, os.SEEK_END)
    f.write(b"tail" * 100)
    f.truncate(8000)  # drops original bytes: they are saved first
    f.seek(7990)
    f.write(b"v" * 30)


def test_roll_back_restores_every_byte(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    _scribble(f)
    assert target.read_bytes() != ORIGINAL
    f.roll_back()
    assert target.read_bytes() == ORIGINAL
    assert not journal.exists()


def test_each_original_byte_is_saved_once(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    _scribble(f)
    f.close()
    saved = read_journal(journal).records
    covered = [i for offset, data in saved for i in range(offset, offset + len(data))]
    assert len(covered) == len(set(covered))
    for offset, data in saved:
        assert data == ORIGINAL[offset:offset + len(data)]


def test_recover_a_killed_writer(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    _scribble(f)
    f.close()  # as if killed: the journal stays
    assert recover(journal, target, committed=lambda token: False)
    assert target.read_bytes() == ORIGINAL and not journal.exists()
    assert not recover(journal, target, committed=lambda token: False)  # nothing left


def test_recover_a_committed_write_keeps_it(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    _scribble(f)
    f.close()
    changed = target.read_bytes()
    seen = []
    assert recover(journal, target, committed=lambda token: seen.append(token) or True)
    assert seen == [TOKEN]
    assert target.read_bytes() == changed and not journal.exists()


def test_a_torn_last_record_is_ignored(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    f.seek(10)
    f.write(b"a" * 10)
    f.seek(9000)  # another page
    f.write(b"b" * 10)
    f.close()
    # The writer was killed while appending a third record, before its overwrite.
    with open(journal, "ab") as j:
        j.write(struct.pack("<QII", 3000, 16, 0) + b"12345")
    assert len(read_journal(journal).records) == 2
    recover(journal, target, committed=lambda token: False)
    assert target.read_bytes() == ORIGINAL


def test_a_corrupt_record_ends_the_journal(paths):
    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    f.seek(10)
    f.write(b"a" * 10)
    f.close()
    raw = bytearray(journal.read_bytes())
    raw[-1] ^= 0xFF  # the saved bytes no longer match their CRC
    journal.write_bytes(bytes(raw))
    assert read_journal(journal).records == []


def test_a_torn_header_means_nothing_was_changed(paths):
    target, journal = paths
    JournaledFile(target, journal, TOKEN).close()
    journal.write_bytes(journal.read_bytes()[:20])
    assert read_journal(journal) is None
    assert recover(journal, target, committed=lambda token: False)
    assert target.read_bytes() == ORIGINAL and not journal.exists()


def test_a_second_journal_is_refused(paths):
    target, journal = paths
    JournaledFile(target, journal, TOKEN).close()
    with pytest.raises(FileExistsError):
        JournaledFile(target, journal, TOKEN)


@pytest.mark.parametrize("committed", [True, False])
def test_replace_journal(paths, committed):
    target, journal = paths
    replacement = target.with_name("run.h5.new")
    write_replace_journal(journal, TOKEN, replacement)
    replacement.write_bytes(b"new contents")
    recover(journal, target, committed=lambda token: committed)
    assert target.read_bytes() == (b"new contents" if committed else ORIGINAL)
    assert not replacement.exists() and not journal.exists()


def test_a_failed_write_poisons_the_file(paths, monkeypatch):
    import errno

    import damnit_nb.store.journal as journal_module

    target, journal = paths
    f = JournaledFile(target, journal, TOKEN)
    f.seek(10)
    f.write(b"a" * 10)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "pwrite", full)
    with pytest.raises(OSError):
        f.write(b"b" * 10)
    monkeypatch.undo()
    assert f.failure.errno == errno.ENOSPC
    with pytest.raises(OSError):  # nothing more is written once a write failed
        f.write(b"c")
    f.roll_back()
    assert target.read_bytes() == ORIGINAL
