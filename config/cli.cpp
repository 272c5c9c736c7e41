// `sluice db|config|customer|provider ...`: thin conveniences over the same SQL
// an operator can type in psql (see docs/operator.md).
#include "config/cli.h"

#include <pthread.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "config/config.h"
#include "config/internal.h"
#include "config/password.h"

namespace sluice::config {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// Flags: "--name value", "--name=value" or a bare "--switch".

struct Flag {
  std::string name;
  bool takes_value;
  bool repeatable = false;
};

struct Parsed {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  bool has(const std::string& n) const { return values.count(n) > 0; }
  std::optional<std::string> get(const std::string& n) const {
    auto it = values.find(n);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
};

bool parse_flags(const std::vector<std::string>& args, std::size_t from,
                 const std::vector<Flag>& flags, Parsed& out, std::string& error) {
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto f =
        std::find_if(flags.begin(), flags.end(), [&](const Flag& x) { return x.name == name; });
    if (f == flags.end()) {
      error = "unknown option --" + name;
      return false;
    }
    if (!f->repeatable && out.has(name)) {
      error = "--" + name + " given twice";
      return false;
    }
    if (f->takes_value) {
      if (!inline_value) {
        if (i + 1 >= args.size()) {
          error = "--" + name + " needs a value";
          return false;
        }
        value = args[++i];
      }
      out.values[name].push_back(value);
    } else {
      if (inline_value) {
        error = "--" + name + " takes no value";
        return false;
      }
      out.values[name];
    }
  }
  return true;
}

int usage_error(const std::string& usage, const std::string& error) {
  if (!error.empty()) std::cerr << "sluice: " << error << "\n";
  std::cerr << usage;
  return 2;
}

bool wants_help(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(),
                     [](const std::string& a) { return a == "--help" || a == "-h"; });
}

// The first line of a database error: its DETAIL may quote a whole failing row,
// password hash included.
std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  std::string l = nl == std::string::npos ? s : s.substr(0, nl);
  if (l.rfind("ERROR:  ", 0) == 0) l = l.substr(8);
  return l;
}

int fail(const std::string& what) {
  std::cerr << "sluice: " << what << "\n";
  return 1;
}

