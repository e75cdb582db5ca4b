"""Shared pytest configuration: the `case` marker that tags each fault, bad-input, property and trust test with its
component and guarantee (`tools/hardening_table.py` turns them into the table in the docs)."""

def pytest_configure(config):
    config.addinivalue_line('markers', "case(component, kind, guarantee): a hardening case (kind: fault, bad_input, property, trust)")
