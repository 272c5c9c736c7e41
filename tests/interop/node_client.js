// The npm package `smpp` as a customer: bind_transceiver, one submit_sm, unbind.
const path = require('path');
const smpp = require(path.join(__dirname, '../../.cache/node/node_modules/smpp'));
const [port, systemId, password] = process.argv.slice(2);
const session = smpp.connect({ url: `smpp://127.0.0.1:${port}`, auto_enquire_link_period: 10000 });
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('timeout'), 20000);
session.on('error', (e) => fail('error ' + e));
session.bind_transceiver({ system_id: systemId, password }, (pdu) => {
  if (pdu.command_status !== 0) fail('bind status=' + pdu.command_status);
  session.submit_sm({ destination_addr: '447900000001', source_addr: '12345', short_message: 'hello from node' }, (r) => {
    console.log(`submit_sm_resp status=${r.command_status} id=${r.message_id}`);
    session.unbind(() => { session.close(); process.exit(r.command_status === 0 ? 0 : 1); });
  });
});
