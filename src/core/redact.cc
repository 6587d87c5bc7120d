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
// personal details where a cue or a distinctive shape says what they are: names after
// "my name is", a "Name:" label, a greeting ("Hi Ann,"), a sign-off ("Regards,\nAnn
// Smith") or a title ("Mr. Smith"); postal addresses (a house number with a street word,
// "12 rue de la Paix", "Hauptstraße 5", UK postcodes, US state + ZIP, the text after
// "address:"); dates of birth after "date of birth", "DOB", "born on"; and letters-only
// passwords ending a clause after a password word ("my password is sunshine.").
// Not covered: names and addresses without any of those cues (a name in the middle of a
// sentence, a street without a number), secrets in unknown formats without a keyword,
// and numbers written without any of the shapes or words above.
//
// RedactionMap::counts holds the number of distinct values per type, which is also
// the highest placeholder number handed out for that type.
#include "deskpilot/redact.h"
#include "deskpilot/text.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <unordered_map>

namespace deskpilot {

namespace {

// In priority order (see FindAll). A date of birth or an address beats a phone number
// that overlaps it ("Address: 12 Main St, 555 0100"), so the whole detail goes at once.
enum Type { kSecret = 0, kEmail, kIban, kCard, kSsn, kIp, kDob, kAddress, kPhone, kName, kTypeCount };
constexpr std::array<const char*, kTypeCount> kTypeNames = {"SECRET", "EMAIL", "IBAN",    "CARD",  "SSN",
                                                            "IP",     "DOB",   "ADDRESS", "PHONE", "NAME"};

struct Match {
  size_t begin;
  size_t end;
  Type type;
  bool known = false;  // the requester's name (ScanKnownNames), which wins over a cue's
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
    {"passcode", ValueRule::kPassword},
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

bool IsEverydayWord(std::string_view w);

// A letters-only password ("my password is sunshine.", "Password: dragon") is told from
// prose ("my password is wrong", "password: reset it please") by ending its clause and
// not being an everyday word.
bool LettersOnlyPassword(std::string_view v, bool ends_clause) {
  return ends_clause && v.size() >= 4 && v.size() <= 64 && !IsEverydayWord(AsciiLower(v));
}

bool ValueLooksSecret(std::string_view v, ValueRule rule, Sep sep, bool ends_clause) {
  if (rule == ValueRule::kPin) return v.size() >= 4 && v.size() <= 8 && AllDigits(v);
  if (sep == Sep::kEquals) return true;
  if (rule == ValueRule::kKey) return TokenShaped(v);
  // "incorrect!" is a word with an exclamation mark, not a password with a symbol.
  std::string_view word = v;
  while (!word.empty() && word.back() == '!') word.remove_suffix(1);
  const bool letters = !word.empty() && AllAlpha(word);
  const bool letters_password = rule == ValueRule::kPassword && letters && LettersOnlyPassword(word, ends_clause);
  if (sep == Sep::kColon) return !letters || word.size() >= 8 || letters_password;  // "Password: reset it please"
  if (rule == ValueRule::kToken) return TokenShaped(v);
  // Prose: "my password is Summer2024!" but not "password and the reset email".
  return (v.size() >= 5 && IsAlnum(v[0]) && !letters) || letters_password;
}

// The value ending at `end` closes its clause: the text ends, a line or sentence ends,
// or a conjunction follows ("my password is sunshine and it fails").
bool EndsClause(std::string_view lower, size_t end) {
  size_t k = end;
  while (At(lower, k) == ' ') ++k;
  const char c = At(lower, k);
  if (c == '\0' || c == '\n' || c == '\r' || c == '.' || c == ',' || c == ';' || c == '!' || c == '?' || c == ')')
    return true;
  for (std::string_view w : {"and", "but", "so", "please", "thanks", "or", "which", "that"})
    if (lower.substr(k, w.size()) == w && !IsAlnum(At(lower, k + w.size()))) return k > end;
  return false;
}

// The value after key_end, or an empty span.
std::pair<size_t, size_t> SecretValueAfter(std::string_view text, std::string_view lower, size_t key_end,
                                           ValueRule rule) {
  size_t i = key_end;
  if (At(text, i) == '"' || At(text, i) == '\'') ++i;  // "password": "..."
  while (At(text, i) == ' ' || At(text, i) == '\t') ++i;
  Sep sep = Sep::kProse;
  // Whether the text says outright that the value is the password ("is", ":"); only then
  // can a word of letters be one ("I changed my password yesterday" names nothing).
  bool named = false;
  if (At(text, i) == '=' || At(text, i) == ':') {
    sep = At(text, i) == '=' ? Sep::kEquals : Sep::kColon;
    ++i;
  } else {
    if (i == key_end || rule == ValueRule::kPass || rule == ValueRule::kKey) return {0, 0};
    // "password is X", "Passwort ist X", "password was: X"
    for (std::string_view verb : {"is", "was", "ist", "est", "es"}) {
      if (lower.substr(i, verb.size()) == verb && !IsAlnum(At(lower, i + verb.size()))) {
        i += verb.size();
        named = true;
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
  const bool ends_clause =
      (named || sep != Sep::kProse) && (quote == '"' || quote == '\'' || EndsClause(lower, end));
  if (!ValueLooksSecret(text.substr(begin, end - begin), rule, sep, ends_clause)) return {0, 0};
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
    // A longer number in the same four-digit grouping that does not start with a card
    // ("9400 1000 0000 0000 0000 00", a parcel's tracking number) is skipped whole, so no
    // card is read from its middle. One that starts with a card stays a card followed by
    // its expiry and code ("4111 1111 1111 1111 0927 123"): a leaked card costs more than
    // a hidden tracking number. (The read above stops after 20 digits: five full groups.)
    bool long_run = card_end == 0 && group_ends.size() == 5 && At(text, end) == sep && IsDigit(At(text, end + 1));
    for (size_t g = 0; g < group_ends.size() && long_run; ++g)
      long_run = group_ends[g].first - (g == 0 ? 0 : group_ends[g - 1].first) == 4;
    if (long_run) {
      while (end < text.size() && (IsDigit(text[end]) || (text[end] == sep && IsDigit(At(text, end + 1))))) ++end;
      i = end - 1;
      continue;
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
    // Only a leading country/trunk code may be a single digit ("+1 555 ...") and, after a
    // country code, the area code ("+33 1 59 23 91 04", "+31 6 1234 5678");
    // "978-3-16-148410-0" and "1 2 3 4 5 6 7" are not phone numbers.
    for (size_t g = plus ? 2 : 1; g < groups.size() && ok; ++g)
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

// ---------------------------------------------------------------- NAME, ADDRESS, DOB
//
// Personal details have no checksum or fixed shape, so these scanners look only where a
// customer or agent says what follows ("my name is", "Date of birth:", a greeting, a
// sign-off, "I live at") or where the shape is distinctive on its own (a house number
// with a street word, a UK postcode, a US state with a ZIP code). Measured over the
// benign support texts in ../shared/data (see RedactTest.PersonalDetailsStayRareOnBenignText
// and the README), they fire on almost nothing that is not a real detail.

// Everyday words that follow "my name is", "my password is" and the like without being
// the value ("my password is wrong", "my name is spelled wrong", "my name is on the card").
bool IsEverydayListed(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      "a", "about", "above", "absolutely", "accepted", "account", "actually", "after", "again", "all", "already",
      "also", "always", "am", "an", "and", "another", "any", "anything", "are", "as", "at", "back", "bad",
      "be", "because", "been", "before", "being", "below", "best", "blank", "both", "broken", "but", "by", "can",
      "cannot", "card", "case", "change", "clear", "correct", "could", "dear", "did", "different", "does", "done",
      "down", "each", "either", "else", "empty", "even", "ever", "every", "everyone", "everything", "expired",
      "fine", "for", "forgot", "forgotten", "from", "gone", "good", "got", "had", "has", "have", "he", "hello",
      "help", "her", "here", "hey", "hi", "him", "his", "how", "i", "if", "in", "incorrect", "into", "invalid",
      "is", "it", "its", "just", "known", "last", "less", "like", "listed", "locked", "long", "lost", "many", "may",
      "me", "might", "mine", "missing", "more", "most", "much", "must", "my", "need", "needed", "never", "new",
      "next", "no", "none", "nor", "not", "nothing", "now", "of", "off", "ok", "okay", "old", "on", "once", "one",
      "only", "or", "other", "our", "out", "over", "please", "pretty", "probably", "quite", "really", "required",
      "reset", "right", "same", "secret", "secure", "see", "set", "she", "short", "should", "shown", "simple",
      "since", "so", "some", "something", "sorry", "spelled", "spelt", "still", "strong", "such", "supposed",
      "sure", "than", "thank", "thanks", "that", "the", "their", "them", "then", "there", "these", "they", "this",
      "those", "though", "through", "to", "too", "true", "two", "under", "unknown", "until", "up", "us", "used",
      "very", "was", "we", "weak", "well", "were", "what", "when", "where", "which", "while", "who", "why", "will",
      "with", "without", "wont", "would", "wrong", "yes", "yet", "you", "your", "yours",
      // adverbs ("my password is apparently ..."); no "-ly" rule, which would take "emily"
      "apparently", "basically", "certainly", "clearly", "completely", "correctly", "currently", "definitely",
      "early", "entirely", "exactly", "finally", "fully", "hardly", "incorrectly", "likely", "literally", "mostly",
      "nearly", "normally", "obviously", "only", "partly", "permanently", "probably", "properly", "rarely",
      "really", "recently", "simply", "suddenly", "supposedly", "temporarily", "totally", "unlikely", "usually"};
  for (std::string_view k : kWords)
    if (w == k) return true;
  return w == "isn" || w == "wasn" || w == "don" || w == "doesn";  // cut at the apostrophe
}

// The list above, and participles and gerunds ("expired", "working"), which never follow
// "my password is" or "my name is" as the value. Only for lower-case words: "Mohammed"
// is a name.
bool IsEverydayWord(std::string_view w) {
  const auto ends = [w](std::string_view s) { return w.size() > s.size() + 2 && w.substr(w.size() - s.size()) == s; };
  return IsEverydayListed(w) || ends("ed") || ends("ing");
}

// Capitalised words that start lines and sentences but are not names ("Thanks,\nSent from
// my phone", "Hi Team,", "Regards,\nThe Support Team").
bool IsCapitalisedNonName(std::string_view lower_word) {
  static constexpr std::string_view kWords[] = {
      "admin",   "all",      "billing", "customer", "everybody", "everyone", "folks", "friend", "friends",
      "get",     "guys",     "madam",   "management", "manager", "meine",  "sent",  "service", "sir",
      "sirs",    "support",  "team",    "there",   "whom",      "world",  "your",  "yours"};
  for (std::string_view k : kWords)
    if (lower_word == k) return true;
  return IsEverydayListed(lower_word);
}

// A two-byte UTF-8 letter (Latin-1 Supplement up to Cyrillic) at i.
bool TwoByteLetterAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(At(s, i));
  const auto cont = static_cast<unsigned char>(At(s, i + 1));
  return lead >= 0xC3 && lead <= 0xD4 && cont >= 0x80 && cont <= 0xBF;
}

bool CapitalAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(At(s, i));
  const auto cont = static_cast<unsigned char>(At(s, i + 1));
  return IsUpper(At(s, i)) || (lead == 0xC3 && cont >= 0x80 && cont <= 0x9E && cont != 0x97) ||  // À-Þ
         (lead == 0xCE && cont >= 0x91 && cont <= 0xA9) ||                                           // Α-Ω
         (lead == 0xD0 && cont >= 0x80 && cont <= 0xAF);                                             // Ѐ-Я
}

// The length of the word of letters at i, with inner hyphens and apostrophes ("Jean-Luc",
// "O'Brien", "O’Brien"); 0 when no letter is at i.
size_t NameWordAt(std::string_view s, size_t i) {
  size_t k = i;
  while (k < s.size()) {
    if (IsAlpha(s[k])) {
      ++k;
    } else if (TwoByteLetterAt(s, k)) {
      k += 2;
    } else if (k > i && (s[k] == '\'' || s[k] == '-') && (IsAlpha(At(s, k + 1)) || TwoByteLetterAt(s, k + 1))) {
      ++k;
    } else if (k > i && s.substr(k, 3) == "\xE2\x80\x99" && IsAlpha(At(s, k + 3))) {  // ’
      k += 3;
    } else {
      break;
    }
  }
  return k - i;
}

bool IsNameParticle(std::string_view w) {
  for (std::string_view p : {"van", "von", "de", "der", "den", "da", "di", "du", "del", "della", "la", "le", "bin",
                             "al", "ibn", "dos", "das", "ter", "ten"})
    if (w == p) return true;
  return false;
}

// The end of the name that starts at i (i when there is none): up to three name words
// joined by single spaces, with particles between capitalised words ("Ludwig van
// Beethoven") and initials ("John F. Kennedy"). Capitalised words only, unless
// `lowercase_ok` (after "my name is", where "my name is john" is common): then a
// lower-case name is taken too, as long as its words are not everyday words.
size_t NameEnd(std::string_view text, std::string_view lower, size_t i, bool lowercase_ok) {
  size_t end = i;
  size_t k = i;
  int words = 0;
  bool capitalised = true;
  while (words < 3) {
    const size_t len = NameWordAt(text, k);
    if (len == 0) break;
    const std::string_view w = lower.substr(k, len);
    const bool cap = CapitalAt(text, k);
    if (At(text, k + len) == '.' && IsAlnum(At(text, k + len + 1))) break;  // "report.pdf", "example.com"
    if (words == 0) capitalised = cap;
    if (words > 0 && capitalised && !cap && IsNameParticle(w) && At(text, k + len) == ' ' &&
        CapitalAt(text, k + len + 1)) {
      k += len + 1;  // a particle counts only with a capitalised word after it
      continue;
    }
    if (cap != capitalised || (!cap && !lowercase_ok)) break;
    if (cap ? IsCapitalisedNonName(w) : IsEverydayWord(w)) break;
    ++words;
    end = k + len;
    size_t next = end;
    if (len == 1 && cap && At(text, next) == '.') ++next;  // an initial
    if (At(text, next) != ' ') break;
    k = next + 1;
    if (next > end && CapitalAt(text, k)) end = next;  // keep the initial's dot inside
  }
  return end;
}

size_t SkipSpaces(std::string_view text, size_t i) {
  while (At(text, i) == ' ' || At(text, i) == '\t') ++i;
  return i;
}

bool LineStartAt(std::string_view text, size_t i) {
  size_t k = i;
  while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
  return k == 0 || text[k - 1] == '\n' || text[k - 1] == '\r' || text[k - 1] == '>' || text[k - 1] == '|';
}

// At a line start, or a sentence start within a line ("... please help. Thanks, Ann").
bool ClauseStartAt(std::string_view text, size_t i) {
  if (LineStartAt(text, i)) return true;
  size_t k = i;
  while (k > 0 && text[k - 1] == ' ') --k;
  return k < i && k > 0 && (text[k - 1] == '.' || text[k - 1] == '!' || text[k - 1] == '?');
}

// What may follow a name for its cue to count.
enum class NameEnding {
  kAny,        // "my name is Ann and ..."
  kGreeting,   // "Hi Ann," / "Dear Ann:" / "Hello Ann!" / "Hi Ann" at the line's end
  kLine,       // "Thanks, Ann!": only punctuation up to the line's end
  kSignature,  // the line after a sign-off: "Ann Smith", "Ann Smith | Acme", "Ann (Ops)"
};

bool NameEndingOk(std::string_view text, size_t end, NameEnding ending) {
  const auto line_end = [&](size_t k) { return k == text.size() || text[k] == '\n' || text[k] == '\r'; };
  switch (ending) {
    case NameEnding::kAny:
      return true;
    case NameEnding::kGreeting:
      return At(text, end) == ',' || At(text, end) == '!' || At(text, end) == ':' || line_end(SkipSpaces(text, end));
    case NameEnding::kLine: {
      size_t k = end;
      while (k < text.size() && (text[k] == ',' || text[k] == '.' || text[k] == '!' || text[k] == ' ')) ++k;
      return line_end(k);
    }
    case NameEnding::kSignature: {
      const size_t k = SkipSpaces(text, end);
      return line_end(k) || text[k] == ',' || text[k] == '|' || text[k] == '(' || text[k] == '<' ||
             text[k] == '-' || text.substr(k, 3) == "\xE2\x80\x94";  // —
    }
  }
  return false;
}

// "Mr. Smith", "Dr Jones": the title stays, the name goes.
size_t AfterTitle(std::string_view lower, size_t i) {
  for (std::string_view t : {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "sr", "sra"}) {
    if (lower.substr(i, t.size()) != t) continue;
    size_t k = i + t.size();
    if (At(lower, k) == '.') ++k;
    if (At(lower, k) != ' ') continue;
    return k + 1;
  }
  return i;
}

bool AddName(std::string_view text, std::string_view lower, size_t at, bool lowercase_ok, NameEnding ending,
             std::vector<Match>* out) {
  const size_t end = NameEnd(text, lower, at, lowercase_ok);
  if (end == at || !NameEndingOk(text, end, ending)) return false;
  out->push_back({at, end, kName});
  return true;
}

void ScanNames(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  static constexpr std::string_view kSelf[] = {"my name is ", "my name's ", "my full name is ", "i am called ", "je m'appelle ", "mein name ist ", "me llamo ",
                                               "ich hei\xC3\x9f" "e "};
  static constexpr std::string_view kLabels[] = {"name:", "full name:", "customer name:", "first name:",
                                                 "last name:", "surname:", "account holder:", "cardholder:",
                                                 "card holder:", "cardholder name:", "contact name:", "name on card:"};
  static constexpr std::string_view kGreetings[] = {"hi ", "hello ", "hey ", "dear ", "good morning ",
                                                    "good afternoon ", "good evening ", "hallo ", "bonjour ",
                                                    "hola ", "liebe ", "lieber ", "sehr geehrte "};
  static constexpr std::string_view kClosings[] = {
      "regards", "kind regards", "best regards", "warm regards", "warmest regards", "many thanks", "thanks",
      "thank you", "thanks again", "thanks in advance", "cheers", "best", "best wishes", "all the best",
      "sincerely", "yours sincerely", "yours truly", "yours faithfully", "respectfully", "br", "kr", "mfg",
      "mit freundlichen gr\xC3\xBC\xC3\x9f" "en", "viele gr\xC3\xBC\xC3\x9f" "e", "gr\xC3\xBC\xC3\x9f" "e",
      "cordialement", "saludos", "atentamente", "un saludo", "talk soon", "take care"};
  for (size_t pos = 0; pos < lower.size(); ++pos) {
    if (!IsLower(lower[pos]) || IsAlnum(Before(lower, pos))) continue;
    const std::string_view rest = lower.substr(pos);
    bool found = false;
    for (std::string_view cue : kSelf) {
      if (rest.substr(0, cue.size()) != cue) continue;
      found = AddName(text, lower, SkipSpaces(text, AfterTitle(lower, SkipSpaces(text, pos + cue.size()))), true,
                      NameEnding::kAny, out);
      break;
    }
    if (!found && LineStartAt(text, pos)) {
      for (std::string_view cue : kLabels) {
        if (rest.substr(0, cue.size()) != cue) continue;
        found = AddName(text, lower, SkipSpaces(text, pos + cue.size()), true, NameEnding::kAny, out);
        break;
      }
    }
    if (!found && LineStartAt(text, pos)) {
      for (std::string_view cue : kGreetings) {
        if (rest.substr(0, cue.size()) != cue) continue;
        found = AddName(text, lower, AfterTitle(lower, pos + cue.size()), false, NameEnding::kGreeting, out);
        break;
      }
    }
    if (!found && ClauseStartAt(text, pos)) {
      for (std::string_view cue : kClosings) {
        if (rest.substr(0, cue.size()) != cue || IsAlnum(At(lower, pos + cue.size()))) continue;
        size_t k = pos + cue.size();
        while (At(text, k) == ',' || At(text, k) == '.' || At(text, k) == '!' || At(text, k) == '-' ||
               At(text, k) == ' ')
          ++k;
        if (k < text.size() && text[k] != '\n' && text[k] != '\r') {
          // "Thanks, Ann": the rest of the line must be the name.
          if (k > pos + cue.size()) found = AddName(text, lower, AfterTitle(lower, k), false, NameEnding::kLine, out);
        } else {
          // "Regards,\n\nAnn Smith\nAcme Ltd": the next line that has text starts with the name.
          while (k < text.size() && (text[k] == '\n' || text[k] == '\r' || text[k] == ' ' || text[k] == '\t')) ++k;
          found = AddName(text, lower, AfterTitle(lower, k), false, NameEnding::kSignature, out);
        }
        if (found) break;
      }
    }
    // "Mr. Smith", "Dr Jones" anywhere.
    // (A capitalised title only: "MS Teams" and "I miss Paris" are not people.)
    if (!found && IsUpper(text[pos]) && !IsUpper(At(text, pos + 1))) {
      const size_t after = AfterTitle(lower, pos);
      if (after != pos) found = AddName(text, lower, after, false, NameEnding::kAny, out);
    }
    if (found) pos = out->back().end - 1;
  }
}

// Dates: "12/03/1985", "1985-03-12", "12.03.85", "12 March 1985", "12th of March, 1985",
// "March 12, 1985", "March 12th". The end of the date at i, or i.
int MonthWordLength(std::string_view lower, size_t i) {
  static constexpr std::string_view kMonths[] = {"january", "february", "march", "april", "may", "june", "july",
                                                 "august", "september", "october", "november", "december",
                                                 "sept", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                                                 "oct", "nov", "dec"};
  for (std::string_view m : kMonths)
    if (lower.substr(i, m.size()) == m && !IsAlpha(At(lower, i + m.size()))) return static_cast<int>(m.size());
  return 0;
}

size_t DigitsAt(std::string_view s, size_t i) {
  size_t k = i;
  while (k < s.size() && IsDigit(s[k])) ++k;
  return k - i;
}

// A day number with an optional ordinal ("12", "12th"); the end, or i.
size_t DayEnd(std::string_view lower, size_t i) {
  const size_t n = DigitsAt(lower, i);
  if (n == 0 || n > 2) return i;
  size_t k = i + n;
  for (std::string_view s : {"st", "nd", "rd", "th"})
    if (lower.substr(k, 2) == s) {
      k += 2;
      break;
    }
  return IsAlnum(At(lower, k)) ? i : k;
}

size_t DateEnd(std::string_view lower, size_t i) {
  // Numeric: three groups with one separator kind.
  const size_t a = DigitsAt(lower, i);
  if (a >= 1 && a <= 4) {
    const char sep = At(lower, i + a);
    if (sep == '/' || sep == '.' || sep == '-') {
      const size_t b = DigitsAt(lower, i + a + 1);
      const size_t second_end = i + a + 1 + b;
      if (b >= 1 && b <= 2 && At(lower, second_end) == sep) {
        const size_t c = DigitsAt(lower, second_end + 1);
        const size_t end = second_end + 1 + c;
        // 1985-03-12 or 12/03/1985, 12.03.85
        const bool ok = a == 4 ? c >= 1 && c <= 2 : a <= 2 && (c == 2 || c == 4);
        if (ok && !IsAlnum(At(lower, end))) return end;
      }
    }
  }
  // Day first: "12 March 1985", "12th of March, 1985".
  size_t k = DayEnd(lower, i);
  if (k != i) {
    size_t m = k;
    if (At(lower, m) == ' ') ++m;
    if (lower.substr(m, 3) == "of ") m += 3;
    const int len = MonthWordLength(lower, m);
    if (len == 0 || m == k) return i;
    size_t end = m + static_cast<size_t>(len);
    if (At(lower, end) == '.') ++end;
    size_t y = end;
    if (At(lower, y) == ',') ++y;
    if (At(lower, y) == ' ') ++y;
    const size_t yd = DigitsAt(lower, y);
    if (yd == 4 && !IsAlnum(At(lower, y + yd))) end = y + yd;
    return end;
  }
  // Month first: "March 12, 1985", "Mar. 12th".
  const int len = MonthWordLength(lower, i);
  if (len == 0) return i;
  size_t m = i + static_cast<size_t>(len);
  if (At(lower, m) == '.') ++m;
  if (At(lower, m) != ' ') return i;
  const size_t day_end = DayEnd(lower, m + 1);
  if (day_end == m + 1) return i;
  size_t end = day_end;
  size_t y = end;
  if (At(lower, y) == ',') ++y;
  if (At(lower, y) == ' ') ++y;
  const size_t yd = DigitsAt(lower, y);
  if (yd == 4 && !IsAlnum(At(lower, y + yd))) end = y + yd;
  return end;
}

void ScanBirthDates(std::string_view lower, std::vector<Match>* out) {
  static constexpr std::string_view kCues[] = {"date of birth", "birth date", "birthdate", "birthday", "dob",
                                               "d.o.b.", "d.o.b", "born on", "born", "geburtsdatum", "geboren am",
                                               "date de naissance", "n\xC3\xA9" "e le", "n\xC3\xA9 le",
                                               "fecha de nacimiento"};
  for (size_t pos = 0; pos < lower.size(); ++pos) {
    const char c = lower[pos];
    if ((c != 'd' && c != 'b' && c != 'g' && c != 'n' && c != 'f') || IsAlnum(Before(lower, pos))) continue;
    for (std::string_view cue : kCues) {
      if (lower.substr(pos, cue.size()) != cue || IsAlpha(At(lower, pos + cue.size()))) continue;
      size_t k = pos + cue.size();
      // "DOB: 12/03/1985", "date of birth is 12 March 1985", "born on the 12th of March".
      for (int step = 0; step < 4; ++step) {
        k = SkipSpaces(lower, k);
        if (At(lower, k) == ':' || At(lower, k) == '=' || At(lower, k) == '-') {
          ++k;
        } else if (lower.substr(k, 3) == "is " || lower.substr(k, 3) == "on ") {
          k += 3;
        } else if (lower.substr(k, 4) == "was " || lower.substr(k, 4) == "the ") {
          k += 4;
        } else {
          break;
        }
      }
      const size_t end = DateEnd(lower, k);
      if (end == k) continue;
      out->push_back({k, end, kDob});
      pos = end - 1;
      break;
    }
  }
}

// Street words after a house number and the street's name ("221B Baker Street"). The
// ones that are also everyday nouns ("2 hard drives", "a nice place") count only when
// capitalised.
bool IsStreetWord(std::string_view text, std::string_view lower, size_t i, size_t len) {
  const std::string_view w = lower.substr(i, len);
  for (std::string_view s : {"street", "st", "road", "rd", "avenue", "ave", "boulevard", "blvd", "lane", "ln",
                             "highway", "hwy", "terrace", "crescent", "parkway", "pkwy", "strasse"})
    if (w == s) return true;
  if (!CapitalAt(text, i)) return false;
  for (std::string_view s : {"drive", "dr", "way", "place", "pl", "court", "ct", "close", "square", "sq", "row",
                             "circle", "grove", "gardens", "mews", "walk", "hill"})
    if (w == s) return true;
  return false;
}

// Words that open a street name after the house number in French, Spanish, Italian and
// Portuguese addresses ("12 rue de la Paix").
bool IsStreetOpener(std::string_view w) {
  for (std::string_view s : {"rue", "avenue", "av", "boulevard", "bd", "chemin", "impasse", "via", "viale", "piazza",
                             "calle", "avenida", "rua", "carrer", "plaza"})
    if (w == s) return true;
  return false;
}

// After a street: a compass point ("NW"), then "Apt 4B", "Suite 200", "#603". A dot
// after the street word stays outside ("Baker St." keeps its full stop).
size_t UnitEnd(std::string_view text, std::string_view lower, size_t end) {
  size_t k = SkipSpaces(text, end);
  if (IsUpper(At(text, k)) && IsUpper(At(text, k + 1)) && !IsAlnum(At(text, k + 2))) {
    const std::string_view d = lower.substr(k, 2);
    if (d == "nw" || d == "ne" || d == "sw" || d == "se") {
      end = k + 2;
      k = end;
    }
  }
  if (At(text, k) == ',') k = SkipSpaces(text, k + 1);
  size_t v = k;
  if (At(text, v) == '#') {
    ++v;
  } else {
    bool unit = false;
    for (std::string_view u : {"apartment", "apt", "suite", "ste", "unit", "flat", "floor", "fl"}) {
      if (lower.substr(k, u.size()) != u || IsAlpha(At(lower, k + u.size()))) continue;
      v = k + u.size();
      if (At(text, v) == '.') ++v;
      v = SkipSpaces(text, v);
      if (At(text, v) == '#') ++v;
      unit = true;
      break;
    }
    if (!unit) return end;
  }
  size_t e = v;
  while (e < text.size() && IsAlnum(text[e]) && e - v < 8) ++e;
  return e > v && HasDigit(text.substr(v, e - v)) && !IsAlnum(At(text, e)) ? e : end;
}

// "221B Baker Street", "1600 Pennsylvania Avenue NW", "12 rue de la Paix", "Hauptstraße 5".
void ScanStreets(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (!IsDigit(text[pos]) || IsAlnum(Before(text, pos)) || std::string_view("#$-./:").find(Before(text, pos)) !=
                                                                    std::string_view::npos)
      continue;
    const size_t digits = DigitsAt(text, pos);
    size_t k = pos + digits;
    if (digits > 5) {
      pos = k - 1;
      continue;
    }
    if (IsAlpha(At(text, k)) && !IsAlpha(At(text, k + 1))) ++k;  // "221B"
    if (At(text, k) != ' ' || !IsAlpha(At(text, k + 1))) continue;
    ++k;
    size_t word_len = NameWordAt(text, k);
    if (IsStreetOpener(lower.substr(k, word_len))) {
      // "12 rue de la Paix": the street word first, then its name.
      size_t end = k + word_len;
      if (At(text, end) == '.') ++end;
      const size_t name = end + 1;
      if (At(text, end) != ' ') continue;
      size_t e = name;
      bool capitalised = false;
      for (size_t w = name, words = 0; words < 5; ++words) {
        const size_t len = NameWordAt(text, w);
        if (len == 0) break;
        const std::string_view word = lower.substr(w, len);
        const bool cap = CapitalAt(text, w);
        if (!cap && !IsNameParticle(word) && word != "des" && word != "d") break;
        capitalised = capitalised || cap;
        e = w + len;
        if (At(text, e) != ' ' && At(text, e) != '\'') break;
        w = e + 1;
      }
      if (capitalised) {
        out->push_back({pos, e, kAddress});
        pos = e - 1;
      }
      continue;
    }
    // The street's name (up to three words, no everyday words), then a street word.
    for (int words = 0; words < 4 && word_len > 0; ++words) {
      if (words > 0 && IsStreetWord(text, lower, k, word_len)) {
        const size_t end = UnitEnd(text, lower, k + word_len);
        out->push_back({pos, end, kAddress});
        pos = end - 1;
        break;
      }
      if (IsEverydayWord(lower.substr(k, word_len)) && !IsNameParticle(lower.substr(k, word_len))) break;
      if (At(text, k + word_len) != ' ') break;
      k += word_len + 1;
      word_len = NameWordAt(text, k);
    }
  }
  // "Hauptstraße 5", "Lindenweg 12a".
  for (std::string_view suffix : {"stra\xC3\x9f" "e ", "strasse ", "str. ", "weg ", "gasse ", "allee ", "platz "}) {
    for (size_t at = lower.find(suffix); at != std::string_view::npos; at = lower.find(suffix, at + 1)) {
      size_t begin = at;
      while (begin > 0 && (IsAlpha(text[begin - 1]) || static_cast<unsigned char>(text[begin - 1]) >= 0x80 ||
                           text[begin - 1] == '-'))
        --begin;
      if (begin == at) {
        // "Kölner Straße 5": the word before belongs to the street's name; "weg" alone is English.
        if (suffix != "stra\xC3\x9f" "e " && suffix != "strasse ") continue;
        size_t w = begin;
        if (w > 1 && text[w - 1] == ' ') {
          w -= 1;
          while (w > 0 && (IsAlpha(text[w - 1]) || static_cast<unsigned char>(text[w - 1]) >= 0x80)) --w;
          if (w < begin - 1 && CapitalAt(text, w)) begin = w;
        }
      } else if (!CapitalAt(text, begin)) {
        continue;
      }
      const size_t num = at + suffix.size();
      const size_t d = DigitsAt(text, num);
      if (d == 0 || d > 4) continue;
      size_t end = num + d;
      if (IsAlpha(At(text, end)) && !IsAlnum(At(text, end + 1))) ++end;
      if (IsAlnum(At(text, end))) continue;
      out->push_back({begin, end, kAddress});
    }
  }
}

// The word before i (past spaces and a comma) has a lower-case letter.
bool HasLowerWordBefore(std::string_view text, size_t i) {
  size_t k = i;
  while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == ',')) --k;
  const size_t end = k;
  while (k > 0 && IsAlpha(text[k - 1])) --k;
  return std::any_of(text.begin() + static_cast<std::ptrdiff_t>(k), text.begin() + static_cast<std::ptrdiff_t>(end),
                     IsLower);
}

bool IsUsState(std::string_view s) {
  static constexpr std::string_view kStates =
      "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
      "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC";
  for (size_t i = 0; i + 2 <= kStates.size(); i += 3)
    if (kStates.substr(i, 2) == s) return true;
  return false;
}

// "NW1 6XE", "SW1A 1AA" (UK) and "GA 30002", "CA 94105-1234" (US state and ZIP).
void ScanPostcodes(std::string_view text, std::vector<Match>* out) {
  for (size_t pos = 0; pos + 5 < text.size() + 1; ++pos) {
    if (!IsUpper(text[pos]) || IsAlnum(Before(text, pos))) continue;
    // US: a state code, one space, five digits, after a town's name ("Avondale Estates GA
    // 30002"); an all-capitals sentence ("CALL ME 12345") has no lower-case town before it.
    if (IsUpper(At(text, pos + 1)) && At(text, pos + 2) == ' ' && IsUsState(text.substr(pos, 2)) &&
        DigitsAt(text, pos + 3) == 5 && HasLowerWordBefore(text, pos)) {
      size_t end = pos + 8;
      if (At(text, end) == '-' && DigitsAt(text, end + 1) == 4) end += 5;
      if (!IsAlnum(At(text, end))) {
        out->push_back({pos, end, kAddress});
        pos = end - 1;
        continue;
      }
    }
    // UK: outward code (A9, A99, AA9, AA99, A9A, AA9A), one space, inward code (9AA).
    size_t k = pos;
    size_t letters = 0;
    while (letters < 2 && IsUpper(At(text, k))) ++k, ++letters;
    const size_t d = DigitsAt(text, k);
    if (d == 0 || d > 2) continue;
    k += d;
    if (d == 1 && IsUpper(At(text, k))) ++k;
    if (At(text, k) != ' ' || !IsDigit(At(text, k + 1)) || !IsUpper(At(text, k + 2)) || !IsUpper(At(text, k + 3)) ||
        IsAlnum(At(text, k + 4)))
      continue;
    out->push_back({pos, k + 4, kAddress});
    pos = k + 3;
  }
}

// "my address is ...", "Address: ...", "I live at ...": the rest of the line, up to a
// sentence end, when it has a number in it ("my address is outdated" has none).
void ScanAddressCues(std::string_view text, std::string_view lower, std::vector<Match>* out) {
  for (size_t at = lower.find("address"); at != std::string_view::npos; at = lower.find("address", at + 1)) {
    if (IsAlpha(Before(lower, at)) || IsAlpha(At(lower, at + 7))) continue;
    // Not a postal address: "email address: ...", "IP address is ...".
    const std::string_view before = PrecedingWord(lower, at);
    if (before == "email" || before == "mail" || before == "ip" || before == "mac" || before == "web" ||
        before == "wallet" || before == "server" || before == "url")
      continue;
    size_t k = SkipSpaces(lower, at + 7);
    if (At(lower, k) == ':' || At(lower, k) == '-' || At(lower, k) == '=') {
      ++k;
    } else if (lower.substr(k, 3) == "is ") {
      k += 3;
    } else {
      continue;
    }
    k = SkipSpaces(lower, k);
    if (!IsDigit(At(text, k)) && !CapitalAt(text, k)) continue;
    size_t end = k;
    while (end < text.size() && end - k < 120) {
      const char c = text[end];
      if (c == '\n' || c == '\r' || c == ';' || c == '|' || c == '!' || c == '?' || c == '@') break;
      // A sentence ends at ". " unless the dot closes a short abbreviation ("St. ").
      if (c == '.' && (At(text, end + 1) == ' ' || end + 1 == text.size())) {
        size_t w = end;
        while (w > k && IsAlpha(text[w - 1])) --w;
        if (end - w > 3 || end - w == 0) break;
      }
      ++end;
    }
    if (At(text, end) == '@') {  // an email glued on: stop before its word
      while (end > k && text[end - 1] != ' ') --end;
    }
    while (end > k && (text[end - 1] == ' ' || text[end - 1] == ',' || text[end - 1] == '.')) --end;
    if (end > k && HasDigit(text.substr(k, end - k)) && HasAlpha(text.substr(k, end - k)))
      out->push_back({k, end, kAddress});
  }
}

// ---------------------------------------------------------------- known names
//
// The requester's name needs no cue, only precision. The full name (two words or more)
// is matched in any case: "ann smith" in a lower-case mail is still the person. A word
// of it alone is matched only where it does not start lower-case: "Smith" is the person,
// "smith" may be a trade, and a desk's name may be any word ("Post", "Case"), so taking
// lower-case words alone would hit everyday words no list can foresee. A word that is
// also an everyday word ("Will", "Grace") must in addition not start a clause ("Will you
// ...") nor be in capitals (a heading); a word that is capitalised anyway (months,
// places, brands) also not after a word that introduces a date, place or brand ("in
// May", "to Paris", "my Chase card") nor before a number or another capitalised word
// ("May 5", "Chase Bank"). A possessive ("June's") is a person, and a line that is
// nothing but the word is a signature ("Cheers\nWill").

// Lower-cases ASCII and the two-byte capitals of Latin-1, Latin Extended-A, Greek and
// Cyrillic, keeping every byte offset (each of those capitals and its small letter take two
// bytes in UTF-8), so positions found in the folded text are positions in the original.
// The known name is matched in this case: "Jonas MÜLLER" in a signature is "Jonas Müller",
// which ASCII lower-casing ("mÜller" against "müller") missed. Greek also loses its accents
// (capitals are written without them). Other scripts are caseless or kept as they are.
std::string FoldCaseKeepingLength(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c + 32);
      continue;
    }
    // Only two-byte sequences (lead C2..DF) hold these letters; anything else is skipped
    // byte by byte (continuation bytes and longer leads match no case below).
    if (c < 0xC2 || c > 0xDF || i + 1 >= out.size()) continue;
    const auto d = static_cast<unsigned char>(out[i + 1]);
    if ((d & 0xC0) != 0x80) continue;
    const uint32_t cp = (static_cast<uint32_t>(c & 0x1F) << 6) | (d & 0x3F);
    uint32_t lower = cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
      lower = cp + 0x20;  // À..Þ (not ×)
    } else if (cp == 0x178) {
      lower = 0xFF;  // Ÿ
    } else if (cp >= 0x100 && cp <= 0x17E && cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149) {
      // Pairs, capital first: at even code points, except Ĺ..Ň and Ź..Ž at odd ones.
      const bool odd_capitals = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
      if ((cp % 2 == 1) == odd_capitals) lower = cp + 1;
    } else if ((cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) || (cp >= 0x410 && cp <= 0x42F)) {
      lower = cp + 0x20;  // Α..Ω, А..Я
    } else if (cp >= 0x386 && cp <= 0x3CE) {
      // Greek capitals are written without accents ("ΜΑΡΙΑ" is "Μαρία"), so accented and
      // diaeresis vowels fold to the plain small vowel; final sigma to sigma.
      switch (cp) {
        case 0x386: case 0x3AC: lower = 0x3B1; break;  // Ά ά → α
        case 0x388: case 0x3AD: lower = 0x3B5; break;  // Έ έ → ε
        case 0x389: case 0x3AE: lower = 0x3B7; break;  // Ή ή → η
        case 0x38A: case 0x3AF: case 0x390: case 0x3AA: case 0x3CA: lower = 0x3B9; break;  // Ί ί ΐ Ϊ ϊ → ι
        case 0x38C: case 0x3CC: lower = 0x3BF; break;  // Ό ό → ο
        case 0x38E: case 0x3CD: case 0x3B0: case 0x3AB: case 0x3CB: lower = 0x3C5; break;  // Ύ ύ ΰ Ϋ ϋ → υ
        case 0x38F: case 0x3CE: lower = 0x3C9; break;  // Ώ ώ → ω
        case 0x3C2: lower = 0x3C3; break;              // ς → σ
        default: break;
      }
    } else if (cp >= 0x400 && cp <= 0x40F) {
      lower = cp + 0x50;  // Ѐ..Џ
    }
    if (lower != cp) {
      out[i] = static_cast<char>(0xC0 | (lower >> 6));
      out[i + 1] = static_cast<char>(0x80 | (lower & 0x3F));
    }
    ++i;
  }
  return out;
}

