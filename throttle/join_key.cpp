#include "throttle/join_key.h"

namespace sluice::throttle {

std::string join_key(int64_t provider_id, const std::string& id) {
  return std::to_string(provider_id) + "|" + id;
}

}  // namespace sluice::throttle