bool parse_number(const std::string& s, double& out) {
  try {
    std::size_t n = 0;
    out = std::stod(s, &n);
    return n == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Passwords from the command line

std::optional<std::string> read_password(const Parsed& p, std::string& error) {
  if (p.has("password") == p.has("password-stdin")) {
    error = "give exactly one of --password-stdin or --password";
    return std::nullopt;
  }
  std::string pw;
  if (p.has("password")) {
    pw = *p.get("password");
  } else {
    bool tty = ::isatty(STDIN_FILENO);
    termios old{};
    if (tty) {
      std::cerr << "password: " << std::flush;
      ::tcgetattr(STDIN_FILENO, &old);
      termios quiet = old;
      quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
      ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::getline(std::cin, pw);
    if (tty) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
      std::cerr << "\n";
    }
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  }
  if (pw.empty()) {
    error = "the password is empty";
    return std::nullopt;
  }
  if (pw.find('\0') != std::string::npos) {
    error = "the password contains a NUL byte";
    return std::nullopt;
  }
  if (pw.size() > 8)
    std::cerr << "sluice: note: SMPP 3.4 allows passwords of at most 8 characters; some clients "
                 "cannot send a "
                 "longer one\n";
  return pw;
}

// ---------------------------------------------------------------------------
// sluice db

const char* kDbUsage =
    "usage: sluice db migrate [--pg DSN]   apply the embedded schema migrations (idempotent)\n"
    "       sluice db status  [--pg DSN]   list migrations: applied, pending, or changed\n"
    "  --pg DSN   libpq connection string (default: $SLUICE_PG_DSN, else the dev database)\n";

// ---------------------------------------------------------------------------
// sluice config

const char* kConfigUsage =
    "usage: sluice config show [--json] [--pg DSN] [--cache PATH]\n"
    "         print the configuration a stage would load now, and the rows it would reject;\n"
    "         with --cache, print the saved copy in PATH instead of asking the database\n"
    "       sluice config watch [--pg DSN] [--cache PATH] [--stage NAME] [--instance ID]\n"
    "         run a configuration store like a stage does and print one JSON line per applied\n"
    "         snapshot and per state change (live, stale, from_cache, empty). Commands on stdin,\n"
    "         one per line: state | customer SYSTEM_ID | provider NAME | mo NUMBER |\n"
    "         auth SYSTEM_ID PASSWORD. SIGINT or SIGTERM stops it.\n"
    "         --cache defaults to $SLUICE_STATE_DIR/config-<stage>.json (SLUICE_STATE_DIR: "
    ".run/state)\n";

json counts(const Snapshot& s) {
  json rejected = json::array();
  for (const auto& r : s.rejected)
    rejected.push_back(json{{"table", r.table}, {"key", r.key}, {"reason", r.reason}});
  return json{{"version", s.version},
              {"customers", s.customers.size()},
              {"providers", s.providers.size()},
              {"routes", s.routes.size()},
              {"mo_numbers", s.mo_numbers.size()},
              {"rejected", rejected}};
}

std::string fmt_double(double d) {
  std::ostringstream o;
  o << d;
  return o.str();
}

void print_table(std::ostream& out, const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    out << " ";
    for (std::size_t i = 0; i < r.size(); ++i) {
      out << " " << r[i];
      if (i + 1 < r.size()) out << std::string(w[i] - r[i].size(), ' ');
    }
    out << "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
}

void print_human(std::ostream& out, const Snapshot& s, const std::string& source) {
  out << "configuration version " << s.version << " (" << source << ")\n";
  auto yn = [](bool b) { return std::string(b ? "yes" : "no"); };
  out << "\ncustomers: " << s.customers.size() << "\n";
  if (!s.customers.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : s.customers) {
      std::string ranges;
      for (const auto& r : c.allowed_ranges) ranges += (ranges.empty() ? "" : ",") + r.text;
      rows.push_back({std::to_string(c.id), c.system_id, yn(c.enabled), std::to_string(c.max_binds),
                      fmt_double(c.ingress_mps), std::to_string(c.default_validity.count()) + "s",
                      c.dlr_enabled ? (c.dlr_per_message ? "per-message" : "per-part") : "off",
                      ranges.empty() ? "any" : ranges,
                      c.password_hash.rfind("$argon2id$", 0) == 0 ? "argon2id" : "bcrypt"});
    }
    print_table(
        out,
        {"id", "system_id", "enabled", "max_binds", "mps", "validity", "dlr", "from", "password"},
        rows);
  }
  out << "\nproviders: " << s.providers.size() << "\n";
  if (!s.providers.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : s.providers)
      rows.push_back({std::to_string(p.id), p.name, yn(p.enabled),
                      p.host + ":" + std::to_string(p.port), yn(p.tls), p.system_id,
                      bind_mode_name(p.bind_mode), std::to_string(p.binds),
                      std::to_string(p.window), fmt_double(p.mps),
                      std::to_string(p.enquire_link_interval.count()) + "s",
                      p.source_addr_override.empty() ? "-" : p.source_addr_override,
                      std::to_string(p.default_data_coding)});
    print_table(out,
                {"id", "name", "enabled", "address", "tls", "system_id", "bind", "binds", "window",
                 "mps", "enquire", "source", "coding"},
                rows);
  }
  out << "\nroutes: " << s.routes.size() << "\n";
  if (!s.routes.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : s.routes) {
      const Customer* c = r.customer_id ? s.customer_by_id(*r.customer_id) : nullptr;
      const Provider* p = s.provider_by_id(r.provider_id);
      rows.push_back({std::to_string(r.id),
                      r.customer_id ? (c ? c->system_id : std::to_string(*r.customer_id)) : "*",
                      r.prefix.empty() ? "(any)" : r.prefix, std::to_string(r.priority),
                      p ? p->name : std::to_string(r.provider_id), std::to_string(r.weight),
                      std::to_string(r.failover_order), yn(r.enabled)});
    }
    print_table(
        out, {"id", "customer", "prefix", "priority", "provider", "weight", "failover", "enabled"},
        rows);
  }
  out << "\nmo_numbers: " << s.mo_numbers.size() << "\n";
  if (!s.mo_numbers.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : s.mo_numbers) {
      const Customer* c = s.customer_by_id(m.customer_id);
      rows.push_back({std::to_string(m.id), m.prefix_or_number,
                      c ? c->system_id : std::to_string(m.customer_id)});
    }
    print_table(out, {"id", "number", "customer"}, rows);
  }
  out << "\nrejected rows: " << s.rejected.size() << "\n";
  for (const auto& r : s.rejected)
    out << "  " << r.table << " " << r.key << ": " << r.reason << "\n";
}

