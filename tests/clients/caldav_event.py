#!/usr/bin/env python3
"""A CalDAV client for the system tests: Debian's python3-caldav creates an event in a
calendar, or reads it back, over HTTPS through the box's proxy, the chain verified against
the box's own authority (--ca).

    caldav_event.py --url URL --user U --password P --ca CA.pem [--resolve HOST:IP] create UID SUMMARY
    caldav_event.py ... read UID        prints the event's summary

--resolve sends HOST's connections to IP (resolve.py); the TLS name checked is still HOST. Exit code 2: the server refused
the account; 3: no such calendar or event; 1: anything else (the server unreachable…).
"""

import argparse
import sys

import caldav
from caldav.lib import error
from resolve import resolve_to

CALENDAR = "bibliotheque"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--resolve")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create")
    c.add_argument("uid")
    c.add_argument("summary")
    r = sub.add_parser("read")
    r.add_argument("uid")
    a = p.parse_args()
    if a.resolve:
        resolve_to(a.resolve)

    client = caldav.DAVClient(a.url, username=a.user, password=a.password, ssl_verify_cert=a.ca)
    try:
        principal = client.principal()
        if a.action == "create":
            try:
                calendar = principal.calendar(cal_id=CALENDAR)
                calendar.get_properties()
            except error.NotFoundError:
                calendar = principal.make_calendar(name="Bibliothèque", cal_id=CALENDAR)
            calendar.save_event(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Panier//tests//FR\r\n"
                "BEGIN:VEVENT\r\n"
                f"UID:{a.uid}\r\nDTSTAMP:20261202T100000Z\r\n"
                "DTSTART:20261212T140000Z\r\nDTEND:20261212T160000Z\r\n"
                f"SUMMARY:{a.summary}\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            print("created")
        else:
            event = principal.calendar(cal_id=CALENDAR).event_by_uid(a.uid)
            print(event.vobject_instance.vevent.summary.value)
    except error.AuthorizationError as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(2)
    except error.NotFoundError as e:
        print(f"not found: {e}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
