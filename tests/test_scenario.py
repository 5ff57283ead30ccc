"""Tests for commsim.scenario: reading, validating and unit-parsing scenario files."""

import copy
import difflib
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from commsim import scenario
from commsim.errors import ScenarioError
from commsim.scenario import RunSpec

# A small valid scenario; the error table below varies one line of it at a time.
OK = """\
name: small
workers: 4
params: 8
topology: {kind: star}
algorithms: [ring_allreduce]
payload: size-only
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    """Write ``text`` to a scenario file in ``tmp_path`` and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> scenario.Scenario:
    """Load a scenario from YAML text via a real file."""
    return scenario.load(write(tmp_path, text))


def with_line(key: str, value: str) -> str:
    """OK with the top-level ``key`` replaced (or added) as ``key: value``."""
    lines = [line for line in OK.splitlines() if not line.startswith(f"{key}:")]
    return "\n".join([*lines, f"{key}: {value}"]) + "\n"


# --------------------------------------------------------------------------- accepted files


def test_bundled_default_is_the_textbook_table():
    """load() with no path gives the bundled textbook scenario with exact SI values."""
    s = scenario.load()
    assert s.name == "textbook-table"
    assert s.seed == 0
    assert s.workers == [2, 4, 8, 16]
    assert s.params == [1_000_000]
    assert s.dtype == ["float32"]
    assert s.topology.kind == "star"
    assert s.topology.bandwidth == 12.5e9
    assert s.topology.latency == 5e-6
    assert s.topology.links == []
    assert s.algorithms == ["all_to_all", "parameter_server", "ring_allreduce"]
    assert s.payload == "data"
    assert len(list(s.runs())) == 12


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("100 Gbit/s", 12.5e9),
        ("100Gbit/s", 12.5e9),
        ("100 Gbps", 12.5e9),
        ("12.5 GB/s", 12.5e9),
        ('"12.5e9"', 12.5e9),
        ("12500000000", 12.5e9),
        ("1.25e+10", 12.5e9),
        ("8 Mbit/s", 1e6),
        ("1 GiB/s", 2.0**30),
    ],
)
def test_bandwidth_spellings_give_exact_bytes_per_second(tmp_path, spelling, expected):
    """Human bandwidths and plain numbers (bytes/s) parse to the exact SI value."""
    s = load_text(tmp_path, with_line("topology", f"{{kind: star, bandwidth: {spelling}}}"))
    assert s.topology.bandwidth == expected
    assert type(s.topology.bandwidth) is float


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("5 us", 5e-6),
        ("5us", 5e-6),
        ("5 µs", 5e-6),
        ("5000 ns", 5e-6),
        ("5.0e-6", 5e-6),
        ('"5e-6"', 5e-6),
        ("1 ms", 1e-3),
        ("2 s", 2.0),
        ("0", 0.0),
    ],
)
def test_latency_spellings_give_exact_seconds(tmp_path, spelling, expected):
    """Human latencies and plain numbers (seconds) parse to the exact SI value; zero is allowed."""
    s = load_text(tmp_path, with_line("topology", f"{{kind: star, latency: {spelling}}}"))
    assert s.topology.latency == expected


@pytest.mark.parametrize("spelling", ["1_000_000", "1e6", '"1e6"', '"1_000_000"', "1.0e+6", "1000000", "[1e6]"])
def test_params_spellings_all_mean_one_million(tmp_path, spelling):
    """params accepts 1_000_000, 1e6, "1e6", 1.0e+6 and a list, always as the int 1000000."""
    s = load_text(tmp_path, with_line("params", spelling))
    assert s.params == [1_000_000]
    assert type(s.params[0]) is int


def test_params_power_of_two_spelling(tmp_path):
    """params: "2^20" is 1048576."""
    assert load_text(tmp_path, with_line("params", '"2^20"')).params == [1_048_576]


def test_workers_as_number_or_list(tmp_path):
    """workers: 8 becomes [8]; a list keeps its order (and duplicates)."""
    assert load_text(tmp_path, with_line("workers", "8")).workers == [8]
    assert load_text(tmp_path, with_line("workers", "[16, 2, 4, 2]")).workers == [16, 2, 4, 2]


