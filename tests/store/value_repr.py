"""A JSON-able description of any value DAMNIT's API returns, the same in both Python
environments, so values read by DAMNIT and by damnit_nb can be compared exactly."""

import numpy as np


def value_repr(v):
    """[kind, details...] of v: its exact type and contents."""
    if v is None:
        return None
    kind = type(v).__name__
    if isinstance(v, (str, bool)):
        return [kind, v]
    if isinstance(v, bytes):
        return [kind, v.hex()]
    if isinstance(v, (int, float, complex)):
        return [kind, repr(v)]
    if isinstance(v, np.generic):
        return ["np." + kind, repr(v.item())]
    if isinstance(v, np.ndarray):
        return [kind, str(v.dtype), list(v.shape), repr(v.tolist())]
    if kind in ("DataArray", "Dataset"):
        coords = {str(k): value_repr(c.values) for k, c in v.coords.items()}
        attrs = repr(sorted((k, repr(a)) for k, a in v.attrs.items()))
        if kind == "DataArray":
            return [kind, v.name, list(v.dims), value_repr(v.values), coords, attrs]
        data = {str(k): value_repr(x) for k, x in v.data_vars.items()}
        return [kind, data, coords, attrs]
    return [kind, repr(v)]


def describe_run(run_vars):
    """Everything DAMNIT's API tells about one run's variables, as value_repr's."""
    out = {"keys": run_vars.keys(), "titles": run_vars.titles(), "vars": {}}
    for name in run_vars.keys():
        var = run_vars[name]
        found = {"title": var.title}
        calls = {
            "read": lambda: var.read(deserialize_plotly=False),
            "summary": var.summary,
            "units": lambda: var.units,
            "preview": lambda: var.preview_data(deserialize_plotly=False),
            "preview_nofallback": lambda: var.preview_data(data_fallback=False,
                                                           deserialize_plotly=False),
            "type_hint": lambda: getattr(var.type_hint(), "value", None),
        }
        for what, call in calls.items():
            try:
                found[what] = value_repr(call())
            except Exception as exc:
                found[what] = ["raised", type(exc).__name__]
        out["vars"][name] = found
    return out
