"""Shared pytest configuration: the `case` marker that tags each fault, bad-input, property and trust test with its
component and guarantee; `tools/hardening_table.py` collects them (EO_NB_CASES=FILE) into the table in the docs."""
import json, os

def pytest_configure(config):
    config.addinivalue_line('markers', "case(component, kind, guarantee): a hardening case (kind: fault, bad_input, property, trust)")

def pytest_collection_modifyitems(session, config, items):
    out = os.environ.get('EO_NB_CASES')
    if not out: return
    cases = [dict(test=it.nodeid, **m.kwargs) for it in items for m in it.iter_markers('case')]
    with open(out + '.tmp', 'w') as f: json.dump(cases, f, indent=1)
    os.replace(out + '.tmp', out)
