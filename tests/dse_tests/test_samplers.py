"""Every sampler a spec can name runs a constrained multi-objective study of dse trials."""

from __future__ import annotations

import dataclasses

import pytest

from dse.evaluate.failures import DUPLICATE_ATTR
from dse.evaluate.objective import Evaluator, make_objective
from dse.run.runner import open_study
from dse.run.samplers import available_samplers, make_sampler
from dse.run.storage import create_storage
from dse.study.design import ignored_params
from dse.study.spec import SamplerName, SamplerSpec
from mant.errors import InputError


@pytest.mark.parametrize("name", [s for s in SamplerName if s.value in available_samplers()])
def test_sampler_contract(name, small_spec):
    spec = dataclasses.replace(small_spec, sampler=SamplerSpec(name=name, population_size=4))
    study = open_study(spec, create_storage(None, out_dir=None))
    study.optimize(make_objective(Evaluator(spec)), n_trials=6)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    dup = [t for t in study.trials if DUPLICATE_ATTR in t.user_attrs]
    assert len(done) + len(dup) == 6 and all(t.state.name == "PRUNED" for t in dup)
    searched = {p.name for p in spec.space.searched}
    for t in done:  # the INT8 PE has a native weight format: weight_format is not sampled
        assert set(t.params) | (ignored_params(t.params, spec.space) & searched) == searched
        assert ("weight_format" in t.params) == (t.params["pe_type"] == "mant")
    names = {c.name for c in spec.all_constraints}
    assert all(t.constraints.keys() == names for t in done)


def test_gp_without_torch_is_a_clear_input_error(small_spec):
    if "gp" in available_samplers():
        pytest.skip("torch is installed")
    spec = dataclasses.replace(small_spec, sampler=SamplerSpec(name=SamplerName.GP))
    with pytest.raises(InputError, match="gp needs torch"):
        make_sampler(spec)
