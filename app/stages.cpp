#include "app/stages.h"

#include <prometheus/gauge.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/log.h"
#include "common/runtime.h"
#include "config/config.h"
#include "dlr/dlr_stage.h"
#include "gateway/gateway.h"
#include "gateway/return_path.h"
#include "gateway/status_view.h"
#include "kafka/admin.h"
#include "kafka/control_book.h"
#include "kafka/producer.h"
#include "routing/assembler.h"
#include "routing/router.h"
#include "routing/scheduler.h"
#include "schema/status.h"
#include "schema/topics.h"
#include "throttle/sender_stage.h"

namespace sluice::app {

bool is_stage(const std::string& command) {
  return command == "all" || command == "gateway" || command == "assembler" ||
         command == "router" || command == "scheduler" || command == "sender" || command == "dlr";
}

namespace {
bool runs(const StageSettings& s, const char* stage) {
  return s.command == "all" || s.command == stage;
}
}  // namespace

std::string stage_flags_help(const std::string& command) {
  std::string h;
  if (command == "all" || command == "gateway") {
    h += R"(Gateway flags:
  --smpp HOST:PORT     SMPP listener                               [127.0.0.1:2775]
  --smpp-tls HOST:PORT SMPP over TLS listener, when --tls-cert is given [127.0.0.1:3550]
  --tls-cert FILE      PEM certificate chain for the TLS listener
  --tls-key FILE       PEM private key for the TLS listener
  --status-entries N   messages whose state this node keeps for query_sm,
                       cancel_sm and replace_sm (about 155 bytes each)  [1000000]
)";
  }
  if (command == "all" || command == "sender") {
    h += R"(Sender flags:
  --provider-ca FILE   PEM CA certificates trusted, besides the system's, for
                       providers with tls = true (a private CA, or a
                       provider's self-signed certificate)
)";
  }
  if (command == "all" || command == "dlr") {
    h += R"(DLR flags:
  --dlr-coalesce-ms N  how long the join's own writes wait for a receipt that
                       overwrites them, 0-60000 (0: write at once)       [1000]
)";
  }
  return h;
}