// Titles a desk's name field may carry ("Dr. Ann Smith"): they stay, and never count alone.
bool IsTitleWord(std::string_view lower) {
  for (std::string_view t : {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "herr", "frau", "mme",
                             "mlle", "sr", "sra", "jr", "ii", "iii", "iv"})
    if (lower == t) return true;
  return false;
}

// Capitalised in ordinary text without being a person: months and days (the date
// scanner's "may" is a month too), places and brands that are also first names.
bool IsCapitalisedAnyway(std::string_view lower) {
  static constexpr std::string_view kWords[] = {
      "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
      "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
      "easter", "christmas", "christian", "paris", "london", "austin", "dallas", "houston", "phoenix", "orlando",
      "sydney", "victoria", "florence", "georgia", "virginia", "carolina", "jordan", "china", "india", "israel",
      "jersey", "chase", "amazon", "apple", "google", "microsoft", "visa", "lincoln", "ford", "mercedes"};
  for (std::string_view k : kWords)
    if (lower == k) return true;
  return false;
}

// Words before a month, place or brand that is not a person ("until June", "my Chase card").
bool IntroducesDateOrPlace(std::string_view lower) {
  for (std::string_view w : {"in", "on", "at", "by", "since", "until", "till", "from", "to", "of", "through",
                             "early", "mid", "late", "last", "next", "this", "every", "before", "after", "during",
                             "end", "beginning", "start", "the", "my", "your", "our", "a", "an", "his", "her",
                             "their", "via", "per", "near", "into", "around"})
    if (lower == w) return true;
  return false;
}

