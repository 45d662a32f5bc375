"""Codec discovery: the project folder, a user folder (flag and env var), an entry point."""

from __future__ import annotations

import textwrap

from .conftest import FIXTURES, run_cli


def test_user_folder_via_flag_and_env(env):
    folder = str(FIXTURES / "user_codecs")
    by_flag = run_cli(["list", "codecs", "--codec-path", folder], env)
    by_env = run_cli(["list", "codecs"], {**env, "BENCH_CODEC_PATH": folder})
    without = run_cli(["list", "codecs"], env)
    for res in (by_flag, by_env):
        assert res.returncode == 0, res.stderr
        assert "slow-png" in res.stdout and "jpeg" in res.stdout
    assert "slow-png" not in without.stdout


def test_user_adapter_runs_end_to_end(image_folder, tmp_path, env):
    res = run_cli(["run", "--codecs", "slow-png", "--rates", "6", "--dataset", str(image_folder), "--metrics",
                   "psnr", "--out", str(tmp_path / "o"), "--workers", "1", "--codec-path",
                   str(FIXTURES / "user_codecs")], {**env, "SLOW_PNG_SECONDS": "0"})
    assert res.returncode == 0, res.stderr
    assert "inf" in res.stdout      # lossless PNG: PSNR is infinite


def test_entry_point_group(tmp_path, env):
    pkg = tmp_path / "site"
    (pkg / "my_codec_pkg").mkdir(parents=True)
    (pkg / "my_codec_pkg" / "__init__.py").write_text(textwrap.dedent("""
        from bench.codec import Codec, register_codec
        @register_codec
        class EP(Codec):
            name = "ep-codec"; rate_param = "q"; rate_range = (1, 9); default_rates = (5,)
    """))
    dist = pkg / "my_codec_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-codec-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bench.codecs]\nep-codec = my_codec_pkg:EP\n")
    res = run_cli(["list", "codecs"], {**env, "PYTHONPATH": str(pkg)})
    assert res.returncode == 0 and "ep-codec" in res.stdout


def test_broken_adapter_does_not_hide_the_others(tmp_path, env):
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    res = run_cli(["list", "codecs", "--codec-path", str(tmp_path)], env)
    assert res.returncode == 0 and "jpeg" in res.stdout
    assert "broken.py failed to load" in res.stdout and "not_a_real_module_xyz" in res.stdout
