// smsc-sim: see sim.h and simulators/README.md.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "common/http_server.h"
#include "common/log.h"
#include "simulators/simkit/args.h"
#include "simulators/smsc_sim/sim.h"

namespace asio = boost::asio;
using namespace sluice::sim;
using namespace sluice::sim::smsc;

namespace {

constexpr const char* kUsage = R"(usage: smsc-sim [options]
An SMPP 3.4 SMSC simulator: accepts binds, answers submit_sm/data_sm with its
own message ids, sends delivery receipts and MO messages, injects faults.

  --listen HOST:PORT          SMPP address (default 127.0.0.1:2776; port 0 picks a free
                              one; the chosen port is printed as "listening port=N")
  --http HOST:PORT|off        control endpoint (default 127.0.0.1:8081): GET /stats,
                              GET|POST /reset, GET|POST /mode, POST /mo, GET /metrics
  --system-id S               accepted system_id; repeat with --password for several
  --password P                its password (omit all --password: any password)
                              (no --system-id at all: any credentials bind)
  --server-system-id S        system_id sent in bind_resp (default smsc-sim)
  --enquire-link S            send enquire_link every S seconds, 0 = never (default 30)
  --bind-timeout S            close connections not bound within S seconds (default 60)
  --id-format hex|dec|dec0    message ids: lowercase hex, decimal, decimal zero-padded
                              to 10 digits (default hex)
  --dlr-id-format FMT         id format inside receipts, to exercise id normalisation
                              (same|hex|dec|dec0; default same)
  --id-start N                first message id (default: derived from the clock)
  --dlr-delay MS              receipt delay after submit (default 100)
  --dlr-delay-jitter MS       plus a uniform random 0..MS (default 0)
  --dlr-mix STAT=W,...        final states by weight
                              (default DELIVRD=90,UNDELIV=5,REJECTD=3,EXPIRED=2)
  --no-dlr-tlvs               receipts without receipted_message_id/message_state TLVs
  --deliver-window N          unanswered deliver_sm per bind (default 1000)
  --dlr-resp-timeout S        resend a deliver_sm unanswered for S seconds (default 10)
  --dlr-retries N             resends before giving up (default 3)
  --max-pending-deliveries N  receipts/MO held at most; more are dropped (default 1000000)
  --max-rate N                accepted submits per second; beyond: ESME_RTHROTTLED
                              (default 0 = unlimited)
  --rate-window fixed|sliding limit per calendar second, or per any 1 s at 100 ms
                              resolution (default fixed)
  --latency MS                delay before each submit_sm_resp (default 0)
  --temp-error-rate F         fraction answered ESME_RMSGQFUL (default 0)
  --perm-error-rate F         fraction answered ESME_RINVDSTADR (default 0)
  --drop-rate F               per submit, probability of closing the connection unanswered
  --silent                    accept binds but never answer submits
  --mo-rate N                 MO messages per second to receiver binds (default 0)
  --mo-dest N[,N...]          MO destination numbers (default 12345)
  --mo-source N               MO source number (default 447700900001)
  --mo-system-id S            send generated MO to this account (default: any bound)
  --dedup-capacity N          fingerprints kept for duplicate counting (default 4000000)
  --top-destinations N        destinations listed in /stats (default 20)
  --seed N                    random seed (default: from the clock)
  --log-level debug|info|warn|error
  --help

A submit is counted as a duplicate when its destination address and its
short_message and message_payload octets equal those of an earlier accepted
submit. SIGUSR1 prints the stats JSON to stderr; SIGTERM/SIGINT stop and print
it to stdout.
)";

asio::awaitable<void> on_usr1(asio::signal_set& signals, Sim& sim) {
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    std::string s = sim.stats_json().dump(2) + "\n";
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  }
}