// The lower-cased word that ends right before i, across blanks ("" at a text's start).
std::string_view WordBefore(std::string_view lower, size_t i) {
  size_t end = i;
  while (end > 0 && (lower[end - 1] == ' ' || lower[end - 1] == '\t')) --end;
  size_t begin = end;
  while (begin > 0 && IsAlpha(lower[begin - 1])) --begin;
  return lower.substr(begin, end - begin);
}

// The word [i, end) fills its line, but for punctuation ("Will", "Will!"): a signature.
bool AloneOnLine(std::string_view text, size_t i, size_t end) {
  if (!LineStartAt(text, i)) return false;
  while (end < text.size() && (text[end] == ' ' || text[end] == '\t' || text[end] == ',' || text[end] == '.' ||
                               text[end] == '!'))
    ++end;
  return end == text.size() || text[end] == '\n' || text[end] == '\r';
}

// First names and surnames that are everyday words too; with the redactor's lists of
// everyday and capitalised non-name words ("will", "may", "team").
bool IsCommonNameWord(std::string_view lower) {
  static constexpr std::string_view kWords[] = {
      "bill", "mark", "grace", "hope", "joy", "rose", "frank", "sunny", "page", "faith", "amber", "ruby", "pearl",
      "daisy", "lily", "iris", "ivy", "violet", "holly", "dawn", "summer", "autumn", "winter", "hunter", "cash",
      "price", "king", "young", "white", "black", "brown", "green", "gray", "grey", "hall", "wood", "stone", "hill",
      "bell", "rich", "guy", "nick", "pat", "sue", "rob", "art", "drew", "gene", "jack", "kit", "ray", "sandy",
      "skip", "star", "storm", "wade", "penny", "honor", "chance", "chip", "buck", "miles", "lane", "park",
      "field", "street", "post", "case", "cook", "baker", "mason", "carter", "porter", "walker", "turner",
      "fisher", "hunt", "lee", "love", "major", "moody", "north", "south", "west", "rice", "sharp", "short", "small",
      "strong", "swift", "best", "bright", "early", "fox", "wolf", "bird", "crane", "lamb", "hart", "nash", "reading",
      "sterling", "august", "dean", "earl", "duke", "prince", "noble", "lord", "constance", "prudence", "mercy",
      "justice", "liberty", "destiny", "harmony", "melody", "trinity", "crystal", "jewel", "river", "sky", "rain"};
  for (std::string_view k : kWords)
    if (lower == k) return true;
  return IsCapitalisedNonName(lower) || IsEverydayWord(lower);
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsNamePunctuation(char c) { return c == ',' || c == '.' || c == ';' || c == ':' || c == '(' || c == ')' || c == '"' || c == '\''; }

// A lower-case letter at i: ASCII, Latin-1, Greek or Cyrillic. Letters of other scripts
// count as not lower-case, so "Łukasz" and caseless names are matched alone.
bool LowerAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(At(s, i));
  const auto cont = static_cast<unsigned char>(At(s, i + 1));
  return IsLower(At(s, i)) || (lead == 0xC3 && cont >= 0x9F && cont <= 0xBF && cont != 0xB7) ||  // ß-ÿ
         (lead == 0xCE && cont >= 0xAC) || lead == 0xCF ||                                        // ά-ω
         (lead == 0xD0 && cont >= 0xB0) || lead == 0xD1;                                          // а-я
}