def test_defaults_when_keys_are_omitted(tmp_path):
    """seed 0, float32, 100 Gbit/s links with zero latency and no overrides, data payload."""
    text = "name: d\nworkers: 2\nparams: 4\ntopology: {kind: ring}\nalgorithms: all_to_all\n"
    s = load_text(tmp_path, text)
    assert (s.seed, s.dtype, s.payload) == (0, ["float32"], "data")
    assert (s.topology.bandwidth, s.topology.latency, s.topology.links) == (12.5e9, 0.0, [])
    assert s.algorithms == ["all_to_all"]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_each_dtype_is_accepted(tmp_path, dtype):
    """dtype may be float16, float32 or float64."""
    assert load_text(tmp_path, with_line("dtype", dtype)).dtype == [dtype]


@pytest.mark.parametrize("payload", ["data", "size-only"])
def test_each_payload_is_accepted(tmp_path, payload):
    """payload may be data or size-only."""
    assert load_text(tmp_path, with_line("payload", payload)).payload == payload


@pytest.mark.parametrize("kind", ["star", "ring", "fully_connected"])
def test_each_topology_kind_is_accepted(tmp_path, kind):
    """topology.kind may be star, ring or fully_connected."""
    assert load_text(tmp_path, with_line("topology", f"{{kind: {kind}}}")).topology.kind == kind


def test_link_override_parses_units(tmp_path):
    """A link override keeps its endpoints and parses its bandwidth and latency to SI."""
    topo = "{kind: star, bandwidth: 100 Gbit/s, links: [{between: [0, switch], bandwidth: 10 Gbit/s, latency: 1 ms}]}"
    (link,) = load_text(tmp_path, with_line("topology", topo)).topology.links
    assert link.between == (0, "switch")
    assert link.bandwidth == 1.25e9
    assert link.latency == 1e-3


def test_link_override_may_set_only_one_of_bandwidth_and_latency(tmp_path):
    """An override without bandwidth leaves it None (the topology's value applies)."""
    topo = "{kind: star, links: [{between: [switch, '3'], latency: 2 us}]}"
    (link,) = load_text(tmp_path, with_line("topology", topo)).topology.links
    assert (link.between, link.bandwidth, link.latency) == (("switch", "3"), None, 2e-6)


@pytest.mark.parametrize(
    ("kind", "algorithms", "between"),
    [
        ("ring", "[ring_allreduce]", "[3, 0]"),  # the wrap-around edge of a 4-ring
        ("fully_connected", "[all_to_all]", "[1, 3]"),
        ("fully_connected", "[parameter_server]", "[server, 2]"),
        ("star", "[parameter_server]", "[switch, server]"),
    ],
)
def test_link_override_on_an_existing_edge_is_accepted(tmp_path, kind, algorithms, between):
    """Overrides naming a real edge of the built topology validate."""
    text = f"name: t\nworkers: 4\nparams: 8\nalgorithms: {algorithms}\n" \
           f"topology: {{kind: {kind}, links: [{{between: {between}, bandwidth: 1e9}}]}}\n"
    assert load_text(tmp_path, text).topology.links[0].bandwidth == 1e9


def test_parameter_server_on_star_and_fully_connected_is_accepted(tmp_path):
    """parameter_server needs a server node, which star and fully_connected provide."""
    for kind in ("star", "fully_connected"):
        text = with_line("algorithms", "[parameter_server]").replace("{kind: star}", f"{{kind: {kind}}}")
        assert load_text(tmp_path, text).algorithms == ["parameter_server"]


def test_runs_sweep_algorithms_by_workers_by_params_in_file_order(tmp_path):
    """runs() is algorithm × workers × params, in the order the file lists them."""
    text = "name: t\nworkers: [4, 2]\nparams: [8, 3]\ntopology: {kind: star}\nalgorithms: [ring_allreduce, all_to_all]\n"
    loaded = load_text(tmp_path, text)
    assert [RunSpec(*run[:3]) for run in loaded.runs()] == [
        RunSpec("ring_allreduce", 4, 8), RunSpec("ring_allreduce", 4, 3),
        RunSpec("ring_allreduce", 2, 8), RunSpec("ring_allreduce", 2, 3),
        RunSpec("all_to_all", 4, 8), RunSpec("all_to_all", 4, 3),
        RunSpec("all_to_all", 2, 8), RunSpec("all_to_all", 2, 3),
    ]
    assert all(run.topology is loaded.topology for run in loaded.runs())


