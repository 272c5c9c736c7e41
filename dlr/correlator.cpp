#include "dlr/correlator.h"

#include <algorithm>

#include "common/log.h"
#include "schema/receipts.h"
#include "smpp/receipt.h"

namespace sluice::dlr {

namespace {
// query_sm_resp's error_code is one octet; a receipt's err: field is three
// decimal digits by convention. Anything else (hex, letters) reads as 0
// rather than as a wrong code.
uint32_t network_error_code(std::string_view err) {
  if (err.empty() || err.size() > 3) return 0;
  uint32_t v = 0;
  for (char c : err) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return std::min<uint32_t>(v, 255);
}

constexpr int kJoin = 0, kParts = 1;
constexpr uint32_t kTlvReceiptedMessageId = 0x001E, kTlvMessagePayload = 0x0424,
                   kTlvMessageState = 0x0427;
constexpr uint32_t kEsmReceipt = 0x04, kEsmIntermediate = 0x20;
constexpr uint32_t kIntermediateNotification = 0x10;  // registered_delivery bit 4
constexpr int64_t kDay = 24LL * 3600 * 1000;

std::optional<std::string> tlv(const rec::ProviderDeliver& pd, uint32_t tag) {
  for (const auto& t : pd.tlvs())
    if (t.tag() == tag) return t.value();
  return std::nullopt;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == '\0' || s.front() == ' ')) s.remove_prefix(1);
  return std::string(s);
}

std::string hex3(uint32_t v) {
  static const char* digits = "0123456789ABCDEF";
  v &= 0xFFF;
  return {digits[(v >> 8) & 0xF], digits[(v >> 4) & 0xF], digits[v & 0xF]};
}

std::string hex8(uint32_t v) {
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += "0123456789ABCDEF"[(v >> shift) & 0xF];
  return s;
}

bool final_state(uint32_t s) {
  return s != schema::kStateEnroute && s != schema::kStateAccepted;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// Candidates under one key are tried in this order: the same spelling first,
// then the usual SMSC habit (hex answer, decimal receipt), then the reverse.
constexpr pid::Relation kPreference[] = {pid::Relation::same, pid::Relation::hex_to_dec,
                                         pid::Relation::dec_to_hex};

uint64_t join_hash(std::string_view join_key) {
  return std::hash<std::string_view>{}(join_key);
}

}  // namespace

std::string sent_state_key(std::string_view join_key, std::string_view spelling) {
  std::string k = "s|";
  k += join_key;
  k += '|';
  k += spelling;
  return k;
}

std::string held_state_key(std::string_view join_key, std::string_view spelling) {
  std::string k = "r|";
  k += join_key;
  k += '|';
  k += spelling;
  return k;
}

int severity(uint32_t s) {
  switch (s) {
    case schema::kStateDelivered:
      return 0;
    case schema::kStateEnroute:
    case schema::kStateAccepted:
      return 1;
    case schema::kStateExpired:
      return 3;
    case schema::kStateDeleted:
      return 4;
    case schema::kStateUndeliverable:
      return 5;
    case schema::kStateRejected:
      return 6;
    default:
      return 2;  // UNKNOWN
  }
}

ReceiptInfo receipt_info(const rec::ProviderDeliver& pd) {
  ReceiptInfo ri;
  std::string text = pd.short_message();
  if (text.empty())
    if (auto p = tlv(pd, kTlvMessagePayload)) text = *p;
  auto parsed = smpp::parse_receipt(text);

  // The TLV is what the SMSC means as the id; the text's id is a fallback
  // (and often written differently, e.g. in decimal).
  ri.id = trimmed(pd.provider_message_id());
  if (ri.id.empty())
    if (auto t = tlv(pd, kTlvReceiptedMessageId)) ri.id = trimmed(*t);
  if (ri.id.empty() && parsed) ri.id = trimmed(parsed->id);

  if (auto t = tlv(pd, kTlvMessageState); t && !t->empty() && (*t)[0] != 0)
    ri.state = static_cast<uint8_t>((*t)[0]);
  else if (pd.message_state() != 0)
    ri.state = pd.message_state();
  else if (parsed && !parsed->stat.empty())
    ri.state = smpp::message_state_of(parsed->stat);
  else if (!pd.stat().empty())
    ri.state = smpp::message_state_of(pd.stat());
  if (ri.state > schema::kStateRejected) ri.state = schema::kStateUnknown;

  ri.err = parsed && !parsed->err.empty() ? parsed->err : pd.err();
  if (ri.err.size() > 3) ri.err = ri.err.substr(ri.err.size() - 3);
  if (ri.err.empty()) ri.err = "000";
  if (parsed) ri.text = parsed->text;
  ri.valid = !ri.id.empty() && ri.state != 0;
  ri.final = final_state(ri.state);
  return ri;
}

DlrCorrelator::DlrCorrelator(CorrelatorOptions opts, SnapshotFn snapshot, DlrMetrics* metrics)
    : opts_(opts), snapshot_(std::move(snapshot)), metrics_(metrics) {}

bool DlrCorrelator::is_join_key(std::string_view k) {
  return starts_with(k, "s|") || starts_with(k, "r|");
}
bool DlrCorrelator::is_parts_key(std::string_view k) {
  return starts_with(k, "p|") || starts_with(k, "g|");
}

