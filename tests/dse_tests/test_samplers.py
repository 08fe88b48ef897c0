"""Every sampler a spec can name runs a constrained multi-objective study of dse trials."""

from __future__ import annotations

import dataclasses

import pytest

from dse.objective import Evaluator, make_objective
from dse.runner import open_study
from dse.samplers import available_samplers, make_sampler
from dse.spec import SamplerName, SamplerSpec
from dse.storage import create_storage
from mant.errors import InputError


@pytest.mark.parametrize("name", [s for s in SamplerName if s.value in available_samplers()])
def test_sampler_contract(name, small_spec):
    spec = dataclasses.replace(small_spec, sampler=SamplerSpec(name=name, population_size=4))
    study = open_study(spec, create_storage(None, out_dir=None))
    study.optimize(make_objective(Evaluator(spec)), n_trials=6)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 6
    assert all(set(t.params) == {p.name for p in spec.space.searched} for t in done)
    names = {c.name for c in spec.all_constraints}
    assert all(t.constraints.keys() == names for t in done)


def test_gp_without_torch_is_a_clear_input_error(small_spec):
    if "gp" in available_samplers():
        pytest.skip("torch is installed")
    spec = dataclasses.replace(small_spec, sampler=SamplerSpec(name=SamplerName.GP))
    with pytest.raises(InputError, match="gp needs torch"):
        make_sampler(spec)
