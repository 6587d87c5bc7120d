// Redaction design: every detector is a hand-written, single-pass scanner that finds
// candidates and hands them to a validator (Luhn + IIN, mod-97, octet ranges,
// inet_pton, digit-count and shape rules). No std::regex: ticket text is hostile and
// std::regex backtracks (and recurses) badly on long inputs. Each scanner skips past
// the whole run it examined, so total work stays linear in the input size.
//
// Overlapping candidates are resolved by type priority (a secret beats an email beats
// an IBAN beats a card ...), then by position. Only ASCII spans are ever replaced, so
// multi-byte UTF-8 sequences around them are never cut.
//
// RedactionMap::counts holds the number of distinct values per type, which is also
// the highest placeholder number handed out for that type.
#include "deskpilot/redact.h"
#include "deskpilot/text.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

namespace deskpilot {

namespace {

enum Type { kSecret = 0, kEmail, kIban, kCard, kSsn, kIp, kPhone, kTypeCount };
constexpr std::array<const char*, kTypeCount> kTypeNames = {"SECRET", "EMAIL", "IBAN", "CARD",
                                                            "SSN",    "IP",    "PHONE"};

struct Match {
  size_t begin;
  size_t end;
  Type type;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char At(std::string_view s, size_t i) { return i < s.size() ? s[i] : '\0'; }
char Before(std::string_view s, size_t i) { return i == 0 ? '\0' : s[i - 1]; }

// ---------------------------------------------------------------- SECRET

struct TokenRule {
  const char* prefix;
  bool (*body_char)(char);
  size_t min_body;
  size_t exact_body;  // 0 = any length >= min_body
};

bool TokenChar(char c) { return IsAlnum(c) || c == '_' || c == '-'; }
bool AlnumChar(char c) { return IsAlnum(c); }
bool UpperAlnumChar(char c) { return IsUpper(c) || IsDigit(c); }
bool AlnumUnderscore(char c) { return IsAlnum(c) || c == '_'; }
bool AlnumDash(char c) { return IsAlnum(c) || c == '-'; }
bool Base64Char(char c) { return IsAlnum(c) || c == '+' || c == '/' || c == '=' || c == '_'; }

constexpr TokenRule kTokenRules[] = {
    {"sk-", TokenChar, 20, 0},  // OpenAI sk-/sk-proj-, Anthropic sk-ant-
    {"AKIA", UpperAlnumChar, 16, 16},
    {"ASIA", UpperAlnumChar, 16, 16},
    {"ghp_", AlnumChar, 30, 0},
    {"gho_", AlnumChar, 30, 0},
    {"ghs_", AlnumChar, 30, 0},
    {"ghu_", AlnumChar, 30, 0},
    {"github_pat_", AlnumUnderscore, 22, 0},
    {"xoxa-", AlnumDash, 10, 0},
    {"xoxb-", AlnumDash, 10, 0},
    {"xoxp-", AlnumDash, 10, 0},
    {"xoxr-", AlnumDash, 10, 0},
    {"xoxs-", AlnumDash, 10, 0},
    {"AIza", TokenChar, 35, 35},
    {"sk_live_", AlnumChar, 16, 0},
    {"rk_live_", AlnumChar, 16, 0},
    {"whsec_", Base64Char, 16, 0},
};

void ScanPrefixedTokens(std::string_view text, std::vector<Match>* out) {
  for (const auto& rule : kTokenRules) {
    const size_t plen = std::strlen(rule.prefix);
    for (size_t pos = text.find(rule.prefix); pos != std::string_view::npos;
         pos = text.find(rule.prefix, pos + 1)) {
      if (TokenChar(Before(text, pos))) continue;
      size_t end = pos + plen;
      while (end < text.size() && rule.body_char(text[end])) ++end;
      const size_t body = end - pos - plen;
      if (body < rule.min_body) continue;
      if (rule.exact_body != 0 && body != rule.exact_body) continue;
      out->push_back({pos, end, kSecret});
      pos = end - 1;
    }
  }
}

size_t JwtSegment(std::string_view text, size_t i) {
  size_t end = i;
  while (end < text.size() && TokenChar(text[end])) ++end;
  return end;
}

void ScanJwts(std::string_view text, std::vector<Match>* out) {
  for (size_t pos = text.find("eyJ"); pos != std::string_view::npos;
       pos = text.find("eyJ", pos + 1)) {
    if (TokenChar(Before(text, pos))) continue;
    size_t header_end = JwtSegment(text, pos);
    if (At(text, header_end) != '.' || text.substr(header_end + 1, 3) != "eyJ") continue;
    size_t payload_end = JwtSegment(text, header_end + 1);
    if (At(text, payload_end) != '.') continue;
    size_t sig_end = JwtSegment(text, payload_end + 1);
    if (sig_end == payload_end + 1) continue;
    out->push_back({pos, sig_end, kSecret});
    pos = sig_end - 1;
  }
}

// -----BEGIN [A-Z ]*PRIVATE KEY----- ... -----END ...-----; an unterminated block is
// redacted to the end of the text rather than leaking the key material.
void ScanPemKeys(std::string_view text, std::vector<Match>* out) {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  static constexpr std::string_view kTail = "PRIVATE KEY-----";
  for (size_t pos = text.find(kBegin); pos != std::string_view::npos;
       pos = text.find(kBegin, pos + 1)) {
    size_t i = pos + kBegin.size();
    while (i < text.size() && (IsUpper(text[i]) || text[i] == ' ')) {
      if (text.substr(i, kTail.size()) == kTail) break;
      ++i;
    }
    if (text.substr(i, kTail.size()) != kTail) continue;
    size_t end_marker = text.find("-----END ", i + kTail.size());
    size_t end = text.size();
    if (end_marker != std::string_view::npos) {
      size_t close = text.find("-----", end_marker + 9);
      end = close == std::string_view::npos ? text.size() : close + 5;
    }
    out->push_back({pos, end, kSecret});
    pos = end - 1;
  }
}

bool ValueChar(char c) {
  return c > ' ' && c != '"' && c != '\'' && c != ',' && c != ';' && c != '&' &&
         static_cast<unsigned char>(c) < 0x80;
}

// key = value / key: value / "key": "value". Only the value is redacted, so the text
// still says what kind of thing was there.
void ScanKeyValueSecrets(std::string_view text, std::string_view lower,
                         std::vector<Match>* out) {
  static constexpr const char* kKeys[] = {"password",     "passwd",       "passphrase",
                                          "client_secret", "secret_key",  "api_key",
                                          "apikey",        "access_token", "auth_token"};
  for (const char* key : kKeys) {
    const size_t klen = std::strlen(key);
    for (size_t pos = lower.find(key); pos != std::string_view::npos;
         pos = lower.find(key, pos + 1)) {
      size_t i = pos + klen;
      if (IsAlnum(At(text, i))) continue;  // "passwords", "apikeys"
      if (At(text, i) == '"' || At(text, i) == '\'') ++i;
      while (At(text, i) == ' ') ++i;
      const char sep = At(text, i);
      if (sep != '=' && sep != ':') continue;
      ++i;
      while (At(text, i) == ' ') ++i;
      char quote = At(text, i);
      size_t begin = i, end = i;
      if (quote == '"' || quote == '\'') {
        begin = ++i;
        end = begin;
        while (end < text.size() && end - begin < 256 && text[end] != quote && text[end] != '\n')
          ++end;
        if (At(text, end) != quote) continue;
      } else {
        while (end < text.size() && ValueChar(text[end])) ++end;
        // Trailing sentence punctuation is not part of the value.
        while (end > begin && (text[end - 1] == '.' || text[end - 1] == ')')) --end;
      }
      if (end == begin || text[begin] == '<') continue;  // empty, or already a placeholder
      // After a colon this is often prose ("Password: reset it please"): require the
      // value to look like a credential (a digit or symbol, or at least 8 characters).
      if (sep == ':') {
        std::string_view v = text.substr(begin, end - begin);
        bool has_non_alpha = std::any_of(v.begin(), v.end(), [](char c) { return !IsAlpha(c); });
        if (!has_non_alpha && v.size() < 8) continue;
      }
      out->push_back({begin, end, kSecret});
      pos = end - 1;  // the value may repeat the key; never rescan it
    }
  }
}

bool BearerChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' ||
         c == '-';
}

void ScanAuthorization(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  static constexpr std::string_view kAuth = "authorization";
  for (size_t pos = lower.find(kAuth); pos != std::string_view::npos;
       pos = lower.find(kAuth, pos + 1)) {
    size_t i = pos + kAuth.size();
    if (At(text, i) == '"' || At(text, i) == '\'') ++i;
    while (At(text, i) == ' ') ++i;
    if (At(text, i) != ':' && At(text, i) != '=') continue;
    ++i;
    while (At(text, i) == ' ' || At(text, i) == '"' || At(text, i) == '\'') ++i;
    // Optional scheme word (Bearer, Basic, Token, ...) stays visible.
    size_t word_end = i;
    while (word_end < text.size() && IsAlpha(text[word_end])) ++word_end;
    if (word_end > i && At(text, word_end) == ' ') {
      i = word_end;
      while (At(text, i) == ' ') ++i;
    }
    size_t end = i;
    while (end < text.size() && BearerChar(text[end])) ++end;
    if (end - i >= 8) {
      out->push_back({i, end, kSecret});
      pos = end - 1;
    }
  }
  // A bare "Bearer <token>" (pasted curl commands, logs) without the header name.
  static constexpr std::string_view kBearer = "bearer ";
  for (size_t pos = lower.find(kBearer); pos != std::string_view::npos;
       pos = lower.find(kBearer, pos + 1)) {
    size_t i = pos + kBearer.size();
    size_t end = i;
    while (end < text.size() && BearerChar(text[end])) ++end;
    std::string_view v = text.substr(i, end - i);
    if (v.size() >= 16 && std::any_of(v.begin(), v.end(), IsDigit))
      out->push_back({i, end, kSecret});
  }
}

// ---------------------------------------------------------------- EMAIL

bool EmailLocalChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
bool EmailDomainChar(char c) { return IsAlnum(c) || c == '.' || c == '-'; }

void ScanEmails(std::string_view text, std::vector<Match>* out) {
  for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    size_t begin = at;
    while (begin > 0 && EmailLocalChar(text[begin - 1])) --begin;
    while (begin < at && text[begin] == '.') ++begin;
    size_t end = at + 1;
    while (end < text.size() && EmailDomainChar(text[end])) ++end;
    while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
    if (begin == at || end == at + 1) continue;
    std::string_view domain = text.substr(at + 1, end - at - 1);
    size_t dot = domain.rfind('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    std::string_view tld = domain.substr(dot + 1);
    if (tld.size() < 2 || !std::all_of(tld.begin(), tld.end(), IsAlpha)) continue;
    out->push_back({begin, end, kEmail});
  }
}

// ---------------------------------------------------------------- IBAN

int IbanLength(std::string_view country) {
  static const std::unordered_map<std::string_view, int> kLengths = {
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28},
      {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24},
      {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18},
      {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23},
      {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
      {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22},
      {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
      {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
      {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28},
      {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}};
  auto it = kLengths.find(country);
  return it == kLengths.end() ? 0 : it->second;
}

// ISO 7064 mod 97-10 over the rearranged IBAN (first four characters moved to the end,
// letters as 10..35), computed incrementally so no big integer is needed.
bool IbanChecksumOk(const std::string& iban) {
  int remainder = 0;
  for (size_t k = 0; k < iban.size(); ++k) {
    const char c = iban[(k + 4) % iban.size()];
    if (IsDigit(c)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else {
      const int v = c - 'A' + 10;
      remainder = (remainder * 100 + v) % 97;
    }
  }
  return remainder == 1;
}

void ScanIbans(std::string_view text, std::vector<Match>* out) {
  for (size_t i = 0; i + 4 <= text.size(); ++i) {
    if (!IsUpper(text[i]) || IsAlnum(Before(text, i))) continue;
    if (!IsUpper(text[i + 1]) || !IsDigit(At(text, i + 2)) || !IsDigit(At(text, i + 3))) continue;
    const int want = IbanLength(text.substr(i, 2));
    if (want == 0) continue;
    std::string compact(text.substr(i, 4));
    size_t end = i + 4;
    // Printed IBANs group by four with single spaces; accept either form.
    while (static_cast<int>(compact.size()) < want) {
      char c = At(text, end);
      if (c == ' ' && (IsUpper(At(text, end + 1)) || IsDigit(At(text, end + 1)))) {
        ++end;
        continue;
      }
      if (!IsUpper(c) && !IsDigit(c)) break;
      compact.push_back(c);
      ++end;
    }
    if (static_cast<int>(compact.size()) != want || IsAlnum(At(text, end))) continue;
    if (!IbanChecksumOk(compact)) continue;
    out->push_back({i, end, kIban});
    i = end - 1;
  }
}

// ---------------------------------------------------------------- CARD

bool LuhnOk(const std::string& digits) {
  int sum = 0;
  bool twice = false;
  for (size_t k = digits.size(); k-- > 0;) {
    int d = digits[k] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

// Luhn alone passes one random number in ten, so the issuer prefix must fit too.
bool KnownCardPrefix(const std::string& d) {
  auto prefix = [&](size_t n) { return std::stoi(d.substr(0, n)); };
  const int p2 = prefix(2), p3 = prefix(3), p4 = prefix(4);
  if (d[0] == '4') return true;                                 // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return true;  // Mastercard
  if (p2 == 34 || p2 == 37) return true;                        // Amex
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return true;  // Discover
  if (p2 == 35) return true;                                    // JCB
  if (p2 == 36 || p2 == 38 || p2 == 30) return true;            // Diners
  return false;
}

void ScanCards(std::string_view text, std::vector<Match>* out) {
  std::string digits;  // reused: one allocation for the whole scan
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsDigit(text[i])) continue;
    size_t first_group_end = i;
    while (first_group_end < text.size() && IsDigit(text[first_group_end])) ++first_group_end;
    // Digits with single spaces or dashes between them, at most 19 of them.
    digits.clear();
    size_t end = i;
    while (end < text.size() && digits.size() <= 19) {
      if (IsDigit(text[end])) {
        digits.push_back(text[end++]);
      } else if ((text[end] == ' ' || text[end] == '-') && IsDigit(At(text, end + 1))) {
        ++end;
      } else {
        break;
      }
    }
    const char prev = Before(text, i);
    if (!IsAlnum(prev) && prev != '_' && !IsAlnum(At(text, end)) && digits.size() >= 13 &&
        digits.size() <= 19 && LuhnOk(digits) && KnownCardPrefix(digits)) {
      out->push_back({i, end, kCard});
      i = end - 1;
      continue;
    }
    // A card may still start at the next group ("ref 12 4111 1111 1111 1111"); never
    // inside this one. Each start reads at most ~40 bytes, so this stays linear.
    i = first_group_end - 1;
  }
}

// ---------------------------------------------------------------- SSN

void ScanSsns(std::string_view text, std::vector<Match>* out) {
  for (size_t pos = text.find('-'); pos != std::string_view::npos; pos = text.find('-', pos + 1)) {
    // Anchor on the first dash of ddd-dd-dddd.
    if (pos < 3) continue;
    const size_t i = pos - 3;
    const char prev = Before(text, i);
    if (IsAlnum(prev) || prev == '-' || prev == '_') continue;
    auto digits_at = [&](size_t from, size_t n) {
      for (size_t k = 0; k < n; ++k)
        if (!IsDigit(At(text, from + k))) return false;
      return true;
    };
    if (!digits_at(i, 3) || !digits_at(i + 4, 2) || At(text, i + 6) != '-' || !digits_at(i + 7, 4))
      continue;
    const char next = At(text, i + 11);
    if (IsAlnum(next) || next == '-' || next == '_') continue;
    const std::string_view area = text.substr(i, 3);
    if (area == "000" || area == "666" || area[0] == '9') continue;
    if (text.substr(i + 4, 2) == "00" || text.substr(i + 7, 4) == "0000") continue;
    out->push_back({i, i + 11, kSsn});
    pos = i + 10;
  }
}

// ---------------------------------------------------------------- IP

void ScanIpv4(std::string_view text, std::vector<Match>* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsDigit(text[i])) continue;
    const char prev = Before(text, i);
    size_t end = i;
    int parts = 0;
    bool valid = true;
    while (true) {
      size_t start = end;
      int value = 0;
      while (end < text.size() && IsDigit(text[end]) && end - start < 4) {
        value = value * 10 + (text[end] - '0');
        ++end;
      }
      const size_t len = end - start;
      if (len == 0 || len > 3 || value > 255 || (len > 1 && text[start] == '0')) valid = false;
      ++parts;
      if (parts == 4 || At(text, end) != '.' || !IsDigit(At(text, end + 1))) break;
      ++end;
    }
    const char next = At(text, end);
    // "v1.2.3.4" and "1.2.3.4.5" are versions, not addresses.
    const bool boundary_ok = !IsAlnum(prev) && prev != '.' && prev != '_' && !IsAlnum(next) &&
                             !(next == '.' && IsDigit(At(text, end + 1)));
    if (valid && parts == 4 && boundary_ok) {
      out->push_back({i, end, kIp});
    }
    while (end < text.size() && (IsDigit(text[end]) || text[end] == '.')) ++end;
    i = end > i ? end - 1 : i;
  }
}

void ScanIpv6(std::string_view text, std::vector<Match>* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(IsHex(text[i]) || text[i] == ':')) continue;
    const char prev = Before(text, i);
    size_t end = i;
    int colons = 0;
    bool has_digit = false;
    while (end < text.size() && (IsHex(text[end]) || text[end] == ':' || text[end] == '.')) {
      colons += text[end] == ':';
      has_digit |= IsDigit(text[end]);
      ++end;
    }
    const size_t run_end = end;
    if (!IsAlnum(prev) && prev != ':' && colons >= 2 && has_digit && !IsAlnum(At(text, end)) &&
        end - i <= 45) {
      // Sentence punctuation after an address ("... fe80::1.") is not part of it.
      while (end > i && text[end - 1] == '.') --end;
      if (end - i >= 3 && text[end - 1] == ':' && text[end - 2] != ':') --end;
      std::string candidate(text.substr(i, end - i));
      in6_addr addr;
      if (inet_pton(AF_INET6, candidate.c_str(), &addr) == 1) out->push_back({i, end, kIp});
    }
    i = run_end > i ? run_end - 1 : i;
  }
}

// ---------------------------------------------------------------- PHONE

bool IsCurrencyBefore(std::string_view text, size_t i) {
  size_t k = i;
  while (k > 0 && text[k - 1] == ' ' && i - k < 2) --k;
  if (k == 0) return false;
  const char c = text[k - 1];
  if (c == '$') return true;
  // €, £, ¥ end in these UTF-8 bytes: E2 82 AC, C2 A3, C2 A5.
  if (k >= 3 && text.substr(k - 3, 3) == "\xE2\x82\xAC") return true;
  if (k >= 2 && (text.substr(k - 2, 2) == "\xC2\xA3" || text.substr(k - 2, 2) == "\xC2\xA5"))
    return true;
  if (k >= 3) {
    std::string code = AsciiLower(text.substr(k - 3, 3));
    if (code == "usd" || code == "eur" || code == "gbp") return true;
  }
  return false;
}

// The word right before position i (skipping spaces and "#", ":" or "no."), lowered.
std::string_view PrecedingWord(std::string_view lower, size_t i) {
  size_t k = i;
  while (k > 0 && (lower[k - 1] == ' ' || lower[k - 1] == '#' || lower[k - 1] == ':')) --k;
  if (k >= 3 && lower.substr(k - 3, 3) == "no.") k -= 3;
  while (k > 0 && lower[k - 1] == ' ') --k;
  size_t start = k;
  while (start > 0 && IsAlpha(lower[start - 1])) --start;
  return lower.substr(start, k - start);
}

// Numbers introduced by these words are identifiers, whatever their shape.
bool IsIdentifierWord(std::string_view word) {
  static constexpr std::string_view kWords[] = {
      "order", "invoice", "ticket", "ref", "reference", "tracking", "case", "id", "account",
      "acct", "po", "sku", "serial", "item", "booking", "confirmation", "transaction", "version"};
  for (auto w : kWords)
    if (word == w) return true;
  return false;
}

// A bare digit run is far more often an order, ticket or invoice number than a phone
// number; it only counts as a phone when a phone word precedes it closely.
bool HasPhoneContext(std::string_view lower, size_t i) {
  const size_t from = i > 32 ? i - 32 : 0;
  std::string_view window = lower.substr(from, i - from);
  static constexpr const char* kWords[] = {"phone", "call", "tel", "mobile", "cell",
                                           "whatsapp", "sms", "fax", "text me"};
  for (const char* w : kWords)
    if (window.find(w) != std::string_view::npos) return true;
  return false;
}

bool IsYear(std::string_view s) {
  return s.size() == 4 && (s.substr(0, 2) == "19" || s.substr(0, 2) == "20");
}

bool LooksLikeDate(const std::vector<std::string_view>& groups) {
  if (groups.size() != 3) return false;
  if (IsYear(groups[0]) && groups[1].size() <= 2 && groups[2].size() <= 2) return true;
  if (IsYear(groups[2]) && groups[0].size() <= 2 && groups[1].size() <= 2) return true;
  return false;
}

// Shape: optional "+", digit groups joined by one space, dash or dot, an optional
// "(area)" group; 7-15 digits (E.164). Then rules that drop ids, dates and versions.
void ScanPhones(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  std::vector<std::string_view> groups;  // reused across candidates
  std::string seps;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool plus = c == '+' && IsDigit(At(text, i + 1));
    const bool paren = c == '(' && IsDigit(At(text, i + 1));
    if (!IsDigit(c) && !plus && !paren) continue;

    size_t end = i;
    bool open_paren = false;
    if (plus) ++end;
    groups.clear();
    seps.clear();
    size_t digits = 0;
    while (end < text.size()) {
      if (text[end] == '(' && IsDigit(At(text, end + 1))) {
        if (open_paren) break;
        open_paren = true;
        ++end;
      }
      const size_t start = end;
      while (end < text.size() && IsDigit(text[end])) ++end;
      if (end == start) break;
      groups.push_back(text.substr(start, end - start));
      digits += end - start;
      const char s = At(text, end);
      size_t next = end + 1;
      if (s == ')' && open_paren) {
        open_paren = false;
        if (At(text, next) == ' ' || At(text, next) == '-') ++next;
        if (!IsDigit(At(text, next))) break;
      } else if (!((s == ' ' || s == '-' || s == '.') &&
                   (IsDigit(At(text, next)) ||
                    (s == ' ' && At(text, next) == '(' && !open_paren)))) {
        break;
      }
      seps.push_back(s);
      end = next;
    }
    const char prev = Before(text, i);
    // Digits glued to letters or id punctuation are parts of identifiers
    // ("#A-10293", "INV-2024-00017", "1Z999AA...", "v1.2").
    bool ok = !IsAlnum(prev) && std::strchr("#_-./+:@&=", prev) == nullptr &&
              !(prev == ' ' && Before(text, i - 1) == '#');
    const char next = At(text, end);
    ok = ok && digits >= 7 && digits <= 15 && !IsAlnum(next) && next != ',' &&
         !(next == '.' && IsDigit(At(text, end + 1))) && !IsCurrencyBefore(text, i) &&
         !IsIdentifierWord(PrecedingWord(lower, i));
    if (ok && !plus && !paren) {
      // "in 2023 1500 tickets" and "2023-2024" are prose, not numbers to call: short
      // shapes without a country code or area parentheses need a phone word nearby.
      const bool weak_shape = seps.empty() || (groups.size() == 2 && seps[0] == ' ');
      if (weak_shape) ok = HasPhoneContext(lower, i);
      if (groups.size() == 2 && IsYear(groups[0]) && IsYear(groups[1])) ok = false;
    }
    // Only a leading country/trunk code may be a single digit ("+1 555 ...");
    // "978-3-16-148410-0" and "1 2 3 4 5 6 7" are not phone numbers.
    for (size_t g = 1; g < groups.size() && ok; ++g)
      if (groups[g].size() == 1) ok = false;
    const bool dotted = seps.find('.') != std::string::npos;
    if (ok && dotted && (groups.size() == 4 || groups[0].size() == 1)) ok = false;  // IPs, versions
    if (ok && !plus && LooksLikeDate(groups)) ok = false;
    if (ok) out->push_back({i, end, kPhone});
    // The run is judged as a whole: a 16-digit card-like or currency run must not
    // yield a phone number from its tail. Skipping it also keeps the scan linear.
    if (end > i) i = end - 1;
  }
}

