// query_sm, cancel_sm and replace_sm from the npm package `smpp`, across two
// gateway nodes: messages are submitted on node 1 and queried, cancelled and
// replaced on node 2 (and the other way round).
//   node node_control.js PORT1 PORT2 SYSTEM_ID PASSWORD OTHER_ID OTHER_PASSWORD
// Prints one JSON line with what it saw; exits 1 with the reasons when a
// check fails.
const path = require('path');
const smpp = require(path.join(__dirname, '../../.cache/node/node_modules/smpp'));
const [port1, port2, systemId, password, otherId, otherPassword] = process.argv.slice(2);

const failures = [];
const seen = {};
const check = (ok, what) => { if (!ok) failures.push(what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
setTimeout(() => { console.log(JSON.stringify({ failures: [...failures, 'timeout'], seen })); process.exit(1); }, 110000);

const receipts = {};  // message id -> receipt text
function open(port, sid, pw, kind) {
  return new Promise((resolve, reject) => {
    const s = smpp.connect({ url: `smpp://127.0.0.1:${port}`, auto_enquire_link_period: 10000 });
    s.on('error', (e) => reject(e));
    s.on('deliver_sm', (pdu) => {
      const sm = pdu.short_message;
      const text = Buffer.isBuffer(sm) ? sm.toString() : (sm && sm.message !== undefined ? String(sm.message) : String(sm));
      const m = /id:(\S+)/.exec(text);
      const id = pdu.receipted_message_id || (m && m[1]);
      if (id) receipts[id] = text;
      s.send(pdu.response());
    });
    s[kind]({ system_id: sid, password: pw }, (pdu) => {
      if (pdu.command_status !== 0) reject(new Error(`bind ${sid} status=${pdu.command_status}`));
      else resolve(s);
    });
  });
}
const call = (s, op, params) => new Promise((resolve) => s[op](params, (pdu) => resolve(pdu)));

async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) { failures.push('gave up waiting: ' + what); return null; }
    await sleep(200);
  }
}

// npm smpp reads an SMPP time into a Date: a parse by a decoder we did not
// write. A final date must be a real time, and now-ish.
const recentDate = (v) => {
  const t = v instanceof Date ? v.getTime() : NaN;
  return !Number.isNaN(t) && Math.abs(Date.now() - t) < 5 * 60 * 1000;
};
const query = (s, id) => call(s, 'query_sm', { message_id: id, source_addr: '12345' });

