"""The model registry: names, specs, errors, and models arriving through entry points."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mer_zoo.cli import main
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.models import check_compatible, get_model, get_model_info, list_models, register_model, registry

BUILT_INS = {
    "mean", "cnn_small", "vgg_bn", "crnn", "short_chunk_resnet", "mel_transformer", "ridge", "svr", "hist_gbt",
    "mlp_probe", "temporal_probe",
}  # fmt: skip

GOOD_PLUGIN = '''
import torch
from mer_zoo.models import register_model

@register_model(n_mels=40)
def good_net(*, n_mels=40, n_outputs=2):
    """A good plugin's model."""
    return torch.nn.Linear(n_mels, n_outputs)

VALUE = 3
'''

DUPLICATE_PLUGIN = '''
from mer_zoo.models import register_model

@register_model
def cnn_small(*, n_mels=128, n_outputs=2):
    """Tries to take a built-in's name."""
'''


@pytest.fixture(autouse=True)
def registry_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test works on a copy of the loaded registry; the global one comes back afterwards."""
    list_models()
    monkeypatch.setattr(registry.REGISTRY, "entries", dict(registry.REGISTRY.entries))
    monkeypatch.setattr(registry.REGISTRY, "loaded", True)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty, unloaded registry whose entry-point modules import anew on the first lookup."""
    for entry_point in registry.REGISTRY.entry_points():
        module = entry_point.module
        if module in sys.modules:
            parent, _, child = module.rpartition(".")
            if parent:
                monkeypatch.setattr(sys.modules[parent], child, sys.modules[module])
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(registry.REGISTRY, "entries", {})
    monkeypatch.setattr(registry.REGISTRY, "loaded", False)


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Installs fake distributions (a dist-info with entry points, plus modules) on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(dist: str, entry_points: dict[str, str], sources: dict[str, str] | None = None) -> None:
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}")
        for module, source in (sources or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            modules.append(module)
        importlib.invalidate_caches()

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def tiny(*, n_mels: int = 128, n_outputs: int = 2, hidden: int = 3) -> torch.nn.Module:
    """A tiny test model.

    More detail that the table does not show.
    """
    return torch.nn.Linear(hidden, n_outputs)


def test_names_are_lower_case_and_default_to_the_builders_name() -> None:
    register_model("My_Net")(tiny)
    register_model(tiny)
    assert {"my_net", "tiny"} <= set(list_models())
    assert isinstance(get_model("MY_NET"), torch.nn.Linear)
    info = get_model_info("Tiny")
    assert (info.name, info.source, info.description) == ("tiny", __name__, "A tiny test model.")
    assert register_model("other", description="Said otherwise.")(tiny) is tiny
    assert get_model_info("other").description == "Said otherwise."


def test_a_duplicate_name_names_both_sources() -> None:
    with pytest.raises(MerZooError, match=rf"'cnn_small'.*built-in \(mer_zoo\.models\.cnn\).*{__name__}"):
        register_model("CNN_Small")(tiny)


def test_an_unknown_name_lists_close_matches() -> None:
    with pytest.raises(MerZooError, match=r"unknown model 'cnn_smal'; did you mean cnn_small\?"):
        get_model("cnn_smal")
    with pytest.raises(MerZooError, match=r"did you mean short_chunk_resnet\?"):
        get_model("ResNet")
    with pytest.raises(InputError, match=r"known models: .*mel_transformer.*vgg_bn"):
        get_model_info("zzzzzzzz")


def test_list_models_takes_shell_patterns_and_sorts() -> None:
    assert list_models("cnn*") == ["cnn_small"]
    assert list_models("*RES*") == ["short_chunk_resnet"]
    assert list_models("nothing?") == []
    assert set(list_models()) >= BUILT_INS and list_models() == sorted(list_models())


def test_none_options_are_dropped_and_unknown_options_rejected() -> None:
    register_model(tiny)
    assert get_model("tiny", hidden=None, n_outputs=None).in_features == 3
    assert get_model("tiny", hidden=5).in_features == 5
    with pytest.raises(InputError, match="'tiny'.*depth"):
        get_model("tiny", depth=2)


def test_check_compatible_compares_the_spec_with_the_store() -> None:
    register_model("fixed", n_mels=96)(tiny)
    assert get_model_info("fixed").spec == registry.ModelSpec(n_mels=96, n_outputs=2)
    check_compatible("fixed", "image", 96)
    with pytest.raises(MerZooError, match="'fixed' expects n_mels=96.*'mel' has 128 features"):
        check_compatible("fixed", "image", 128)
    with pytest.raises(MerZooError, match="needs n_mels=96, got 64"):
        get_model("fixed", n_mels=64)
    for name in BUILT_INS:  # built-ins adapt to the store's n_mels
        check_compatible(name, "image", 40)


def test_check_compatible_refuses_a_kind_the_model_does_not_take() -> None:
    register_model("on_vectors", inputs=("vector",))(tiny)
    check_compatible("on_vectors", "vector", 88, "egemaps_functionals")
    check_compatible("on_vectors", "image", 128)  # frame-level sets pool to mean and std per feature
    with pytest.raises(
        MerZooError,
        match="'cnn_small' takes image/sequence features, but feature set 'egemaps_functionals' is of kind 'vector'",
    ):
        check_compatible("cnn_small", "vector", 88, "egemaps_functionals")


def test_importing_the_registry_loads_no_model() -> None:
    code = "import sys, mer_zoo.models; print('torch' in sys.modules, 'mer_zoo.models.cnn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_entry_points_load_once(fresh_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    listed = registry.REGISTRY.entry_points
    monkeypatch.setattr(registry.REGISTRY, "entry_points", lambda: calls.append(1) or listed())
    assert set(list_models()) >= BUILT_INS
    get_model("cnn_small")
    get_model_info("mean")
    assert calls == [1]


def test_builtins_and_the_example_plugin_come_through_entry_points(fresh_registry: None) -> None:
    assert "mer_zoo_example.model" not in sys.modules
    assert set(list_models()) >= BUILT_INS | {"example_mlp"}
    assert {get_model_info(name).source for name in BUILT_INS} == {"built-in"}
    assert get_model_info("example_mlp").source == "mer-zoo-example"
    model = get_model("example_mlp", n_mels=64)
    out = model(torch.randn(3, 1, 64, 50))
    out.sum().backward()
    assert out.shape == (3, 2) and type(model).__module__ == "mer_zoo_example.model"


def test_a_broken_plugin_warns_and_the_rest_still_work(fresh_registry: None, fake_site: Callable[..., None]) -> None:
    fake_site("broken-plugin", {"broken": "no_such_module_h3"})
    fake_site("dup-plugin", {"dup": "dup_plugin_h3"}, {"dup_plugin_h3": DUPLICATE_PLUGIN})
    good = {"good": "good_plugin_h3", "const": "good_plugin_h3:VALUE"}
    fake_site("good-plugin", good, {"good_plugin_h3": GOOD_PLUGIN})
    with pytest.warns(RuntimeWarning) as caught:
        names = list_models()
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3
    assert "'broken' from broken-plugin" in messages[0] and "ModuleNotFoundError" in messages[0]
    assert "'const' from good-plugin" in messages[1] and "neither a module nor a callable" in messages[1]
    assert "'dup' from dup-plugin" in messages[2] and "built-in (mer_zoo.models.cnn)" in messages[2]
    assert set(names) >= BUILT_INS | {"example_mlp", "good_net"}
    assert get_model_info("good_net").source == "good-plugin"
    assert get_model_info("cnn_small").source == "built-in"
    assert get_model("good_net").in_features == 40


def test_a_missing_install_is_explained(fresh_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.REGISTRY, "entry_points", list)
    with pytest.warns(RuntimeWarning, match="no built-in models.*pip install -e"):
        assert list_models() == []


def test_disabling_plugins_keeps_the_builtins(
    fresh_registry: None, fake_site: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_site("good-plugin", {"good": "good_plugin_h3"}, {"good_plugin_h3": GOOD_PLUGIN})
    monkeypatch.setenv("MER_ZOO_DISABLE_PLUGINS", "1")
    assert set(list_models()) == BUILT_INS  # whatever else is installed
    assert "good_plugin_h3" not in sys.modules and "mer_zoo_example.model" not in sys.modules


def test_the_cli_reports_a_broken_plugin_on_one_line(
    fresh_registry: None, fake_site: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_site("broken-plugin", {"broken": "no_such_module_h3"})
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "cnn*"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0 and "cnn_small" in out
    assert err.startswith("mer-zoo: warning: model plugin 'broken' from broken-plugin") and err.count("\n") == 1