std::shared_ptr<const config::Snapshot> DlrCorrelator::snapshot() const {
  return snapshot_ ? snapshot_() : nullptr;
}

void DlrCorrelator::count(const char* result) {
  if (metrics_) metrics_->record(result);
}

std::optional<pid::Relation> DlrCorrelator::convention(int64_t provider_id) const {
  auto it = evidence_.find(provider_id);
  if (it == evidence_.end()) return std::nullopt;
  int64_t total = 0, best_n = 0;
  pid::Relation best = pid::Relation::none;
  for (auto [rel, n] : it->second.counts) {
    total += n;
    if (n > best_n) best_n = n, best = rel;
  }
  if (best_n >= opts_.learn_min && best_n * 20 >= total * 19) return best;
  return std::nullopt;
}

void DlrCorrelator::learn(int64_t provider_id, pid::Relation rel) {
  auto& counts = evidence_[provider_id].counts;
  int64_t total = ++counts[rel];
  for (auto& [r, n] : counts)
    if (r != rel) total += n;
  // Old evidence fades, so that a provider that changes its habit is relearnt.
  if (total > 10000)
    for (auto& [r, n] : counts) n /= 2;
}

bool DlrCorrelator::acceptable(pid::Relation rel, std::optional<pid::Relation> conv,
                               int64_t waited) const {
  if (rel == pid::Relation::none) return false;
  if (conv) return rel == *conv;
  return rel == pid::Relation::same || waited >= opts_.cross_wait.count();
}

// ---------------------------------------------------------------------------
// Bookkeeping

DlrCorrelator::Entry* DlrCorrelator::find(JoinPartition& jp, const std::string& state_key) {
  auto it = jp.entries.find(state_key);
  return it == jp.entries.end() ? nullptr : &it->second;
}

void DlrCorrelator::reschedule_group(int32_t partition, const std::string& node_key, Group& g,
                                     int64_t when) {
  if (g.wake == WakeHeap::kNone) g.wake = wakes_.add(kParts, partition, &node_key);
  wakes_.schedule(g.wake, when);
}

DlrCorrelator::Entry& DlrCorrelator::insert(int32_t partition, const std::string& state_key,
                                            Entry e, Output& out, int64_t now) {
  (void)out;
  auto& jp = join_[partition];
  int64_t when = e.expire;
  if (e.kind == Kind::held) {
    // A first look for a differently spelt Sent once cross_wait is over; a
    // restored receipt already past it looks at once, not at its expiry.
    int64_t cross = e.held_since + opts_.cross_wait.count();
    if (cross < e.expire) when = std::max(cross, now);
  }
  auto [it, fresh] = jp.entries.try_emplace(state_key);
  // A replaced entry keeps its slot: the node, and so the key, stay.
  WakeHeap::Id id = fresh ? wakes_.add(kJoin, partition, &it->first) : it->second.wake;
  it->second = std::move(e);
  it->second.wake = id;
  if (fresh) {
    jp.by_join[it->second.join_key].push_back(state_key);
    ++count_;
  }
  wakes_.schedule(id, when);
  return it->second;
}

void DlrCorrelator::erase(int32_t partition, JoinPartition& jp, const std::string& state_key,
                          Output& out, bool write) {
  auto it = jp.entries.find(state_key);
  if (it == jp.entries.end()) return;
  if (it->second.wake != WakeHeap::kNone) wakes_.remove(it->second.wake);
  auto bj = jp.by_join.find(it->second.join_key);
  if (bj != jp.by_join.end()) {
    std::erase(bj->second, state_key);
    if (bj->second.empty()) jp.by_join.erase(bj);
  }
  jp.entries.erase(it);
  --count_;
  if (write) out.state.push_back({partition, state_key, std::nullopt});
}

void DlrCorrelator::persist(int32_t partition, const std::string& state_key, const Entry& e,
                            Output& out) {
  out.state.push_back({partition, state_key, e.st});  // shared, not copied
}

// ---------------------------------------------------------------------------
// Join

std::vector<DlrCorrelator::Choice> DlrCorrelator::candidates(JoinPartition& jp,
                                                             const std::string& join_key,
                                                             const pid::Parsed& receipt_id,
                                                             bool done) {
  std::vector<Choice> out;
  if (!done) {
    if (auto bj = jp.by_join.find(join_key); bj != jp.by_join.end())
      for (const auto& sk : bj->second) {
        const Entry* e = find(jp, sk);
        if (!e || e->kind != Kind::sent) continue;
        auto rel = pid::relation(e->id, receipt_id);
        if (rel != pid::Relation::none) out.push_back({sk, rel, false});
      }
    return out;
  }
  jp.done_by_join.each(join_hash(join_key), [&](const DoneMark* d) {
    if (d->join_key() != join_key) return true;
    std::string spelling(d->spelling());
    bool number = d->kind == pid::Kind::decimal || d->kind == pid::Kind::hex;
    pid::Parsed id{d->kind, number ? spelling : std::string(), spelling};
    auto rel = pid::relation(id, receipt_id);
    if (rel != pid::Relation::none) out.push_back({d->state_key, rel, true});
    return true;
  });
  return out;
}