// ---------------------------------------------------------------- resolve + replace

std::vector<Match> FindAll(std::string_view text) {
  const std::string lower = AsciiLower(text);
  std::vector<Match> all;
  ScanPemKeys(text, &all);
  ScanPrefixedTokens(text, &all);
  ScanJwts(text, &all);
  ScanKeyValueSecrets(text, lower, &all);
  ScanAuthorization(text, lower, &all);
  ScanEmails(text, &all);
  ScanIbans(text, &all);
  ScanCards(text, &all);
  ScanSsns(text, &all);
  ScanIpv4(text, &all);
  ScanIpv6(text, &all);
  ScanPhones(text, lower, &all);

  // Higher-priority types first, longer spans first within a type; accept a match
  // only where it overlaps nothing accepted already.
  std::stable_sort(all.begin(), all.end(), [](const Match& a, const Match& b) {
    if (a.type != b.type) return a.type < b.type;
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end > b.end;
  });
  std::map<size_t, size_t> taken;  // begin → end
  std::vector<Match> accepted;
  for (const Match& m : all) {
    auto next = taken.lower_bound(m.begin);
    if (next != taken.end() && next->first < m.end) continue;
    if (next != taken.begin() && std::prev(next)->second > m.begin) continue;
    taken.emplace(m.begin, m.end);
    accepted.push_back(m);
  }
  std::sort(accepted.begin(), accepted.end(),
            [](const Match& a, const Match& b) { return a.begin < b.begin; });
  return accepted;
}

}  // namespace

