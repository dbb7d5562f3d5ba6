"""Which part of a run file a source's data is in: ``is_control``, ``is_instrument``...

Shared by :class:`~.source.SourceData` and :class:`~.key.KeyData`, which both have a
``section``: ``'CONTROL'``, ``'INSTRUMENT'``, or for auxiliary sources (see
:mod:`.auxiliary`) ``'REDUCTION'`` or ``'ERRATA'``.
"""

__all__ = ["SectionFlags"]


class SectionFlags:
    """``is_control``, ``is_instrument``, ``is_reduction``, ``is_errata``, ``is_auxiliary``
    for anything with a ``section`` attribute."""

    @property
    def is_control(self):
        return self.section == "CONTROL"

    @property
    def is_instrument(self):
        return self.section == "INSTRUMENT"

    @property
    def is_reduction(self):
        """Auxiliary data of the REDUCTION section (see ``run.auxiliary``)."""
        return self.section == "REDUCTION"

    @property
    def is_errata(self):
        """Auxiliary data of the ERRATA section (see ``run.auxiliary``)."""
        return self.section == "ERRATA"

    @property
    def is_auxiliary(self):
        """Data of an auxiliary (REDUCTION or ERRATA) source."""
        return self.is_reduction or self.is_errata
