"""Shared pytest configuration: the `case` marker that tags each fault, bad-input, property and trust test with its
component and guarantee; `tools/hardening_table.py` collects them (EO_NB_CASES=FILE) into the table in the docs.
The `slow` marker: tests that take tens of seconds each (e.g. a papermill run per catalogue entry) run only with
`EO_NB_SLOW=1` (or `-m slow`), like the notebooks' `#| slow` cells with `nbdev_test --flags slow`."""
import json, os, pytest

def pytest_configure(config):
    config.addinivalue_line('markers', "case(component, kind, guarantee): a hardening case (kind: fault, bad_input, property, trust)")
    config.addinivalue_line('markers', "slow: a long test, run only with EO_NB_SLOW=1 or -m slow")

def pytest_collection_modifyitems(session, config, items):
    want_slow = os.environ.get('EO_NB_SLOW') == '1' or 'slow' in (config.getoption('markexpr', '') or '')
    if not want_slow:
        skip = pytest.mark.skip(reason="slow: run with EO_NB_SLOW=1 (or -m slow)")
        for it in items:
            if it.get_closest_marker('slow'): it.add_marker(skip)
    out = os.environ.get('EO_NB_CASES')
    if not out: return
    cases = [dict(test=it.nodeid, **m.kwargs) for it in items for m in it.iter_markers('case')]
    with open(out + '.tmp', 'w') as f: json.dump(cases, f, indent=1)
    os.replace(out + '.tmp', out)
