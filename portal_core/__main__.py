"""The portal's command line: ``python -m portal_core <command>``.

Commands: ``migrate``, ``seed``, ``create-staff EMAIL``, ``outbox``, ``check-balances``,
``invoices run [--period YYYY-MM]``, ``billing recharge``, ``billing reconcile``, ``mail send``,
``logs prune``, ``scores snapshot``, ``rate-limits prune``, ``scheduler``,
``tokens create MEMBER_EMAIL NAME --scopes …``, ``tokens revoke KEY``, ``keys reseal``,
``keys status``, and
``api [--port 8000] [--host 127.0.0.1] [--workers N]``, the REST API alone.
Bad input prints one clear line and exits with status 2; nothing is half-done. ``invoices run``
exits with status 1 when an organization could not be invoiced (the others are; run it again).
``mail send`` exits with status 1 when a mail could not be sent this time (it stays queued and
is retried later, unless that was its last attempt: then staff get a notice).
``keys reseal`` exits with status 1 when a sealed secret is under no key of ``SEALING_KEYS``,
``keys status`` when a live API token or a member's recovery codes are under no key of
``TOKEN_KEYS``.
"""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from portal_core import db
from portal_core.errors import PortalError, ValidationFailed
from portal_core.mail import outbox_messages
from portal_core.settings import get_settings

if TYPE_CHECKING:
    from portal_core.services.secrets import KeyStanding


def _engine() -> Engine:
    return db.engine()


def cmd_migrate(_args: argparse.Namespace) -> int:
    db.migrate()
    print("Database is at the newest schema.")
    return 0


def cmd_seed(_args: argparse.Namespace) -> int:
    from portal_core.services.seed import seed_demo

    seeded = seed_demo(_engine())
    print("Seeded the demo organization." if seeded else "The database has users: not seeding.")
    return 0


def cmd_create_staff(args: argparse.Namespace) -> int:
    from portal_core.services.staff import create_staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password for the new staff user: ")
        if getpass.getpass("Repeat it: ") != password:
            print("The two passwords differ; nothing was created.", file=sys.stderr)
            return 2
    with db.write_session(_engine()) as session:
        create_staff(session, args.email, args.name or args.email.split("@")[0], password)
    print(f"Created SIPSTACK staff user {args.email.strip().lower()}.")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    folder = get_settings().outbox_dir
    messages = outbox_messages(folder) if folder.exists() else []
    if not messages:
        print(f"The outbox ({folder}) is empty.")
        return 0
    for message in messages[-args.last :]:
        body = message.get_body(preferencelist=("plain",))
        print(f"Date: {message['Date']}\nTo: {message['To']}\nSubject: {message['Subject']}\n")
        print(body.get_content().strip() if body else "")
        print("-" * 72)
    return 0


def cmd_check_balances(_args: argparse.Namespace) -> int:
    from portal_core.services.ledger import balance_mismatches

    with db.read_session(_engine()) as session:
        mismatches = balance_mismatches(session)
    for item in mismatches:
        print(
            f"{item.organization_id}: {item.figure} cached {item.cached_micros} µ$, "
            f"recomputed {item.ledger_micros} µ$"
        )
    organizations = len({item.organization_id for item in mismatches})
    print(
        f"{organizations} organization(s) whose cached balance or unbilled usage differs from "
        "the ledger and the usage records."
    )
    return 1 if mismatches else 0