int config_show(const Parsed& p) {
  Snapshot s;
  std::string source;
  try {
    if (auto cache = p.get("cache")) {
      auto c = load_cache(*cache);
      if (!c) return fail("no cache file at " + *cache);
      s = std::move(*c);
      source = "from the saved copy " + *cache;
    } else {
      auto conn = connect(resolve_dsn(p.get("pg")));
      s = load_snapshot(*conn);
      source = "from the database";
    }
  } catch (const std::exception& e) {
    return fail(first_line(e.what()));
  }
  if (p.has("json")) {
    json j = to_json(s, /*with_secrets=*/false);
    std::cout << j.dump(2) << "\n";
  } else {
    print_human(std::cout, s, source);
  }
  return 0;
}

class Printer {
 public:
  void line(const json& j) {
    std::lock_guard lock(mu_);
    std::string text = j.dump();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

 private:
  std::mutex mu_;
};

json customer_json(const Customer& c) {
  Snapshot one;
  one.customers.push_back(c);
  return to_json(one, false)["customers"][0];
}

json provider_json(const Provider& p) {
  Snapshot one;
  one.providers.push_back(p);
  return to_json(one, false)["providers"][0];
}

void serve_stdin(std::shared_ptr<ConfigStore> store, std::shared_ptr<Printer> out) {
  PasswordVerifier verifier;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, arg, extra;
    in >> cmd >> arg;
    auto snap = store->current();
    if (cmd.empty()) continue;
    if (cmd == "state") {
      out->line(json{
          {"event", "state"}, {"state", state_name(store->state())}, {"version", snap->version}});
    } else if (cmd == "customer") {
      const Customer* c = snap->customer_by_system_id(arg);
      out->line(json{{"event", "customer"},
                     {"system_id", arg},
                     {"version", snap->version},
                     {"customer", c ? customer_json(*c) : json(nullptr)}});
    } else if (cmd == "provider") {
      const Provider* pr = snap->provider_by_name(arg);
      out->line(json{{"event", "provider"},
                     {"name", arg},
                     {"version", snap->version},
                     {"provider", pr ? provider_json(*pr) : json(nullptr)}});
    } else if (cmd == "mo") {
      const Customer* c = snap->owner_of_mo(arg);
      out->line(json{
          {"event", "mo"}, {"number", arg}, {"customer", c ? json(c->system_id) : json(nullptr)}});
    } else if (cmd == "auth") {
      std::getline(in >> std::ws, extra);
      const Customer* c = snap->customer_by_system_id(arg);
      bool ok = c && c->enabled && verifier.verify(c->system_id, c->password_hash, extra);
      out->line(json{{"event", "auth"}, {"system_id", arg}, {"ok", ok}});
    } else {
      out->line(json{{"event", "error"}, {"error", "unknown command"}, {"command", cmd}});
    }
  }
}

int config_watch(const Parsed& p) {
  StoreOptions o;
  o.dsn = resolve_dsn(p.get("pg"));
  o.stage = p.get("stage").value_or("watch");
  o.cache_path = p.get("cache").value_or(default_cache_path(o.stage));
  if (auto inst = p.get("instance")) {
    o.instance = *inst;
  } else {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    o.instance = std::string(host) + ":" + std::to_string(::getpid());
  }
  // Signals are taken with sigwait below; blocking them first makes the
  // store's thread (and any other) inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto out = std::make_shared<Printer>();
  auto store = std::make_shared<ConfigStore>(o);
  ConfigStore* raw = store.get();
  store->on_change([out, raw](std::shared_ptr<const Snapshot> s) {
    json j = counts(*s);
    j["event"] = "snapshot";
    j["state"] = state_name(raw->state());
    out->line(j);
  });
  store->on_state_change([out, raw](State st) {
    out->line(json{{"event", "state"}, {"state", state_name(st)}, {"version", raw->version()}});
  });
  store->start();
  out->line(json{
      {"event", "started"}, {"state", state_name(store->state())}, {"version", store->version()}});
  // Detached: a blocking read of stdin cannot be interrupted, and the thread
  // keeps the store alive through its shared_ptr until the process exits.
  std::thread(serve_stdin, store, out).detach();
  int sig = 0;
  sigwait(&sigs, &sig);
  store->stop();
  out->line(json{{"event", "stopped"}, {"signal", sig}});
  return 0;
}