def test_topologies_list_sweeps_each_network_first(tmp_path):
    """With 'topologies', runs() repeats the sweep for each network, labelled; both keys at once is refused."""
    text = ("name: t\nworkers: 2\nparams: 8\nalgorithms: [ring_allreduce]\n"
            "topologies: [{kind: star, label: a}, {kind: ring, latency: 1 us}]\n")
    loaded = load_text(tmp_path, text)
    assert [(run.topology.title, run.topology.latency) for run in loaded.runs()] == [("a", 0.0), ("ring", 1e-6)]
    with pytest.raises(ScenarioError, match="give either 'topology' or a list 'topologies'"):
        load_text(tmp_path, text + "topology: {kind: star}\n")


def test_a_swept_topology_and_a_topologies_list_are_refused_together(tmp_path):
    """A topology whose options sweep, beside a 'topologies' list, used to replace the list silently (the
    ring below was never run); both keys at once are refused however the topology is written."""
    text = ("name: t\nworkers: 2\nparams: 8\nalgorithms: [ring_allreduce]\ntopologies: [{kind: ring}]\n"
            "topology: {kind: star, bandwidth: [1 Gbit/s, 2 Gbit/s]}\n")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == f"{path}: topology: give either 'topology' or a list 'topologies', not both"


def test_a_sweep_list_is_expanded_once(tmp_path):
    """A list of lists for a bandwidth is no bandwidth: refused, not expanded twice into four topologies
    labelled 'star bandwidth=1 Gbit/sx1 Gbit/s bandwidth=1 Gbit/s'; a list of dims lists sweeps once."""
    path = write(tmp_path, with_line("topology", "{kind: star, bandwidth: [[1 Gbit/s, 1 Gbit/s], [2 Gbit/s, 2 Gbit/s]]}"))
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value).startswith(f"{path}: topologies.0.bandwidth: cannot parse ['1 Gbit/s', '1 Gbit/s'] as a "
                                       "bandwidth: expected a number or a string, got list")
    torus = load_text(tmp_path, with_line("topology", "{kind: torus, dims: [[2, 2], [4, 1]]}"))
    assert [(topo.title, topo.options["dims"]) for topo in torus.networks] == [("torus dims=2x2", [2, 2]),
                                                                              ("torus dims=4x1", [4, 1])]


def test_parse_accepts_an_already_loaded_mapping():
    """parse() validates a dict directly, with human units."""
    s = scenario.parse({"name": "m", "workers": [2], "params": "1e3", "algorithms": ["all_to_all"],
                        "topology": {"kind": "star", "bandwidth": "800 Gbit/s", "latency": "1 us"}})
    assert (s.params, s.topology.bandwidth, s.topology.latency) == ([1000], 1e11, 1e-6)


def test_parse_error_names_the_default_source():
    """Without a source, errors are attributed to <scenario>."""
    with pytest.raises(ScenarioError) as error:
        scenario.parse({"name": "m", "workers": 0, "params": 1, "algorithms": "all_to_all", "topology": {"kind": "star"}})
    assert str(error.value) == "<scenario>: workers.0: Input should be greater than 0 (got 0)"


@given(
    workers=st.integers(1, 10**6),
    gbits=st.integers(1, 10**6),
    micros=st.integers(0, 10**6),
    params=st.integers(1, 10**12),
)
def test_any_positive_sizes_and_units_round_trip_exactly(workers, gbits, micros, params):
    """For any positive counts, "<g> Gbit/s" is g·1e9/8 B/s and "<u> us" is u/1e6 s, exactly."""
    data = {"name": "h", "workers": workers, "params": f"{params:_}", "algorithms": "ring_allreduce", "engine": "analytic",
            "topology": {"kind": "ring", "bandwidth": f"{gbits} Gbit/s", "latency": f"{micros} us"}}
    s = scenario.parse(yaml.safe_load(yaml.safe_dump(data)))
    assert s.workers == [workers]
    assert s.params == [params]
    assert s.topology.bandwidth == gbits * 10**9 / 8
    assert s.topology.latency == micros / 10**6