std::optional<DlrCorrelator::Choice> DlrCorrelator::choose(JoinPartition& jp,
                                                           const std::string& join_key,
                                                           const pid::Parsed& receipt_id,
                                                           int64_t provider_id, int64_t waited) {
  auto conv = convention(provider_id);
  // A Sent still waiting comes before a done one: when two messages share a
  // join key (one number spelt in hex and in decimal), a receipt that fits the
  // waiting one is its receipt, not the done one's duplicate.
  for (bool done : {false, true}) {
    auto cands = candidates(jp, join_key, receipt_id, done);
    for (auto want : kPreference) {
      if (!acceptable(want, conv, waited)) continue;
      for (auto& c : cands)
        if (c.rel == want) return std::move(c);
    }
  }
  return std::nullopt;
}

const DlrCorrelator::DoneMark* DlrCorrelator::find_done(const JoinPartition& jp,
                                                        std::string_view join_key,
                                                        std::string_view state_key) {
  const DoneMark* found = nullptr;
  jp.done_by_join.each(join_hash(join_key), [&](const DoneMark* d) {
    if (d->state_key != state_key) return true;
    found = d;
    return false;
  });
  return found;
}

const DlrCorrelator::DoneMark* DlrCorrelator::first_done(const JoinPartition& jp) {
  const DoneMark* a = jp.done.empty() ? nullptr : &jp.done.front();
  const DoneMark* b = jp.done_late.empty() ? nullptr : &jp.done_late.begin()->second;
  if (!a || !b) return a ? a : b;
  return b->expire < a->expire || (b->expire == a->expire && b->seq < a->seq) ? b : a;
}

void DlrCorrelator::mark_done(JoinPartition& jp, DoneMark m) {
  if (find_done(jp, m.join_key(), m.state_key)) return;
  uint64_t h = join_hash(m.join_key());  // before the string moves
  m.seq = done_seq_++;
  const DoneMark* d;
  if (jp.done.empty() || jp.done.back().expire <= m.expire) {
    d = &jp.done.emplace_back(std::move(m));
  } else {
    int64_t expire = m.expire;
    d = &jp.done_late.emplace(expire, std::move(m))->second;
  }
  jp.done_by_join.insert(h, d);
  ++count_;
}

std::optional<std::pair<int32_t, int64_t>> DlrCorrelator::oldest_done() const {
  std::optional<std::pair<int32_t, int64_t>> best;
  for (const auto& [p, jp] : join_)
    if (const DoneMark* d = first_done(jp); d && (!best || d->expire < best->second))
      best = {p, d->expire};
  return best;
}

void DlrCorrelator::forget_done(int32_t partition, Output& out, bool evicting) {
  auto& jp = join_[partition];
  const DoneMark* first = first_done(jp);
  if (!first) return;
  bool in_order = !jp.done.empty() && first == &jp.done.front();
  DoneMark& d = in_order ? jp.done.front() : jp.done_late.begin()->second;
  jp.done_by_join.erase(join_hash(d.join_key()), &d);
  out.state.push_back({partition, std::move(d.state_key), std::nullopt});
  if (evicting && metrics_) metrics_->evicted();
  if (in_order)
    jp.done.pop_front();
  else
    jp.done_late.erase(jp.done_late.begin());
  --count_;
}

Output DlrCorrelator::on_sent(int32_t partition, std::string_view key, const rec::Sent& sent,
                              int64_t now) {
  return handle_sent(partition, key, sent, nullptr, now);
}

Output DlrCorrelator::on_sent(int32_t partition, std::string_view key, rec::Sent&& sent,
                              int64_t now) {
  return handle_sent(partition, key, sent, &sent, now);
}