// ---------------------------------------------------------------------------
// sluice customer

const char* kCustomerUsage =
    "usage: sluice customer add SYSTEM_ID (--password-stdin | --password P) [options]\n"
    "       sluice customer passwd SYSTEM_ID (--password-stdin | --password P) [--pg DSN]\n"
    "  --password-stdin      read the password from the first line of stdin (preferred:\n"
    "                        --password shows it to anyone who can list processes)\n"
    "  --mps N               ingress messages per second (default 50)\n"
    "  --max-binds N         concurrent binds (default 4)\n"
    "  --validity INTERVAL   default validity, e.g. '48 hours' or 3600 (seconds; default 48 "
    "hours)\n"
    "  --allow CIDR          allowed source range, repeatable (default: any address)\n"
    "  --no-dlr              do not send delivery reports\n"
    "  --dlr-per-message     one DLR per multipart message instead of one per part\n"
    "  --disabled            add the customer disabled\n"
    "  --pg DSN              libpq connection string\n"
    "The password is stored only as an argon2id hash.\n";

int customer_add(const Parsed& p) {
  if (p.positional.size() != 1)
    return usage_error(kCustomerUsage, "customer add takes one SYSTEM_ID");
  std::string error;
  std::vector<std::string> cols{"system_id", "password_hash"}, vals{p.positional[0]};
  for (const auto& cidr :
       p.values.count("allow") ? p.values.at("allow") : std::vector<std::string>{}) {
    if (!IpRange::parse(cidr, &error)) return usage_error(kCustomerUsage, error);
  }
  double d = 0;
  if (auto v = p.get("mps"); v && !parse_number(*v, d))
    return usage_error(kCustomerUsage, "--mps needs a number");
  if (auto v = p.get("max-binds"); v && !parse_number(*v, d))
    return usage_error(kCustomerUsage, "--max-binds needs a number");
  auto pw = read_password(p, error);
  if (!pw) return usage_error(kCustomerUsage, error);
  vals.push_back(hash_password(*pw));
  std::fill(pw->begin(), pw->end(), '\0');
  auto opt = [&](const char* flag, const char* col) {
    if (auto v = p.get(flag)) {
      cols.push_back(col);
      vals.push_back(*v);
    }
  };
  opt("mps", "ingress_mps");
  opt("max-binds", "max_binds");
  if (auto v = p.get("validity")) {
    // A bare number means seconds, as elsewhere in the CLI.
    cols.push_back("default_validity");
    vals.push_back(parse_number(*v, d) ? *v + " seconds" : *v);
  }
  if (p.has("allow")) {
    std::string arr = "{";
    for (const auto& c : p.values.at("allow")) arr += (arr.size() > 1 ? "," : "") + c;
    cols.push_back("allowed_ranges");
    vals.push_back(arr + "}");
  }
  if (p.has("no-dlr")) cols.push_back("dlr_enabled"), vals.push_back("false");
  if (p.has("dlr-per-message")) cols.push_back("dlr_per_message"), vals.push_back("true");
  if (p.has("disabled")) cols.push_back("enabled"), vals.push_back("false");
  std::string sql = "INSERT INTO sluice.customers (", ph;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    sql += (i ? ", " : "") + cols[i];
    ph += (i ? ", $" : "$") + std::to_string(i + 1);
  }
  sql += ") VALUES (" + ph + ") RETURNING id";
  try {
    auto conn = connect(resolve_dsn(p.get("pg")));
    pqxx::work w(*conn, "customer add");
    auto r = w.exec_params1(sql, pqxx::prepare::make_dynamic_params(vals));
    w.commit();
    std::cout << "customer " << p.positional[0] << " added (id " << r[0].c_str() << ")\n";
  } catch (const std::exception& e) {
    return fail(first_line(e.what()));
  }
  return 0;
}

int customer_passwd(const Parsed& p) {
  if (p.positional.size() != 1)
    return usage_error(kCustomerUsage, "customer passwd takes one SYSTEM_ID");
  std::string error;
  auto pw = read_password(p, error);
  if (!pw) return usage_error(kCustomerUsage, error);
  std::string hash = hash_password(*pw);
  std::fill(pw->begin(), pw->end(), '\0');
  try {
    auto conn = connect(resolve_dsn(p.get("pg")));
    pqxx::work w(*conn, "customer passwd");
    auto r = w.exec_params("UPDATE sluice.customers SET password_hash = $2 WHERE system_id = $1",
                           p.positional[0], hash);
    if (r.affected_rows() == 0) return fail("no customer with system_id " + p.positional[0]);
    w.commit();
  } catch (const std::exception& e) {
    return fail(first_line(e.what()));
  }
  std::cout << "password of " << p.positional[0] << " changed\n";
  return 0;
}

