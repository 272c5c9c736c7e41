#!/usr/bin/env python3
"""Drives a Sluice gateway with PyPI's smpplib (SMPP code this project did not
write). Each scenario prints one JSON object on stdout; the C++ tests assert on it."""
import argparse
import json
import resource
import socket
import struct
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions


def client(args):
    c = smpplib.client.Client(args.host, args.port, timeout=10, allow_unknown_opt_params=True)
    c.connect()
    return c


def bind_kinds(args):
    out = {}
    for kind in ("transmitter", "receiver", "transceiver"):
        c = client(args)
        try:
            getattr(c, "bind_" + kind)(system_id=args.system_id, password=args.password)
            out[kind] = 0
            c.unbind()
        except smpplib.exceptions.PDUError as e:
            out[kind] = e.args[1]
        finally:
            c.disconnect()
    return out


def bad_password(args):
    c = client(args)
    try:
        c.bind_transceiver(system_id=args.system_id, password=args.password + "x")
        return {"status": 0}
    except smpplib.exceptions.PDUError as e:
        return {"status": e.args[1]}
    finally:
        c.disconnect()


def submit(args):
    """Sends args.count submit_sm without waiting for each answer (a window),
    then collects every answer. Reports acknowledged ids and other statuses."""
    c = client(args)
    c.bind_transceiver(system_id=args.system_id, password=args.password)
    answers = {}
    c.set_message_sent_handler(
        lambda pdu: answers.__setitem__(pdu.sequence, (pdu.status, getattr(pdu, "message_id", None))))
    c.set_message_received_handler(lambda pdu: None)
    c.set_error_pdu_handler(lambda pdu: None)
    errors = {}
    sent = 0
    t0 = time.time()
    window = args.window
    closed_by_server = False
    try:
        while sent < args.count:
            while sent - len(answers) >= window:
                c.read_once()
            if args.rate > 0:
                # Paced: the n-th submit leaves at t0 + n/rate; answers are
                # read meanwhile.
                due = t0 + sent / args.rate
                while time.time() < due:
                    if sent > len(answers):
                        c.read_once()
                    else:
                        time.sleep(max(0.0, due - time.time()))
            c.send_message(source_addr_ton=1, source_addr="12345", dest_addr_ton=1,
                           destination_addr="4479%08d" % sent,
                           short_message=("msg %d %s" % (sent, args.tag)).encode(),
                           registered_delivery=0)
            sent += 1
        deadline = time.time() + 60
        while len(answers) < sent and time.time() < deadline:
            c.read_once()
    except (smpplib.exceptions.ConnectionError, OSError):
        # The server closed the session (a drain, a restart): report what we have.
        closed_by_server = True
    elapsed = time.time() - t0
    ok_ids = [mid.decode() if isinstance(mid, bytes) else mid for (st, mid) in answers.values() if st == 0]
    for (st, _) in answers.values():
        if st != 0:
            errors[str(st)] = errors.get(str(st), 0) + 1
    try:
        if not closed_by_server:
            c.unbind()
    except Exception:
        pass
    try:
        c.disconnect()
    except Exception:
        pass
    return {"sent": sent, "answered": len(answers), "ok_ids": ok_ids, "errors": errors, "seconds": elapsed,
            "closed_by_server": closed_by_server}


def garbage(args):
    """A raw socket sends a PDU with an absurd command_length and then noise;
    the gateway must answer generic_nack ESME_RINVCMDLEN and close only it."""
    s = socket.create_connection((args.host, args.port), timeout=5)
    s.sendall(struct.pack(">IIII", 0xFFFFFF00, 0x00000004, 0, 7) + b"\x00" * 64)
    data = b""
    try:
        while len(data) < 16:
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    nack = struct.unpack(">IIII", data[:16]) if len(data) >= 16 else None
    closed = False
    try:
        s.settimeout(5)
        closed = s.recv(16) == b""
    except (ConnectionResetError, socket.timeout):
        closed = True
    s.close()
    # A PDU that is short (command_length < 16) too.
    s2 = socket.create_connection((args.host, args.port), timeout=5)
    s2.sendall(struct.pack(">I", 8) + b"\xde\xad\xbe\xef")
    d2 = s2.recv(16)
    s2.close()
    nack2 = struct.unpack(">IIII", d2[:16]) if len(d2) >= 16 else None
    return {"nack": list(nack) if nack else None, "closed": closed, "nack_short": list(nack2) if nack2 else None}


