#include "routing/record_util.h"

#include <algorithm>

namespace sluice::routing {

int64_t timestamp_ms(const rd_kafka_message_t* m, int64_t fallback) {
  rd_kafka_timestamp_type_t type;
  int64_t ts = rd_kafka_message_timestamp(m, &type);
  return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? fallback : ts;
}

Headers headers_of(const rd_kafka_message_t* m, std::initializer_list<std::string_view> except) {
  Headers out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return out;
  const char* name = nullptr;
  const void* val = nullptr;
  size_t size = 0;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    std::string_view n(name);
    if (std::find(except.begin(), except.end(), n) != except.end()) continue;
    out.emplace_back(std::string(n),
                     val ? std::string(static_cast<const char*>(val), size) : std::string());
  }
  return out;
}

}  // namespace sluice::routing