// ---------------------------------------------------------------------------
// sluice provider

const char* kProviderUsage =
    "usage: sluice provider add NAME --host H --port P --system-id S (--password P | "
    "--password-stdin) [options]\n"
    "  NAME                  a-z 0-9 _ -, at most 40 (it names the provider's Kafka topic)\n"
    "  --tls                 connect with TLS\n"
    "  --system-type T       SMPP system_type (default empty)\n"
    "  --bind-mode M         transceiver (default), transmitter, or transmitter_receiver\n"
    "  --binds N             binds to open (default 1)\n"
    "  --window N            outstanding submit_sm per bind (default 10)\n"
    "  --mps N               messages per second across the cluster (default 10)\n"
    "  --enquire-link SECS   enquire_link interval (default 30)\n"
    "  --source-addr A       replace the source address of every message\n"
    "  --data-coding N       default data_coding (default 0)\n"
    "  --disabled            add the provider disabled\n"
    "  --pg DSN              libpq connection string\n"
    "The password is stored as given: Sluice must send it to the SMSC in clear.\n";

int provider_add(const Parsed& p) {
  if (p.positional.size() != 1) return usage_error(kProviderUsage, "provider add takes one NAME");
  for (const char* req : {"host", "port", "system-id"})
    if (!p.has(req)) return usage_error(kProviderUsage, std::string("--") + req + " is required");
  double d = 0;
  for (const char* num : {"port", "binds", "window", "mps", "enquire-link", "data-coding"})
    if (auto v = p.get(num); v && !parse_number(*v, d))
      return usage_error(kProviderUsage, std::string("--") + num + " needs a number");
  if (auto m = p.get("bind-mode"); m && !parse_bind_mode(*m))
    return usage_error(kProviderUsage,
                       "--bind-mode must be transmitter, transceiver or transmitter_receiver");
  std::string error;
  std::string password;
  if (p.has("password") || p.has("password-stdin")) {
    if (p.has("password") && p.has("password-stdin"))
      return usage_error(kProviderUsage, "give only one of --password-stdin or --password");
    if (p.has("password")) {
      password = *p.get("password");
    } else {
      std::getline(std::cin, password);
      if (!password.empty() && password.back() == '\r') password.pop_back();
    }
  } else {
    return usage_error(
        kProviderUsage,
        "--password or --password-stdin is required (it may be empty: --password '')");
  }
  std::vector<std::string> cols{"name", "host", "port", "system_id", "password"};
  std::vector<std::string> vals{p.positional[0], *p.get("host"), *p.get("port"),
                                *p.get("system-id"), password};
  auto opt = [&](const char* flag, const char* col) {
    if (auto v = p.get(flag)) {
      cols.push_back(col);
      vals.push_back(*v);
    }
  };
  opt("system-type", "system_type");
  opt("bind-mode", "bind_mode");
  opt("binds", "binds");
  opt("window", "window_size");
  opt("mps", "mps");
  opt("source-addr", "source_addr_override");
  opt("data-coding", "default_data_coding");
  if (auto v = p.get("enquire-link"))
    cols.push_back("enquire_link_interval"), vals.push_back(*v + " seconds");
  if (p.has("tls")) cols.push_back("tls"), vals.push_back("true");
  if (p.has("disabled")) cols.push_back("enabled"), vals.push_back("false");
  std::string sql = "INSERT INTO sluice.providers (", ph;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    sql += (i ? ", " : "") + cols[i];
    ph += (i ? ", $" : "$") + std::to_string(i + 1);
  }
  sql += ") VALUES (" + ph + ") RETURNING id";
  try {
    auto conn = connect(resolve_dsn(p.get("pg")));
    pqxx::work w(*conn, "provider add");
    auto r = w.exec_params1(sql, pqxx::prepare::make_dynamic_params(vals));
    w.commit();
    std::cout << "provider " << p.positional[0] << " added (id " << r[0].c_str() << ")\n";
  } catch (const std::exception& e) {
    return fail(first_line(e.what()));
  }
  return 0;
}

}  // namespace