// Letters in the word `w` (two-byte letters count once); 0 unless `w` is one name word.
size_t NameWordLetters(std::string_view w) {
  if (w.empty() || NameWordAt(w, 0) != w.size()) return 0;
  size_t letters = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (IsAlpha(w[i])) {
      ++letters;
    } else if (TwoByteLetterAt(w, i)) {
      ++letters;
      ++i;
    }
  }
  return letters;
}

// The start of the last UTF-8 character that ends at `end`.
size_t LastCharStart(std::string_view s, size_t begin, size_t end) {
  size_t k = end - 1;
  while (k > begin && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return k;
}

// No letter or digit glued to the full name at [begin, end): "Ann Smithson" is someone
// else. Scripts written without spaces (a name ending or starting in a character of
// three bytes or more, "佐藤") have no such boundary, so there the name alone decides.
bool WholeWordsAt(std::string_view text, size_t begin, size_t end) {
  const auto glued = [&](size_t i) {
    return IsAlnum(At(text, i)) || At(text, i) == '_' || TwoByteLetterAt(text, i);
  };
  const bool open_before = static_cast<unsigned char>(text[begin]) >= 0xE0;
  const bool open_after = static_cast<unsigned char>(text[LastCharStart(text, begin, end)]) >= 0xE0;
  if (!open_before && begin > 0 && (glued(begin - 1) || (begin >= 2 && TwoByteLetterAt(text, begin - 2))))
    return false;
  return open_after || !glued(end);
}

// One NAME match per word of the name in [begin, end), so that a reply can use the first
// name alone; titles and punctuation stay ("Dr. <NAME_1> <NAME_2>").
void AddNameWords(std::string_view text, std::string_view lower, size_t begin, size_t end, std::vector<Match>* out) {
  for (size_t i = begin; i < end;) {
    while (i < end && IsBlank(text[i])) ++i;
    size_t j = i;
    while (j < end && !IsBlank(text[j])) ++j;
    size_t b = i, e = j;
    while (b < e && IsNamePunctuation(text[b])) ++b;
    while (e > b && IsNamePunctuation(text[e - 1])) --e;
    if (e > b && !IsTitleWord(lower.substr(b, e - b))) out->push_back({b, e, kName, true});
    i = j;
  }
}

// `text` equals `full` once its runs of blanks are single spaces.
bool EqualsCollapsed(std::string_view text, std::string_view full) {
  size_t k = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsBlank(text[i])) {
      if (i > 0 && IsBlank(text[i - 1])) continue;
      if (At(full, k++) != ' ') return false;
    } else if (At(full, k++) != text[i]) {
      return false;
    }
  }
  return k == full.size();
}