TOP_LEVEL = [*scenario.Scenario.model_fields, "experiment"]  # what a collective scenario's key may have meant


@given(key=st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True).filter(lambda k: k not in TOP_LEVEL))
@example(key="an_ae")  # ratio 0.667 to 'name' one way, 0.444 the other: difflib's ratio is not symmetric
def test_any_unknown_top_level_key_is_named_with_the_closest_known_key(key):
    """Any key outside the schema is refused as an unknown key, by name, and with the known key most like it
    (difflib's ratio, 0.6 or more) if there is one, else with none. The ratio is taken as
    ``difflib.get_close_matches`` documents it (``set_seq2(word)``, ``set_seq1(x)`` for each possibility x)."""
    data = yaml.safe_load(OK)
    data[key] = 1
    with pytest.raises(ScenarioError) as error:
        scenario.parse(data, "f.yaml")
    likeness = {known: difflib.SequenceMatcher(None, known, key).ratio() for known in TOP_LEVEL}
    best = max(likeness.values())
    match = re.fullmatch(rf"f\.yaml: {key}: unknown key(?:; did you mean '(\w+)'\?)? \(got 1\)", str(error.value))
    assert match is not None, str(error.value)
    if best >= 0.6:
        assert likeness[match[1]] == best
    else:
        assert match[1] is None


# --------------------------------------------------------------------------- refused files

TRAINING = """\
name: t
workers: 2
topology: {kind: star}
algorithms: [ring_allreduce]
training: {model: linear_regression, steps: 2, optimizer: {name: gradient_descent, alpha: 0.1}}
"""


def test_a_long_value_echoed_in_an_error_is_cut_to_one_short_line(tmp_path):
    """A 100 kB optimizer name or link end is echoed cut: the line stays under 300 characters and keeps
    the key it starts with and what it ends with (what is known, what is wrong)."""
    long = "x" * 100_000
    optimizer = TRAINING.replace("name: gradient_descent", f"name: {long}")
    link = with_line("topology", f"{{kind: star, links: [{{between: [{long}, switch], latency: 1 us}}]}}")
    for text, start, end in ((optimizer, "training.optimizer.0: unknown optimizer 'xxx",
                              "known: adam, coordinate_descent, gradient_descent, momentum, sign_descent, sign_sgd, "
                              "signum, spectral_descent"),
                             (link, "topology.links: with workers=4: link override names node 'xxx",
                              "xxx', which is not in the topology")):
        path = write(tmp_path, text)
        with pytest.raises(ScenarioError) as error:
            scenario.load(path)
        message = str(error.value).removeprefix(f"{path}: ")
        assert len(message) <= 240, message[:300]
        assert message.startswith(start) and message.endswith(end), message
        assert "…" in message



EXPERIMENT = "name: e\nexperiment: implicit_bias\n"
TYPOS = [  # (id, yaml text, the whole message after "<file>: ")
    ("collective: algoritms", OK.replace("algorithms:", "algoritms:"), "algoritms: unknown key; did you mean 'algorithms'?"),
    ("collective: worker", OK.replace("workers: 4", "worker: 8"), "worker: unknown key; did you mean 'workers'? (got 8)"),
    ("collective: paylod", OK.replace("payload:", "paylod:"),
     "paylod: unknown key; did you mean 'payload'? (got 'size-only')"),
    ("training: trainng", TRAINING.replace("training:", "trainng:"), "trainng: unknown key; did you mean 'training'?"),
    ("training: stpes", TRAINING.replace("steps:", "stpes:"), "training.stpes: unknown key; did you mean 'steps'? (got 2)"),
    ("training: optimiser", TRAINING.replace("optimizer:", "optimiser:"),
     "training.optimiser: unknown key; did you mean 'optimizer'?"),
    ("experiment: experimnt", EXPERIMENT.replace("experiment:", "experimnt:"),
     "experimnt: unknown key; did you mean 'experiment'? (got 'implicit_bias')"),
    ("experiment: nmae", EXPERIMENT.replace("name:", "nmae:"), "nmae: unknown key; did you mean 'name'? (got 'e')"),
    ("experiment: a collective's key", EXPERIMENT + "workers: 4\n", "workers: unknown key (got 4)"),
    ("nested: faults.crash.0.wrker", OK + "faults: {crash: [{wrker: 1}]}\n",
     "faults.crash.0.wrker: unknown key; did you mean 'worker'? (got 1)"),
    ("nested: topology.bandwith", OK.replace("{kind: star}", "{kind: star, bandwith: 1 Gbit/s}"),
     "topology.bandwith: unknown key; did you mean 'bandwidth'? (got '1 Gbit/s') for topology 'star'"),
]