Output DlrCorrelator::handle_sent(int32_t partition, std::string_view key, const rec::Sent& sent,
                                  rec::Sent* own, int64_t now) {
  Output out;
  if (sent.schema_version() > 1) {
    log::error("Sent record of an unknown schema version; skipped",
               {{"schema_version", std::to_string(sent.schema_version())}});
    count("invalid");
    return out;
  }
  if (sent.command_status() != 0) {
    // The provider refused the submit: no receipt will ever come for it. The
    // sender writes it once; a copy under another key would answer twice.
    if (!key.empty() &&
        key != pid::sent_keys(sent.provider_id(), sent.provider_message_id()).front()) {
      count("duplicate");
      return out;
    }
    Outcome o;
    o.state = schema::kStateRejected;
    o.err = hex3(sent.command_status());
    o.done_at = sent.sent_at_ms() > 0 ? sent.sent_at_ms() : now;
    o.reason = "provider refused the submit: command_status " + hex8(sent.command_status());
    finish(sent, o, out);
    count("ok");
    return out;
  }

  pid::Parsed id = pid::parse(sent.provider_message_id());
  // pid::sent_keys, without parsing the id a second time.
  std::vector<std::string> keys;
  for (const auto& f : pid::forms(id)) keys.push_back(pid::join_key(sent.provider_id(), f));
  std::string jkey = key.empty() ? keys.front() : std::string(key);
  bool primary = jkey == keys.front();
  if (std::find(keys.begin(), keys.end(), jkey) == keys.end())
    log::warn(
        "Sent record under a key its id does not give; the sender's normaliser differs from the "
        "DLR's",
        {{"key", jkey}, {"provider_message_id", sent.provider_message_id()}});

  if (opts_.publish_status && primary && !sent.id().empty()) {
    // With the provider now: too late for cancel_sm, and query_sm says so.
    rec::Status st;
    st.set_schema_version(1);
    st.set_id(sent.id());
    st.set_message_state(schema::kStateEnroute);
    st.set_updated_at_ms(sent.sent_at_ms() > 0 ? sent.sent_at_ms() : now);
    st.set_where("sent");
    st.set_customer_id(sent.customer_id());
    st.set_source_addr(sent.source().addr());
    st.set_dest_addr(sent.dest().addr());
    out.statuses.push_back(std::move(st));
  }

  // Once a provider's habit is known, the copy that can never be matched is
  // not kept: it would only cost memory and risk a wrong match.
  auto conv = convention(sent.provider_id());
  if (conv && keys.size() > 1) {
    bool useless =
        primary ? *conv == pid::Relation::hex_to_dec : *conv != pid::Relation::hex_to_dec;
    if (useless) {
      count("ok");
      return out;
    }
  }

  auto& jp = join_[partition];
  std::string skey = sent_state_key(jkey, id.spelling);
  if (find(jp, skey) || find_done(jp, jkey, skey)) {
    count("duplicate");  // a replay after a restart, or the sender's retry
    return out;
  }
  Entry e;
  e.kind = Kind::sent;
  e.join_key = jkey;
  e.id = id;
  e.primary = primary;
  int64_t expire = now + opts_.max_window.count();
  if (sent.expire_at_ms() > 0)
    expire = std::min(expire, sent.expire_at_ms() + opts_.late_grace.count());
  e.expire = std::max(expire, now + opts_.unmatched_hold.count());
  auto st = std::make_shared<rec::DlrState>();
  st->set_schema_version(1);
  if (own)
    *st->mutable_sent() = std::move(*own);  // `sent` is empty from here on
  else
    *st->mutable_sent() = sent;
  st->set_expire_at_ms(e.expire);
  e.st = std::move(st);
  persist(partition, skey, insert(partition, skey, std::move(e), out, now), out);

  // Receipts that came first, best relation first.
  std::vector<std::pair<std::string, pid::Relation>> held;
  if (auto bj = jp.by_join.find(jkey); bj != jp.by_join.end())
    for (const auto& hk : bj->second)
      if (const Entry* h = find(jp, hk); h && h->kind == Kind::held)
        held.push_back({hk, pid::relation(id, h->id)});
  std::stable_sort(held.begin(), held.end(), [](const auto& a, const auto& b) {
    auto rank = [](pid::Relation r) { return r == pid::Relation::none ? 9 : static_cast<int>(r); };
    return rank(a.second) < rank(b.second);
  });
  for (const auto& [hk, rel] : held) {
    Entry* h = find(jp, hk);
    const Entry* s = find(jp, skey);
    if (!h || !s) break;  // matched: the Sent became a done mark
    if (!acceptable(rel, conv, now - h->held_since)) continue;
    auto hst = h->st;  // outlives the entry's erasure below
    const rec::ProviderDeliver& pd = hst->early_receipt();
    ReceiptInfo ri = receipt_info(pd);
    match(partition, jp, skey, ri, pd, rel, out, now);
    erase(partition, jp, hk, out, true);
  }
  count("ok");
  make_room(out, now);
  return out;
}

Output DlrCorrelator::on_receipt(int32_t partition, std::string_view key,
                                 const rec::ProviderDeliver& pd, int64_t now) {
  return handle_receipt(partition, key, pd, nullptr, now);
}

Output DlrCorrelator::on_receipt(int32_t partition, std::string_view key, rec::ProviderDeliver&& pd,
                                 int64_t now) {
  return handle_receipt(partition, key, pd, &pd, now);
}

Output DlrCorrelator::handle_receipt(int32_t partition, std::string_view key,
                                     const rec::ProviderDeliver& pd, rec::ProviderDeliver* own,
                                     int64_t now) {
  Output out;
  ReceiptInfo ri = receipt_info(pd);
  if (pd.schema_version() > 1 || !ri.valid) {
    log::warn("provider receipt without an id or a state; skipped",
              {{"provider_id", std::to_string(pd.provider_id())}, {"id", ri.id}});
    count("invalid");
    return out;
  }
  if (metrics_) metrics_->receipt(schema::stat_text(ri.state));
  std::string jkey = key.empty() ? pid::receipt_key(pd.provider_id(), ri.id) : std::string(key);
  auto& jp = join_[partition];
  pid::Parsed rid = pid::parse(ri.id);
  bool ok;
  if (auto c = choose(jp, jkey, rid, pd.provider_id(), 0))
    ok = !c->done && match(partition, jp, c->state_key, ri, pd, c->rel, out, now);
  else
    ok = hold(partition, jp, jkey, ri, pd, own, out, now);
  count(ok ? "ok" : "duplicate");
  make_room(out, now);
  return out;
}

