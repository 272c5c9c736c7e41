"""Binds to smsc-sim with python-smpplib (a third-party SMPP client), submits
a message, waits for its delivery receipt and unbinds. Prints OK on success;
any failure raises (non-zero exit).

usage: smpplib_client.py PORT
"""
import sys
import time

import smpplib.client
import smpplib.consts

port = int(sys.argv[1])
client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
submitted = []
delivered = []
client.set_message_sent_handler(lambda pdu, **kw: submitted.append(pdu.message_id))
client.set_message_received_handler(lambda pdu, **kw: delivered.append(pdu))

client.connect()
client.bind_transceiver(system_id="interop", password="pw")
client.send_message(
    source_addr_ton=smpplib.consts.SMPP_TON_INTL,
    source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
    source_addr="447700900000",
    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
    destination_addr="447900123456",
    short_message=b"hello from smpplib",
    data_coding=0,
    registered_delivery=1,
)
deadline = time.time() + 10
while (not submitted or not delivered) and time.time() < deadline:
    client.read_once()
assert submitted, "no submit_sm_resp"
assert delivered, "no delivery receipt"
receipt = delivered[0]
msg_id = submitted[0].decode() if isinstance(submitted[0], bytes) else submitted[0]
rid = receipt.receipted_message_id
rid = rid.decode() if isinstance(rid, bytes) else rid
text = receipt.short_message.decode()
assert rid == msg_id, (rid, msg_id)
assert ("id:%s " % msg_id) in text, text
assert "stat:DELIVRD" in text, text
assert int(receipt.esm_class) & 0x04, receipt.esm_class
client.unbind()
client.disconnect()
print("OK id=%s" % msg_id)
