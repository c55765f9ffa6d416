"""Third-party architectures: the README example, --plugin and the entry-point group."""

import re
import textwrap

from tests.conftest import ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- example: my_nets.py -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its 'Add your own architecture' example"
    return match.group(1)


def test_readme_example_registers_lists_and_describes(tmp_path, cli):
    (tmp_path / "my_nets.py").write_text(readme_example())
    listed = cli("list", "--plugin", "my_nets.py", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "2d3d_shallow" in listed.stdout and "tiny_3d" in listed.stdout
    described = cli(
        "describe", "2d3d_shallow", "--plugin", "my_nets.py", "--window", "5,64,64", cwd=tmp_path
    )
    assert described.returncode == 0, described.stderr
    assert "output  (7,5,64,64)" in described.stdout
    tiny = cli("--plugin", "my_nets.py", "describe", "tiny_3d", cwd=tmp_path)
    assert tiny.returncode == 0, tiny.stderr
    assert "output  (7,5,64,64)" in tiny.stdout


def test_plugin_by_dotted_module_path(tmp_path, cli):
    pkg = tmp_path / "labnets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(readme_example())
    out = cli("list", "tiny*", "--plugin", "labnets.nets", env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert out.returncode == 0, out.stderr
    assert "tiny_3d" in out.stdout


def test_entry_point_group_registers_without_plugin_flag(tmp_path, cli):
    (tmp_path / "ep_nets.py").write_text(readme_example().replace('"tiny_3d"', '"tiny_ep"'))
    dist = tmp_path / "ep_nets-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-nets\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [densecell_bench.architectures]
            ep_nets = ep_nets
            """
        )
    )
    out = cli("list", "tiny*", env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert out.returncode == 0, out.stderr
    assert "tiny_ep" in out.stdout


def test_missing_plugin_is_one_clear_error(cli):
    out = cli("list", "--plugin", "no_such_module_xyz")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: plug-in module 'no_such_module_xyz'")
    assert len(out.stderr.strip().splitlines()) == 1
