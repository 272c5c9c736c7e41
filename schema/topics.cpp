#include "schema/topics.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::schema {
extern const char* const kTopicsJson;

namespace {
const nlohmann::json& table() {
  static const nlohmann::json j = nlohmann::json::parse(kTopicsJson);
  return j;
}

TopicSpec spec_of(const nlohmann::json& t, std::string name) {
  TopicSpec s;
  s.name = std::move(name);
  s.partitions = t.at("partitions").get<int>();
  s.retention_ms = t.at("retention_ms").get<int64_t>();
  s.cleanup_policy = t.at("cleanup_policy").get<std::string>();
  s.scales = t.value("scales", false);
  return s;
}
}  // namespace

std::vector<TopicSpec> topics(const std::string& prefix) {
  std::vector<TopicSpec> out;
  for (const auto& t : table().at("topics"))
    out.push_back(spec_of(t, prefix + t.at("name").get<std::string>()));
  return out;
}

TopicSpec node_topic(const std::string& prefix, const std::string& node) {
  for (const auto& t : table().at("templates")) {
    auto name = t.at("name").get<std::string>();
    auto pos = name.find("{node}");
    if (pos == std::string::npos) continue;
    name.replace(pos, 6, topic_safe(node));
    return spec_of(t, prefix + name);
  }
  throw std::logic_error("topics.json has no node template");
}

std::string topic_safe(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty()) out = "node";
  return out.substr(0, 180);
}

TopicSpec provider_topic(const std::string& prefix, const std::string& provider_name) {
  if (!valid_provider_topic_part(provider_name))
    throw std::invalid_argument("provider name not usable in a topic name: " + provider_name);
  for (const auto& t : table().at("templates")) {
    auto name = t.at("name").get<std::string>();
    auto pos = name.find("{provider}");
    if (pos == std::string::npos) continue;  // not the provider template
    name.replace(pos, 10, provider_name);
    return spec_of(t, prefix + name);
  }
  throw std::logic_error("topics.json has no provider template");
}

std::string topic_name(const std::string& prefix, const std::string& base) {
  return prefix + base;
}

bool valid_provider_topic_part(const std::string& n) {
  if (n.empty() || n.size() > 200) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace sluice::schema