bool DlrCorrelator::match(int32_t partition, JoinPartition& jp, const std::string& sent_key,
                          const ReceiptInfo& ri, const rec::ProviderDeliver& pd, pid::Relation rel,
                          Output& out, int64_t now) {
  Entry* e = find(jp, sent_key);
  if (!e) return false;
  Outcome o;
  o.state = ri.state;
  o.err = ri.err;
  o.done_at = pd.received_at_ms() > 0 ? pd.received_at_ms() : now;
  o.text = ri.text;
  if (!ri.final) {
    // Intermediate (ENROUTE, ACCEPTD): only for customers who asked for it,
    // and for a message answered as a whole only about its first part.
    const rec::Sent& sent = e->st->sent();
    auto snap = snapshot();
    const config::Customer* c = snap ? snap->customer_by_id(sent.customer_id()) : nullptr;
    bool enabled = c ? c->dlr_enabled : true;
    bool whole = c && c->dlr_per_message && sent.has_concat() && sent.concat().total() > 1;
    if (enabled && (sent.registered_delivery() & kIntermediateNotification) &&
        (!whole || sent.concat().seq() <= 1))
      out.delivers.push_back(receipt_for(sent, o, kEsmIntermediate));
    return true;
  }
  learn(pd.provider_id(), rel);
  // Only what restoring and de-duplicating need stays, for done_linger.
  rec::DlrState done;
  done.set_schema_version(1);
  rec::Sent* slim = done.mutable_sent();
  const rec::Sent& full = e->st->sent();
  slim->set_schema_version(full.schema_version());
  slim->set_id(full.id());
  slim->set_provider_id(full.provider_id());
  slim->set_provider_message_id(full.provider_message_id());
  done.set_done(true);
  DoneMark m;
  m.expire = now + opts_.done_linger.count();
  done.set_expire_at_ms(m.expire);
  out.state.push_back({partition, sent_key, std::move(done)});
  finish(full, o, out);
  m.state_key = sent_key;
  m.join_len = static_cast<uint32_t>(e->join_key.size());
  m.kind = e->id.kind;
  erase(partition, jp, sent_key, out, false);
  mark_done(jp, std::move(m));
  return true;
}

bool DlrCorrelator::hold(int32_t partition, JoinPartition& jp, const std::string& join_key,
                         const ReceiptInfo& ri, const rec::ProviderDeliver& pd,
                         rec::ProviderDeliver* own, Output& out, int64_t now) {
  pid::Parsed id = pid::parse(ri.id);
  std::string hk = held_state_key(join_key, id.spelling);
  int64_t since = now;
  if (Entry* h = find(jp, hk)) {
    // One receipt waits per id: a final stays (a later final is the
    // provider's duplicate), an intermediate gives way to what follows it.
    if (receipt_info(h->st->early_receipt()).final || !ri.final) return false;
    since = h->held_since;
  }
  Entry e;
  e.kind = Kind::held;
  e.join_key = join_key;
  e.id = id;
  e.held_since = since;
  e.expire = now + opts_.unmatched_hold.count();
  auto st = std::make_shared<rec::DlrState>();
  st->set_schema_version(1);
  rec::ProviderDeliver* r = st->mutable_early_receipt();
  if (own)
    *r = std::move(*own);  // `pd` is empty from here on
  else
    *r = pd;
  r->set_provider_message_id(ri.id);
  if (r->received_at_ms() == 0) r->set_received_at_ms(now);
  st->set_expire_at_ms(e.expire);
  e.st = std::move(st);
  persist(partition, hk, insert(partition, hk, std::move(e), out, now), out);
  return true;
}

rec::Deliver DlrCorrelator::receipt_for(const rec::Sent& sent, const Outcome& o,
                                        uint32_t esm_class) const {
  rec::Deliver d;
  d.set_schema_version(1);
  d.set_customer_id(sent.customer_id());
  d.set_is_receipt(true);
  d.set_id(sent.id());
  d.set_message_state(o.state);
  d.set_stat(schema::stat_text(o.state));
  d.set_err(o.err);
  d.set_submitted_at_ms(sent.submitted_at_ms());
  d.set_done_at_ms(o.done_at);
  // A receipt goes back the other way: from the destination to the source.
  *d.mutable_source() = sent.dest();
  *d.mutable_dest() = sent.source();
  d.set_esm_class(esm_class);
  // As schema::internal_receipt: kept a day past the message's own validity.
  int64_t expire = sent.expire_at_ms() > 0 ? sent.expire_at_ms() + kDay
                                           : o.done_at + opts_.deliver_validity.count();
  d.set_expire_at_ms(std::max(expire, o.done_at + kDay));
  d.set_reason(o.reason);
  if (sent.has_concat()) *d.mutable_concat() = sent.concat();
  d.set_text_head(o.text.substr(0, 20));
  return d;
}

