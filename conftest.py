"""Test order: tests marked ``after_notebooks`` run after every notebook of the session (they read the
ledger the notebooks publish)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "after_notebooks: runs after the notebooks executed in the same session")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("after_notebooks") is not None)
