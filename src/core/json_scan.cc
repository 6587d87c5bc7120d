#include "deskpilot/json_scan.h"

#include <locale.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace deskpilot {
namespace {

using Kind = JsonScalar::Kind;

// Paths a scan can follow at once: enough for any adapter, and a fixed array keeps the
// per-member bookkeeping free of allocations.
constexpr size_t kMaxPaths = 32;

struct LiveSet {
  size_t n = 0;
  uint8_t index[kMaxPaths];
};

// Bytes of one UTF-8 sequence starting at p (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF), 0 when invalid. The same table nlohmann's lexer checks.
size_t Utf8Length(const unsigned char* p, const unsigned char* end) {
  auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  const unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// nlohmann reads a number with strtod (an integer beyond uint64 too) and refuses one that is
// not finite; an underflow to 0 is accepted. Read in the C locale, whatever the process's.
bool FiniteNumber(const char* begin, size_t len) {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  const std::string copy(begin, len);
  return std::isfinite(strtod_l(copy.c_str(), nullptr, c_locale));
}

class Scanner {
 public:
  Scanner(std::string_view text, const std::vector<JsonPath>& paths, std::vector<JsonScalar>& out)
      : begin_(reinterpret_cast<const unsigned char*>(text.data())),
        p_(begin_),
        end_(begin_ + text.size()),
        paths_(paths),
        out_(out) {}

  // Parses the whole text; sets *top to the top-level value's kind.
  bool Run(Kind* top) {
    // A UTF-8 byte order mark is skipped, only as the very first bytes (as nlohmann does).
    if (p_ < end_ && *p_ == 0xEF) {
      if (end_ - p_ < 3 || p_[1] != 0xBB || p_[2] != 0xBF) return Fail("invalid byte order mark");
      p_ += 3;
    }
    SkipSpace();
    LiveSet all;
    for (size_t i = 0; i < paths_.size(); ++i) all.index[all.n++] = static_cast<uint8_t>(i);
    *top = p_ < end_ && *p_ == '{' ? Kind::kObject : Kind::kMissing;
    if (!Value(0, all)) return false;
    SkipSpace();
    if (p_ != end_) return Fail("unexpected text after the value");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at byte " + std::to_string(p_ - begin_);
    return false;
  }

  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // One value at `depth` (0 is the top level); `live` holds the paths whose first `depth`
  // names led here. Those that end here take this value.
  bool Value(int depth, const LiveSet& live) {
    if (depth > kMaxJsonScanDepth) return Fail("nesting too deep");
    if (p_ >= end_) return Fail("expected a value");
    LiveSet here;
    for (size_t k = 0; k < live.n; ++k)
      if (paths_[live.index[k]].size() == static_cast<size_t>(depth)) here.index[here.n++] = live.index[k];
    auto mark = [&](Kind kind) {
      for (size_t k = 0; k < here.n; ++k) out_[here.index[k]].kind = kind;
    };
    switch (*p_) {
      case '{':
        mark(Kind::kObject);
        return Object(depth, live);
      case '[':
        mark(Kind::kArray);
        return Array(depth);
      case '"': {
        if (here.n == 0) return String(nullptr);
        std::string& first = out_[here.index[0]].text;
        first.clear();
        if (!String(&first)) return false;
        mark(Kind::kString);
        for (size_t k = 1; k < here.n; ++k) out_[here.index[k]].text = first;
        return true;
      }
      case 't': return Literal("true", Kind::kBool, here);
      case 'f': return Literal("false", Kind::kBool, here);
      case 'n': return Literal("null", Kind::kNull, here);
      default: {
        const unsigned char* start = p_;
        if (!Number()) return false;
        mark(Kind::kNumber);
        for (size_t k = 0; k < here.n; ++k)
          out_[here.index[k]].text.assign(reinterpret_cast<const char*>(start), static_cast<size_t>(p_ - start));
        return true;
      }
    }
  }

  bool Literal(const char* word, Kind kind, const LiveSet& here) {
    const size_t len = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < len || std::memcmp(p_, word, len) != 0) return Fail("invalid literal");
    p_ += len;
    for (size_t k = 0; k < here.n; ++k) {
      out_[here.index[k]].kind = kind;
      out_[here.index[k]].text = kind == Kind::kBool ? word : "";
    }
    return true;
  }

  bool Object(int depth, const LiveSet& live) {
    ++p_;  // '{'
    SkipSpace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (p_ >= end_ || *p_ != '"') return Fail("expected a member name");
      LiveSet next;
      if (live.n == 0) {
        if (!String(nullptr)) return false;
      } else {
        key_.clear();
        if (!String(&key_)) return false;
        for (size_t k = 0; k < live.n; ++k) {
          const JsonPath& path = paths_[live.index[k]];
          if (path.size() > static_cast<size_t>(depth) && path[static_cast<size_t>(depth)] == key_) {
            next.index[next.n++] = live.index[k];
            // A later member of the same name replaces the earlier one, everything under
            // it included (nlohmann keeps the last).
            out_[live.index[k]] = JsonScalar{};
          }
        }
      }
      SkipSpace();
      if (p_ >= end_ || *p_ != ':') return Fail("expected ':'");
      ++p_;
      SkipSpace();
      if (!Value(depth + 1, next)) return false;
      SkipSpace();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  bool Array(int depth) {
    ++p_;  // '['
    SkipSpace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    const LiveSet none{};
    for (;;) {
      SkipSpace();
      if (!Value(depth + 1, none)) return false;
      SkipSpace();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  bool Hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned char c = p_[i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return Fail("invalid \\u escape");
    }
    p_ += 4;
    *cp = v;
    return true;
  }

  // p_ is at the opening quote. Decodes into *out when out is not null.
  bool String(std::string* out) {
    ++p_;
    const unsigned char* run = p_;  // start of the bytes not yet copied to *out
    auto flush = [&] {
      if (out) out->append(reinterpret_cast<const char*>(run), static_cast<size_t>(p_ - run));
    };
    for (;;) {
      // Plain printable ASCII, the bulk of any text, in a tight loop.
      while (p_ < end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\') ++p_;
      if (p_ >= end_) return Fail("unterminated string");
      const unsigned char c = *p_;
      if (c == '"') {
        flush();
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c >= 0x80) {
        const size_t n = Utf8Length(p_, end_);
        if (n == 0) return Fail("invalid UTF-8");
        p_ += n;
        continue;
      }
      flush();  // a backslash
      ++p_;
      if (p_ >= end_) return Fail("unterminated string");
      const unsigned char e = *p_++;
      char plain = 0;
      switch (e) {
        case '"': plain = '"'; break;
        case '\\': plain = '\\'; break;
        case '/': plain = '/'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail("high surrogate without its pair");
            p_ += 2;
            if (!Hex4(&low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return Fail("high surrogate without its pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          if (out) AppendUtf8(cp, *out);
          break;
        }
        default:
          return Fail("invalid escape");
      }
      if (plain != 0 && out) *out += plain;
      run = p_;
    }
  }

  bool Number() {
    const unsigned char* start = p_;
    auto digit = [&] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
    if (*p_ == '-') ++p_;
    if (p_ < end_ && *p_ == '0') {
      ++p_;
    } else if (p_ < end_ && *p_ >= '1' && *p_ <= '9') {
      while (digit()) ++p_;
    } else {
      return Fail(start == p_ ? "unexpected character" : "invalid number");
    }
    bool is_float = false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digit()) return Fail("invalid number");
      while (digit()) ++p_;
      is_float = true;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digit()) return Fail("invalid number");
      while (digit()) ++p_;
      is_float = true;
    }
    const size_t len = static_cast<size_t>(p_ - start);
    // Only a float or a very long integer can overflow a double.
    if ((is_float || len > 300) && !FiniteNumber(reinterpret_cast<const char*>(start), len))
      return Fail("number out of range");
    return true;
  }

  const unsigned char* const begin_;
  const unsigned char* p_;
  const unsigned char* const end_;
  const std::vector<JsonPath>& paths_;
  std::vector<JsonScalar>& out_;
  std::string key_;  // the member name being matched (reused: compared before recursing)
  std::string error_;
};

}  // namespace

std::string JsonScalar::IdText() const {
  if (kind == Kind::kString) return text;
  if (kind != Kind::kNumber || text.find_first_of(".eE") != std::string::npos) return "";
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return "";
  return std::to_string(v);  // "-0" is 0, as nlohmann reads it
}

Result<std::vector<JsonScalar>> ScanJsonObject(std::string_view text, const std::vector<JsonPath>& paths) {
  if (paths.size() > kMaxPaths) return Status::Internal("ScanJsonObject: more than 32 paths");
  std::vector<JsonScalar> out(paths.size());
  Scanner scanner(text, paths, out);
  Kind top = Kind::kMissing;
  if (!scanner.Run(&top)) return Status::InvalidArgument("malformed JSON: " + scanner.error());
  if (top != Kind::kObject) return Status::InvalidArgument("body is not a JSON object");
  return out;
}

}  // namespace deskpilot
