"""Computing variables for one run, in dependency order, each in its own try/except."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..context import Cell, Skip

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


def compute_run(defs, names, open_run, meta):
    """Compute the variables ``names`` (execution order) of ``defs`` for one run.

    ``open_run()`` gives the run's data; it is called once, and if it raises, every variable
    records that error. A variable that raises records its error; one whose dependency failed
    is skipped with a message naming the chain. Nothing here raises for a variable's sake.
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

    values = {}  # name -> value, for dependents
    failed = {}  # name -> why (a chain of names ending in the failure)
    for name in names:
        var = defs[name]
        outcome.code_versions[name] = defs.versions[name]
        try:
            kwargs = _arguments(var, values, failed, meta)
            value = var.func(run, **kwargs)
            stored = _store_value(name, var, value, prepare_result)
        except Exception as e:
            if not isinstance(e, Skip):
                log.info("run %s: variable %r raised %r", meta.run_number, name, e,
                         exc_info=True)
                outcome.errors += 1
            failed[name] = f"{name} ({type(e).__name__}: {e})"
            outcome.results.append(prepare_error(name, e))
            continue
        if value is None:
            failed[name] = f"{name} (returned None)"
        else:
            values[name] = value.data if isinstance(value, Cell) else value
        if stored is not None:
            outcome.results.append(stored)
    return outcome


class RunNotReadable(Exception):
    """The run's files could not be read."""

    def __init__(self, cause):
        super().__init__(f"cannot read the run's files: {cause}")


def _arguments(var, values, failed, meta):
    kwargs = {}
    defaults = var.defaults()
    for param, annotation in var.annotations().items():
        if not isinstance(annotation, str) or "#" not in annotation:
            continue  # a plain parameter with a default
        prefix, _, rest = annotation.partition("#")
        if prefix == "var":
            if rest in values:
                kwargs[param] = values[rest]
            elif param in defaults:
                kwargs[param] = defaults[param]
            else:
                raise Skip(f"dependency {failed.get(rest, rest)} gave no value")
        elif prefix == "meta":
            kwargs[param] = getattr(meta, rest)
        elif param not in defaults:
            raise Skip(f"{annotation!r} is not available here")
    return kwargs


def _store_value(name, var, value, prepare_result):
    if var.transient or value is None:
        return None
    # a Cell goes as it is: its options, and its units over a DataArray's, are the store's job
    return prepare_result(name, value, summary=var.summary, units=var.units)