// Linear in the text: one find loop for the full name and one pass over the words,
// each compared with the few words of the name.
void ScanKnownNames(std::string_view text, std::string_view ascii_lower, const KnownNames& known,
                    std::vector<Match>* out) {
  if (known.empty()) return;
  // The name is folded beyond ASCII (FoldCaseKeepingLength); the text needs the same only
  // when the name has letters outside ASCII.
  std::string folded;
  if (known.beyond_ascii()) folded = FoldCaseKeepingLength(text);
  const std::string_view lower = folded.empty() ? ascii_lower : std::string_view(folded);
  // A text that is nothing but the name (the requester's name field itself) is the name,
  // even a one-word name that is an everyday word.
  const std::string_view trimmed = TrimAsciiSpace(lower);
  if (EqualsCollapsed(trimmed, known.full())) {
    const size_t begin = static_cast<size_t>(trimmed.data() - lower.data());
    AddNameWords(text, lower, begin, begin + trimmed.size(), out);
    return;
  }
  const std::string& full = known.full();
  if (full.find(' ') != std::string::npos) {
    for (size_t at = lower.find(full); at != std::string_view::npos; at = lower.find(full, at + 1)) {
      if (!WholeWordsAt(text, at, at + full.size())) continue;
      AddNameWords(text, lower, at, at + full.size(), out);
      at += full.size() - 1;
    }
  }
  if (known.parts().empty()) return;
  for (size_t i = 0; i < text.size();) {
    const size_t len = NameWordAt(text, i);
    if (len == 0) {
      ++i;
      continue;
    }
    size_t stem = len;  // "Ann's": the name without the possessive
    if (len > 3 && lower.substr(i + len - 2, 2) == "'s") stem = len - 2;
    if (len > 5 && lower.substr(i + len - 4, 4) == "\xE2\x80\x99s") stem = len - 4;
    const bool glued = (i > 0 && (IsDigit(text[i - 1]) || text[i - 1] == '_')) || IsDigit(At(text, i + len)) ||
                       At(text, i + len) == '_';
    const std::string_view word = lower.substr(i, stem);
    for (const KnownNames::Part& part : known.parts()) {
      if (glued || part.lower != word || LowerAt(text, i)) continue;
      using Use = KnownNames::PartUse;
      const bool capitalised = CapitalAt(text, i) && !(stem > 1 && IsUpper(At(text, i + 1)));
      const bool mid_sentence = capitalised && !ClauseStartAt(text, i);
      bool ok = part.use == Use::kAlone || (capitalised && AloneOnLine(text, i, i + len));
      if (part.use == Use::kMidSentence) ok = ok || mid_sentence;
      if (part.use == Use::kNotDateOrPlace) {
        const size_t next = SkipSpaces(text, i + len);
        ok = ok || (mid_sentence && stem < len) ||
             (mid_sentence && !IntroducesDateOrPlace(WordBefore(lower, i)) && !IsDigit(At(text, next)) &&
              !(next > i + len && CapitalAt(text, next)));
      }
      if (ok) out->push_back({i, i + stem, kName, true});
      break;
    }
    i += len;
  }
}

