#pragma once
// Replay checkpoints of a stage that holds records for long (the assembler).
//
// Such a stage commits a partition's offset only up to its oldest record not
// yet done, so after a crash or a rebalance the next owner reads again from
// there: every record after it as well, including those already done (for
// the assembler, single-part messages and groups that completed after the
// oldest incomplete one began, up to the group timeout of traffic). A
// checkpoint says which of them are done:
//   every offset below `next` that is not in `open` is done.
// That fact never stops being true, so any checkpoint, however old or written
// by whichever owner, is safe to use: the new owner skips what it says is done
// and handles the rest. A lost checkpoint only costs duplicates.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::routing {

struct Checkpoint {
  int64_t next = -1;          // one past the highest offset read
  std::vector<int64_t> open;  // sorted; offsets read but not yet done
};

// Caps the open list: with more, the checkpoint claims only what lies below
// its lowest open offset (still true, just less useful).
inline constexpr size_t kMaxCheckpointOpen = 50000;

std::string encode_checkpoint(const Checkpoint& c);
std::optional<Checkpoint> decode_checkpoint(std::string_view text);

// Decides, for a new owner, which records of a partition were already done.
class ReplayFilter {
 public:
  explicit ReplayFilter(Checkpoint c);
  bool done_before(int64_t offset) const;
  int64_t next() const { return c_.next; }

 private:
  Checkpoint c_;
};

}  // namespace sluice::routing