void DlrCorrelator::finish(const rec::Sent& sent, const Outcome& o, Output& out) {
  auto snap = snapshot();
  const config::Customer* c = snap ? snap->customer_by_id(sent.customer_id()) : nullptr;
  // An unknown customer still gets its receipt: the gateway, not this stage,
  // decides that nobody can take it.
  bool enabled = c ? c->dlr_enabled : true;
  bool whole = c && c->dlr_per_message && sent.has_concat() && sent.concat().total() > 1 &&
               !sent.concat().group_key().empty();
  if (opts_.publish_status && !sent.id().empty()) {
    rec::Status st;
    st.set_schema_version(1);
    st.set_id(sent.id());
    st.set_message_state(o.state);
    st.set_updated_at_ms(o.done_at);
    st.set_where("final");
    st.set_customer_id(sent.customer_id());
    st.set_final_at_ms(o.done_at);
    st.set_error_code(network_error_code(o.err));
    out.statuses.push_back(std::move(st));
  }
  if (whole) {
    // The parts of one message may sit on other partitions (their provider
    // ids differ): they meet again on sms.dlr-parts, keyed by group key.
    rec::DlrState part;
    part.set_schema_version(1);
    *part.mutable_sent() = sent;
    auto* r = part.mutable_early_receipt();
    r->set_schema_version(1);
    r->set_provider_id(sent.provider_id());
    r->set_is_receipt(true);
    r->set_provider_message_id(sent.provider_message_id());
    r->set_message_state(o.state);
    r->set_stat(schema::stat_text(o.state));
    r->set_err(o.err);
    r->set_received_at_ms(o.done_at);
    r->set_short_message(o.text);
    part.set_done(true);
    out.parts.push_back({sent.concat().group_key(), std::move(part)});
    return;
  }
  if (enabled &&
      schema::wants_receipt(sent.registered_delivery(), o.state == schema::kStateDelivered))
    out.delivers.push_back(receipt_for(sent, o, kEsmReceipt));
}

void DlrCorrelator::expire_join(int32_t partition, const std::string& state_key, Output& out,
                                int64_t now, bool evicting) {
  auto& jp = join_[partition];
  Entry* e = find(jp, state_key);
  if (!e) return;
  if (e->kind == Kind::held) {
    auto st = e->st;  // outlives the entry's erasure below
    const rec::ProviderDeliver& pd = st->early_receipt();
    ReceiptInfo ri = receipt_info(pd);
    if (!evicting) {
      std::string jkey = e->join_key;
      if (auto c = choose(jp, jkey, e->id, pd.provider_id(), now - e->held_since)) {
        if (!c->done) match(partition, jp, c->state_key, ri, pd, c->rel, out, now);
        erase(partition, jp, state_key, out, true);
        return;
      }
      if (now < e->expire) {
        wakes_.schedule(e->wake, e->expire);
        return;
      }
    } else if (metrics_) {
      metrics_->evicted();
    }
    if (metrics_) metrics_->unmatched();
    log::warn("provider receipt matched no submit_sm_resp",
              {{"provider_id", std::to_string(pd.provider_id())},
               {"provider_message_id", ri.id},
               {"stat", schema::stat_text(ri.state)},
               {"partition", std::to_string(partition)}});
    erase(partition, jp, state_key, out, true);
    return;
  }
  if (!evicting && now < e->expire) {
    wakes_.schedule(e->wake, e->expire);
    return;
  }
  if (metrics_) {
    if (evicting) metrics_->evicted();
    if (e->primary) metrics_->no_final_receipt();
  }
  erase(partition, jp, state_key, out, true);
}

// ---------------------------------------------------------------------------
// MO

Output DlrCorrelator::on_mo(const rec::ProviderDeliver& pd, int64_t now) {
  Output out;
  if (pd.schema_version() > 1 || pd.is_receipt()) {
    log::warn("record on the MO topic is not an MO; skipped",
              {{"provider_id", std::to_string(pd.provider_id())}});
    if (metrics_) metrics_->mo("invalid");
    count("invalid");
    return out;
  }
  auto snap = snapshot();
  const config::Customer* c = snap ? snap->owner_of_mo(pd.dest().addr()) : nullptr;
  if (!c) {
    log::warn("MO to a number no customer owns; dropped",
              {{"provider_id", std::to_string(pd.provider_id())}, {"dest", pd.dest().addr()}});
    if (metrics_) metrics_->mo("no_owner");
    count("ok");
    return out;
  }
  rec::Deliver d;
  d.set_schema_version(1);
  d.set_customer_id(c->id);
  d.set_is_receipt(false);
  *d.mutable_source() = pd.source();
  *d.mutable_dest() = pd.dest();
  d.set_esm_class(pd.esm_class());
  d.set_data_coding(pd.data_coding());
  d.set_short_message(pd.short_message());
  *d.mutable_tlvs() = pd.tlvs();
  int64_t at = pd.received_at_ms() > 0 ? pd.received_at_ms() : now;
  d.set_done_at_ms(at);
  d.set_expire_at_ms(at + opts_.deliver_validity.count());
  out.delivers.push_back(std::move(d));
  if (metrics_) metrics_->mo("routed");
  count("ok");
  return out;
}

// ---------------------------------------------------------------------------
// One receipt per multipart message

void DlrCorrelator::persist_part(int32_t partition, const std::string& group_key, uint32_t seq,
                                 const rec::DlrState& st, Output& out) {
  out.state.push_back({partition, "p|" + group_key + "|" + std::to_string(seq), st});
}