int run_db_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error(kDbUsage, "missing subcommand");
  if (wants_help(args)) {
    std::cout << kDbUsage;
    return 0;
  }
  Parsed p;
  std::string error;
  if (!parse_flags(args, 1, {{"pg", true}}, p, error)) return usage_error(kDbUsage, error);
  if (!p.positional.empty()) return usage_error(kDbUsage, "unexpected argument " + p.positional[0]);
  const std::string dsn = resolve_dsn(p.get("pg"));
  if (args[0] == "migrate") {
    try {
      auto done = migrate_verbose(dsn);
      if (done.empty())
        std::cout << "schema is up to date (" << migrations().size() << " migrations)\n";
      for (const auto& m : done) std::cout << "applied " << m << "\n";
    } catch (const std::exception& e) {
      return fail("migration failed: " + first_line(e.what()));
    }
    return 0;
  }
  if (args[0] == "status") {
    try {
      bool ok = true;
      for (const auto& m : migration_status(dsn)) {
        std::string st = !m.applied      ? "pending"
                         : m.checksum_ok ? "applied " + m.applied_at
                                         : "CHANGED after it was applied";
        ok = ok && m.applied && m.checksum_ok;
        char num[8];
        std::snprintf(num, sizeof num, "%03d", m.version);
        std::cout << num << "_" << m.name << "  " << st << "\n";
      }
      return ok ? 0 : 1;
    } catch (const std::exception& e) {
      return fail(first_line(e.what()));
    }
  }
  return usage_error(kDbUsage, "unknown subcommand " + args[0]);
}

int run_config_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error(kConfigUsage, "missing subcommand");
  if (wants_help(args)) {
    std::cout << kConfigUsage;
    return 0;
  }
  Parsed p;
  std::string error;
  if (args[0] == "show") {
    if (!parse_flags(args, 1, {{"pg", true}, {"cache", true}, {"json", false}}, p, error))
      return usage_error(kConfigUsage, error);
    if (!p.positional.empty())
      return usage_error(kConfigUsage, "unexpected argument " + p.positional[0]);
    return config_show(p);
  }
  if (args[0] == "watch") {
    if (!parse_flags(args, 1, {{"pg", true}, {"cache", true}, {"stage", true}, {"instance", true}},
                     p, error))
      return usage_error(kConfigUsage, error);
    if (!p.positional.empty())
      return usage_error(kConfigUsage, "unexpected argument " + p.positional[0]);
    return config_watch(p);
  }
  return usage_error(kConfigUsage, "unknown subcommand " + args[0]);
}

int run_customer_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error(kCustomerUsage, "missing subcommand");
  if (wants_help(args)) {
    std::cout << kCustomerUsage;
    return 0;
  }
  Parsed p;
  std::string error;
  if (args[0] == "add") {
    if (!parse_flags(args, 1,
                     {{"pg", true},
                      {"password", true},
                      {"password-stdin", false},
                      {"mps", true},
                      {"max-binds", true},
                      {"validity", true},
                      {"allow", true, true},
                      {"no-dlr", false},
                      {"dlr-per-message", false},
                      {"disabled", false}},
                     p, error))
      return usage_error(kCustomerUsage, error);
    return customer_add(p);
  }
  if (args[0] == "passwd") {
    if (!parse_flags(args, 1, {{"pg", true}, {"password", true}, {"password-stdin", false}}, p,
                     error))
      return usage_error(kCustomerUsage, error);
    return customer_passwd(p);
  }
  return usage_error(kCustomerUsage, "unknown subcommand " + args[0]);
}

int run_provider_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error(kProviderUsage, "missing subcommand");
  if (wants_help(args)) {
    std::cout << kProviderUsage;
    return 0;
  }
  Parsed p;
  std::string error;
  if (args[0] == "add") {
    if (!parse_flags(args, 1,
                     {{"pg", true},
                      {"host", true},
                      {"port", true},
                      {"system-id", true},
                      {"password", true},
                      {"password-stdin", false},
                      {"tls", false},
                      {"system-type", true},
                      {"bind-mode", true},
                      {"binds", true},
                      {"window", true},
                      {"mps", true},
                      {"enquire-link", true},
                      {"source-addr", true},
                      {"data-coding", true},
                      {"disabled", false}},
                     p, error))
      return usage_error(kProviderUsage, error);
    return provider_add(p);
  }
  return usage_error(kProviderUsage, "unknown subcommand " + args[0]);
}

}  // namespace sluice::config
