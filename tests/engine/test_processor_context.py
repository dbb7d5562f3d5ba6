"""A context file's groups, globs, param# and mymdc# arguments computed for simulated runs."""

import textwrap
from pathlib import Path

import numpy as np
import pytest

from damnit_nb.context import Definitions, Variable, load_context_file
from damnit_nb.engine import RunMeta, compute_run
from damnit_nb.simulate import MOTOR_X, XGM, simulate_run

CONTEXT = '''
    from damnit_ctx import Variable, Group, Skip

    @Group(tags="XGM")
    class XGM:
        source: str
        scale: float = 1.0

        @Variable(title="Energy", units="uJ", summary="mean")
        def energy(self, run):
            return run[self.source, "pulseEnergy.photonFlux"].ndarray() * self.scale

        @Variable(title="Energy max")
        def peak(self, run, e: "self#energy"):
            return float(e.max())

        @Variable(title="Missing")
        def missing(self, run):
            raise Skip("no such key here")

    @Group
    class Scan:
        xgm: XGM
        motor: str

        @Variable(title="Position")
        def position(self, run):
            return float(run[self.motor, "actualPosition"].ndarray().mean())

        @Variable(title="Energy per mm")
        def ratio(self, run, e: "self#xgm.peak", x: "self#position"):
            return e / x

    xgm = XGM(source="{xgm}")
    xgm2 = XGM(source="{xgm}", scale=2.0, title="XGM x2")
    scan = Scan(xgm=xgm2, motor="{motor}")

    @Variable(title="All peaks")
    def peaks(run, p: "var#xgm*.peak"):
        return sum(p.values())

    @Variable(title="Group values")
    def all_of_xgm(run, values: "var#xgm.*"):
        return len(values)

    @Variable(title="Gain")
    def gain(run, g: "param#gain", run_number: "meta#run_number"):
        return g * run_number

    @Variable(title="Sample")
    def sample(run, s: "mymdc#sample_name"):
        return s

    @Variable(title="Run type")
    def run_type(run, t: "mymdc#run_type" = "unknown"):
        return t
'''


@pytest.fixture(scope="module")
def run_and_defs(tmp_path_factory):
    base = tmp_path_factory.mktemp("proposal") / "p001234"
    run_dir = simulate_run(base, 7, trains=20, modules=1)
    path = base / "context.py"
    path.write_text(textwrap.dedent(CONTEXT).format(xgm=XGM, motor=MOTOR_X))
    return run_dir, load_context_file(path)


def compute(run_dir, defs, **kwargs):
    from damnit_nb.data import RunDirectory

    outcome = compute_run(defs, list(defs.order), lambda: RunDirectory(run_dir),
                          RunMeta(7, 1234, run_dir.parent.parent), **kwargs)
    return {r.name: r for r in outcome.results}


def test_group_variables_and_globs_on_a_simulated_run(run_and_defs):
    from damnit_nb.data import RunDirectory

    run_dir, defs = run_and_defs
    flux = RunDirectory(run_dir)[XGM, "pulseEnergy.photonFlux"].ndarray()
    motor = RunDirectory(run_dir)[MOTOR_X, "actualPosition"].ndarray().mean()
    res = compute(run_dir, defs, params={"gain": 3})

    assert res["xgm.energy"].summary == pytest.approx(flux.mean())
    assert res["xgm.energy"].attributes.get("units") == "uJ"
    assert res["xgm.peak"].summary == pytest.approx(flux.max())
    assert res["xgm2.peak"].summary == pytest.approx(2 * flux.max())
    assert res["scan.position"].summary == pytest.approx(motor)
    assert res["scan.ratio"].summary == pytest.approx(2 * flux.max() / motor)
    assert res["xgm.missing"].error_cls == "Skip"
    # "var#xgm*.peak": both instances' peaks; "var#xgm.*": what xgm's variables gave
    assert res["peaks"].summary == pytest.approx(3 * flux.max())
    assert res["all_of_xgm"].summary == 2  # energy and peak; missing was skipped
    assert res["gain"].summary == 21


def test_params_and_metadata_not_given_skip_with_the_reason(run_and_defs):
    run_dir, defs = run_and_defs
    res = compute(run_dir, defs)
    assert res["gain"].error_cls == "Skip" and "param#gain" in res["gain"].error
    assert res["sample"].error_cls == "Skip"
    assert "'mymdc#sample_name' is not available here" in res["sample"].error
    assert res["run_type"].summary == "unknown"  # its default


def test_metadata_service_when_given(run_and_defs):
    run_dir, defs = run_and_defs
    asked = []

    def mymdc(proposal, run, field):
        asked.append((proposal, run, field))
        return {"sample_name": "lysozyme", "run_type": "scan"}[field]

    res = compute(run_dir, defs, params={"gain": 1}, mymdc=mymdc)
    assert res["sample"].summary == "lysozyme" and res["run_type"].summary == "scan"
    assert sorted(asked) == [(1234, 7, "run_type"), (1234, 7, "sample_name")]


def test_glob_dependencies_skip_only_when_nothing_matched_gave_a_value():
    @Variable
    def part_a(run):
        return 1

    @Variable
    def part_b(run):
        raise ValueError("broken detector")

    @Variable
    def parts(run, d: "var#part_*"):
        return ",".join(sorted(d))

    @Variable
    def only_b(run, d: "var#part_[b]"):
        return 1

    @Variable
    def only_b_default(run, d: "var#part_[b]" = None):
        return 0 if d is None else 1

    defs = Definitions([part_a, part_b, parts, only_b, only_b_default])
    assert defs.dependencies("parts") == {"d": ("part_a", "part_b")}
    outcome = compute_run(defs, list(defs.order), lambda: None, RunMeta(1, 1, Path("/p")))
    res = {r.name: r for r in outcome.results}
    assert res["parts"].summary == "part_a"
    assert res["only_b"].error_cls == "Skip" and "part_b (ValueError" in res["only_b"].error
    assert res["only_b_default"].summary == 0


def test_proc_and_cluster_reach_dependents():
    @Variable(data="proc", cluster=True)
    def corrected(run):
        return np.zeros(3)

    @Variable
    def mean(run, c: "var#corrected"):
        return c.mean()

    @Variable
    def independent(run):
        return 1

    defs = Definitions([corrected, mean, independent])
    assert defs["mean"].data == "proc" and defs["mean"].cluster
    assert defs.declared["mean"].data is None and not mean.cluster  # the given one is unchanged
    assert defs["independent"].data is None and not defs["independent"].cluster
    # changing the proc variable back to raw frees its dependent again
    raw = Variable(cluster=False)(corrected.func)
    assert defs.with_variable(raw)["mean"].data is None
