// The single `sluice` binary: one subcommand per stage, `all` for every stage
// in one process, and the operator tools (topics, db, config, customer,
// provider).
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "app/args.h"
#include "app/stages.h"
#include "common/log.h"
#include "config/cli.h"
#include "kafka/admin.h"
#include "schema/topics.h"

namespace {
using sluice::app::Args;

constexpr const char* kUsage = R"(usage: sluice <command> [flags]

Stages (each runs until SIGTERM/SIGINT, then drains):
  all          every stage in one process (the quick-run default)
  gateway      SMPP server for customers; submit_sm -> Kafka; DLRs and MO back
  assembler    joins the parts of multipart messages (sms.submit -> sms.accepted)
  router       picks a provider per message; holds what is not yet due; expires the old
  scheduler    releases held messages (and any record on sms.schedule) at their time
  sender       binds to providers, paces and sends sms.out.<provider>; receipts and MO in
  dlr          joins receipts with sent records, routes MO; sms.deliver for customers

Tools:
  topics       --create | --check the topics in schema/topics.json
  db           migrate | status: the PostgreSQL schema
  config       show | watch: the configuration a stage would load
  customer     add | passwd: convenience over the customers table
  provider     add: convenience over the providers table
  version      print the version

Run `sluice <command> --help` for the command's flags.
)";

constexpr const char* kStageFlags = R"(Common flags:
  --kafka ADDR         Kafka bootstrap servers, or "mock" for librdkafka's in-process
                       mock cluster (nothing persists)           [127.0.0.1:19092]
  --pg DSN             PostgreSQL connection string    [env SLUICE_PG_DSN, else dev DSN]
  --http HOST:PORT     /metrics, /livez, /readyz                  [127.0.0.1:8080]
  --topic-prefix P     put P before every topic name                         [none]
  --state-dir DIR      saved config and other local state               [.run/state]
  --node NAME          this instance's name                             [hostname]
  --log-level LEVEL    debug|info|warn|error                                 [info]
  --log-json           one JSON object per log line
  --kafka-linger-ms N  how long a record may wait to share a batch, 0-1000
                       [1 where the gateway runs, else 10]
  --help               this text
)";

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "sluice";
  return buf;
}

int usage_error(const std::string& msg, const char* usage) {
  std::cerr << "sluice: " << msg << "\n\n" << usage;
  return 2;
}

int run_version() {
  std::cout << "sluice " << SLUICE_VERSION << "\n";
  return 0;
}