@pytest.mark.parametrize(("text", "expected"), [row[1:] for row in TYPOS], ids=[row[0] for row in TYPOS])
def test_a_misspelt_key_is_named_with_the_key_it_is_closest_to(tmp_path, text, expected):
    """A misspelt key, required or not, at the top of every kind of scenario or nested, is reported as
    unknown with "did you mean", never as the correct key missing."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == f"{path}: {expected}"


def _single_letter_typos(key: str) -> set[str]:
    """``key`` with one letter dropped, doubled, or swapped with the next (what tests/fuzz_cases.py draws)."""
    typos = {key[:i] + key[i + 1:] for i in range(len(key))} | {key[:i] + key[i] + key[i:] for i in range(len(key))}
    return (typos | {key[:i] + key[i + 1] + key[i] + key[i + 2:] for i in range(len(key) - 1)}) - {key}


@pytest.mark.parametrize("section", [None, "training", "faults", "stragglers"])
def test_every_single_letter_typo_of_a_key_suggests_that_key(section):
    """Each key of a collective scenario and of its training, faults and stragglers sections, misspelt by one
    letter (dropped, doubled, swapped), is reported with that key as the suggestion (the fuzz test relies on it)."""
    base = yaml.safe_load(TRAINING if section == "training" else OK)
    model = {None: scenario.Scenario, "training": scenario.TrainingSpec, "faults": scenario.FaultSpec,
             "stragglers": scenario.StragglerSpec}[section]
    known = set(model.model_fields) | ({"experiment"} if section is None else set())
    for key in model.model_fields:
        for typo in _single_letter_typos(key) - known:
            data = copy.deepcopy(base)
            if section is None:
                data[typo] = 1
            else:
                data[section] = {**(data.get(section) or {}), typo: 1}
            with pytest.raises(ScenarioError) as error:
                scenario.parse(data, "f.yaml")
            where = typo if section is None else f"{section}.{typo}"
            assert str(error.value) == f"f.yaml: {where}: unknown key; did you mean {key!r}? (got 1)"


# A bare number where it is surely a missing unit: (id, topology or stragglers line, the key, the message's rest)
BARE_100 = "a bare 100 is 100 B/s (800 bit/s), slower than any network: give the unit ('100 Gbit/s', '100 GB/s', " \
           "or '100 B/s' if meant)"
BARE_5 = "a bare 5 is 5.00 s, longer than any link's latency: give the unit ('5 us', '5 ms', or '5 s' if meant)"
BARE = [
    ("bandwidth string", "topology", '{kind: star, bandwidth: "100"}', "topology.bandwidth", BARE_100),
    ("bandwidth int", "topology", "{kind: star, bandwidth: 100}", "topology.bandwidth", BARE_100),
    ("latency string", "topology", '{kind: star, latency: "5"}', "topology.latency", BARE_5),
    ("latency int", "topology", "{kind: star, latency: 5}", "topology.latency", BARE_5),
    ("bandwidth below the floor", "topology", "{kind: star, bandwidth: 999_000}", "topology.bandwidth",
     "a bare 999000 is 999 kB/s (7.99 Mbit/s), slower than any network: give the unit ('999000 Gbit/s', "
     "'999000 GB/s', or '999000 B/s' if meant)"),
    ("latency at the ceiling", "topology", "{kind: star, latency: 1.0}", "topology.latency",
     "a bare 1 is 1.00 s, longer than any link's latency: give the unit ('1 us', '1 ms', or '1 s' if meant)"),
    ("link override", "topology", "{kind: star, links: [{between: [0, switch], latency: 5}]}",
     "topology.links.0.latency", BARE_5),
    ("second of topologies", "topologies", "[{kind: star}, {kind: ring, bandwidth: 100}]", "topologies.1.bandwidth",
     BARE_100),
    ("sweep list item", "topology", "{kind: star, bandwidth: [1 Gbit/s, 100]}", "topology.bandwidth.1", BARE_100),
    ("range end", "topology", "{kind: star, bandwidth: {from: 100, to: 10 Gbit/s, factor: 10}}",
     "topology.bandwidth.from", BARE_100),
    ("topology option", "topology", "{kind: hierarchical, gpus_per_node: 2, nic_bandwidth: 100}",
     "topology.nic_bandwidth", BARE_100),
    ("straggler's link", "stragglers", "{compute: 1 ms, links: {1: {latency: 5}}}", "stragglers.links.1.latency",
     BARE_5),
]


@pytest.mark.parametrize(("key", "line", "where", "rest"), [row[1:] for row in BARE], ids=[row[0] for row in BARE])
def test_a_bare_number_that_is_surely_a_missing_unit_is_refused(tmp_path, key, line, where, rest):
    """A bandwidth written as a bare number below 1 MB/s, or a latency of 1 s or more, anywhere a key ends in
    bandwidth or latency: one line naming the key, what the number would mean, and the unit to write."""
    text = with_line(key, line).replace("topology: {kind: star}\n", "") if key == "topologies" else with_line(key, line)
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == f"{path}: {where}: {rest}"


@pytest.mark.parametrize(("line", "bandwidth", "latency"), [
    ("{kind: star, bandwidth: 1e6, latency: 0.999}", 1e6, 0.999),  # the floor and just under the ceiling
    ('{kind: star, bandwidth: "1000000", latency: "0"}', 1e6, 0.0),
    ("{kind: star, bandwidth: 100 B/s, latency: 5 s}", 100.0, 5.0),  # with a unit, any value as written
    ("{kind: star, bandwidth: 800 bit/s, latency: 5000 ms}", 100.0, 5.0),
])
def test_a_bare_number_that_may_be_meant_or_a_unit_is_taken_as_written(tmp_path, line, bandwidth, latency):
    """Bare numbers from 1 MB/s up and below 1 s load as bytes/s and seconds; with a unit, any value loads."""
    loaded = load_text(tmp_path, with_line("topology", line))
    assert (loaded.topology.bandwidth, loaded.topology.latency) == (bandwidth, latency)


def test_results_read_back_hold_si_numbers_and_are_not_refused_as_bare(tmp_path):
    """A scenario of 100 B/s and 5 s links, stored in results.json as 100.0 and 5.0, reads back (commsim plot)."""
    loaded = load_text(tmp_path, with_line("topology", "{kind: star, bandwidth: 100 B/s, latency: 5 s}"))
    again = scenario.parse(loaded.model_dump(mode="json"), "results.json", budget=False)
    assert (again.topology.bandwidth, again.topology.latency) == (100.0, 5.0)


def test_readme_states_the_mlp_default_width():
    """README's training example names the mlp's default hidden width, and it is the default."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"mlp \(default hidden: (\d+)\)", readme) == [str(scenario.TrainingSpec.model_fields["hidden"].default)]