def cmd_invoices_run(args: argparse.Namespace) -> int:
    """Invoice a month (default: last month); one line per tenth of the way, then a summary."""
    from portal_core.money import format_cents
    from portal_core.services.invoices import run_invoices

    def progress(period: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"Invoicing {period}: {done:,} of {total:,} organizations", flush=True)

    summary = run_invoices(_engine(), period=args.period, progress=progress)
    print(
        f"Invoices for {summary.period}: {summary.created:,} created, "
        f"{summary.already_invoiced:,} already invoiced, "
        f"{summary.nothing_to_invoice:,} with nothing to invoice, "
        f"{len(summary.failures):,} failed; "
        f"total invoiced {format_cents(summary.invoiced_cents)}."
    )
    if summary.emails_queued:
        print(f"Invoice e-mails: {summary.emails_queued:,} queued.")
    for failure in summary.failures:
        print(
            f"Not invoiced: {failure.organization_name} ({failure.organization_id}): "
            f"{failure.message}",
            file=sys.stderr,
        )
    if summary.failures:
        print(
            "Run the same command again to retry them; the others stay invoiced.", file=sys.stderr
        )
    return 1 if summary.failures else 0


def cmd_billing_recharge(_args: argparse.Namespace) -> int:
    """Auto-recharge's sweep, for a scheduler (every few minutes): organizations under their
    threshold with no recharge today."""
    from portal_core.services.auto_recharge import sweep

    summary = sweep(_engine())
    print(
        f"Auto-recharge: {summary.recharged} recharged, {summary.pending} pending at the "
        f"gateway, {summary.failed} declined, {summary.errors} could not be tried."
    )
    return 1 if summary.errors else 0


def cmd_billing_reconcile(_args: argparse.Namespace) -> int:
    """Reconciliation, for a scheduler (every few minutes): ask the gateway about every
    payment still pending after a few minutes; credit the paid, fail the expired."""
    from portal_core.services.payments.reconciliation import reconcile

    summary = reconcile(_engine())
    print(
        f"Reconciliation: {summary.credited} credited, {summary.failed} failed or expired, "
        f"{summary.asked_again} asked again, {summary.still_open} still open, "
        f"{summary.reported} reported to staff, {summary.errors} could not be asked."
    )
    return 1 if summary.errors else 0


def cmd_mail_send(_args: argparse.Namespace) -> int:
    """The mail queue's retries, for a scheduler (every minute or so): what the portal could
    not send right after its commit, once its back-off is over."""
    from portal_core.services.mail_queue import send_queued

    summary = send_queued(_engine())
    print(
        f"Mail: {summary.sent:,} sent, {summary.failed:,} failed ({summary.gave_up:,} given up), "
        f"{summary.waiting:,} waiting in the queue."
    )
    return 1 if summary.failed else 0


def cmd_logs_prune(_args: argparse.Namespace) -> int:
    """Delete the product events older than the log retention (a nightly job; harmless by
    hand): their daily totals, the usage and the invoices stay."""
    from portal_core.services.log_retention import prune

    deleted = prune(_engine())
    print(f"Logs: {deleted:,} product event(s) older than the log retention deleted.")
    return 0


