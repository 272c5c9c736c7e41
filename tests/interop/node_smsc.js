// An SMSC made with the npm package `smpp` (not this project's code): accepts
// binds, answers submit_sm with its own ids, sends a delivery receipt for each
// message that asks for one, and counts what it received on GET /stats.
// With a certificate and key after the password it listens with TLS only.
const path = require('path');
const http = require('http');
const smpp = require(path.join(__dirname, '../../.cache/node/node_modules/smpp'));
const fs = require('fs');
const [port, httpPort, systemId, password, certFile, keyFile] = process.argv.slice(2);
let nextId = 1000;
const stats = { binds: 0, submits: 0, unique: 0, receipts_sent: 0, receipts_acked: 0 };
const seen = new Set();
const options = { debug: false };
if (certFile) {
  options.cert = fs.readFileSync(certFile);
  options.key = fs.readFileSync(keyFile);
}
const server = smpp.createServer(options, (session) => {
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    stats.binds++;
    session.send(pdu.response());
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    stats.submits++;
    const text = Buffer.isBuffer(pdu.short_message) ? pdu.short_message.toString('hex')
      : JSON.stringify(pdu.short_message);
    const key = pdu.destination_addr + '|' + text;
    if (!seen.has(key)) { seen.add(key); stats.unique++; }
    const id = (nextId++).toString(16);  // hex ids, as some SMSCs use
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 1) {
      setTimeout(() => {
        const now = new Date();
        const d = now.toISOString().replace(/[-T:]/g, '').slice(2, 12);
        session.deliver_sm({
          source_addr: pdu.destination_addr,
          destination_addr: pdu.source_addr,
          esm_class: 4,
          short_message: `id:${id} sub:001 dlvrd:001 submit date:${d} done date:${d} stat:DELIVRD err:000 text:`,
          receipted_message_id: id,
          message_state: 2,
        }, (resp) => { if (resp.command_status === 0) stats.receipts_acked++; });
        stats.receipts_sent++;
      }, 20);
    }
  });
  session.on('error', () => {});
});
server.listen(Number(port), '127.0.0.1');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(stats));
}).listen(Number(httpPort), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