Output DlrCorrelator::on_part(int32_t partition, std::string_view group_key,
                              const rec::DlrState& part, int64_t now) {
  Output out;
  if (part.schema_version() > 1 || !part.has_sent() || !part.has_early_receipt() ||
      !part.sent().has_concat()) {
    log::warn("sms.dlr-parts record without its Sent or outcome; skipped");
    count("invalid");
    return out;
  }
  std::string gk = group_key.empty() ? part.sent().concat().group_key() : std::string(group_key);
  auto git = parts_[partition].groups.try_emplace(gk).first;
  Group& g = git->second;
  if (g.done) {
    count("duplicate");
    return out;
  }
  uint32_t seq = part.sent().concat().seq();
  bool fresh = !g.parts.contains(seq);
  if (fresh) {
    g.total = std::max(g.total, part.sent().concat().total());
    int64_t deadline = now + opts_.max_window.count();
    if (part.sent().expire_at_ms() > 0)
      deadline = std::max(part.sent().expire_at_ms() + opts_.late_grace.count(),
                          now + opts_.unmatched_hold.count());
    g.deadline = std::max(g.deadline, deadline);
    rec::DlrState st = part;
    st.set_expire_at_ms(g.deadline);
    persist_part(partition, gk, seq, st, out);
    g.parts.emplace(seq, std::move(st));
    ++count_;
  }
  // Also when not fresh: a replay after a crash between the receipt going
  // out and the group being marked done must still answer the customer.
  if (g.total > 0 && g.parts.size() >= g.total)
    complete(partition, git->first, g, out, now);
  else
    reschedule_group(partition, git->first, g, g.deadline);
  count(fresh ? "ok" : "duplicate");
  make_room(out, now);
  return out;
}

void DlrCorrelator::complete(int32_t partition, const std::string& group_key, Group& g, Output& out,
                             int64_t now) {
  if (!g.parts.empty()) {
    const rec::DlrState& first = g.parts.begin()->second;
    Outcome o;
    int worst = -1;
    for (const auto& [seq, st] : g.parts) {
      const auto& r = st.early_receipt();
      if (severity(r.message_state()) > worst) {
        worst = severity(r.message_state());
        o.state = r.message_state();
        o.err = r.err();
      }
      o.done_at = std::max(o.done_at, r.received_at_ms());
    }
    size_t missing = g.total > g.parts.size() ? g.total - g.parts.size() : 0;
    if (missing > 0) {
      // The validity ended (or the bound was hit) without a final receipt for
      // some part: nobody knows whether those parts arrived.
      if (severity(schema::kStateUnknown) > worst) {
        o.state = schema::kStateUnknown;
        o.err = "000";
      }
      o.reason = "no final receipt for " + std::to_string(missing) + " of " +
                 std::to_string(g.total) + " parts";
      o.done_at = std::max(o.done_at, now);
    }
    if (o.done_at == 0) o.done_at = now;
    o.text = first.early_receipt().short_message();
    rec::Sent sent = first.sent();
    // seq 0: the whole message, not one part of it.
    sent.mutable_concat()->set_seq(0);
    auto snap = snapshot();
    const config::Customer* c = snap ? snap->customer_by_id(sent.customer_id()) : nullptr;
    bool enabled = c ? c->dlr_enabled : true;
    if (enabled &&
        schema::wants_receipt(sent.registered_delivery(), o.state == schema::kStateDelivered))
      out.delivers.push_back(receipt_for(sent, o, kEsmReceipt));
    for (const auto& [seq, st] : g.parts)
      out.state.push_back({partition, "p|" + group_key + "|" + std::to_string(seq), std::nullopt});
    count_ -= g.parts.size();
    g.parts.clear();
  }
  g.done = true;
  ++count_;
  int64_t until = now + opts_.done_linger.count();
  rec::DlrState marker;
  marker.set_schema_version(1);
  marker.set_done(true);
  marker.set_expire_at_ms(until);
  out.state.push_back({partition, "g|" + group_key, marker});
  reschedule_group(partition, group_key, g, until);
}

void DlrCorrelator::expire_group(int32_t partition, const std::string& group_key, Output& out,
                                 int64_t now) {
  auto& pp = parts_[partition];
  auto it = pp.groups.find(group_key);
  if (it == pp.groups.end()) return;
  Group& g = it->second;
  if (!g.done) {
    complete(partition, it->first, g, out, now);
    return;
  }
  if (g.wake != WakeHeap::kNone) wakes_.remove(g.wake);
  out.state.push_back({partition, "g|" + group_key, std::nullopt});
  --count_;
  pp.groups.erase(it);
}

// ---------------------------------------------------------------------------
// Time

void DlrCorrelator::wake(const WakeHeap::Due& w, Output& out, int64_t now, bool evicting) {
  // Spent before the handler runs; every handler either removes its entry or
  // schedules a new wake-up, so nothing is left without one. The key is
  // copied: the handler may erase the node that holds it.
  wakes_.spend(w.id);
  const std::string k = *w.key;
  int32_t p = w.partition;
  if (w.domain == kJoin) {
    expire_join(p, k, out, now, evicting);
  } else {
    auto& pp = parts_[p];
    auto it = pp.groups.find(k);
    if (it != pp.groups.end() && !it->second.done && !evicting && now < it->second.deadline) {
      reschedule_group(p, it->first, it->second, it->second.deadline);
    } else {
      if (evicting && metrics_) metrics_->evicted();
      expire_group(p, k, out, now);
    }
  }
}