# (id, yaml text, key the message must start with after "<file>: ", fragment naming the value)
BAD = [
    ("unknown top-level key", OK + "colour: red\n", "colour", "unknown key (got 'red')"),
    ("unknown topology key", with_line("topology", "{kind: star, speed: 5}"), "topology.speed", "unknown key (got 5)"),
    ("unknown link key", with_line("topology", "{kind: star, links: [{between: [0, switch], width: 1}]}"),
     "topology.links.0.width", "unknown key; did you mean 'bandwidth'? (got 1)"),
    ("workers wrong type", with_line("workers", "many"), "workers.0", "'many'"),
    ("workers boolean", with_line("workers", "true"), "workers.0", "True"),
    ("workers fraction", with_line("workers", "2.5"), "workers.0", "2.5"),
    ("workers zero", with_line("workers", "0"), "workers.0", "(got 0)"),
    ("workers negative in list", with_line("workers", "[2, -4]"), "workers.1", "-4"),
    ("workers empty list", with_line("workers", "[]"), "workers", "at least 1"),
    ("params zero", with_line("params", "0"), "params.0", "(got 0)"),
    ("params negative", with_line("params", "-1e6"), "params.0", "'-1e6'"),
    ("params fraction", with_line("params", "1.5"), "params.0", "1.5"),
    ("bandwidth zero", with_line("topology", "{kind: star, bandwidth: 0}"), "topology.bandwidth", "(got 0)"),
    ("bandwidth negative", with_line("topology", "{kind: star, bandwidth: -1 Gbit/s}"),
     "topology.bandwidth", "'-1 Gbit/s'"),
    ("bandwidth in time units", with_line("topology", "{kind: star, bandwidth: 5 us}"),
     "topology.bandwidth", "'5 us'"),
    ("bandwidth not finite", with_line("topology", "{kind: star, bandwidth: .inf}"), "topology.bandwidth", "inf"),
    ("bandwidth lowercase mb", with_line("topology", "{kind: star, bandwidth: 10 mb/s}"),
     "topology.bandwidth", "'10 mb/s'"),
    ("latency negative", with_line("topology", "{kind: star, latency: -5 us}"), "topology.latency", "'-5 us'"),
    ("latency in bandwidth units", with_line("topology", "{kind: star, latency: 5 GB/s}"),
     "topology.latency", "'5 GB/s'"),
    ("link bandwidth zero", with_line("topology", "{kind: star, links: [{between: [0, switch], bandwidth: 0}]}"),
     "topology.links.0.bandwidth", "(got 0)"),
    ("link latency negative", with_line("topology", "{kind: star, links: [{between: [0, switch], latency: -1}]}"),
     "topology.links.0.latency", "(got -1)"),
    ("link between three nodes", with_line("topology", "{kind: star, links: [{between: [0, 1, 2]}]}"),
     "topology.links.0.between", "at most 2"),
    ("unknown algorithm", with_line("algorithms", "[ring_allreduce, butterfly]"), "algorithms", "'butterfly'"),
    ("algorithm wrong type", with_line("algorithms", "5"), "algorithms.0", "(got 5)"),
    ("empty algorithms", with_line("algorithms", "[]"), "algorithms", "at least 1"),
    ("unknown topology", with_line("topology", "{kind: dragonfly}"), "topology.kind", "'dragonfly'"),
    ("topology not a mapping", with_line("topology", "star"), "topology", "(got 'star')"),
    ("missing topology", OK.replace("topology: {kind: star}\n", ""), "topology", "Field required"),
    ("unknown dtype", with_line("dtype", "bfloat16"), "dtype", "(got 'bfloat16')"),
    ("dtype wrong type", with_line("dtype", "32"), "dtype", "(got 32)"),
    ("unknown payload", with_line("payload", "full"), "payload", "(got 'full')"),
    ("seed wrong type", with_line("seed", "abc"), "seed", "(got 'abc')"),
    ("name not a slug", with_line("name", "'a b/c'"), "name", "(got 'a b/c')"),
    ("missing name", OK.replace("name: small\n", ""), "name", "Field required"),
    ("parameter_server on ring", with_line("topology", "{kind: ring}").replace(
        "[ring_allreduce]", "[parameter_server]"), "algorithms", "'ring'"),
    ("link names a missing worker", with_line("topology", "{kind: star, links: [{between: [7, switch], bandwidth: 1e9}]}"),
     "topology.links", "node 7"),
    ("link names a missing node", with_line("topology", "{kind: star, links: [{between: [0, router], latency: 0}]}"),
     "topology.links", "node 'router'"),
    ("link names the absent server", with_line("topology", "{kind: star, links: [{between: [server, switch]}]}"),
     "topology.links", "node 'server'"),
    ("link names a missing edge on star", with_line("topology", "{kind: star, links: [{between: [0, 1]}]}"),
     "topology.links", "edge 0-1"),
    ("link names a missing edge on ring", with_line("topology", "{kind: ring, links: [{between: [0, 2]}]}"),
     "topology.links", "edge 0-2"),
    ("invalid YAML", OK.replace("workers: 4", "workers: [4"), "invalid YAML", "line 3, column 7"),
    ("python tag refused by safe_load", with_line("name", "!!python/object/apply:os.system ['true']"),
     "invalid YAML", "python/object/apply:os.system"),
    ("document is a list", "- name: x\n- workers: 4\n", "a scenario must be a mapping", "got list"),
    ("document is a string", "hello\n", "a scenario must be a mapping", "got str"),
    ("document is empty", "", "is empty", "a scenario is a mapping of keys"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_scenario_is_one_line_naming_file_key_and_value(tmp_path, text, key, fragment):
    """Each bad file raises one ScenarioError line: '<file>: <key>...' with the offending value."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}")
    assert fragment in message
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__  # no chained traceback


def test_parameter_server_on_ring_names_algorithm_workers_and_topology(tmp_path):
    """The ring/server conflict names the algorithm, the worker count and the topology."""
    text = with_line("topology", "{kind: ring}").replace("[ring_allreduce]", "[parameter_server]")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == (
        f"{path}: algorithms (parameter_server): with workers=4: "
        "topology 'ring' has no place for a parameter server; use 'star' or 'fully_connected'"
    )


def test_link_override_is_checked_for_every_worker_count(tmp_path):
    """An edge that exists for 8 workers but not for 4: the workers=4 point is n/a with the reason, 8 runs;
    with only workers=4 nothing can run, and the error names workers=4."""
    text = with_line("workers", "[8, 4]").replace(
        "{kind: star}", "{kind: star, links: [{between: [6, switch], bandwidth: 1e9}]}")
    runs = list(scenario.load(write(tmp_path, text)).runs())
    assert [(run.workers, run.unavailable) for run in runs] == [
        (8, None), (4, "link override names node 6, which is not in the topology")]
    path = write(tmp_path, text.replace("[8, 4]", "[4]"))
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == (
        f"{path}: topology.links: with workers=4: link override names node 6, which is not in the topology"
    )


def test_missing_file_is_one_line_naming_the_file(tmp_path):
    """A missing file gives one ScenarioError line with the path and the OS reason."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value) == f"{path}: cannot read scenario: No such file or directory"


def test_directory_instead_of_file_is_one_line(tmp_path):
    """A directory passed as the scenario is refused on one line naming it."""
    with pytest.raises(ScenarioError) as error:
        scenario.load(tmp_path)
    assert str(error.value).startswith(f"{tmp_path}: cannot read scenario: ")
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------------- known bugs (see report)


def test_negative_seed_is_refused(tmp_path):
    """seed: -1 should be a ScenarioError naming seed, not a crash later in simulate."""
    with pytest.raises(ScenarioError, match=r"seed.*-1"):
        load_text(tmp_path, with_line("seed", "-1"))


@pytest.mark.parametrize("name", ["'.'", "'..'"])
def test_dot_names_are_refused(tmp_path, name):
    """name '.' or '..' would make the default output directory results/. or results/.."""
    with pytest.raises(ScenarioError, match=r"name"):
        load_text(tmp_path, with_line("name", name))


def test_boolean_link_endpoint_is_refused(tmp_path):
    """between: [true, switch] is a wrong type, not worker 1."""
    with pytest.raises(ScenarioError, match=r"topology\.links\.0\.between"):
        load_text(tmp_path, with_line("topology", "{kind: star, links: [{between: [true, switch], bandwidth: 1e9}]}"))


def test_parameter_server_on_ring_with_links_blames_algorithms(tmp_path):
    """A parameter_server on a ring is an algorithms problem even when the file has link overrides."""
    text = with_line("algorithms", "[parameter_server]").replace(
        "{kind: star}", "{kind: ring, links: [{between: [0, 1], bandwidth: 1e9}]}")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert str(error.value).startswith(f"{path}: algorithms")
