from sqlmodel import select

from portal_core import db
from portal_core.models.accounts import User
from tests.factories import make_user


def test_factories_make_a_user_on_each_backend(engine):
    with db.write_session(engine) as session:
        user = make_user(session)
    with db.read_session(engine) as session:
        assert session.exec(select(User.email)).one() == user.email