int run_stages(const StageSettings& s) {
  std::unique_ptr<kafka::MockCluster> mock;
  kafka::KafkaOptions ko;
  ko.client_id = "sluice-" + s.command + "-" + s.node;
  if (s.kafka == "mock") {
    mock = std::make_unique<kafka::MockCluster>(1);
    for (const auto& t : schema::topics(s.topic_prefix)) mock->create_topic(t.name, t.partitions);
    auto nt = schema::node_topic(s.topic_prefix, s.node);
    mock->create_topic(nt.name, nt.partitions);
    ko.bootstrap = mock->bootstrap();
    std::fprintf(stderr,
                 "\n*** Kafka: librdkafka's in-process MOCK cluster at %s.\n"
                 "*** NOTHING PERSISTS in this mode: messages live in this process's memory only.\n"
                 "*** Use --kafka HOST:PORT (scripts/run --kafka real) for a real broker.\n\n",
                 ko.bootstrap.c_str());
  } else {
    ko.bootstrap = s.kafka;
  }

  std::error_code ec;
  std::filesystem::create_directories(s.state_dir, ec);

  RuntimeOptions ro;
  ro.http_listen = s.http;
  Runtime rt(ro);

  kafka::ProducerOptions po;
  // A customer waits for the gateway's produce before it hears submit_sm_resp,
  // and its window bounds what it has in flight: the batch wait is paid in
  // its throughput, not just its latency (bench/e2e: 12.3k -> 16.2k msg/s
  // with 1 ms instead of 5). Stages behind Kafka have no such window: fuller
  // batches cost the broker less per record (bench/e2e, four runs each:
  // 12.1k msg/s at 5 ms, 14.6k at 10 ms).
  po.linger = std::chrono::milliseconds(runs(s, "gateway") ? 1 : 10);
  if (s.kafka_linger_ms >= 0) po.linger = std::chrono::milliseconds(s.kafka_linger_ms);
  auto producer = std::make_shared<kafka::Producer>(ko, po);
  // A gateway's io thread is busy while its customers submit, and every
  // submit_sm_resp waits for a delivery report: served there, a burst of
  // reports costs no thread wake-up. Not with other stages in the process,
  // whose callbacks belong off the io thread.
  if (s.command == "gateway") producer->serve_reports_on(rt.io());
  rt.health()->add_check("kafka", [producer] {
    return CheckResult{producer->connected(),
                       producer->connected() ? "brokers answer" : "no broker answers"};
  });
  rt.on_exit([producer] { producer->flush(std::chrono::seconds(5)); });

  config::StoreOptions so;
  so.dsn = s.pg_dsn;
  so.cache_path = (std::filesystem::path(s.state_dir) / ("config-" + s.command + ".json")).string();
  so.stage = s.command;
  so.instance = s.node;
  auto config = std::make_shared<config::ConfigStore>(so);
  config->start();
  rt.health()->add_check("config", [config] {
    auto st = config->state();
    bool ok =
        st == config::State::live || st == config::State::stale || st == config::State::from_cache;
    return CheckResult{
        ok, std::string(config::state_name(st)) + " version " + std::to_string(config->version())};
  });
  rt.on_exit([config] { config->stop(); });
  {
    // The configuration an operator sees in Grafana: which version this
    // process applied, and in which state (live, stale, from_cache, empty).
    auto& version = prometheus::BuildGauge()
                        .Name("sluice_config_version")
                        .Help("Configuration version this process applied")
                        .Register(*rt.registry())
                        .Add({});
    auto& state_family = prometheus::BuildGauge()
                             .Name("sluice_config_state")
                             .Help("1 for the configuration state this process is in")
                             .Register(*rt.registry());
    std::vector<std::pair<config::State, prometheus::Gauge*>> states;
    for (auto st : {config::State::empty, config::State::from_cache, config::State::live,
                    config::State::stale})
      states.emplace_back(st, &state_family.Add({{"state", config::state_name(st)}}));
    // A raw pointer: the store owns these callbacks, so a shared_ptr here
    // would be a cycle that keeps the store alive forever.
    auto* cfg = config.get();
    auto publish = [&version, states, cfg] {
      version.Set(static_cast<double>(cfg->version()));
      auto now = cfg->state();
      for (auto& [st, g] : states) g->Set(st == now ? 1 : 0);
    };
    publish();
    config->on_change([publish](std::shared_ptr<const config::Snapshot>) { publish(); });
    config->on_state_change([publish](config::State) { publish(); });
  }

  std::unique_ptr<gateway::Gateway> gw;
  std::unique_ptr<gateway::ReturnPath> return_path;
  if (runs(s, "gateway")) {
    gateway::GatewayOptions go;
    go.listen = s.smpp_listen;
    go.tls_listen = s.smpp_tls_listen;
    go.tls_cert = s.tls_cert;
    go.tls_key = s.tls_key;
    go.topic_prefix = s.topic_prefix;
    go.node = s.node;
    gw = std::make_unique<gateway::Gateway>(rt.io(), go, producer, config, *rt.registry());
    try {
      gw->start();
    } catch (const std::exception& e) {
      log::error("gateway cannot start", {{"what", e.what()}});
      return 1;
    }
    auto* g = gw.get();
    rt.health()->add_check("gateway", [g] {
      return CheckResult{g->listening(), g->listening() ? "listening" : "not listening"};
    });
    gateway::ReturnPathOptions rpo;
    rpo.topic_prefix = s.topic_prefix;
    rpo.node = s.node;
    rpo.create_node_topic = !mock;
    return_path =
        std::make_unique<gateway::ReturnPath>(rt.io(), *gw, ko, producer, rpo, *rt.registry());
    return_path->start();
    // query_sm, cancel_sm and replace_sm: this node's view of sms.status.
    auto view = std::make_shared<gateway::StatusView>(s.status_entries);
    view->start(ko, s.topic_prefix, s.node);
    gw->set_status_view(view);
    rt.on_exit([view] { view->stop(); });
    auto* rp = return_path.get();
    // Deliveries first, while sessions can still answer; then the sessions.
    rt.on_drain("return-path", [rp] { return rp->drain(); });
    rt.on_drain("gateway", [g] { return g->drain(); });
    rt.on_exit([rp] { rp->stop(); });
  }

  // Customers' cancel_sm / replace_sm, for the stages that hold messages.
  std::shared_ptr<kafka::ControlBook> controls;
  if (runs(s, "sender") || runs(s, "scheduler")) {
    controls = std::make_shared<kafka::ControlBook>();
    controls->start(ko, s.topic_prefix, "sluice-control-reader-" + s.node);
    // A cancel recorded before this process started must be known before a
    // message moves; the topic is small.
    if (!controls->wait_caught_up(std::chrono::seconds(10)))
      log::warn("sms.control not read to its end yet; cancels may come late");
    rt.on_exit([controls] { controls->stop(); });
  }

  std::unique_ptr<throttle::SenderStage> sender;
  if (runs(s, "sender")) {
    throttle::SenderOptions so2;
    so2.topic_prefix = s.topic_prefix;
    so2.node = s.node;
    so2.controls = controls;
    so2.provider_ca = s.provider_ca;
    if (mock) {
      auto* m = mock.get();
      so2.create_topic = [m](const schema::TopicSpec& t) { m->create_topic(t.name, t.partitions); };
    }
    sender =
        std::make_unique<throttle::SenderStage>(rt.io(), ko, producer, config, so2, *rt.registry());
    sender->start();
    auto* snd = sender.get();
    rt.on_drain("sender", [snd] { return snd->drain(); });
    rt.on_exit([snd] { snd->stop(); });
  }

  std::unique_ptr<routing::AssemblerStage> assembler;
  if (runs(s, "assembler")) {
    routing::AssemblerOptions ao;
    ao.topic_prefix = s.topic_prefix;
    ao.node = s.node;
    assembler = std::make_unique<routing::AssemblerStage>(ko, producer, config, ao, *rt.registry());
    assembler->start();
    auto* a = assembler.get();
    rt.on_exit([a] { a->stop(); });
  }
  std::unique_ptr<routing::RouterStage> router;
  if (runs(s, "router")) {
    routing::RouterOptions ro2;
    ro2.topic_prefix = s.topic_prefix;
    ro2.node = s.node;
    router = std::make_unique<routing::RouterStage>(ko, producer, config, ro2, *rt.registry());
    router->start();
    auto* r = router.get();
    rt.on_exit([r] { r->stop(); });
  }
  std::unique_ptr<routing::SchedulerStage> scheduler;
  if (runs(s, "scheduler")) {
    routing::SchedulerOptions sco;
    sco.topic_prefix = s.topic_prefix;
    sco.node = s.node;
    sco.is_cancelled = [controls](const records::v1::Message& m) {
      auto c = controls->find(schema::visible_id(m));
      return c && c->kind() == records::v1::Control::CANCEL;
    };
    sco.replace = [controls](records::v1::Message& m) {
      auto c = controls->find(schema::visible_id(m));
      return c && schema::apply_replacement(*c, m);
    };
    scheduler =
        std::make_unique<routing::SchedulerStage>(ko, producer, config, sco, *rt.registry());
    scheduler->start();
    auto* sc = scheduler.get();
    rt.on_exit([sc] { sc->stop(); });
  }

  std::unique_ptr<dlr::DlrStage> dlr_stage;
  if (runs(s, "dlr")) {
    dlr::DlrOptions dop;
    dop.topic_prefix = s.topic_prefix;
    dop.node = s.node;
    if (s.dlr_coalesce_ms >= 0) dop.coalesce_hold = std::chrono::milliseconds(s.dlr_coalesce_ms);
    dlr_stage = std::make_unique<dlr::DlrStage>(ko, producer, config, dop, *rt.registry());
    dlr_stage->start();
    auto* d = dlr_stage.get();
    rt.health()->add_check("dlr", [d] {
      return CheckResult{d->running(), d->running() ? "consuming" : "stopped"};
    });
    rt.on_exit([d] { d->stop(); });
  }

  log::info("sluice starting", {{"command", s.command}, {"node", s.node}, {"kafka", ko.bootstrap}});
  return rt.run();
}

}  // namespace sluice::app