def cmd_rate_limits_prune(_args: argparse.Namespace) -> int:
    """Delete the API's rate-limit windows that ended over an hour ago (a job; harmless by hand)."""
    from portal_core.models.base import utcnow
    from portal_core.services.rate_limits import prune

    deleted = prune(_engine(), now=utcnow())
    print(f"Rate limits: {deleted:,} ended window(s) deleted.")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """The REST API alone (no pages, no scheduler), after migrating the database: what a
    deployment scales apart from the portal."""
    import uvicorn

    if args.port < 1 or args.port > 65_535:
        print("--port: a port from 1 to 65535.", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("--workers: at least 1.", file=sys.stderr)
        return 2
    db.migrate()
    # uvicorn reads FORWARDED_ALLOW_IPS itself: the proxies whose X-Forwarded-For names the
    # client, whose address the failed-credentials limit counts.
    uvicorn.run(
        "portal_core.api.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        http="portal_core.api.serving:NoDelayH11Protocol",
    )
    return 0


def cmd_scores_snapshot(_args: argparse.Namespace) -> int:
    """Score every registered number afresh and keep the day's point of its history (a daily
    job; harmless by hand: the same day's points are written again)."""
    from portal_core.services.score_snapshot import snapshot

    taken = snapshot(_engine())
    print(
        f"Scores: {taken.numbers:,} registered number(s) of {taken.organizations:,} "
        f"organization(s) scored; {taken.fell:,} fell into the spam bands."
    )
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Mint an API token for a member's organization, by the page's rules. The secret is
    printed once; the last line alone is ``KEY.SECRET``, for a script to take."""
    from portal_core.services import api_tokens

    with db.write_session(_engine()) as session:
        new = api_tokens.create_for_member(
            session,
            args.email,
            name=args.name,
            scopes=args.scopes.split(","),
            test=args.test,
            expires_days=args.expires_days,
        )
        kind = "test" if new.token.test else "live"
        lines = [
            f"Created the {kind} API token {new.token.name!r} ({new.token.scopes}).",
            new.key,
            new.secret,
            new.bearer,
        ]
    # Printed once committed: a secret shown must be one that works.
    print("\n".join(lines))
    print("The secret is shown only now: keep it where the program reads it.", file=sys.stderr)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from portal_core.services import api_tokens

    with db.write_session(_engine()) as session:
        token = api_tokens.revoke_by_key(session, args.key)
        done = f"Revoked the API token {token.name!r} ({token.key}): refused from now on."
    print(done)
    return 0


def cmd_keys_reseal(_args: argparse.Namespace) -> int:
    """Seal every sealed secret anew under the newest of ``SEALING_KEYS``; after it, the
    older keys can be dropped (docs/architecture.md, Keys and their rotation)."""
    from portal_core.services.two_factor import reseal_secrets

    with db.write_session(_engine()) as session:
        done = reseal_secrets(session)
    print(
        f"Sealed secrets: {done.resealed} re-sealed under the newest key, {done.current} "
        f"already under it, {done.unreadable} under no listed key."
    )
    if done.unreadable:
        print(
            "Some secrets are under a key SEALING_KEYS no longer lists: put it back (behind "
            "the newest) and run this again, or those members cannot sign in.",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_keys_status(_args: argparse.Namespace) -> int:
    """How many live API tokens, and members with recovery codes left, depend on each of
    ``TOKEN_KEYS``: an older key can be dropped once nothing does
    (docs/architecture.md, Keys and their rotation). Exit status 1 when some are under a key
    no longer listed (a token so is refused, a recovery code so no longer works)."""
    from portal_core.services import api_tokens, two_factor

    with db.read_session(_engine()) as session:
        tokens = api_tokens.key_standing(session)
        codes = two_factor.recovery_key_standing(session)
    _print_standing("Live API tokens", tokens)
    if tokens.unplaced:
        print(f"  minted before the portal kept their key: {tokens.unplaced:,}")
    waiting = tokens.keeping_older
    if waiting:
        print(
            f"{waiting:,} token(s) move under the newest key when next used (within a minute "
            "of the call). Tokens that are never used again keep an older key needed: revoke "
            "them, or keep that key listed."
        )
    members = codes.keeping_older
    if codes.total:
        _print_standing("Members with recovery codes left", codes)
        if codes.unplaced:
            print(f"  made before the portal kept their key: {codes.unplaced:,}")
    if members:
        print(
            f"{members:,} member(s) have recovery codes under an older key: a code cannot move "
            "to a new key, so they make new ones (My Profile › Advanced) before that key is "
            "dropped."
        )
    if not waiting and not members and len(tokens.under_each) > 1:
        print("Nothing needs the older keys any more: they can be dropped from TOKEN_KEYS.")
    if tokens.unlisted:
        print(
            f"{tokens.unlisted:,} live token(s) are under a key TOKEN_KEYS no longer lists, "
            "and are refused: put that key back behind the newest, or revoke them.",
            file=sys.stderr,
        )
    if codes.unlisted:
        print(
            f"{codes.unlisted:,} member(s) have recovery codes under a key TOKEN_KEYS no longer "
            "lists, which no longer work: put that key back behind the newest, or have them "
            "make new ones.",
            file=sys.stderr,
        )
    return 1 if tokens.unlisted or codes.unlisted else 0


def _print_standing(what: str, standing: KeyStanding) -> None:
    print(f"{what} under each of TOKEN_KEYS, newest first:")
    for position, (fingerprint, count) in enumerate(standing.under_each, start=1):
        newest = " (the newest)" if position == 1 else ""
        print(f"  {position}. key {fingerprint}{newest}: {count:,}")


def cmd_jobs_list(_args: argparse.Namespace) -> int:
    """The scheduler's jobs: name, schedule and what each does."""
    from portal_core.services.jobs import JOBS

    width = max(len(job.name) for job in JOBS)
    for job in JOBS:
        print(f"{job.name:<{width}}  {job.schedule.describe():<32}  {job.title}")
    return 0


def cmd_jobs_run(args: argparse.Namespace) -> int:
    """Run one of the scheduler's jobs now, by hand (each is safe to run again: it does what is
    due and nothing twice); exit status 1 when the job says it did not do all it had to."""
    from portal_core.models.base import utcnow
    from portal_core.services.jobs import JOBS

    chosen = next((job for job in JOBS if job.name == args.name), None)
    if chosen is None:
        names = ", ".join(job.name for job in JOBS)
        print(f"No job is named {args.name!r}. The jobs: {names}.", file=sys.stderr)
        return 2
    report = chosen.run(_engine(), utcnow())
    print(f"{chosen.title}: {report.summary}")
    return 0 if report.succeeded else 1


def cmd_scheduler(_args: argparse.Namespace) -> int:
    """The scheduler alone, in the foreground, until Ctrl-C or SIGTERM: for deployments whose
    portal copies run with ``SCHEDULER=off``. It lets a running job finish before it exits."""
    from portal_core.services.scheduler import Scheduler

    db.migrate()
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda _number, _frame: stop.set())
    scheduler = Scheduler(_engine())
    scheduler.start()
    time_zone = scheduler.time_zone.key if scheduler.time_zone else "UTC"
    print(f"The scheduler runs (billing time zone {time_zone}); Ctrl-C stops it.", flush=True)
    for job in scheduler.jobs:
        print(f"  {job.name}: {job.schedule.describe()} ({job.title})", flush=True)
    stop.wait()
    print("Stopping: waiting for the running jobs to finish…", flush=True)
    scheduler.shutdown()
    print("The scheduler stopped.", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m portal_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database to the newest schema").set_defaults(
        run=cmd_migrate
    )
    commands.add_parser("seed", help="seed the demo on an empty development database").set_defaults(
        run=cmd_seed
    )
    staff = commands.add_parser("create-staff", help="create a SIPSTACK staff user")
    staff.add_argument("email")
    staff.add_argument("--name", default="")
    staff.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    staff.set_defaults(run=cmd_create_staff)
    outbox = commands.add_parser("outbox", help="print the newest e-mails of the local outbox")
    outbox.add_argument("--last", type=int, default=5, help="how many (default 5)")
    outbox.set_defaults(run=cmd_outbox)
    commands.add_parser(
        "check-balances",
        help="recompute every cached balance and unbilled usage from the ledger and usage",
    ).set_defaults(run=cmd_check_balances)
    invoices = commands.add_parser("invoices", help="the monthly invoices").add_subparsers(
        dest="invoices_command", required=True
    )
    run = invoices.add_parser(
        "run", help="invoice a month for every organization (running it twice is harmless)"
    )
    run.add_argument(
        "--period", help="the month to invoice, YYYY-MM (default: last month, billing time zone)"
    )
    run.set_defaults(run=cmd_invoices_run)
    billing = commands.add_parser("billing", help="card payments").add_subparsers(
        dest="billing_command", required=True
    )
    billing.add_parser(
        "recharge", help="auto-recharge organizations under their threshold (for a scheduler)"
    ).set_defaults(run=cmd_billing_recharge)
    billing.add_parser(
        "reconcile",
        help="ask the gateway about payments still pending; settle what it says (a scheduler's)",
    ).set_defaults(run=cmd_billing_reconcile)
    mail = commands.add_parser("mail", help="the mail queue").add_subparsers(
        dest="mail_command", required=True
    )
    send_help = (
        "send the queued e-mail that is due (for a scheduler); exits 1 when one failed this "
        "time (it stays queued for a later try)"
    )
    mail.add_parser("send", help=send_help, description=send_help).set_defaults(run=cmd_mail_send)
    logs = commands.add_parser("logs", help="the product events of Logs").add_subparsers(
        dest="logs_command", required=True
    )
    logs.add_parser(
        "prune", help="delete the product events older than the log retention (a nightly job)"
    ).set_defaults(run=cmd_logs_prune)
    scores = commands.add_parser("scores", help="the registered numbers' scores").add_subparsers(
        dest="scores_command", required=True
    )
    scores.add_parser(
        "snapshot",
        help="score every registered number afresh and keep today's point of its history",
    ).set_defaults(run=cmd_scores_snapshot)
    limits = commands.add_parser(
        "rate-limits", help="the REST API's rate-limit counters"
    ).add_subparsers(dest="rate_limits_command", required=True)
    limits.add_parser(
        "prune", help="delete the rate-limit windows that ended over an hour ago (a job's)"
    ).set_defaults(run=cmd_rate_limits_prune)
    jobs = commands.add_parser("jobs", help="the scheduler's jobs").add_subparsers(
        dest="jobs_command", required=True
    )
    jobs.add_parser("list", help="every job, its schedule and what it does").set_defaults(
        run=cmd_jobs_list
    )
    run_job = jobs.add_parser(
        "run", help="run a job now, by hand (safe to repeat: it does what is due, once)"
    )
    run_job.add_argument("name", help="the job's name, as `jobs list` prints it")
    run_job.set_defaults(run=cmd_jobs_run)
    api = commands.add_parser(
        "api", help="serve the REST API alone (no pages, no scheduler), migrating first"
    )
    api.add_argument("--port", type=int, default=8000, help="default 8000")
    api.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    api.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    api.set_defaults(run=cmd_api)
    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="tokens_command", required=True
    )
    create = tokens.add_parser(
        "create",
        help="mint an API token for a member's organization; the last line is KEY.SECRET",
    )
    create.add_argument("email", metavar="MEMBER_EMAIL")
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--scopes", required=True, help="comma-separated, such as lookups,whois:read"
    )
    create.add_argument("--test", action="store_true", help="a test token (sample data, unbilled)")
    create.add_argument("--expires-days", type=int, default=None, metavar="N")
    create.set_defaults(run=cmd_tokens_create)
    revoke = tokens.add_parser("revoke", help="revoke an API token by its key, at once")
    revoke.add_argument("key", metavar="KEY")
    revoke.set_defaults(run=cmd_tokens_revoke)
    keys = commands.add_parser("keys", help="the keys of tokens and sealed secrets").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser(
        "reseal", help="seal every sealed secret anew under the newest of SEALING_KEYS"
    ).set_defaults(run=cmd_keys_reseal)
    keys.add_parser(
        "status", help="how many live API tokens depend on each of TOKEN_KEYS"
    ).set_defaults(run=cmd_keys_status)
    commands.add_parser(
        "scheduler",
        help="run the recurring jobs (invoices, auto-recharge, …) in the foreground, alone",
    ).set_defaults(run=cmd_scheduler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ValidationFailed as error:
        for field, message in error.errors.items():
            print(f"{field}: {message}", file=sys.stderr)
        return 2
    except PortalError as error:
        print(error.message, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
