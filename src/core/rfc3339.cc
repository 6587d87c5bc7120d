#include "deskpilot/rfc3339.h"

#include <cstdio>

namespace deskpilot {
namespace {

// Reads exactly `n` decimal digits at `pos`; advances `pos`.
bool ReadDigits(std::string_view s, size_t& pos, int n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::string FormatRfc3339Utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto days = floor<std::chrono::days>(secs);
  year_month_day ymd{days};
  hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s) {
  using namespace std::chrono;
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!ReadDigits(s, pos, 4, &y) || !Expect(s, pos, '-') || !ReadDigits(s, pos, 2, &mo) ||
      !Expect(s, pos, '-') || !ReadDigits(s, pos, 2, &d)) {
    return std::nullopt;
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  if (!ReadDigits(s, pos, 2, &h) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &mi) ||
      !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &sec)) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!ReadDigits(s, pos, 2, &oh) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // 60 is allowed for a leap second; it simply rolls into the next minute.
  if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  // system_clock counts nanoseconds: outside about 1678..2262 the conversion below
  // overflows (UB on an attacker's signature timestamp; found by fuzz_webhook_parse).
  if (y < 1970 || y > 2200) return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  sys_seconds t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} - minutes{offset_minutes};
  return time_point_cast<system_clock::duration>(t);
}

}  // namespace deskpilot