std::string Redactor::Redact(std::string_view text, RedactionMap* map) const {
  const std::vector<Match> matches = FindAll(text);
  if (matches.empty()) return std::string(text);

  std::unordered_map<std::string, std::string> by_value;  // original → placeholder
  for (const auto& [placeholder, original] : map->values) by_value.emplace(original, placeholder);

  std::string out;
  out.reserve(text.size());
  size_t cursor = 0;
  for (const Match& m : matches) {
    out.append(text.substr(cursor, m.begin - cursor));
    std::string original(text.substr(m.begin, m.end - m.begin));
    auto it = by_value.find(original);
    if (it == by_value.end()) {
      const std::string type = kTypeNames[m.type];
      const int n = ++map->counts[type];
      std::string placeholder = "<" + type + "_" + std::to_string(n) + ">";
      map->values.emplace(placeholder, original);
      it = by_value.emplace(std::move(original), std::move(placeholder)).first;
    }
    out += it->second;
    cursor = m.end;
  }
  out.append(text.substr(cursor));
  return out;
}

std::string Redactor::Restore(std::string_view text, const RedactionMap& map) {
  std::string out;
  out.reserve(text.size());
  size_t cursor = 0;
  for (size_t open = text.find('<'); open != std::string_view::npos;
       open = text.find('<', open + 1)) {
    // Placeholders are short ("<SECRET_12345>"); bounding the search keeps a text
    // full of stray '<' linear.
    const size_t close = text.substr(open, 32).find('>');
    if (close == std::string_view::npos) continue;
    auto it = map.values.find(std::string(text.substr(open, close + 1)));
    if (it == map.values.end()) continue;
    out.append(text.substr(cursor, open - cursor));
    out += it->second;
    cursor = open + close + 1;
    open = cursor - 1;
  }
  out.append(text.substr(cursor));
  return out;
}

}  // namespace deskpilot
