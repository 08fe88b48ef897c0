"""`run` fetches the assets its accuracy source reads before the trial loop (issue 13)."""

from __future__ import annotations

from types import SimpleNamespace

from dse.evaluate import accuracy
from dse.run.runner import run_study
from dse.study import sources
from llmrun import assets


def test_missing_assets_are_fetched_once_before_the_first_trial(
    small_spec, tmp_path, monkeypatch, capsys
):
    events: list[str] = []
    missing = {"janeaustenr"}

    def fake_status(names):
        return [
            SimpleNamespace(
                asset=SimpleNamespace(name=n),
                state=assets.AssetState.MISSING if n in missing else assets.AssetState.OK,
            )
            for n in names
        ]

    def fake_fetch(names, log=None):
        events.append("fetch " + ",".join(names))
        log("  janeaustenr: 1.0 MB in the cache")
        missing.clear()
        return []

    monkeypatch.setattr(assets, "status", fake_status)
    monkeypatch.setattr(assets, "fetch", fake_fetch)
    monkeypatch.setitem(accuracy.SOURCE_ASSETS, "synthetic", ("smollm2-135m", "janeaustenr"))
    inner = sources.source_factory("synthetic")

    def recording_source(spec):
        source = inner(spec)
        real = source.recipe_metrics

        def recipe_metrics(*args, **kwargs):
            events.append("trial")
            return real(*args, **kwargs)

        source.recipe_metrics = recipe_metrics
        return source

    monkeypatch.setitem(sources._FACTORIES, "synthetic", recording_source)
    run_study(small_spec, out_dir=tmp_path, n_trials=2, progress=True, report=False)
    assert events[0] == "fetch janeaustenr" and events.count("trial") >= 1
    assert "fetching assets once before the trials: janeaustenr" in capsys.readouterr().err
    # a second run finds everything cached and fetches nothing
    events.clear()
    run_study(small_spec, out_dir=tmp_path, n_trials=3, progress=False, report=False)
    assert "fetch" not in " ".join(events)
