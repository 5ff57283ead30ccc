"""nccl-tests output read as printed: real text outputs (tests/data/nccltests/, sources in its README),
the -J JSON written by nccl-tests' JSON writer, the bundled CSVs, the launch mode from each header, and
garbage refused in one line. Every expected number is copied by hand from the file named."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import cli
from commsim.errors import CommsimError
from commsim.runner import nccltests

DATA = Path(__file__).parent / "data" / "nccltests"
VALIDATION = Path(__file__).parent.parent / "validation"
G8 = DATA / "h100_1x8_all_gather_g8.out"  # together-nccl-tests, all_gather_perf -g 8
PER_GPU = DATA / "h100_2x8_all_reduce_309.out"  # nccl-tests#309, 16 processes
JSON = DATA / "h100_2x8_all_reduce_309.json"  # the same table as nccl-tests' JSON writer writes it (constructed)


def test_a_g8_all_gather_as_printed():
    """The -g 8 file: its banner names all_gather; nThread 1 nGpus 8 is one process driving 8 GPUs; 8 Rank
    lines of one Pid; the 4 rows of 0 bytes are left out of 31; rows by hand from the file."""
    table = nccltests.read(G8)
    assert table.collective == "all_gather"
    assert table.gpus_per_process == 8 and table.launch == "one process drives 8 GPUs (-g 8)"
    assert table.ranks == 8 and table.gpu == "NVIDIA H100 80GB HBM3"
    assert table.header.startswith("# nThread 1 nGpus 8 minBytes 8 maxBytes 8589934592")
    assert len(table.rows) == 27
    first, mib, last = table.rows[0], next(r for r in table.rows if r.size == 1048576), table.rows[-1]
    assert (first.size, first.count, first.dtype, first.time_s) == (128, 4, "float", 35.05e-6)
    assert (mib.count, mib.time_s, mib.algbw, mib.busbw) == (32768, 41.67e-6, 25.17e9, 22.02e9)
    assert (last.size, last.count, last.time_s, last.algbw, last.busbw) == (
        8589934592, 268435456, 21001.0e-6, 409.02e9, 357.90e9)
    assert min(r.time_s for r in table.rows) == 34.28e-6  # 256 B: the table's launch floor


def test_one_process_per_gpu_on_two_nodes():
    """The #309 file: nThread 1 nGpus 1 and 16 Rank lines of 16 Pids on two hosts: one process per GPU;
    no banner (nccl-tests of that time printed none), so the collective is the user's; the launcher's
    warnings, the command as typed and 'NCCL version' lines are skipped."""
    table = nccltests.read(PER_GPU, "all_reduce")
    assert table.collective == "all_reduce" and nccltests.read(PER_GPU).collective is None
    assert table.gpus_per_process == 1 and table.launch == "one process per GPU"
    assert table.ranks == 16 and table.gpu == "NVIDIA H100 80GB HBM3"
    assert len(table.rows) == 32
    first, mib, last = table.rows[0], table.rows[17], table.rows[-1]
    assert (first.size, first.count, first.time_s) == (8, 2, 68.52e-6)
    assert (mib.size, mib.time_s, mib.algbw, mib.busbw) == (1048576, 71.93e-6, 14.58e9, 27.33e9)
    assert (last.size, last.count, last.time_s, last.algbw, last.busbw) == (
        17179869184, 4294967296, 68652e-6, 250.24e9, 469.21e9)


def test_the_text_agrees_with_the_bundled_hand_copy():
    """validation/h100_2x8_nccl-tests-309-qoofyk.csv was copied by hand from the same post, earlier and
    independently: the reader gives the same sizes, times, algbw and busbw from the raw output."""
    raw = nccltests.read(PER_GPU)
    csv = nccltests.read(VALIDATION / "h100_2x8_nccl-tests-309-qoofyk.csv")
    assert raw.rows == csv.rows
    assert csv.gpus_per_process == 1  # from the header line its comments quote


def test_json_as_nccl_tests_writes_it():
    """-J JSON (format 3): the collective from args[0] (all_reduce_perf_mpi), 16 devices of nGpus 1, the
    out-of-place results; the same numbers as the text it was written from."""
    table = nccltests.read(JSON)
    assert table.collective == "all_reduce"
    assert table.gpus_per_process == 1 and table.ranks == 16 and table.gpu == "NVIDIA H100 80GB HBM3"
    assert table.rows == nccltests.read(PER_GPU).rows
    assert table.rows[-1].time_s == 68652e-6


def test_json_of_a_g8_run_counts_ranks_per_process():
    """nccl-tests parses only the first Rank line of each process into 'devices': one device and nGpus 8
    are 8 ranks, one process driving 8 GPUs."""
    document = json.loads(JSON.read_text())
    document["config"].update(ngpus=8, devices=document["config"]["devices"][:1])
    path = Path(str(JSON).replace(".json", "-g8.json"))
    try:
        path.write_text(json.dumps(document))
        table = nccltests.read(path)
    finally:
        path.unlink()
    assert (table.ranks, table.gpus_per_process, table.launch) == (8, 8, "one process drives 8 GPUs (-g 8)")


def test_launch_modes_of_the_bundled_tables():
    """The bundled CSVs quote their header (nGpus 8: the single-node tables; nGpus 1: every multi-node
    one), or only the command (-g 8: ml-engineering's), or neither (#290's ring run: not stated)."""
    modes = {path.name: nccltests.read(path).gpus_per_process for path in VALIDATION.glob("*.csv")}
    assert modes["a100_1x8_oci-ocitutorials.csv"] == 8 and modes["h100_1x8_nccl-tests-290.csv"] == 8
    assert modes["a100_1x8_ml-engineering.csv"] == 8
    assert modes["h100_2x8_nccl-tests-290-ring.csv"] is None
    assert modes["h100_8x8_nccl-tests-309-gjaion-tuned.csv"] == 1 and modes["a100_2x8_oci-ocitutorials.csv"] == 1


def test_launcher_tags_and_an_old_layout(tmp_path):
    """Open MPI's --tag-output and srun's --label prefixes are taken off. A 2021 broadcast_perf output
    (NVIDIA/nccl-tests#82, rahul-bothra, 2021-05-11, as published up to its first row): Rank lines without
    Group, a root column but no redop, 'error' for '#wrong' — the columns are found by name."""
    text = G8.read_text()
    for prefix in ("[1,0]<stdout>:", "0: "):
        tagged = tmp_path / "tagged.out"
        tagged.write_text("".join(prefix + line for line in text.splitlines(keepends=True)))
        assert nccltests.read(tagged).rows == nccltests.read(G8).rows
    old = tmp_path / "old.out"
    old.write_text(
        "# nThread 1 nGpus 1 minBytes 8 maxBytes 2147483648 step: 2(factor) warmup iters: 10 iters: 100 validation: 0 \n"
        "#\n# Using devices\n"
        "#   Rank  0 Pid  14926 on v100-gpu-1 device  0 [0x00] Tesla V100-PCIE-16GB\n"
        "#   Rank  1 Pid   9210 on v100-gpu-5 device  0 [0x00] Tesla V100-PCIE-16GB\n\n"
        "v100-gpu-1:14926:14926 [0] misc/ibvwrap.cc:63 NCCL WARN Failed to open libibverbs.so[.1]\n"
        "NCCL version 2.9.6+cuda11.2\n\n"
        "#\n#                                                     out-of-place                       in-place          \n"
        "#       size         count    type    root     time   algbw   busbw  error     time   algbw   busbw  error\n"
        "#        (B)    (elements)                     (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       \n"
        "           8             2   float       0    45.82    0.00    0.00    N/A    38.17    0.00    0.00    N/A\n")
    table = nccltests.read(old, "broadcast")
    assert (table.ranks, table.gpus_per_process, table.gpu) == (2, 1, "Tesla V100-PCIE-16GB")
    assert [(r.size, r.count, r.time_s) for r in table.rows] == [(8, 2, 45.82e-6)]


def test_two_runs_in_one_file_are_refused():
    """A real Slurm job printed two independent -g 8 runs into one file: refused at the repeated Rank line
    (line 19: rank 0 of the second host), not averaged."""
    with pytest.raises(CommsimError, match=r"h100_1x8_all_reduce_two_runs.out: line 19: rank 0 listed twice"):
        nccltests.read(DATA / "h100_1x8_all_reduce_two_runs.out")


def _g8_lines() -> list[str]:
    return G8.read_text().splitlines(keepends=True)


@pytest.mark.parametrize("content, problem", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "a binary file"),
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"\xff\xfe# nThread", "line 1: not UTF-8"),
    (b"hello\nworld\n", "no nccl-tests column header"),
    ("".join(_g8_lines()[:17]).encode(), "no measured rows"),
    ("".join(_g8_lines()[:-6] + ["  8589934592     268435456     float    none      -1  21001.0\n"]).encode(),
     "line 49: a row of 6 fields; the column header needs at least 8"),
    ("".join(_g8_lines()[:-6] + ["  99999999999999999999999     1     float    none      -1  1.0  1.0  1.0  0\n"]).encode(),
     "line 49: size '99999999999999999999999' is beyond any measurement"),
    ("".join(_g8_lines()[:-6] + ["  8589934592     268435456     float    none      -1  nan  1.0  1.0  0\n"]).encode(),
     "line 49: time must be a finite number >= 0"),
    ("".join(_g8_lines()[:-6] + ["  8589934592     268435456     float    none      -1  1e999  1.0  1.0  0\n"]).encode(),
     "line 49: time must be a finite number >= 0"),
    ("".join(_g8_lines()[:-6] + ["  1048576     268435456     float    none      -1  9.0  1.0  1.0  0\n"]).encode(),
     "line 49: size 1048576 measured again (first on line 35)"),
    (JSON.read_bytes().replace(b"68652.000000", b"inf", 1), "line 1: not valid JSON"),
    (JSON.read_bytes().replace(b"68652.000000", b"NaN", 1), "not valid JSON: NaN is not a number JSON allows"),
    (b'{"config": {}, "results": [{"size": "big", "out_of_place": {"time": 1, "alg_bw": 0, "bus_bw": 0}}]}',
     "results[0].size: not a number"),
    (b'{"config": {}, "results": [{"size": 8, "out_of_place": {"time": 1}}]}', "results[0]: missing 'alg_bw'"),
    (b'{"results": []}', "JSON without 'config'"),
    (b"[1, 2]", "no nccl-tests column header"),
])
def test_garbage_is_one_line_at_exit_2(tmp_path, capsys, content, problem):
    """Each bad file: the reader's error names the file, the line where there is one, and what; the CLI
    prints it on one line and exits 2, no traceback."""
    path = tmp_path / "run.out"
    path.write_bytes(content)
    with pytest.raises(CommsimError, match=None) as raised:
        nccltests.read(path)
    assert "run.out: " in str(raised.value) and problem in str(raised.value)
    assert cli.main(["validate", str(path), "--preset", "hgx-h100", "--nodes", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("commsim: error: ") and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_collective_flag_must_agree(tmp_path):
    """--collective names a file's collective where it does not; it may not contradict its banner."""
    with pytest.raises(CommsimError, match="measured all_gather, not all_reduce"):
        nccltests.read(G8, "all_reduce")
    with pytest.raises(CommsimError, match="unknown collective 'allreduce'"):
        nccltests.read(PER_GPU, "allreduce")


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(PER_GPU.read_text())))
def test_a_file_cut_anywhere_reads_as_a_prefix_or_is_refused(cut, tmp_path_factory):
    """A run that stopped mid-way (the file cut at any character): either the rows before the cut, each as
    in the whole file (a last row cut within its out-of-place time may read as a shorter number: then
    everything before it is exact), or a one-line CommsimError; never anything else."""
    path = tmp_path_factory.mktemp("cut") / "run.out"
    path.write_text(PER_GPU.read_text()[:cut])
    whole = nccltests.read(PER_GPU).rows
    try:
        rows = nccltests.read(path).rows
    except CommsimError as error:
        assert "\n" not in str(error)
        return
    assert rows[:-1] == whole[:len(rows) - 1] and rows[-1].size == whole[len(rows) - 1].size


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.sampled_from(G8.read_text().splitlines()) | st.text(max_size=40), max_size=30))
def test_shuffled_fragments_read_or_are_refused(lines, tmp_path_factory):
    """Lines of a real output in any order, with noise between: a table or a one-line CommsimError."""
    path = tmp_path_factory.mktemp("mix") / "run.out"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))  # a lone surrogate: bytes not UTF-8
    try:
        table = nccltests.read(path)
    except CommsimError as error:
        assert "\n" not in str(error)
        return
    assert all(row.size > 0 and row.time_s > 0 for row in table.rows)


def test_a_bundled_table_needs_only_size_and_time(tmp_path):
    """A table that copied size and time only reads (algbw and busbw None); one without time is refused."""
    path = tmp_path / "t.csv"
    path.write_text("# nccl-tests header: # nThread 1 nGpus 8 minBytes 8\nsize_bytes,time_us\n1048576,41.67\n")
    (row,) = nccltests.read(path).rows
    assert (row.size, row.time_s, row.algbw, row.busbw) == (1048576, 41.67e-6, None, None)
    path.write_text("size_bytes,busbw_GBps\n1048576,22.02\n")
    with pytest.raises(CommsimError, match="t.csv: line 1: needs the columns size_bytes, time_us"):
        nccltests.read(path)
    path.write_text("size_bytes,time_us\n1048576\n")
    with pytest.raises(CommsimError, match="t.csv: line 2: a row with too few or too many fields"):
        nccltests.read(path)