int run_topics(const std::vector<std::string>& argv) {
  constexpr const char* usage =
      R"(usage: sluice topics --create|--check|--list [--kafka ADDR] [--topic-prefix P] [--provider NAME ...] [--partitions N]
  --create           create the topics that are missing (existing ones are left alone)
  --check            exit 1 and list problems when a topic is missing or differs
  --provider NAMES   comma-separated provider names whose sms.out.<name> topics to include
  --partitions N     partitions of the topics that carry a stage's traffic (default 6;
                     no stage runs more useful instances than this)
  --list             print the topic table
)";
  Args args({"kafka", "topic-prefix", "provider", "partitions", "log-level"},
            {"create", "check", "list", "help"});
  std::string err;
  if (!args.parse(argv, err)) return usage_error(err, usage);
  if (args.flag("help")) {
    std::cout << usage;
    return 0;
  }
  if (!args.positional().empty())
    return usage_error("unexpected argument " + args.positional()[0], usage);
  int modes = args.flag("create") + args.flag("check") + args.flag("list");
  if (modes != 1) return usage_error("give exactly one of --create, --check, --list", usage);
  std::string prefix = args.value_or("topic-prefix", "");
  auto specs = sluice::schema::topics(prefix);
  if (auto p = args.value("provider")) {
    size_t start = 0;
    while (start <= p->size()) {
      auto comma = p->find(',', start);
      std::string name =
          p->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) {
        if (!sluice::schema::valid_provider_topic_part(name))
          return usage_error("provider name not usable in a topic name: " + name, usage);
        specs.push_back(sluice::schema::provider_topic(prefix, name));
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (auto n = args.value("partitions")) {
    int parts = 0;
    auto [end, ec] = std::from_chars(n->data(), n->data() + n->size(), parts);
    if (ec != std::errc() || end != n->data() + n->size() || parts < 1 || parts > 10000)
      return usage_error("--partitions expects a number from 1 to 10000, not " + *n, usage);
    for (auto& s : specs)
      if (s.scales) s.partitions = parts;
  }
  if (args.flag("list")) {
    for (const auto& s : specs)
      std::cout << s.name << "\tpartitions=" << s.partitions << "\tretention.ms=" << s.retention_ms
                << "\tcleanup.policy=" << s.cleanup_policy << "\n";
    return 0;
  }
  sluice::kafka::KafkaOptions ko;
  ko.bootstrap = args.value_or("kafka", "127.0.0.1:19092");
  ko.client_id = "sluice-topics";
  try {
    if (args.flag("create")) {
      auto problems = sluice::kafka::create_topics(ko, specs);
      for (const auto& p : problems)
        std::cerr << "topics: " << p.topic << ": " << p.problem << "\n";
      if (!problems.empty()) return 1;
    }
    auto problems = sluice::kafka::check_topics(ko, specs);
    // Topics just created may take a moment to show in the brokers' metadata.
    for (int i = 0; args.flag("create") && !problems.empty() && i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      problems = sluice::kafka::check_topics(ko, specs);
    }
    for (const auto& p : problems) std::cout << "topics: " << p.topic << ": " << p.problem << "\n";
    if (!problems.empty()) return 1;
    std::cout << "topics: " << specs.size() << " topics present as specified\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "topics: " << e.what() << "\n";
    return 1;
  }
}

int run_stage_command(const std::string& cmd, const std::vector<std::string>& argv) {
  Args args({"kafka", "pg", "http", "topic-prefix", "state-dir", "node", "log-level", "smpp",
             "smpp-tls", "tls-cert", "tls-key", "status-entries", "provider", "demo-password",
             "kafka-linger-ms", "dlr-coalesce-ms", "provider-ca"},
            {"log-json", "help", "demo"});
  std::string usage =
      "usage: sluice " + cmd + " [flags]\n\n" + kStageFlags + sluice::app::stage_flags_help(cmd);
  std::string err;
  if (!args.parse(argv, err)) return usage_error(err, usage.c_str());
  if (args.flag("help")) {
    std::cout << usage;
    return 0;
  }
  if (!args.positional().empty())
    return usage_error("unexpected argument " + args.positional()[0], usage.c_str());
  if (auto lvl = args.value("log-level")) {
    sluice::log::Level l;
    if (!sluice::log::parse_level(*lvl, l))
      return usage_error("bad --log-level " + *lvl, usage.c_str());
    sluice::log::set_level(l);
  }
  sluice::log::set_json(args.flag("log-json"));

  sluice::app::StageSettings s;
  s.command = cmd;
  s.kafka = args.value_or("kafka", "127.0.0.1:19092");
  const char* env_dsn = std::getenv("SLUICE_PG_DSN");
  s.pg_dsn = args.value_or(
      "pg",
      env_dsn ? env_dsn : "host=127.0.0.1 port=15432 dbname=sluice user=sluice password=sluice");
  s.http = args.value_or("http", "127.0.0.1:8080");
  s.topic_prefix = args.value_or("topic-prefix", "");
  const char* env_state = std::getenv("SLUICE_STATE_DIR");
  s.state_dir = args.value_or("state-dir", env_state ? env_state : ".run/state");
  s.node = args.value_or("node", hostname());
  s.smpp_listen = args.value_or("smpp", "127.0.0.1:2775");
  s.smpp_tls_listen = args.value_or("smpp-tls", "127.0.0.1:3550");
  s.tls_cert = args.value_or("tls-cert", "");
  s.tls_key = args.value_or("tls-key", "");
  s.provider_ca = args.value_or("provider-ca", "");
  // Read here, not at a provider's first connection: a typo is a usage error
  // now rather than a provider that never binds.
  if (!s.provider_ca.empty() && ::access(s.provider_ca.c_str(), R_OK) != 0)
    return usage_error("--provider-ca: cannot read " + s.provider_ca, usage.c_str());
  // A numeric flag: absent leaves `out` alone; out of [lo, hi] is a usage error.
  auto number = [&](const char* flag, long long lo, long long hi, auto& out) -> bool {
    auto n = args.value(flag);
    if (!n) return true;
    char* end = nullptr;
    long long v = std::strtoll(n->c_str(), &end, 10);
    if (n->empty() || !end || *end || v < lo || v > hi) return false;
    out = static_cast<std::remove_reference_t<decltype(out)>>(v);
    return true;
  };
  if (!number("status-entries", 1000, 100'000'000, s.status_entries))
    return usage_error("--status-entries wants a number from 1000 to 100000000", usage.c_str());
  if (!number("kafka-linger-ms", 0, 1000, s.kafka_linger_ms))
    return usage_error("--kafka-linger-ms wants a number from 0 to 1000", usage.c_str());
  if (!number("dlr-coalesce-ms", 0, 60000, s.dlr_coalesce_ms))
    return usage_error("--dlr-coalesce-ms wants a number from 0 to 60000", usage.c_str());
  return sluice::app::run_stages(s);
}

}  // namespace

int main(int argc, char** argv) {
  // Every customer bind is a descriptor: take all the kernel allows us.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (cmd == "version" || cmd == "--version") return run_version();
    if (cmd == "topics") return run_topics(rest);
    if (cmd == "db") return sluice::config::run_db_command(rest);
    if (cmd == "config") return sluice::config::run_config_command(rest);
    if (cmd == "customer") return sluice::config::run_customer_command(rest);
    if (cmd == "provider") return sluice::config::run_provider_command(rest);
    if (sluice::app::is_stage(cmd)) return run_stage_command(cmd, rest);
  } catch (const std::exception& e) {
    std::cerr << "sluice " << cmd << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "sluice: unknown command '" << cmd << "'\n\n" << kUsage;
  return 2;
}
