// esme-load: see load.h and simulators/README.md.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>

#include "simulators/esme_load/load.h"
#include "simulators/simkit/args.h"

namespace asio = boost::asio;
using namespace sluice::sim;
using namespace sluice::sim::load;

namespace {

constexpr const char* kUsage = R"(usage: esme-load [options]
An SMPP 3.4 customer (ESME) load generator: binds, sends submit_sm, answers
deliver_sm, matches delivery receipts to message ids, reports.

  --host H                    server host (default 127.0.0.1)
  --port P                    server port (default 2775)
  --system-id S               (default test)
  --password P                (default test)
  --system-type S             (default empty)
  --binds N                   sessions (default 1)
  --bind-mode trx|tx+rx       N transceivers, or N transmitters plus N receivers (default trx)
  --count N                   messages to send (default 1000); a multipart message is
                              3 submit_sm
  --rate R                    submit_sm per second over all binds; 0 = as fast as the
                              windows allow (default 0)
  --window W                  unanswered submit_sm per bind (default 100)
  --mix gsm7=W,ucs2=W,multipart=W
                              message kinds by weight (default gsm7=70,ucs2=20,multipart=10):
                              GSM 7-bit (data_coding 0), UCS-2 (8), 3-part GSM 7-bit
                              with an 8-bit-reference concatenation UDH
  --registered-delivery N     0-3 (default 1)
  --dlr-timeout S             wait for receipts after the last response (default 30)
  --dest-prefix DIGITS        destination prefix (default 4479)
  --dest-length N             destination length; the rest is a per-message random
                              suffix (default 12)
  --source ADDR               source address (default 447700900000; non-digits: alphanumeric)
  --[no-]unique-text          put a run id and counter in every text (default on)
  --[no-]retry-throttled      resend ESME_RTHROTTLED submits after a backoff (default on)
  --throttle-backoff MS       (default 100)
  --max-throttle-retries N    per submit (default 1000)
  --submit-timeout S          give up on an unanswered submit_sm (default 30)
  --enquire-link S            send enquire_link every S seconds, 0 = never (default 30)
  --connect-timeout S         connect and bind deadline (default 10)
  --reconnects N              attempts per bind after a failure (default 5)
  --seed N                    seed for destinations and the mix (default random)
  --json                      final report as JSON on stdout
  --progress                  a status line every second on stderr
  --help

Exit status: 0 when every submit_sm was acknowledged and (with registered
delivery 1 or 3) every receipt matched in time; 1 otherwise; 2 on usage errors.
)";

