"""The catalog is the seed table as data; catalog, inventory, probe registry and tests/ agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gvpconf import inventory, probes
from gvpconf.catalog import CONNECTIONS, DESTINATIONS, ROLES

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "fixtures" / "gvp-architecture.txt"


def seed_rows() -> dict[int, str]:
    """Each numbered row of the seed's connections table, with its continuation lines."""
    text = SEED.read_text(encoding="utf-8")
    table = text[text.index("Connection Source Destination Protocol Port Classification"):]
    rows: dict[int, str] = {}
    current = None
    for line in table.splitlines()[1:]:
        m = re.match(r"^(\d{1,2}) (.*)", line)
        if m and int(m.group(1)) == (current or 0) + 1:
            current = int(m.group(1))
            rows[current] = m.group(2)
        elif current is not None and line.strip():
            rows[current] += " " + line.strip()
    return rows


def test_catalog_has_the_22_rows_of_the_seed_in_order():
    rows = seed_rows()
    assert sorted(rows) == list(range(1, 23))
    assert [c.number for c in CONNECTIONS] == list(range(1, 23))


def test_each_row_matches_the_seed_text():
    rows = seed_rows()
    for c in CONNECTIONS:
        line = rows[c.number]
        assert line.startswith(c.source_label.split(" multi")[0]), (c.number, line)
        if c.ports:
            assert f" {c.ports} " in f" {line} ", (c.number, c.ports, line)
        if c.seed_classification:
            assert f" {c.seed_classification} " in line, (c.number, line)
        first_sentence = c.purpose.split(". ")[0].rstrip(".")
        assert first_sentence.split()[0] in line, (c.number, first_sentence)


def test_row_19_has_no_seed_classification_and_is_ingress():
    c19 = CONNECTIONS[18]
    assert c19.seed_classification == ""
    assert c19.suite_class == "ingress"
    assert {c.number for c in CONNECTIONS if c.suite_class == "ingress"} == {18, 19}


def test_intra_means_both_ends_are_gvp_services():
    gvp = {"rm", "mcp", "rs", "sd", "configserver"}
    gvp_destinations = {"mcp", "activemq", "configserver"}
    for c in CONNECTIONS:
        if c.suite_class == "ingress":
            continue
        expected = "intra" if c.source in gvp and c.destination in gvp_destinations else "egress"
        assert c.suite_class == expected, c.number


def test_roles_and_destinations_are_used():
    assert {c.source for c in CONNECTIONS} == set(ROLES)
    assert {c.destination for c in CONNECTIONS} == set(DESTINATIONS)


def test_inventory_has_a_section_for_every_destination_and_no_other():
    assert set(inventory.Destinations.model_fields) == set(DESTINATIONS)


def _modules() -> dict[Path, tuple[int, set[str]]]:
    found = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        numbers = [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                   and getattr(n.func, "id", None) == "connection"]
        names = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", None) == "probe"}
        assert len(numbers) == 1, f"{path}: exactly one connection(N) per module"
        found[path] = (numbers[0], names)
    return found


def test_tests_dir_has_one_module_per_connection_in_its_class_dir():
    by_row: dict[int, list[Path]] = {}
    for path, (number, _) in _modules().items():
        by_row.setdefault(number, []).append(path)
        row = CONNECTIONS[number - 1]
        assert path.parent.name == row.suite_class, path
        assert path.name.startswith(f"test_c{number:02d}_"), path
    assert all(len(p) == 1 for p in by_row.values()), by_row


def test_every_registered_probe_is_used_by_a_module_and_vice_versa():
    used = set().union(*(names for _, names in _modules().values()))
    assert used == set(probes.PROBES)
    for name in probes.PROBES:
        assert callable(probes.get(name))


def test_a_probe_name_says_its_module_and_function():
    """blackbox_exporter's name = file: ``sip.options`` is ``gvpconf.probes.sip.probe_options``."""
    import importlib

    for name in probes.PROBES:
        module, func = probes.location(name)
        assert module == "gvpconf.probes." + name.split(".")[0]
        assert func == "probe_" + name.split(".", 1)[1]
        assert getattr(importlib.import_module(module), func).__name__ == func
