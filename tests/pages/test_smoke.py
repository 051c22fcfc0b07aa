from portal_core import db
from portal_core.models.accounts import Role
from tests.factories import make_user
from tests.pages.conftest import texts


def test_dashboard_greets_an_owner_with_zero_funds(portal):
    with db.write_session(portal.engine) as session:
        owner = make_user(session, role=Role.OWNER, name="Ada Owner")
    app = portal.open(as_user=owner)
    assert not app.exception
    assert "Welcome, Ada Owner" in texts(app)
    assert "Available funds $0.00" in texts(app)
