"""Computing variables for one run, in dependency order, each in its own try/except."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..context import Cell, Skip
from ..context.names import is_glob

__all__ = ["RunMeta", "RunOutcome", "compute_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunMeta:
    """What ``meta#...`` arguments give a variable."""

    run_number: int
    proposal: int | None
    proposal_path: Path


@dataclass
class RunOutcome:
    """What computing a run produced: results to store and the code versions they came from."""

    results: list = field(default_factory=list)  # store.PreparedResult
    code_versions: dict = field(default_factory=dict)
    errors: int = 0


def compute_run(defs, names, open_run, meta, *, params=None, mymdc=None, progress=None):
    """Compute the variables ``names`` (execution order) of ``defs`` for one run.

    ``open_run()`` gives the run's data; it is called once, and if it raises, every variable
    records that error. A variable that raises records its error; one whose dependency failed
    is skipped with a message naming the chain. Nothing here raises for a variable's sake.

    ``params`` gives ``"param#name"`` arguments their values (a mapping). ``mymdc``, if given,
    is ``mymdc(proposal, run_number, field)`` -> the facility metadata service's value of
    ``field`` (``"sample_name"``, ``"run_type"`` or ``"techniques"``) for ``"mymdc#field"``
    arguments; without it those variables are skipped (unless the argument has a default).

    ``progress(name, result)``, if given, is called as each variable starts (``result`` is
    None) and ends (its PreparedResult, or ``False`` when nothing is stored), so a caller
    that has to stop a run midway keeps what was finished.
    """
    from ..store import prepare_error, prepare_result

    outcome = RunOutcome()
    try:
        run = open_run()
    except Exception as e:  # a broken run: every variable says why
        log.warning("run %s: cannot open its data: %s", meta.run_number, e, exc_info=True)
        for name in names:
            outcome.results.append(prepare_error(name, RunNotReadable(e)))
            outcome.code_versions[name] = defs.versions[name]
            outcome.errors += 1
        return outcome

    inputs = _Inputs(meta, dict(params or {}), mymdc)
    values = {}  # name -> value, for dependents
    failed = {}  # name -> why (a chain of names ending in the failure)
    for name in names:
        var = defs[name]
        outcome.code_versions[name] = defs.versions[name]
        if progress is not None:
            progress(name, None)
        try:
            kwargs = _arguments(var, defs.dependencies(name), values, failed, inputs)
            value = var.func(run, **kwargs)
            stored = _store_value(name, var, value, prepare_result)
        except Exception as e:
            if not isinstance(e, Skip):
                log.info("run %s: variable %r raised %r", meta.run_number, name, e,
                         exc_info=True)
                outcome.errors += 1
            failed[name] = f"{name} ({type(e).__name__}: {e})"
            outcome.results.append(prepare_error(name, e))
            if progress is not None:
                progress(name, outcome.results[-1])
            continue
        if value is None:
            failed[name] = f"{name} (returned None)"
        else:
            values[name] = value.data if isinstance(value, Cell) else value
        if stored is not None:
            outcome.results.append(stored)
        if progress is not None:
            progress(name, stored if stored is not None else False)
    _release(run)
    return outcome


def _release(run):
    """Close the run's files (a finished run's handles are not kept for the beamtime); a
    reader without ``close()`` (EXtra-data's) keeps them until its collection is dropped."""
    close = getattr(run, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.debug("closing the run's files failed", exc_info=True)


class RunNotReadable(Exception):
    """The run's files could not be read."""

    def __init__(self, cause):
        super().__init__(f"cannot read the run's files: {cause}")


class _Unavailable(LookupError):
    """An argument has no value for this run (and the variable is skipped without a default)."""


class _Inputs:
    """What a run gives variables besides their dependencies: meta#, param# and mymdc#."""

    def __init__(self, meta, params, mymdc):
        self.meta = meta
        self.params = params
        self._mymdc = mymdc
        self._metadata = {}  # field -> value, asked once per run

    def value(self, prefix, key):
        """The value for ``"prefix#key"``; _Unavailable if there is none here."""
        if prefix == "meta":
            return getattr(self.meta, key)
        if prefix == "param":
            if key not in self.params:
                raise _Unavailable(f"no value for 'param#{key}': give it in the parameters "
                               f"(params={{{key!r}: ...}})")
            return self.params[key]
        if prefix == "mymdc":
            if self._mymdc is None:
                raise _Unavailable(f"'mymdc#{key}' is not available here: no connection to the "
                               "facility's metadata service (myMdC) is configured")
            if key not in self._metadata:
                self._metadata[key] = self._mymdc(self.meta.proposal, self.meta.run_number, key)
            return self._metadata[key]
        raise _Unavailable(f"'{prefix}#{key}' is not available here")


def _arguments(var, dependencies, values, failed, inputs):
    kwargs = {}
    defaults = var.defaults()
    for param, annotation in var.annotations().items():
        if not isinstance(annotation, str) or "#" not in annotation:
            continue  # a plain parameter with a default
        prefix, _, rest = annotation.partition("#")
        if prefix == "var":
            found = dependencies[param]
            if is_glob(rest):
                got = {n: values[n] for n in found if n in values}
                if got:
                    kwargs[param] = got
                    continue
            elif rest in values:
                kwargs[param] = values[rest]
                continue
            if param not in defaults:
                chain = ", ".join(failed.get(n, n) for n in found)
                raise Skip(f"dependency {chain} gave no value")
            kwargs[param] = defaults[param]
        else:
            try:
                kwargs[param] = inputs.value(prefix, rest)
            except _Unavailable as e:
                if param not in defaults:
                    raise Skip(e.args[0]) from None
                kwargs[param] = defaults[param]
    return kwargs


def _store_value(name, var, value, prepare_result):
    if var.transient or value is None:
        return None
    # a Cell goes as it is: its options, and its units over a DataArray's, are the store's job
    return prepare_result(name, value, summary=var.summary, units=var.units)