asio::awaitable<void> on_term(asio::signal_set& signals, Sim& sim, asio::io_context& io,
                              asio::signal_set& usr1) {
  auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  sluice::log::info("smsc-sim: stopping", {{"signal", std::to_string(sig)}});
  sim.stop();
  boost::system::error_code ignored;
  usr1.cancel(ignored);
  std::string s = sim.stats_json().dump(2) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
  io.stop();
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::vector<std::string> system_ids, passwords;
  std::string dlr_mix;
  ArgParser p(kUsage);
  auto host_port = [](std::string& host, uint16_t& port) {
    return [&host, &port](std::string_view v) -> std::string {
      return sluice::parse_host_port(std::string(v), host, port) ? "" : "expected HOST:PORT";
    };
  };
  auto u32 = [](uint32_t& out) {
    return [&out](std::string_view v) -> std::string {
      return parse_u32(v, out) ? "" : "expected a non-negative integer";
    };
  };
  auto u64 = [](uint64_t& out) {
    return [&out](std::string_view v) -> std::string {
      return parse_u64(v, out) ? "" : "expected a non-negative integer";
    };
  };
  auto sz = [](size_t& out) {
    return [&out](std::string_view v) -> std::string {
      uint64_t n = 0;
      if (!parse_u64(v, n)) return "expected a non-negative integer";
      out = static_cast<size_t>(n);
      return "";
    };
  };
  auto frac = [](double& out) {
    return [&out](std::string_view v) -> std::string {
      return parse_fraction(v, out) ? "" : "expected a number between 0 and 1";
    };
  };
  p.value("--listen", host_port(cfg.listen_host, cfg.listen_port));
  p.value("--http", [&](std::string_view v) -> std::string {
    if (v == "off" || v.empty()) {
      cfg.http_enabled = false;
      return "";
    }
    cfg.http_enabled = true;
    return sluice::parse_host_port(std::string(v), cfg.http_host, cfg.http_port)
               ? ""
               : "expected HOST:PORT or off";
  });
  p.value("--system-id", [&](std::string_view v) -> std::string {
    if (v.empty() || v.size() > 15) return "1 to 15 characters";
    system_ids.emplace_back(v);
    return "";
  });
  p.value("--password", [&](std::string_view v) -> std::string {
    if (v.size() > 8) return "at most 8 characters";
    passwords.emplace_back(v);
    return "";
  });
  p.value("--server-system-id", [&](std::string_view v) -> std::string {
    cfg.server_system_id = v;
    return v.size() > 15 ? "at most 15 characters" : "";
  });
  p.value("--enquire-link", u32(cfg.enquire_link_s));
  p.value("--bind-timeout", u32(cfg.bind_timeout_s));
  p.value("--id-format", [&](std::string_view v) -> std::string {
    return parse_id_format(v, cfg.id_format) ? "" : "expected hex, dec or dec0";
  });
  p.value("--dlr-id-format", [&](std::string_view v) -> std::string {
    if (v == "same") {
      cfg.dlr_id_format.reset();
      return "";
    }
    IdFormat f;
    if (!parse_id_format(v, f)) return "expected same, hex, dec or dec0";
    cfg.dlr_id_format = f;
    return "";
  });
  p.value("--id-start", [&](std::string_view v) -> std::string {
    uint64_t n = 0;
    if (!parse_u64(v, n) || n == 0) return "expected a positive integer";
    cfg.id_start = n;
    return "";
  });
  p.value("--dlr-delay", u32(cfg.mode.dlr_delay_ms));
  p.value("--dlr-delay-jitter", u32(cfg.mode.dlr_delay_jitter_ms));
  p.value("--dlr-mix", [&](std::string_view v) -> std::string {
    return parse_dlr_mix(v, cfg.dlr_mix)
               ? ""
               : "expected STAT=WEIGHT,... with final states (DELIVRD, UNDELIV, REJECTD, "
                 "EXPIRED, DELETED, ACCEPTD, UNKNOWN) and a positive total";
  });
  p.flag("--dlr-tlvs", [&](bool on) { cfg.dlr_tlvs = on; });
  p.value("--deliver-window", [&](std::string_view v) -> std::string {
    if (!parse_u32(v, cfg.deliver_window) || cfg.deliver_window == 0) return "expected >= 1";
    return "";
  });
  p.value("--dlr-resp-timeout", u32(cfg.dlr_resp_timeout_s));
  p.value("--dlr-retries", u32(cfg.dlr_max_retries));
  p.value("--max-pending-deliveries", sz(cfg.max_pending_deliveries));
  p.value("--max-rate", u64(cfg.mode.max_rate));
  p.value("--rate-window", [&](std::string_view v) -> std::string {
    if (v == "fixed")
      cfg.sliding_rate_window = false;
    else if (v == "sliding")
      cfg.sliding_rate_window = true;
    else
      return "expected fixed or sliding";
    return "";
  });
  p.value("--latency", u32(cfg.mode.latency_ms));
  p.value("--temp-error-rate", frac(cfg.mode.temp_error_rate));
  p.value("--perm-error-rate", frac(cfg.mode.perm_error_rate));
  p.value("--drop-rate", frac(cfg.mode.drop_rate));
  p.flag("--silent", [&](bool on) { cfg.mode.silent = on; });
  p.value("--mo-rate", [&](std::string_view v) -> std::string {
    return parse_double(v, cfg.mode.mo_rate) && cfg.mode.mo_rate >= 0 ? "" : "expected >= 0";
  });
  p.value("--mo-dest", [&](std::string_view v) -> std::string {
    cfg.mo_dest = split(v, ',');
    for (const auto& d : cfg.mo_dest) {
      if (d.empty() || d.size() > 20) return "expected NUMBER[,NUMBER...]";
    }
    return "";
  });
  p.value("--mo-source", [&](std::string_view v) -> std::string {
    cfg.mo_source = v;
    return v.empty() || v.size() > 20 ? "expected a number" : "";
  });
  p.value("--mo-system-id", [&](std::string_view v) -> std::string {
    cfg.mo_system_id = v;
    return "";
  });
  p.value("--dedup-capacity", sz(cfg.dedup_capacity));
  p.value("--top-destinations", sz(cfg.top_destinations));
  p.value("--seed", u64(cfg.seed));
  p.value("--log-level", [&](std::string_view v) -> std::string {
    sluice::log::Level l;
    if (!sluice::log::parse_level(v, l)) return "expected debug, info, warn or error";
    sluice::log::set_level(l);
    return "";
  });

  switch (p.parse(argc, argv)) {
    case ArgParser::Outcome::Help:
      std::fputs(kUsage, stdout);
      return 0;
    case ArgParser::Outcome::Error:
      std::fprintf(stderr, "smsc-sim: %s\n\n%s", p.error().c_str(), kUsage);
      return 2;
    case ArgParser::Outcome::Run:
      break;
  }
  if (!passwords.empty() && passwords.size() != system_ids.size()) {
    std::fprintf(stderr, "smsc-sim: give one --password per --system-id (or none)\n\n%s", kUsage);
    return 2;
  }
  for (size_t i = 0; i < system_ids.size(); ++i) {
    cfg.credentials.push_back(
        Credential{system_ids[i], passwords.empty() ? "" : passwords[i], passwords.empty()});
  }

  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  Sim sim(io, cfg);
  try {
    sim.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smsc-sim: %s\n", e.what());
    return 1;
  }
  asio::signal_set term(io, SIGTERM, SIGINT);
  asio::signal_set usr1(io, SIGUSR1);
  asio::co_spawn(io, on_usr1(usr1, sim), asio::detached);
  asio::co_spawn(io, on_term(term, sim, io, usr1), asio::detached);
  // A fixed, unstructured line: tests and scripts parse it to learn the ports.
  std::fprintf(stderr, "listening port=%u http_port=%u\n", sim.smpp_port(), sim.http_port());
  std::fflush(stderr);
  io.run();
  return 0;
}
