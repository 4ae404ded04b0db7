#!/usr/bin/env python3
"""XMPP clients for the system tests (Debian's python3-slixmpp): log in over the published
client port with TLS (the server's certificate verified against --ca, for the account's
domain) and exchange messages.

    xmpp_message.py --server IP [--port 5222] --ca CERT exchange FROM PW TO PW BODY
        both log in, FROM sends BODY to TO, TO must receive it; prints "SENDER: BODY"
    xmpp_message.py ... send FROM PW TO BODY     FROM sends BODY to TO (online or not)
    xmpp_message.py ... receive JID PW BODY      JID logs in and waits for BODY (an offline
                                                 message too); prints "SENDER: BODY"

Accounts are full JIDs (name@domain). Exit code 2: the server refused the login; 3: no
session (the server unreachable, TLS refused) or no message within 30 s; 1: anything else.
"""

import argparse
import asyncio
import sys

import slixmpp

TIMEOUT = 30


class Refused(Exception):
    pass


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca):
        super().__init__(jid, password)
        self.ca_certs = ca
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self.started)
        self.add_event_handler("failed_all_auth", self.refused)
        self.add_event_handler("message", self.received)

    async def started(self, _event):
        self.send_presence()
        await self.get_roster()
        if not self.ready.done():
            self.ready.set_result(True)

    def refused(self, _event):
        if not self.ready.done():
            self.ready.set_exception(Refused(self.boundjid.bare))

    def received(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.messages.put_nowait((msg["from"].bare, msg["body"]))


async def login(args, jid, password):
    client = Client(jid, password, args.ca)
    client.connect(address=(args.server, args.port))
    await asyncio.wait_for(client.ready, TIMEOUT)
    return client


async def wait_for(client, body):
    while True:
        sender, text = await asyncio.wait_for(client.messages.get(), TIMEOUT)
        if text == body:
            return sender


async def send(client, to, body):
    client.send_message(mto=to, mbody=body, mtype="chat")
    # Let the stanza leave before the stream closes.
    await asyncio.sleep(1)


async def run(args):
    if args.action == "exchange":
        receiver = await login(args, args.to, args.to_password)
        sender = await login(args, args.sender, args.password)
        await send(sender, args.to, args.body)
        print(f"{await wait_for(receiver, args.body)}: {args.body}")
        sender.disconnect()
        receiver.disconnect()
    elif args.action == "send":
        sender = await login(args, args.sender, args.password)
        await send(sender, args.to, args.body)
        sender.disconnect()
    else:
        receiver = await login(args, args.jid, args.password)
        print(f"{await wait_for(receiver, args.body)}: {args.body}")
        receiver.disconnect()
    await asyncio.sleep(0.5)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca", required=True)
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("exchange")
    e.add_argument("sender")
    e.add_argument("password")
    e.add_argument("to")
    e.add_argument("to_password")
    e.add_argument("body")
    s = sub.add_parser("send")
    s.add_argument("sender")
    s.add_argument("password")
    s.add_argument("to")
    s.add_argument("body")
    r = sub.add_parser("receive")
    r.add_argument("jid")
    r.add_argument("password")
    r.add_argument("body")
    args = p.parse_args()
    try:
        asyncio.run(run(args))
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(2)
    except asyncio.TimeoutError:
        print("timed out", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
