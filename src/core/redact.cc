// Redaction design: every detector is a hand-written, single-pass scanner that finds
// candidates and hands them to a validator (Luhn + IIN, mod-97, octet ranges,
// inet_pton, digit-count and shape rules). No std::regex: ticket text is hostile and
// std::regex backtracks (and recurses) badly on long inputs. Each scanner skips past
// the whole run it examined (or reads a bounded window), so total work stays linear in
// the input size.
//
// Overlapping candidates are resolved by type priority (a secret beats an email beats
// an IBAN beats a card ...), then by position. Spans start and end on UTF-8 character
// boundaries (only ASCII bytes and whole two-byte letters are taken), so multi-byte
// sequences around them are never cut.
//
// Covered: emails (also with accented, Greek or Cyrillic letters); phone numbers (with a
// country code, area parentheses or separators, or a phone word such as "call",
// "mobile", "my number", "reach me" nearby; never after an identifier word such as
// "order"); payment cards (Luhn + issuer prefix, spaces, dashes or dots, also followed
// by an expiry or CVV) and, near them, CVV/CVC codes and expiry dates; IBANs (mod-97,
// any case, spaces or dashes); US SSNs (ddd-dd-dddd, or 9 digits after "SSN"); IPv4/IPv6;
// secrets: known token prefixes, JWTs, PEM private keys, Authorization/Bearer values,
// the value after a password/token/key word ("password=...", "pwd: ...", "my password
// is ..." when the value has a digit or symbol, "API key 3f9a..."), credential URL
// parameters ("?token=", "&sig="), URL passwords and long random URL path segments.
// Not covered: names, postal addresses, dates of birth, passwords made of letters only
// in prose ("my password is sunshine"), secrets in unknown formats without a keyword,
// and numbers written without any of the shapes or words above.
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
bool AlnumSlash(char c) { return IsAlnum(c) || c == '/'; }
bool TokenDotChar(char c) { return TokenChar(c) || c == '.'; }
bool Base64Char(char c) { return IsAlnum(c) || c == '+' || c == '/' || c == '=' || c == '_'; }

constexpr TokenRule kTokenRules[] = {
    {"sk-", TokenChar, 20, 0},  // OpenAI sk-/sk-proj-, Anthropic sk-ant-
    {"AKIA", UpperAlnumChar, 16, 16},
    {"ASIA", UpperAlnumChar, 16, 16},
    {"ghp_", AlnumChar, 30, 0},
    {"gho_", AlnumChar, 30, 0},
    {"ghs_", AlnumChar, 30, 0},
    {"ghu_", AlnumChar, 30, 0},
    {"ghr_", AlnumChar, 30, 0},
    {"github_pat_", AlnumUnderscore, 22, 0},
    {"glpat-", TokenChar, 20, 0},  // GitLab
    {"xoxa-", AlnumDash, 10, 0},
    {"xoxb-", AlnumDash, 10, 0},
    {"xoxp-", AlnumDash, 10, 0},
    {"xoxr-", AlnumDash, 10, 0},
    {"xoxs-", AlnumDash, 10, 0},
    {"xapp-", AlnumDash, 10, 0},
    {"hooks.slack.com/services/", AlnumSlash, 20, 0},  // a webhook URL is its own credential
    {"AIza", TokenChar, 35, 35},
    {"ya29.", TokenDotChar, 20, 0},  // Google OAuth access token
    {"sk_live_", AlnumChar, 16, 0},
    {"rk_live_", AlnumChar, 16, 0},
    {"sk_test_", AlnumChar, 16, 0},  // test keys still open the account's test data
    {"rk_test_", AlnumChar, 16, 0},
    {"whsec_", Base64Char, 16, 0},
    {"hf_", AlnumChar, 30, 0},   // Hugging Face
    {"npm_", AlnumChar, 36, 0},  // npm
    {"SG.", TokenDotChar, 40, 0},  // SendGrid: SG.<22>.<43>
    {"shpat_", AlnumChar, 32, 0},  // Shopify
};