asio::awaitable<void> on_signal(asio::signal_set& signals, Load& load) {
  auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!ec) load.stop("signal " + std::to_string(sig));
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  ArgParser p(kUsage);
  auto u32 = [](uint32_t& out, uint32_t min = 0) {
    return [&out, min](std::string_view v) -> std::string {
      return parse_u32(v, out) && out >= min ? "" : "expected an integer >= " + std::to_string(min);
    };
  };
  auto text = [](std::string& out, size_t max) {
    return [&out, max](std::string_view v) -> std::string {
      out = v;
      return v.size() > max ? "at most " + std::to_string(max) + " characters" : "";
    };
  };
  p.value("--host", [&](std::string_view v) -> std::string {
    cfg.host = v;
    return v.empty() ? "empty" : "";
  });
  p.value("--port", [&](std::string_view v) -> std::string {
    uint32_t port = 0;
    if (!parse_u32(v, port) || port == 0 || port > 65535) return "expected 1-65535";
    cfg.port = static_cast<uint16_t>(port);
    return "";
  });
  p.value("--system-id", text(cfg.system_id, 15));
  p.value("--password", text(cfg.password, 8));
  p.value("--system-type", text(cfg.system_type, 12));
  p.value("--binds", u32(cfg.binds, 1));
  p.value("--bind-mode", [&](std::string_view v) -> std::string {
    if (v == "trx")
      cfg.tx_rx = false;
    else if (v == "tx+rx")
      cfg.tx_rx = true;
    else
      return "expected trx or tx+rx";
    return "";
  });
  p.value("--count", [&](std::string_view v) -> std::string {
    return parse_u64(v, cfg.count) && cfg.count <= UINT32_MAX ? "" : "expected 0..4294967295";
  });
  p.value("--rate", [&](std::string_view v) -> std::string {
    return parse_double(v, cfg.rate) && cfg.rate >= 0 ? "" : "expected a number >= 0";
  });
  p.value("--window", u32(cfg.window, 1));
  p.value("--mix", [&](std::string_view v) -> std::string {
    std::vector<std::pair<std::string, double>> w;
    if (!parse_weights(v, w)) return "expected gsm7=W,ucs2=W,multipart=W";
    cfg.mix = {0, 0, 0};
    for (const auto& [k, weight] : w) {
      if (k == "gsm7")
        cfg.mix[0] = weight;
      else if (k == "ucs2")
        cfg.mix[1] = weight;
      else if (k == "multipart")
        cfg.mix[2] = weight;
      else
        return "unknown kind '" + k + "' (gsm7, ucs2, multipart)";
    }
    return cfg.mix[0] + cfg.mix[1] + cfg.mix[2] > 0 ? "" : "weights sum to zero";
  });
  p.value("--registered-delivery", [&](std::string_view v) -> std::string {
    uint32_t rd = 0;
    if (!parse_u32(v, rd) || rd > 3) return "expected 0-3";
    cfg.registered_delivery = static_cast<uint8_t>(rd);
    return "";
  });
  p.value("--dlr-timeout", u32(cfg.dlr_timeout_s));
  p.value("--dest-prefix", [&](std::string_view v) -> std::string {
    cfg.dest_prefix = v;
    for (char c : v) {
      if (c < '0' || c > '9') return "digits only";
    }
    return v.size() > 20 ? "at most 20 digits" : "";
  });
  p.value("--dest-length", [&](std::string_view v) -> std::string {
    return parse_u32(v, cfg.dest_length) && cfg.dest_length <= 20 ? "" : "expected 0-20";
  });
  p.value("--source", text(cfg.source, 20));
  p.flag("--unique-text", [&](bool on) { cfg.unique_text = on; });
  p.flag("--retry-throttled", [&](bool on) { cfg.retry_throttled = on; });
  p.value("--throttle-backoff", u32(cfg.throttle_backoff_ms));
  p.value("--max-throttle-retries", u32(cfg.max_throttle_retries));
  p.value("--submit-timeout", u32(cfg.submit_timeout_s, 1));
  p.value("--enquire-link", u32(cfg.enquire_link_s));
  p.value("--connect-timeout", u32(cfg.connect_timeout_s, 1));
  p.value("--reconnects", u32(cfg.reconnects));
  p.value("--seed", [&](std::string_view v) -> std::string {
    return parse_u64(v, cfg.seed) ? "" : "expected an integer";
  });
  p.flag("--json", [&](bool on) { cfg.json = on; });
  p.flag("--progress", [&](bool on) { cfg.progress = on; });

  switch (p.parse(argc, argv)) {
    case ArgParser::Outcome::Help:
      std::fputs(kUsage, stdout);
      return 0;
    case ArgParser::Outcome::Error:
      std::fprintf(stderr, "esme-load: %s\n\n%s", p.error().c_str(), kUsage);
      return 2;
    case ArgParser::Outcome::Run:
      break;
  }
  if (cfg.dest_prefix.size() > cfg.dest_length && cfg.dest_length != 0) {
    cfg.dest_length = static_cast<uint32_t>(cfg.dest_prefix.size());
  }

  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  Load load(io, cfg);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::co_spawn(io, on_signal(signals, load), asio::detached);
  asio::co_spawn(io, load.run(), asio::detached);
  io.run();

  if (cfg.json) {
    std::string s = load.report().dump(2) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  } else {
    std::string s = load.report_text();
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
  std::fflush(stdout);
  return load.ok() ? 0 : 1;
}