// ---------------------------------------------------------------- resolve + replace

std::vector<Match> FindAll(std::string_view text, const KnownNames& known) {
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
  ScanBirthDates(lower, &all);
  ScanStreets(text, lower, &all);
  ScanPostcodes(text, &all);
  ScanAddressCues(text, lower, &all);
  ScanKnownNames(text, lower, known, &all);
  ScanNames(text, lower, &all);

  // Higher-priority types first, longer spans first within a type; accept a match
  // only where it overlaps nothing accepted already. The requester's name word by word
  // goes before a cue's name ("Regards,\nAnn Smith"), so each word keeps the placeholder
  // it has everywhere else in the ticket.
  std::stable_sort(all.begin(), all.end(), [](const Match& a, const Match& b) {
    if (a.type != b.type) return a.type < b.type;
    if (a.known != b.known) return a.known;
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

// Only what the customer may see again: their own name, email, postal address, number
// or IP. Never a secret, card, IBAN, SSN or date of birth, even one the customer typed:
// a reply that repeats it is one more copy of it in mailboxes and the help desk.
bool EchoableType(Type type) {
  return type == kEmail || type == kPhone || type == kIp || type == kName || type == kAddress;
}

}  // namespace

KnownNames::KnownNames(std::string_view full_name) {
  const std::string_view name = TrimAsciiSpace(full_name);
  // An email as the name is redacted as the email it is; a placeholder-shaped name could
  // be made to collide with the ticket's real placeholders.
  if (name.empty() || name.find('@') != std::string_view::npos || NeutralizePlaceholders(name) != name) return;
  const std::string lower = FoldCaseKeepingLength(name);
  for (size_t i = 0; i < lower.size();) {
    while (i < lower.size() && IsBlank(lower[i])) ++i;
    size_t j = i;
    while (j < lower.size() && !IsBlank(lower[j])) ++j;
    if (j == i) break;
    if (!full_.empty()) full_ += ' ';
    full_.append(lower, i, j - i);
    std::string_view word = std::string_view(lower).substr(i, j - i);
    while (!word.empty() && IsNamePunctuation(word.front())) word.remove_prefix(1);
    while (!word.empty() && IsNamePunctuation(word.back())) word.remove_suffix(1);
    const bool known_part = std::any_of(parts_.begin(), parts_.end(), [&](const Part& p) { return p.lower == word; });
    // A single letter is an initial, not a name to find on its own.
    if (!known_part && NameWordLetters(word) >= 2 && !IsTitleWord(word) && !IsNameParticle(word)) {
      const PartUse use = IsCapitalisedAnyway(word) ? PartUse::kNotDateOrPlace
                          : IsCommonNameWord(word)  ? PartUse::kMidSentence
                                                    : PartUse::kAlone;
      parts_.push_back({std::string(word), use});
    }
    i = j;
  }
  beyond_ascii_ = std::any_of(full_.begin(), full_.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool IsNameTitle(std::string_view word) {
  if (word.ends_with('.')) word.remove_suffix(1);
  return !word.empty() && word.size() <= 5 && IsTitleWord(AsciiLower(word));
}

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

std::string Redactor::Redact(std::string_view input, RedactionMap* map, TextOrigin origin,
                             const KnownNames& known) const {
  // A customer who types "<SECRET_1>" must not be able to name (and so get restored)
  // a value redacted from someone else's text.
  std::string neutral = NeutralizePlaceholders(input);
  const std::string_view text = neutral;
  const std::vector<Match> matches = FindAll(text, known);
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

std::string Redactor::Anonymize(std::string_view text, const KnownNames& known) const {
  RedactionMap discarded;
  return NeutralizePlaceholders(Redact(text, &discarded, TextOrigin::kOther, known));
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
