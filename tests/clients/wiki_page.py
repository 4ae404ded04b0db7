#!/usr/bin/env python3
"""A wiki client for the system tests: logs in to DokuWiki and edits a page with its own
forms (login, then the edit form's save, with their security tokens), or reads a page's
source back, over HTTP through the box's proxy (python3-requests, a cookie session).

    wiki_page.py --base URL [--resolve HOST:IP] [--ca CA.pem] edit USER PASSWORD PAGE TEXT
    wiki_page.py ... edit - - PAGE TEXT       the same without logging in
    wiki_page.py ... read PAGE                prints the page's source

Exit code 2: the login was refused, or the wiki gave no edit form (not allowed); 3: no such
page; 1: anything else.
"""

import argparse
import sys
from html.parser import HTMLParser

import requests
from resolve import resolve_to


class Form(HTMLParser):
    """The named inputs of the form with id `form_id`."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = self.found = True
        elif self.inside and tag == "input" and a.get("name") and a.get("type") != "submit":
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form(html, form_id):
    f = Form(form_id)
    f.feed(html)
    return f.fields if f.found else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="the wiki's address, http(s)://HOST[:PORT]")
    p.add_argument("--resolve")
    p.add_argument("--ca")
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("edit")
    e.add_argument("user")
    e.add_argument("password")
    e.add_argument("page")
    e.add_argument("text")
    r = sub.add_parser("read")
    r.add_argument("page")
    a = p.parse_args()
    if a.resolve:
        resolve_to(a.resolve)
    web = requests.Session()
    web.verify = a.ca or True
    doku = a.base.rstrip("/") + "/doku.php"

    if a.action == "read":
        r = web.get(doku, params={"id": a.page, "do": "export_raw"}, timeout=10)
        r.raise_for_status()
        # The source comes as text/plain; a missing page is shown as the wiki's HTML page.
        if not r.headers.get("content-type", "").startswith("text/plain"):
            print(f"no page {a.page}", file=sys.stderr)
            sys.exit(3)
        print(r.text, end="")
        return

    if a.user != "-":
        page = web.get(doku, params={"id": a.page, "do": "login"}, timeout=10)
        page.raise_for_status()
        fields = form(page.text, "dw__login")
        if fields is None:
            sys.exit(f"no login form: {page.text[:500]}")
        fields.update({"u": a.user, "p": a.password, "do": "login", "id": a.page})
        done = web.post(doku, data=fields, timeout=10)
        # DokuWiki answers a refused login with 403 and the login form again.
        if done.status_code == 403 or "do=logout" not in done.text:
            print("login refused", file=sys.stderr)
            sys.exit(2)
        done.raise_for_status()
    page = web.get(doku, params={"id": a.page, "do": "edit"}, timeout=10)
    page.raise_for_status()
    fields = form(page.text, "dw__editform")
    if fields is None:
        print("no edit form: not allowed", file=sys.stderr)
        sys.exit(2)
    fields.update({"wikitext": a.text, "summary": "tests", "do[save]": "1", "id": a.page})
    saved = web.post(doku, data=fields, timeout=10)
    saved.raise_for_status()
    print("saved")


if __name__ == "__main__":
    main()