Output DlrCorrelator::tick(int64_t now) {
  Output out;
  for (auto& [p, jp] : join_)
    for (const DoneMark* d = first_done(jp); d && d->expire <= now; d = first_done(jp))
      forget_done(p, out, false);
  while (auto w = wakes_.top()) {
    if (w->when > now) break;
    wake(*w, out, now, false);
  }
  make_room(out, now);
  return out;
}

void DlrCorrelator::make_room(Output& out, int64_t now) {
  // The nearest deadline goes first, a done mark or a live entry.
  while (count_ > opts_.max_entries) {
    auto done = oldest_done();
    auto w = wakes_.top();
    if (done && (!w || done->second <= w->when)) {
      forget_done(done->first, out, true);
      continue;
    }
    if (!w) break;
    wake(*w, out, now, true);
  }
}

// ---------------------------------------------------------------------------
// Partitions coming and going

bool DlrCorrelator::restore(Domain domain, int32_t partition, std::string_view key,
                            const rec::DlrState& st, int64_t now) {
  std::string k(key);
  Output unused;
  if (domain == Domain::join) {
    if (!is_join_key(k)) return false;
    Entry e;
    std::string spelling;
    if (k[0] == 's') {
      if (!st.has_sent()) return false;
      e.kind = Kind::sent;
      e.id = pid::parse(st.sent().provider_message_id());
    } else {
      if (!st.has_early_receipt()) return false;
      e.kind = Kind::held;
      e.id = pid::parse(receipt_info(st.early_receipt()).id);
      e.held_since =
          st.early_receipt().received_at_ms() > 0 ? st.early_receipt().received_at_ms() : now;
    }
    std::string suffix = "|" + e.id.spelling;
    if (k.size() <= 2 + suffix.size() ||
        k.compare(k.size() - suffix.size(), suffix.size(), suffix) != 0)
      return false;
    e.join_key = k.substr(2, k.size() - 2 - suffix.size());
    auto& jp = join_[partition];
    if (find_done(jp, e.join_key, k)) return true;  // already known as done
    if (e.kind == Kind::sent && st.done()) {
      erase(partition, jp, k, unused, false);  // a live entry under the key is over
      DoneMark m;
      m.expire = st.expire_at_ms() > 0 ? st.expire_at_ms() : now + opts_.done_linger.count();
      m.state_key = std::move(k);
      m.join_len = static_cast<uint32_t>(e.join_key.size());
      m.kind = e.id.kind;
      mark_done(jp, std::move(m));
      return true;
    }
    if (e.kind == Kind::sent)
      e.primary = e.join_key ==
                  pid::sent_keys(st.sent().provider_id(), st.sent().provider_message_id()).front();
    e.st = std::make_shared<const rec::DlrState>(st);
    e.expire = st.expire_at_ms() > 0
                   ? st.expire_at_ms()
                   : now + (e.kind == Kind::sent ? opts_.max_window : opts_.unmatched_hold).count();
    insert(partition, k, std::move(e), unused, now);
    return true;
  }
  if (!is_parts_key(k)) return false;
  if (k[0] == 'g') {
    auto git = parts_[partition].groups.try_emplace(k.substr(2)).first;
    Group& g = git->second;
    count_ -= g.parts.size();
    g.parts.clear();
    if (!g.done) ++count_;
    g.done = true;
    reschedule_group(partition, git->first, g, st.expire_at_ms() > 0 ? st.expire_at_ms() : now);
    return true;
  }
  if (!st.has_sent() || !st.sent().has_concat()) return false;
  const auto& concat = st.sent().concat();
  std::string gk = concat.group_key();
  if (k != "p|" + gk + "|" + std::to_string(concat.seq())) return false;
  auto git = parts_[partition].groups.try_emplace(gk).first;
  Group& g = git->second;
  if (g.done) return true;
  if (g.parts.emplace(concat.seq(), st).second) ++count_;
  g.total = std::max(g.total, concat.total());
  g.deadline = std::max(g.deadline,
                        st.expire_at_ms() > 0 ? st.expire_at_ms() : now + opts_.max_window.count());
  reschedule_group(partition, git->first, g, g.deadline);
  return true;
}

void DlrCorrelator::drop(Domain domain, int32_t partition) {
  if (domain == Domain::join) {
    auto it = join_.find(partition);
    if (it == join_.end()) return;
    for (const auto& [k, e] : it->second.entries)
      if (e.wake != WakeHeap::kNone) wakes_.remove(e.wake);
    count_ -= it->second.entries.size() + it->second.done.size() + it->second.done_late.size();
    join_.erase(it);
    return;
  }
  auto it = parts_.find(partition);
  if (it == parts_.end()) return;
  for (const auto& [k, g] : it->second.groups) {
    if (g.wake != WakeHeap::kNone) wakes_.remove(g.wake);
    count_ -= g.parts.size() + (g.done ? 1 : 0);
  }
  parts_.erase(it);
}

}  // namespace sluice::dlr
