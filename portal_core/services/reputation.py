"""Reputation watch: who hears that a registered number's score fell into the spam bands
(docs/product.md, Whois Profiles).

``services.scores.refresh`` publishes ``NumberScoreFell`` when a stored score crosses under
the alert's threshold (2.500: the spam bands); ``alert`` reacts inside the same unit of work.
Each active member who may read Whois Profiles (``queries.members``) and keeps "reputation
alerts" on (My Profile › Notifications) gets a personal notice and an e-mail, at once. The
notice's key names the member, the number and the score's fall, so a replayed unit of work
alerts once.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from portal_core import emails
from portal_core.facts import NumberScoreFell
from portal_core.mail import send_after_commit
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.permissions import Capability
from portal_core.queries.members import members_who_may
from portal_core.rules import scoring
from portal_core.rules.numbers import facts_of
from portal_core.services import notices


def alert(connection: Connection, fact: NumberScoreFell) -> None:
    band = scoring.band_of(fact.after_millis)
    score = scoring.format_score(fact.after_millis)
    number = facts_of(fact.number).international
    for member in members_who_may(connection, fact.organization_id, Capability.WHOIS_READ):
        if not member.notify_reputation:
            continue
        notices.post_for_user(
            connection,
            organization_id=fact.organization_id,
            user_id=member.id,
            kind=NoticeKind.REPUTATION_ALERT,
            title=f"{number} now scores {score} ({band.remark})",
            body=(
                f"The score of {number} fell to {score}, in the spam bands: called parties may "
                "see its calls flagged. Its profile in Whois Profiles says why and what would "
                "raise it."
            ),
            dedupe_key=f"reputation:{member.id}:{fact.profile_id}:{fact.before_millis}:{fact.after_millis}",
            link_page_id="partner.whois_profiles",
            now=fact.at or utcnow(),
        )
        send_after_commit(
            connection,
            emails.reputation_alert(
                member.email, member.name, number=number, score=score, remark=band.remark
            ),
        )
