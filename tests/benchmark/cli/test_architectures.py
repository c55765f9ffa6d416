from tests.architectures.test_registry import ALL_TEN, PAPER_COUNTS


def test_list_shows_all_ten_with_paper_counts(cli):
    out = cli("list")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[2:]}
    assert set(rows) >= ALL_TEN
    for name, count in PAPER_COUNTS.items():
        assert f"{count:,}" in rows[name] and "=paper" in rows[name]
    assert "(1,5,300,300) -> (7,5,296,296)" in rows["2d3d_3x3x3"]


def test_describe_paper_net(cli):
    out = cli("describe", "2d3d_3x3x3")
    assert out.returncode == 0, out.stderr
    assert "output  (7,5,296,296)" in out.stdout
    assert "parameters  10,283,406" in out.stdout
    assert "forward GFLOP per window" in out.stdout


def test_describe_unknown_name_and_bad_window_fail_with_one_line(cli):
    unknown = cli("describe", "2d3d_3x3x")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [unknown.stderr.strip()]
    assert "did you mean 2d3d_3x3x3" in unknown.stderr
    bad = cli("describe", "unet_original", "--window", "1,64,64")
    assert bad.returncode == 2
    assert "cannot process window (1, 64, 64)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    malformed = cli("describe", "2d3d_3x3x3", "--window", "5,300")
    assert malformed.returncode == 2 and "window must be three" in malformed.stderr