async function main() {
  const s1 = await open(port1, systemId, password, 'bind_transceiver');
  const s2 = await open(port2, systemId, password, 'bind_transceiver');
  const other = await open(port2, otherId, otherPassword, 'bind_transmitter');

  const later = '000000000015000R';  // 15 s from now, SMPP relative time
  const submit = async (dest, text, schedule) => {
    const r = await call(s1, 'submit_sm', {
      source_addr: '12345', destination_addr: dest, short_message: text,
      registered_delivery: 1, schedule_delivery_time: schedule || '',
    });
    check(r.command_status === 0, `submit to ${dest}: status ${r.command_status}`);
    return r.message_id;
  };
  const a = await submit('447700000001', 'cancel me', later);
  const b = await submit('447700000002', 'original text', later);
  const c = await submit('447700000003', 'right away', '');
  Object.assign(seen, { a, b, c });

  // A scheduled message is known on the other node as waiting (ENROUTE).
  const qa = await until('query_sm(A) on node 2', async () => {
    const r = await query(s2, a);
    return r.command_status === 0 ? r : null;
  }, 10000);
  seen.query_a_waiting = qa && { status: qa.command_status, state: qa.message_state, final_date: qa.final_date };
  check(qa && qa.message_state === 1, 'A should be ENROUTE (1) while it waits');
  check(qa && !qa.final_date, 'A has no final date while it waits');

  // Another customer learns nothing of it.
  const qo = await call(other, 'query_sm', { message_id: a, source_addr: '12345' });
  seen.other_query_status = qo.command_status;
  check(qo.command_status === 0x67, `another customer's query_sm: ESME_RQUERYFAIL, got ${qo.command_status}`);
  const co = await call(other, 'cancel_sm', { message_id: a, source_addr: '12345' });
  seen.other_cancel_status = co.command_status;
  check(co.command_status === 0x11, `another customer's cancel_sm: ESME_RCANCELFAIL, got ${co.command_status}`);

  // Cancel A on node 2; once more is too late.
  const ca = await call(s2, 'cancel_sm', { message_id: a, source_addr: '12345', destination_addr: '447700000001' });
  seen.cancel_a = ca.command_status;
  check(ca.command_status === 0, `cancel_sm(A): ESME_ROK, got ${ca.command_status}`);
  const ca2 = await call(s2, 'cancel_sm', { message_id: a, source_addr: '12345' });
  seen.cancel_a_again = ca2.command_status;
  check(ca2.command_status === 0x11, `second cancel_sm(A): ESME_RCANCELFAIL, got ${ca2.command_status}`);
  // Node 1 learns it from Kafka: DELETED, with a final date.
  const qa1 = await until('query_sm(A) on node 1 says DELETED', async () => {
    const r = await query(s1, a);
    return r.command_status === 0 && r.message_state === 4 ? r : null;
  }, 10000);
  seen.query_a_cancelled = qa1 && { state: qa1.message_state, final_date: qa1.final_date };
  check(qa1 && recentDate(qa1.final_date), 'a cancelled message has a final_date');

  // Replace B's text on node 2 (waits on node 2's view knowing B first).
  await until('query_sm(B) on node 2', async () => (await query(s2, b)).command_status === 0, 10000);
  const rb = await call(s2, 'replace_sm', {
    message_id: b, source_addr: '12345', short_message: 'replaced text', registered_delivery: 1,
  });
  seen.replace_b = rb.command_status;
  check(rb.command_status === 0, `replace_sm(B): ESME_ROK, got ${rb.command_status}`);

  // C went at once: delivered, then too late to cancel or replace.
  const qc = await until('query_sm(C) says DELIVERED', async () => {
    const r = await query(s2, c);
    return r.command_status === 0 && r.message_state === 2 ? r : null;
  }, 20000);
  seen.query_c = qc && { state: qc.message_state, final_date: qc.final_date, error_code: qc.error_code };
  check(qc && recentDate(qc.final_date), 'a delivered message has a final_date');
  const cc = await call(s1, 'cancel_sm', { message_id: c, source_addr: '12345' });
  seen.cancel_c = cc.command_status;
  check(cc.command_status === 0x11, `cancel_sm of a delivered message: ESME_RCANCELFAIL, got ${cc.command_status}`);
  const rc = await call(s1, 'replace_sm', { message_id: c, source_addr: '12345', short_message: 'x' });
  seen.replace_c = rc.command_status;
  check(rc.command_status === 0x13, `replace_sm of a delivered message: ESME_RREPLACEFAIL, got ${rc.command_status}`);
  const qn = await query(s1, '0123456789abcdef0123456789abcdef');
  seen.query_unknown = qn.command_status;
  check(qn.command_status === 0x67, `query_sm of an unknown id: ESME_RQUERYFAIL, got ${qn.command_status}`);

  // Queued at the sender behind a provider paced at 1 message/s: the last of
  // fourteen is cancelled while it waits in the sender's queue (about 13 s: a
  // loaded CI machine once took 4 s to pass a cancel on), and the sender
  // drops it and records it DELETED. One destination for all fourteen: the
  // provider's topic is keyed by destination, so they share a partition and
  // leave in order. (With one destination each the partitions were read in
  // any order, and the last one submitted was sometimes the first one sent.)
  const queued = [];
  for (let i = 1; i <= 14; i++) queued.push(await submit('447800000001', `queued ${i}`, ''));
  seen.queued = queued;
  const last = queued[13];
  const thirteenth = queued[12];
  // The thirteenth gets a validity of 1 s by replace_sm, which passes while
  // it waits its turn (about 12 s; a loaded machine's views of sms.status
  // have lagged seconds behind): the sender must let it expire, not send it.
  await until('query_sm(thirteenth queued) on node 2', async () => (await query(s2, thirteenth)).command_status === 0, 10000);
  const r13 = await call(s2, 'replace_sm', {
    message_id: thirteenth, source_addr: '12345', short_message: 'queued 13 replaced',
    validity_period: '000000000001000R', registered_delivery: 1,
  });
  seen.replace_queued_validity = r13.command_status;
  check(r13.command_status === 0, `replace_sm(thirteenth queued, validity 1 s): ESME_ROK, got ${r13.command_status}`);
  await until('query_sm(last queued) on node 2', async () => (await query(s2, last)).command_status === 0, 10000);
  const before = await query(s2, last);
  seen.query_last_before_cancel = { status: before.command_status, state: before.message_state };
  const cq = await call(s2, 'cancel_sm', { message_id: last, source_addr: '12345' });
  seen.cancel_queued = cq.command_status;
  check(cq.command_status === 0, `cancel_sm of a queued message: ESME_ROK, got ${cq.command_status}`);
  await until('the receipt of the thirteenth queued message', async () => receipts[thirteenth] !== undefined, 50000);
  const ql = await until('query_sm(last queued) says DELETED', async () => {
    const r = await query(s1, last);
    return r.command_status === 0 && r.message_state === 4 ? r : null;
  }, 10000);
  seen.query_queued_cancelled = ql && { state: ql.message_state };
  seen.receipt_thirteenth = receipts[thirteenth];
  check(/stat:EXPIRED/.test(receipts[thirteenth] || ''), `the thirteenth queued message expired: ${receipts[thirteenth]}`);

  // B leaves at its time with the new text; A never does.
  await until('the receipt of B', async () => receipts[b] !== undefined, 40000);
  await sleep(3000);
  seen.receipt_b = receipts[b];
  check(/text:replaced text/.test(receipts[b] || ''), `B reached the provider with the new text: ${receipts[b]}`);
  seen.receipt_a = receipts[a] || null;
  check(receipts[a] === undefined, 'A was cancelled yet a receipt came');
  check(receipts[c] !== undefined, 'C has its receipt');
  check(receipts[last] === undefined, 'the cancelled queued message got a receipt');

  for (const s of [s1, s2, other]) s.close();
  console.log(JSON.stringify({ failures, seen }));
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => { console.log(JSON.stringify({ failures: [...failures, String(e)], seen })); process.exit(1); });