def many_binds(args):
    clients = []
    failures = 0
    for i in range(args.count):
        c = smpplib.client.Client(args.host, args.port, timeout=20)
        try:
            c.connect()
            c.bind_transmitter(system_id=args.system_id, password=args.password)
            clients.append(c)
        except Exception:
            failures += 1
    # Every bind still answers: one enquire_link-free submit on a sample, plus
    # the count the gateway reports comes from its metrics (checked by the test).
    ok = 0
    for c in clients[:: max(1, len(clients) // 20)]:
        c.send_message(source_addr="1", destination_addr="44790000", short_message=b"x")
        pdu = c.read_pdu()
        ok += 1 if pdu.status == 0 else 0
    print(json.dumps({"bound": len(clients), "failures": failures, "sample_ok": ok}), flush=True)
    # Hold the binds until the test kills us (bounded, in case it does not).
    time.sleep(args.hold)
    for c in clients:
        try:
            c.disconnect()
        except Exception:
            pass
    return None


import logging
logging.getLogger("smpplib").setLevel(logging.CRITICAL)


def split(args):
    """A receiver bind on one gateway node (--rx-port) and a transmitter bind
    on another (--port): receipts for what was submitted on the transmitter
    must arrive on the receiver."""
    receipts = {}
    rx = None

    def on_deliver(pdu):
        rid = getattr(pdu, "receipted_message_id", None)
        if isinstance(rid, bytes):
            rid = rid.decode().rstrip("\x00")
        text = pdu.short_message.decode(errors="replace") if pdu.short_message else ""
        if not rid and text.startswith("id:"):
            rid = text.split()[0][3:]
        receipts[rid] = receipts.get(rid, 0) + 1
    def bind_rx():
        r = smpplib.client.Client(args.host, args.rx_port, timeout=5, allow_unknown_opt_params=True)
        r.connect()
        r.bind_receiver(system_id=args.system_id, password=args.password)
        r.set_message_received_handler(on_deliver)
        return r
    if args.rx_delay <= 0:
        rx = bind_rx()
        time.sleep(args.settle)  # the bind registry reaches every node
    tx = client(args)
    tx.bind_transmitter(system_id=args.system_id, password=args.password)
    acked = {}
    tx.set_message_sent_handler(lambda pdu: acked.__setitem__(pdu.sequence, getattr(pdu, "message_id", None)))
    for i in range(args.count):
        tx.send_message(source_addr="12345", destination_addr="4479%08d" % i,
                        short_message=("split %d %s" % (i, args.tag)).encode(), registered_delivery=1)
        tx.read_once()
    ids = set(m.decode() if isinstance(m, bytes) else m for m in acked.values() if m)
    if rx is None:
        # No receiver bound while the receipts came back: they must wait in
        # Kafka and all arrive once the customer binds.
        time.sleep(args.rx_delay)
        rx = bind_rx()
    deadline = time.time() + args.wait
    while time.time() < deadline and not ids.issubset(receipts.keys()):
        try:
            rx.read_once()
        except Exception:
            break
    matched = sum(1 for i in ids if i in receipts)
    dups = sum(1 for i in ids if receipts.get(i, 0) > 1)
    for c in (tx, rx):
        try:
            c.unbind()
            c.disconnect()
        except Exception:
            pass
    return {"acked": len(ids), "receipts_matched": matched, "duplicates": dups}


def tls_bind(args):
    """bind_transceiver over TLS with Python's ssl module, then an enquire_link."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((args.host, args.port), timeout=10)
    s = ctx.wrap_socket(raw)
    body = args.system_id.encode() + b"\0" + args.password.encode() + b"\0" + b"\0" + bytes([0x34, 0, 0]) + b"\0"
    s.sendall(struct.pack(">IIII", 16 + len(body), 0x00000009, 0, 1) + body)
    head = s.recv(16)
    length, cmd, status, seq = struct.unpack(">IIII", head)
    if length > 16:
        s.recv(length - 16)
    s.sendall(struct.pack(">IIII", 16, 0x00000015, 0, 2))
    head2 = s.recv(16)
    l2, cmd2, st2, seq2 = struct.unpack(">IIII", head2)
    s.close()
    return {"bind_cmd": cmd, "bind_status": status, "enquire_cmd": cmd2, "tls_version": s.version() if hasattr(s, "version") else ""}


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--system-id", default="acme")
    p.add_argument("--password", default="secret")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--rate", type=float, default=0, help="submit_sm per second (0: as fast as the window allows)")
    p.add_argument("--tag", default="")
    p.add_argument("--hold", type=float, default=120)
    p.add_argument("--rx-port", type=int, default=0)
    p.add_argument("--settle", type=float, default=3)
    p.add_argument("--rx-delay", type=float, default=0)
    p.add_argument("--wait", type=float, default=60)
    args = p.parse_args()
    fn = {"bind-kinds": bind_kinds, "bad-password": bad_password, "submit": submit,
          "garbage": garbage, "many-binds": many_binds, "split": split, "tls-bind": tls_bind}[args.scenario]
    result = fn(args)
    if result is not None:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
