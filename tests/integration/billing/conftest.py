import pytest

from omnihub.billing import service


@pytest.fixture(autouse=True)
def _billing_defaults(request: pytest.FixtureRequest) -> None:
    """The PostgreSQL harness truncates every table, seed rows included: put the defaults back."""
    if "db" in request.fixturenames:
        db = request.getfixturevalue("db")
        with db.transaction() as conn:
            service.install_defaults(conn)
