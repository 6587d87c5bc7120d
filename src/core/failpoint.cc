#include "core/failpoint.h"

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include <spdlog/spdlog.h>

namespace deskpilot {
namespace {

constexpr const char* kNames[kFailPointCount] = {"after_enqueue_commit", "after_lease",
                                                 "after_pipeline", "after_write_back"};

// Hits still to go before each point fires; 0 = not armed.
std::atomic<int> g_remaining[kFailPointCount];

}  // namespace

namespace failpoint_internal {

std::atomic<bool> armed{false};

void Hit(FailPoint p) {
  const int i = static_cast<int>(p);
  int left = g_remaining[i].load();
  // Decrement only while positive, so exactly one thread sees the count reach zero.
  while (left > 0 && !g_remaining[i].compare_exchange_weak(left, left - 1)) {
  }
  if (left != 1) return;
  spdlog::critical("fail point {} reached: SIGKILL", kNames[i]);
  spdlog::default_logger()->flush();
  raise(SIGKILL);
}

}  // namespace failpoint_internal

const char* FailPointName(FailPoint p) { return kNames[static_cast<int>(p)]; }

Status ArmFailPoints(const std::string& spec) {
  int counts[kFailPointCount] = {0};
  std::string_view rest = spec;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    std::string_view name = item;
    int count = 1;
    if (size_t at = item.find('@'); at != std::string_view::npos) {
      name = item.substr(0, at);
      std::string_view n = item.substr(at + 1);
      auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
      if (ec != std::errc() || end != n.data() + n.size() || count < 1)
        return Status::InvalidArgument("DESKPILOT_FAILPOINTS: bad count in '" + std::string(item) + "'");
    }
    int index = -1;
    for (int i = 0; i < kFailPointCount; ++i)
      if (name == kNames[i]) index = i;
    if (index < 0)
      return Status::InvalidArgument("DESKPILOT_FAILPOINTS: unknown fail point '" + std::string(name) + "'");
    counts[index] = count;
  }
  bool any = false;
  for (int i = 0; i < kFailPointCount; ++i) {
    g_remaining[i] = counts[i];
    any = any || counts[i] > 0;
  }
  failpoint_internal::armed = any;
  return Status::Ok();
}

Status LoadFailPoints() {
  static std::once_flag once;
  Status result;
  std::call_once(once, [&result] {
    const char* spec = std::getenv("DESKPILOT_FAILPOINTS");
    if (spec == nullptr || *spec == '\0') return;
    result = ArmFailPoints(spec);
    if (result.ok()) spdlog::warn("fail points armed (test facility): {}", spec);
  });
  return result;
}

}  // namespace deskpilot
