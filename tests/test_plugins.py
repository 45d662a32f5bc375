"""The one plugin registry (codecs, metrics, mask generators, CLI commands): names and
metadata are read from the source files, and a module is imported only when its name is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bench.codec import CODECS
from bench.codec.registry import LISTED
from bench.errors import BenchError
from bench.masks.generators import GENERATORS
from bench.metrics import METRICS
from bench.metrics.base import _metadata
from bench.plugins import Registry
from bench.plugins.scan import scan_module

from .conftest import ROOT, run_cli

# The decorator of the throw-away registries below: plugin files import it from this module.
CURRENT: dict[str, Registry] = {}


def register_widget(cls):
    return CURRENT["widgets"].bind(cls.name, cls)


def widgets(folder) -> Registry:
    reg = Registry("widget", "register_widget", "Run `widgets`.", folders=lambda: [folder])
    CURRENT["widgets"] = reg
    return reg


def write(folder, name: str, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder / name


def test_scan_reads_literal_class_data_through_bases_without_importing(tmp_path):
    path = write(tmp_path, "two.py", """
        import not_installed_anywhere_xyz            # never executed by the scan
        from bench.codec import Codec, register_codec
        LEVELS = (1, 2)

        class Base(Codec):
            rate_param = "q"
            rate_range = (0, float("inf"))

        @register_codec
        class A(Base):
            name = "a-codec"
            default_rates = LEVELS
            description = "x" + "y"

        @register_codec
        class B(Base):
            name = "b-" + str(2)
    """)
    scan = scan_module(path, ("register_codec",))
    a, b = scan.declared
    assert (a.symbol, a.complete) == ("A", True)
    assert a.attrs["name"] == "a-codec" and a.attrs["rate_param"] == "q"
    assert a.attrs["rate_range"] == (0, float("inf")) and a.attrs["default_rates"] == (1, 2)
    assert a.attrs["description"] == "xy"
    assert a.attrs["rate_is_integer"] is True and a.attrs["bpp_source"] == "measured"   # Codec's own defaults
    assert not a.cls.defines("unavailable", "Codec")
    assert "name" in b.unknown and "name" not in b.attrs
    assert "not_installed_anywhere_xyz" not in sys.modules


def test_a_name_loads_only_its_module_and_unreadable_names_fall_back_to_import(tmp_path):
    folder = tmp_path / "w"
    write(folder, "good.py", """
        from tests.test_plugins import register_widget
        @register_widget
        class Good:
            name = "good"
            aliases = ("fine",)
    """)
    write(folder, "broken.py", """
        raise RuntimeError("this module must not be imported to find 'good'")
        from tests.test_plugins import register_widget
        @register_widget
        class Broken:
            name = "broken"
    """)
    write(folder, "dynamic.py", """
        from tests.test_plugins import register_widget
        @register_widget
        class Dynamic:
            name = "dyn" + "amic"[:4]
    """)
    reg = widgets(folder)
    assert reg.names() == ["broken", "good"]                 # 'dynamic' is not readable statically
    assert reg.load("fine") is reg.load("good")              # an alias
    assert reg.load("good").__module__.endswith(".good")
    assert not any(m.endswith(".broken") for m in sys.modules)
    assert reg.load("dynamic").__name__ == "Dynamic"         # a miss imports the undeclared module
    with pytest.raises(BenchError, match=r"widget 'broken' failed to load from .*broken.py: RuntimeError"):
        reg.load("broken")
    with pytest.raises(BenchError, match=r"unknown widget 'god' \(did you mean 'good'\?\)"):
        reg.entry("god")


def test_a_name_defined_twice_names_both_places(tmp_path):
    folder = tmp_path / "w"
    for f in ("one.py", "two.py"):
        write(folder, f, """
            from tests.test_plugins import register_widget
            @register_widget
            class Same:
                name = "same"
        """)
    with pytest.raises(BenchError, match=r"widget name 'same' is defined twice \(.*one.py: Same and .*two.py: Same\)"):
        widgets(folder).names()


@pytest.mark.parametrize("registry, wrong, right", [(CODECS, "jpg", "jpeg"), (METRICS, "lpip", "lpips"),
                                                    (GENERATORS, "salency", "saliency")])
def test_every_registry_says_did_you_mean(registry, wrong, right):
    with pytest.raises(BenchError, match=rf"unknown .* '{wrong}' \(did you mean '{right}'\?\)"):
        registry.entry(wrong)


def test_builtin_codecs_list_from_source_and_match_their_classes():
    for name in CODECS.names():
        if not CODECS.entry(name).origin.startswith(str(ROOT / "codecs")):
            continue
        attrs = CODECS.static(name)
        assert attrs is not None, f"{name}: its listing needs an import"
        cls = CODECS.load(name)
        assert {k: attrs[k] for k in LISTED} == {k: getattr(cls, k) for k in LISTED}, name


def test_builtin_metric_metadata_reads_from_source_and_matches_the_classes():
    for name in METRICS.names():
        attrs = METRICS.static(name)
        assert attrs is not None, f"{name}: its metadata needs an import"
        static = _metadata(lambda a: attrs[a])
        assert static == METRICS.load(name).metadata(), name


def _imported(code: str, env: dict) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which may end in sys.exit)."""
    wrapped = (f"import atexit, sys\natexit.register(lambda: print('MODULES', *sorted(sys.modules)))\n{code}")
    proc = subprocess.run([sys.executable, "-c", wrapped], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.rsplit("MODULES", 1)[1].split())


HEAVY = ("torch", "av", "pandas", "matplotlib", "scipy", "cv2", "pyiqa", "transformers")


def test_listing_codecs_imports_no_heavy_library(env):
    mods = _imported("import sys; sys.argv = ['bench', 'list', 'codecs']; from bench.cli import main; main()", env)
    assert "bench.cli.listing" in mods
    assert not [m for m in HEAVY if m in mods]
    assert "bench.cli.report" not in mods and "bench.cli.results" not in mods     # only the command's module


def test_building_one_codec_imports_only_its_adapter(env):
    mods = _imported("from bench.codec import make_codec; make_codec('jpeg')", env)
    assert "bench._plugins.codecs.pillow_codecs" in mods
    assert not [m for m in mods if m.startswith("bench._plugins.codecs.") and not m.endswith("pillow_codecs")]
    assert not [m for m in HEAVY if m in mods]


def test_metric_metadata_for_results_needs_no_torch(env):
    mods = _imported("from bench.metrics import metric_metadata; assert metric_metadata('lpips')['higher_is_better'] "
                     "is False; assert metric_metadata('psnr')['from_mean_mse']", env)
    assert "torch" not in mods


def test_unknown_command_is_a_usage_error(env):
    res = run_cli(["lsit"], env)
    assert res.returncode == 2 and "No such command 'lsit'" in res.stderr and "Traceback" not in res.stderr