void ScanPrefixedTokens(std::string_view text, std::vector<Match>* out) {
  // The rules by first byte: one pass over the token starts instead of one per rule.
  static const std::array<std::vector<const TokenRule*>, 128> kByFirst = [] {
    std::array<std::vector<const TokenRule*>, 128> by;
    for (const TokenRule& rule : kTokenRules) by[static_cast<unsigned char>(rule.prefix[0])].push_back(&rule);
    return by;
  }();
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const auto first = static_cast<unsigned char>(text[pos]);
    if (first >= 128 || kByFirst[first].empty() || TokenChar(Before(text, pos))) continue;
    for (const TokenRule* rule : kByFirst[first]) {
      const size_t plen = std::strlen(rule->prefix);
      if (text.substr(pos, plen) != rule->prefix) continue;
      size_t end = pos + plen;
      while (end < text.size() && rule->body_char(text[end])) ++end;
      // A sentence may end right after a dotted token.
      while (end > pos + plen && text[end - 1] == '.') --end;
      const size_t body = end - pos - plen;
      if (body < rule->min_body) continue;
      if (rule->exact_body != 0 && body != rule->exact_body) continue;
      out->push_back({pos, end, kSecret});
      pos = end - 1;
      break;
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

bool HasDigit(std::string_view v) { return std::any_of(v.begin(), v.end(), IsDigit); }
bool HasAlpha(std::string_view v) { return std::any_of(v.begin(), v.end(), IsAlpha); }
bool AllAlpha(std::string_view v) { return std::all_of(v.begin(), v.end(), IsAlpha); }
bool AllDigits(std::string_view v) { return !v.empty() && std::all_of(v.begin(), v.end(), IsDigit); }

// What must follow a keyword before its value is taken for a credential.
enum class ValueRule {
  kPassword,  // after "=": anything; after ":": a symbol or digit, or 8+ letters;
              // in prose ("is", or just a space): 5+ characters with a digit or symbol
  kPass,      // like kPassword, but never in prose ("pass the order on")
  kPin,       // 4-8 digits, in any form
  kToken,     // like kPassword after "=" or ":"; in prose a token shape (8+, letters and digits)
  kKey,       // "key" alone is everyday English: only "key=..." or a token shape after "key:"
};

struct SecretKey {
  std::string_view word;  // lower case
  ValueRule rule;
};

// Matched at word starts only (an underscore or dash counts as a word break, so
// "aws_secret_access_key" and "db_password" match), and only as whole words.
constexpr SecretKey kSecretKeys[] = {
    {"password", ValueRule::kPassword},
    {"passwort", ValueRule::kPassword},
    {"passwd", ValueRule::kPassword},
    {"passphrase", ValueRule::kPassword},
    {"pass", ValueRule::kPass},
    {"pwd", ValueRule::kPassword},
    {"pw", ValueRule::kPass},
    {"kennwort", ValueRule::kPassword},
    {"mot de passe", ValueRule::kPassword},
    {"contrase\xC3\xB1" "a", ValueRule::kPassword},
    {"contrasena", ValueRule::kPassword},
    {"senha", ValueRule::kPassword},
    {"wachtwoord", ValueRule::kPassword},
    {"pin", ValueRule::kPin},
    {"secret_access_key", ValueRule::kToken},
    {"secret_key", ValueRule::kToken},
    {"secret", ValueRule::kToken},
    {"client_secret", ValueRule::kToken},
    {"private_key", ValueRule::kToken},
    {"api_key", ValueRule::kToken},
    {"api-key", ValueRule::kToken},
    {"api key", ValueRule::kToken},
    {"apikey", ValueRule::kToken},
    {"access_token", ValueRule::kToken},
    {"access key", ValueRule::kToken},
    {"auth_token", ValueRule::kToken},
    {"token", ValueRule::kToken},
    {"key", ValueRule::kKey},
};

enum class Sep { kEquals, kColon, kProse };

// "name=" at i: after '&' this is the next URL parameter, not more of a password ("Tr0ub4dor&3").
bool QueryParamAt(std::string_view text, size_t i) {
  size_t end = i;
  while (end < text.size() && end - i < 64 && (IsAlnum(text[end]) || text[end] == '_' || text[end] == '-')) ++end;
  return end > i && At(text, end) == '=';
}

bool TokenShaped(std::string_view v) { return v.size() >= 8 && HasDigit(v) && HasAlpha(v); }

bool ValueLooksSecret(std::string_view v, ValueRule rule, Sep sep) {
  if (rule == ValueRule::kPin) return v.size() >= 4 && v.size() <= 8 && AllDigits(v);
  if (sep == Sep::kEquals) return true;
  if (rule == ValueRule::kKey) return TokenShaped(v);
  if (sep == Sep::kColon) return !AllAlpha(v) || v.size() >= 8;  // "Password: reset it please"
  if (rule == ValueRule::kToken) return TokenShaped(v);
  // Prose: "my password is Summer2024!" but not "password and the reset email".
  return v.size() >= 5 && IsAlnum(v[0]) && !AllAlpha(v);
}

// The value after key_end, or an empty span.
std::pair<size_t, size_t> SecretValueAfter(std::string_view text, std::string_view lower, size_t key_end,
                                           ValueRule rule) {
  size_t i = key_end;
  if (At(text, i) == '"' || At(text, i) == '\'') ++i;  // "password": "..."
  while (At(text, i) == ' ' || At(text, i) == '\t') ++i;
  Sep sep = Sep::kProse;
  if (At(text, i) == '=' || At(text, i) == ':') {
    sep = At(text, i) == '=' ? Sep::kEquals : Sep::kColon;
    ++i;
  } else {
    if (i == key_end || rule == ValueRule::kPass || rule == ValueRule::kKey) return {0, 0};
    // "password is X", "Passwort ist X", "password was: X"
    for (std::string_view verb : {"is", "was", "ist", "est", "es"}) {
      if (lower.substr(i, verb.size()) == verb && !IsAlnum(At(lower, i + verb.size()))) {
        i += verb.size();
        break;
      }
    }
    while (At(text, i) == ' ') ++i;
    if (At(text, i) == ':') ++i;
  }
  while (At(text, i) == ' ' || At(text, i) == '\t') ++i;
  const char quote = At(text, i);
  size_t begin = i, end = i;
  if (quote == '"' || quote == '\'') {
    begin = ++i;
    end = begin;
    while (end < text.size() && end - begin < 256 && text[end] != quote && text[end] != '\n') ++end;
    if (At(text, end) != quote) return {0, 0};
  } else {
    while (end < text.size() && (ValueChar(text[end]) || (text[end] == '&' && !QueryParamAt(text, end + 1)))) ++end;
    // Trailing sentence punctuation is not part of the value.
    while (end > begin && (text[end - 1] == '.' || text[end - 1] == ')' || text[end - 1] == '?')) --end;
  }
  if (end == begin || text[begin] == '<') return {0, 0};  // empty, or already a placeholder
  if (!ValueLooksSecret(text.substr(begin, end - begin), rule, sep)) return {0, 0};
  return {begin, end};
}

// key = value / key: value / "key": "value" / "my password is value". Only the value is
// redacted, so the text still says what kind of thing was there. One pass over the word
// starts: the key list is checked only where a word begins with a key's first letter.
void ScanKeyValueSecrets(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  // The keys by first letter, so each word start compares only the few that can match.
  static const std::array<std::vector<const SecretKey*>, 26> kByLetter = [] {
    std::array<std::vector<const SecretKey*>, 26> by;
    for (const SecretKey& key : kSecretKeys) by[key.word[0] - 'a'].push_back(&key);
    return by;
  }();
  for (size_t pos = 0; pos < lower.size(); ++pos) {
    const char c = lower[pos];
    if (!IsLower(c) || IsAlnum(Before(lower, pos))) continue;
    for (const SecretKey* key_ptr : kByLetter[c - 'a']) {
      const SecretKey& key = *key_ptr;
      if (lower.substr(pos, key.word.size()) != key.word) continue;
      const size_t key_end = pos + key.word.size();
      if (IsAlnum(At(lower, key_end))) continue;  // "passwords", "passport", "keyboard"
      const auto [begin, end] = SecretValueAfter(text, lower, key_end, key.rule);
      if (begin == end) continue;
      out->push_back({begin, end, kSecret});
      pos = end - 1;  // the value may repeat a key; never rescan it
      break;
    }
  }
}

bool UrlValueChar(char c) {
  return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '%' || c == '+' || c == '/' ||
         c == '=';
}

// Query parameters that carry a credential: reset and login links ("?token=..."),
// signed URLs ("&sig=", "X-Amz-Signature="), API keys in URLs.
bool SecretParamName(std::string_view name) {
  for (std::string_view n : {"code", "sig", "auth", "otp", "pass", "pwd", "session", "sid", "jwt"})
    if (name == n) return true;
  for (std::string_view tail : {"token", "key", "secret", "signature", "password", "credential", "code"})
    if (name.ends_with(tail)) return true;
  return false;
}

bool UrlSegmentChar(char c) { return IsAlnum(c) || c == '-' || c == '_'; }

// A random path segment, not a readable slug ("360001234567-Shipping-times" has words).
bool TokenSegment(std::string_view seg) {
  if (seg.size() < 24 || !HasDigit(seg) || !HasAlpha(seg)) return false;
  size_t part = 0;
  for (size_t k = 0; k <= seg.size(); ++k) {
    if (k < seg.size() && seg[k] != '-' && seg[k] != '_') continue;
    if (k - part >= 3 && AllAlpha(seg.substr(part, k - part))) return false;
    part = k + 1;
  }
  return true;
}

void ScanUrlSecrets(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  for (size_t q = text.find_first_of("?&"); q != std::string_view::npos; q = text.find_first_of("?&", q + 1)) {
    size_t name_end = q + 1;
    while (name_end < text.size() && (TokenChar(text[name_end]) || text[name_end] == '.')) ++name_end;
    if (name_end == q + 1 || At(text, name_end) != '=') continue;
    if (!SecretParamName(lower.substr(q + 1, name_end - q - 1))) continue;
    const size_t begin = name_end + 1;
    size_t end = begin;
    while (end < text.size() && UrlValueChar(text[end])) ++end;
    while (end > begin && text[end - 1] == '.') --end;
    if (end - begin < 6) continue;
    out->push_back({begin, end, kSecret});
    q = end - 1;
  }
  // Inside a URL: the password of "scheme://user:password@host", and long path segments
  // with letters and digits: a reset or magic-login link is a credential in itself.
  for (size_t s = text.find("://"); s != std::string_view::npos; s = text.find("://", s + 1)) {
    size_t url_end = s + 3;
    while (url_end < text.size() && text[url_end] > ' ' && text[url_end] != '"' && text[url_end] != '\'' &&
           text[url_end] != '<' && text[url_end] != '>' && static_cast<unsigned char>(text[url_end]) < 0x80)
      ++url_end;
    const std::string_view url = text.substr(s + 3, url_end - s - 3);
    const size_t host_end = std::min(url.find('/'), url.size());
    const size_t at = url.substr(0, host_end).rfind('@');
    if (at != std::string_view::npos) {
      const size_t colon = url.substr(0, at).find(':');
      if (colon != std::string_view::npos && colon + 1 < at)
        out->push_back({s + 3 + colon + 1, s + 3 + at, kSecret});
    }
    for (size_t k = host_end; k < url.size();) {
      size_t seg_end = k;
      while (seg_end < url.size() && UrlSegmentChar(url[seg_end])) ++seg_end;
      const std::string_view seg = url.substr(k, seg_end - k);
      if (TokenSegment(seg)) out->push_back({s + 3 + k, s + 3 + seg_end, kSecret});
      k = seg_end + 1;
    }
    s = url_end > s + 3 ? url_end - 1 : s;
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

// A two-byte UTF-8 letter of the Latin-1 supplement, Latin Extended, Greek or Cyrillic
// blocks (U+00C0..U+04FF, lead bytes C3..D3, without × and ÷): the letters of
// internationalised addresses ("jöhn@", "@exämple.de"). Punctuation (“ — «) and CJK text,
// which is written without spaces, never join an address.
bool LetterPairAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(At(s, i));
  const auto cont = static_cast<unsigned char>(At(s, i + 1));
  if (lead < 0xC3 || lead > 0xD3 || (cont & 0xC0) != 0x80) return false;
  return !(lead == 0xC3 && (cont == 0x97 || cont == 0xB7));
}

// Extends [begin, ...) to the left over local-part characters and UTF-8 letters.
size_t EmailLocalBegin(std::string_view text, size_t at) {
  size_t begin = at;
  while (begin > 0) {
    if (EmailLocalChar(text[begin - 1])) {
      --begin;
    } else if (begin >= 2 && LetterPairAt(text, begin - 2)) {
      begin -= 2;
    } else {
      break;
    }
  }
  return begin;
}

bool EmailLabelByte(std::string_view s, size_t i) { return IsAlpha(s[i]) || static_cast<unsigned char>(s[i]) >= 0x80; }

void ScanEmails(std::string_view text, std::vector<Match>* out) {
  for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    size_t begin = EmailLocalBegin(text, at);
    while (begin < at && text[begin] == '.') ++begin;
    size_t end = at + 1;
    while (end < text.size()) {
      if (EmailDomainChar(text[end])) {
        ++end;
      } else if (LetterPairAt(text, end)) {
        end += 2;
      } else {
        break;
      }
    }
    while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
    if (begin == at || end == at + 1) continue;
    std::string_view domain = text.substr(at + 1, end - at - 1);
    size_t dot = domain.rfind('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    std::string_view tld = domain.substr(dot + 1);
    bool tld_ok = tld.size() >= 2;
    for (size_t k = 0; k < tld.size() && tld_ok; ++k) tld_ok = EmailLabelByte(tld, k);
    if (!tld_ok) continue;
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
  auto upper = [](char c) { return IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c; };
  for (size_t i = 0; i + 4 <= text.size(); ++i) {
    if (!IsAlpha(text[i]) || IsAlnum(Before(text, i))) continue;
    if (!IsAlpha(text[i + 1]) || !IsDigit(At(text, i + 2)) || !IsDigit(At(text, i + 3))) continue;
    // Customers type IBANs in lower case too ("de89 3704 ...").
    std::string compact = {upper(text[i]), upper(text[i + 1]), text[i + 2], text[i + 3]};
    const int want = IbanLength(std::string_view(compact).substr(0, 2));
    if (want == 0) continue;
    size_t end = i + 4;
    // Printed IBANs group by four with single spaces (or dashes); accept either form.
    while (static_cast<int>(compact.size()) < want) {
      char c = At(text, end);
      if ((c == ' ' || c == '-') && IsAlnum(At(text, end + 1))) {
        ++end;
        continue;
      }
      if (!IsAlnum(c)) break;
      compact.push_back(upper(c));
      ++end;
    }
    if (static_cast<int>(compact.size()) != want || IsAlnum(At(text, end))) continue;
    if (!IbanChecksumOk(compact)) continue;
    out->push_back({i, end, kIban});
    i = end - 1;
  }
}

// ---------------------------------------------------------------- CARD

bool LuhnOk(std::string_view digits) {
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
bool KnownCardPrefix(std::string_view d) {
  const int p2 = (d[0] - '0') * 10 + (d[1] - '0');
  const int p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');
  if (d[0] == '4') return true;                                  // Visa
  if (p2 >= 51 && p2 <= 55) return true;                         // Mastercard
  if (p4 >= 2221 && p4 <= 2720) return true;                     // Mastercard 2-series
  if (p4 >= 2200 && p4 <= 2204) return true;                     // Mir
  if (p2 == 34 || p2 == 37) return true;                         // Amex
  if (p2 == 30 || p2 == 36 || p2 == 38) return true;             // Diners
  if (p2 == 35) return true;                                     // JCB
  if (p2 == 50 || (p2 >= 56 && p2 <= 58)) return true;           // Maestro
  // 6: Discover (6011, 644-649, 65), UnionPay (62), Maestro (63, 67), RuPay (60, 65).
  if (d[0] == '6') return true;
  if (p2 == 81 || p2 == 82) return true;                         // RuPay, UnionPay
  return false;
}

bool CardAt(std::string_view digits) {
  return digits.size() >= 13 && digits.size() <= 19 && KnownCardPrefix(digits) && LuhnOk(digits);
}

// "MM/YY" or "MM/YYYY" at i, with a month 01-12; returns its end, or i.
size_t ExpiryAt(std::string_view text, size_t i) {
  if (!IsDigit(At(text, i)) || !IsDigit(At(text, i + 1)) || At(text, i + 2) != '/') return i;
  const int month = (text[i] - '0') * 10 + (text[i + 1] - '0');
  if (month < 1 || month > 12 || IsAlnum(Before(text, i))) return i;
  size_t end = i + 3;
  while (end < text.size() && IsDigit(text[end]) && end - i < 7) ++end;
  if ((end - i != 5 && end - i != 7) || IsAlnum(At(text, end)) || At(text, end) == '/') return i;
  return end;
}

// Skips the words that introduce a card's expiry ("exp", "exp. date:", "valid thru").
size_t SkipExpiryWords(std::string_view lower, size_t i) {
  for (std::string_view w : {"expiration", "expires", "expiry", "exp", "valid thru", "valid through",
                             "valid until", "good thru"}) {
    if (lower.substr(i, w.size()) == w) {
      i += w.size();
      while (At(lower, i) == '.' || At(lower, i) == ' ' || At(lower, i) == ':') ++i;
      if (lower.substr(i, 4) == "date") i += 4;
      while (At(lower, i) == ' ' || At(lower, i) == ':') ++i;
      return i;
    }
  }
  return i;
}

void ScanCards(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  std::string digits;  // reused: one allocation for the whole scan
  std::vector<std::pair<size_t, size_t>> group_ends;  // (digits so far, text end) per group
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsDigit(text[i])) continue;
    size_t first_group_end = i;
    while (first_group_end < text.size() && IsDigit(text[first_group_end])) ++first_group_end;
    // Every card format starts with a group of at least four digits; "+49 151 ..." is
    // a phone number.
    const char prev = Before(text, i);
    if (IsAlnum(prev) || prev == '_' || prev == '+' || first_group_end - i < 4) {
      // Typed without a space ("visa4111111111111111"): one unbroken run of a card's
      // length that passes the issuer and Luhn checks is a card all the same. Sending
      // an order number like that to a model as <CARD_1> costs little; a card, PCI data.
      const size_t run = first_group_end - i;
      if ((IsAlpha(prev) || prev == '_') && run >= 15 && run <= 19 && CardAt(text.substr(i, run)))
        out->push_back({i, first_group_end, kCard});
      i = first_group_end - 1;
      continue;
    }
    // Digit groups with single spaces, dashes or dots between them, at most 19 digits.
    // Dots never mix with the other two ("4111.1111.1111.1111", not "1.5 2024-...").
    digits.clear();
    group_ends.clear();
    char sep = 0;
    size_t end = i;
    while (end < text.size() && digits.size() <= 19) {
      const char c = text[end];
      if (IsDigit(c)) {
        digits.push_back(c);
        ++end;
        if (!IsDigit(At(text, end))) group_ends.emplace_back(digits.size(), end);
      } else if ((c == ' ' || c == '-' || c == '.') && IsDigit(At(text, end + 1))) {
        if (sep != 0 && (sep == '.') != (c == '.')) break;
        sep = c;
        ++end;
      } else {
        break;
      }
    }
    // The whole run, or else the longest run of whole groups that is a card: customers
    // type the expiry or CVV right after the number ("4111 1111 1111 1111 12/26").
    size_t card_end = 0;
    for (auto g = group_ends.rbegin(); g != group_ends.rend() && card_end == 0; ++g) {
      const auto [n, gend] = *g;
      // Letters glued to the end ("4111111111111111exp0927") end a card of a card's
      // length; a shorter run inside a word is some other identifier.
      if (gend == end && IsAlnum(At(text, end)) && n < 15) continue;
      if (CardAt(std::string_view(digits).substr(0, n))) card_end = gend;
    }
    if (card_end == 0) {
      // A card may still start at the next group ("ref 12 4111 1111 1111 1111"); never
      // inside this one. Each start reads at most ~60 bytes, so this stays linear.
      i = first_group_end - 1;
      continue;
    }
    out->push_back({i, card_end, kCard});
    // An expiry right after the number is card data too ("..., exp 09/27").
    size_t k = card_end;
    if (At(text, k) == ',') ++k;
    while (At(text, k) == ' ') ++k;
    k = SkipExpiryWords(lower, k);
    if (const size_t exp_end = ExpiryAt(text, k); exp_end != k) out->push_back({k, exp_end, kCard});
    i = card_end - 1;
  }
}

bool WordAt(std::string_view lower, size_t pos, size_t len) {
  return !IsAlnum(Before(lower, pos)) && !IsAlnum(At(lower, pos + len));
}

// The card's security code and, near a card word, its expiry: PCI forbids keeping the
// code at all, and the stored (redacted) text outlives the ticket in the audit.
void ScanCardCodes(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  for (std::string_view kw : {"cvv2", "cvc2", "cvv", "cvc", "csc", "security code", "card verification code"}) {
    for (size_t pos = lower.find(kw); pos != std::string_view::npos; pos = lower.find(kw, pos + 1)) {
      if (!WordAt(lower, pos, kw.size())) continue;
      // "CVV: 123", "cvc is 1234", "security code=123"
      size_t i = pos + kw.size();
      while (i < text.size() && i - pos - kw.size() < 6 &&
             (text[i] == ' ' || text[i] == ':' || text[i] == '=' || text[i] == '#' || text[i] == ')'))
        ++i;
      if (lower.substr(i, 3) == "is ") i += 3;
      size_t end = i;
      while (end < text.size() && IsDigit(text[end])) ++end;
      if (end - i >= 3 && end - i <= 4 && !IsAlnum(Before(text, i)) && !IsAlnum(At(text, end))) {
        out->push_back({i, end, kCard});
        continue;
      }
      // "123 (cvv)", "123 cvv"
      size_t j = pos;
      while (j > 0 && pos - j < 3 && (text[j - 1] == ' ' || text[j - 1] == '(')) --j;
      size_t begin = j;
      while (begin > 0 && IsDigit(text[begin - 1])) --begin;
      if (j < pos && j - begin >= 3 && j - begin <= 4 && !IsAlnum(Before(text, begin)))
        out->push_back({begin, j, kCard});
    }
  }
  for (std::string_view kw : {"exp", "valid thru", "valid through", "valid until", "good thru"}) {
    for (size_t pos = lower.find(kw); pos != std::string_view::npos; pos = lower.find(kw, pos + 1)) {
      if (IsAlnum(Before(lower, pos))) continue;
      const size_t i = SkipExpiryWords(lower, pos);
      if (i == pos) continue;
      const size_t end = ExpiryAt(text, i);
      if (end == i) continue;
      // Only with a card word shortly before: "my plan expires 12/27" is not card data.
      const size_t from = pos > 48 ? pos - 48 : 0;
      const std::string_view window = lower.substr(from, pos - from);
      bool card = false;
      for (std::string_view w : {"card", "visa", "mastercard", "amex", "credit", "debit", "cvv", "cvc"})
        card = card || window.find(w) != std::string_view::npos;
      if (card) out->push_back({i, end, kCard});
    }
  }
}

// ---------------------------------------------------------------- SSN

bool SsnPartsOk(std::string_view area, std::string_view group, std::string_view serial) {
  return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000";
}

void ScanSsns(std::string_view text, std::string_view lower, std::vector<Match>* out) {
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
    if (!SsnPartsOk(text.substr(i, 3), text.substr(i + 4, 2), text.substr(i + 7, 4))) continue;
    out->push_back({i, i + 11, kSsn});
    pos = i + 10;
  }
  // Nine digits, bare or grouped by spaces, only right after an SSN word: on their own
  // they are far more often order or account numbers.
  for (std::string_view kw : {"ssn", "social security number", "social security no", "social security"}) {
    for (size_t pos = lower.find(kw); pos != std::string_view::npos; pos = lower.find(kw, pos + 1)) {
      if (!WordAt(lower, pos, kw.size())) continue;
      size_t i = pos + kw.size();
      while (i < text.size() && i - pos - kw.size() < 8 && !IsDigit(text[i]) && !IsAlpha(text[i])) ++i;
      if (lower.substr(i, 3) == "is ") i += 3;
      if (!IsDigit(At(text, i)) || IsAlnum(Before(text, i))) continue;
      std::string d;
      size_t end = i;
      while (end < text.size() && d.size() < 10) {
        if (IsDigit(text[end])) {
          d.push_back(text[end++]);
        } else if (text[end] == ' ' && IsDigit(At(text, end + 1)) && (d.size() == 3 || d.size() == 5)) {
          ++end;
        } else {
          break;
        }
      }
      if (d.size() != 9 || IsAlnum(At(text, end))) continue;
      if (!SsnPartsOk(std::string_view(d).substr(0, 3), std::string_view(d).substr(3, 2), std::string_view(d).substr(5)))
        continue;
      out->push_back({i, end, kSsn});
    }
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
      "acct", "po", "sku", "serial", "item", "booking", "confirmation", "transaction", "version",
      "parcel", "shipment", "customer", "member", "model", "part", "policy", "claim", "return", "rma"};
  for (auto w : kWords)
    if (word == w) return true;
  return false;
}

bool IsNumberWord(std::string_view word) { return word == "number" || word == "nr" || word == "num" || word == "no"; }

// "order 123", "order number 123", "order no. 123".
bool IsIdentifierBefore(std::string_view lower, size_t i) {
  const std::string_view word = PrecedingWord(lower, i);
  if (IsIdentifierWord(word)) return true;
  if (!IsNumberWord(word)) return false;
  const size_t word_begin = static_cast<size_t>(word.data() - lower.data());
  return IsIdentifierWord(PrecedingWord(lower, word_begin));
}

// A bare digit run is far more often an order, ticket or invoice number than a phone
// number; it only counts as a phone when a phone word precedes it closely. "number"
// counts unless an identifier word names it ("my number is ..." but not "order number").
bool HasPhoneContext(std::string_view lower, size_t i) {
  const size_t from = i > 32 ? i - 32 : 0;
  std::string_view window = lower.substr(from, i - from);
  static constexpr const char* kWords[] = {"phone", "call",  "tel",      "mobile",   "cell",    "whatsapp",
                                           "sms",   "fax",   "text me",  "reach me", "reach us", "contact"};
  for (const char* w : kWords)
    if (window.find(w) != std::string_view::npos) return true;
  for (size_t n = window.find("number"); n != std::string_view::npos; n = window.find("number", n + 1)) {
    if (!IsIdentifierWord(PrecedingWord(lower, from + n))) return true;
  }
  return false;
}

// "Phone:+44 ...", "tel:+1555...": a colon glued to the number is fine after these.
bool IsPhoneLabel(std::string_view word) {
  for (std::string_view w : {"phone", "tel", "telephone", "mobile", "cell", "fax", "contact", "whatsapp", "sms",
                             "callback", "number"})
    if (word == w) return true;
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
    // ('\0' is the start of the text, where a number is as welcome as anywhere.)
    const bool id_punct = prev != '\0' && std::string_view("#_-./+:@&=").find(prev) != std::string_view::npos;
    bool ok = !IsAlnum(prev) && (!id_punct || (prev == ':' && IsPhoneLabel(PrecedingWord(lower, i)))) &&
              !(prev == ' ' && Before(text, i - 1) == '#');
    const char next = At(text, end);
    // A comma after a number ends a phone ("+44 20 7946 0958, thanks") unless digits
    // follow it ("1,299").
    ok = ok && digits >= 7 && digits <= 15 && !IsAlnum(next) && !(next == ',' && IsDigit(At(text, end + 1))) &&
         !(next == '.' && IsDigit(At(text, end + 1))) && !IsCurrencyBefore(text, i) &&
         !IsIdentifierBefore(lower, i);
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
  ScanUrlSecrets(text, lower, &all);
  ScanEmails(text, &all);
  ScanIbans(text, &all);
  ScanCards(text, lower, &all);
  ScanCardCodes(text, lower, &all);
  ScanSsns(text, lower, &all);
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

// The length of the placeholder-shaped text "<TYPE_N>" at i, for a type of kTypeNames,
// or 0; its type goes to *type.
size_t PlaceholderAt(std::string_view text, size_t i, Type* type) {
  if (At(text, i) != '<') return 0;
  for (int t = 0; t < kTypeCount; ++t) {
    const std::string_view name = kTypeNames[t];
    if (text.substr(i + 1, name.size()) != name || At(text, i + 1 + name.size()) != '_') continue;
    const size_t digits = i + 2 + name.size();
    size_t end = digits;
    while (end < text.size() && end - digits < 12 && IsDigit(text[end])) ++end;
    if (end == digits || At(text, end) != '>') return 0;
    *type = static_cast<Type>(t);
    return end + 1 - i;
  }
  return 0;
}

// Only what the customer may see again: their own address, number or IP. Never a
// secret, card, IBAN or SSN, even one the customer typed: a reply that repeats it is
// one more copy of it in mailboxes and the help desk.
bool EchoableType(Type type) { return type == kEmail || type == kPhone || type == kIp; }

}  // namespace

std::string NeutralizePlaceholders(std::string_view text) {
  std::string out;
  size_t cursor = 0;
  for (size_t open = text.find('<'); open != std::string_view::npos; open = text.find('<', open + 1)) {
    Type type;
    const size_t len = PlaceholderAt(text, open, &type);
    if (len == 0) continue;
    out.append(text.substr(cursor, open - cursor));
    out += '[';
    out += AsciiLower(kTypeNames[type]);
    out += ']';
    cursor = open + len;
    open = cursor - 1;
  }
  if (cursor == 0) return std::string(text);
  out.append(text.substr(cursor));
  return out;
}

std::string Redactor::Redact(std::string_view input, RedactionMap* map, TextOrigin origin) const {
  // A customer who types "<SECRET_1>" must not be able to name (and so get restored)
  // a value redacted from someone else's text.
  std::string neutral = NeutralizePlaceholders(input);
  const std::string_view text = neutral;
  const std::vector<Match> matches = FindAll(text);
  if (matches.empty()) return neutral;

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
    // The placeholder's own type decides: a value first seen as a secret stays one.
    Type placeholder_type;
    if (origin == TextOrigin::kCustomerPublic && PlaceholderAt(it->second, 0, &placeholder_type) != 0 &&
        EchoableType(placeholder_type))
      map->restorable.insert(it->second);
    out += it->second;
    cursor = m.end;
  }
  out.append(text.substr(cursor));
  return out;
}

std::string Redactor::Anonymize(std::string_view text) const {
  RedactionMap discarded;
  return NeutralizePlaceholders(Redact(text, &discarded));
}

std::string Redactor::Restore(std::string_view text, const RedactionMap& map, int* withheld) {
  std::string out;
  out.reserve(text.size());
  size_t cursor = 0;
  for (size_t open = text.find('<'); open != std::string_view::npos; open = text.find('<', open + 1)) {
    Type type;
    const size_t len = PlaceholderAt(text, open, &type);
    if (len == 0) continue;
    const std::string placeholder(text.substr(open, len));
    auto it = map.values.find(placeholder);
    if (it == map.values.end()) continue;
    out.append(text.substr(cursor, open - cursor));
    if (map.restorable.count(placeholder) != 0) {
      out += it->second;
    } else {
      out += "[redacted]";
      if (withheld != nullptr) ++*withheld;
    }
    cursor = open + len;
    open = cursor - 1;
  }
  out.append(text.substr(cursor));
  return out;
}

}  // namespace deskpilot
