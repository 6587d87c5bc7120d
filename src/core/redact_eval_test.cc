// Redaction recall and precision on generated ticket sentences, the way presidio-research
// evaluates Presidio (reliability.md §4): templates of support-ticket phrasing filled with
// fake but valid values (Luhn-valid cards, mod-97-valid IBANs, SSNs in the issued ranges,
// tokens of the real formats), and benign tickets full of order, tracking and invoice
// numbers, dates and versions. Goals from reliability.md items 16 and 17: recall at least
// 99.5% per structured type and 97% for phone numbers; at most 1% of benign tickets with
// any redaction. Names, addresses and dates of birth (99%) only in phrasings with the cues
// the redactor reads: without a cue they are not covered (README). The figures are printed so a change that moves them shows up in the log.
#include "deskpilot/redact.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }
  std::string Digits(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + Int(0, 9));
    return s;
  }
  std::string Alnum(int n, const std::string& alphabet) {
    std::string s;
    for (int i = 0; i < n; ++i) s += alphabet[static_cast<size_t>(Int(0, static_cast<int>(alphabet.size()) - 1))];
    return s;
  }

  std::string Email() {
    static const std::vector<std::string> first = {"ann", "li.wei", "jose", "m.mueller", "priya", "tom_o", "sara"};
    static const std::vector<std::string> domains = {"example.com", "mail.co.uk", "firma-x.de", "uni.edu",
                                                     "outlook.fr", "shop.example.org"};
    std::string local = Pick(first) + (Int(0, 1) ? std::to_string(Int(1, 999)) : "");
    if (Int(0, 4) == 0) local += "+support";
    return local + "@" + Pick(domains);
  }

  // Formats that carry their own evidence (country code, area parentheses, separators).
  std::string Phone() {
    const std::string a = Digits(3), b = Digits(3), c = Digits(4);
    switch (Int(0, 7)) {
      case 0: return "+1 " + a + " " + b + " " + c;
      case 1: return "(" + a + ") " + b + "-" + c;
      case 2: return a + "-" + b + "-" + c;
      case 3: return a + "." + b + "." + c;
      case 4: return "+44 20 " + Digits(4) + " " + Digits(4);
      case 5: return "+49 30 " + Digits(7);
      case 6: return "+33 1 " + Digits(2) + " " + Digits(2) + " " + Digits(2) + " " + Digits(2);
      default: return "+1 (" + a + ") " + b + "-" + c;
    }
  }

  std::string Card() {
    std::string prefix;
    int length = 16;
    switch (Int(0, 3)) {
      case 0: prefix = "4"; break;
      case 1: prefix = std::to_string(Int(51, 55)); break;
      case 2: prefix = Int(0, 1) ? "34" : "37"; length = 15; break;
      default: prefix = "6011"; break;
    }
    std::string d = prefix + Digits(length - 1 - static_cast<int>(prefix.size()));
    // The Luhn check digit.
    int sum = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      int v = d[d.size() - 1 - i] - '0';
      if (i % 2 == 0) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    d += static_cast<char>('0' + (10 - sum % 10) % 10);
    const int style = Int(0, 2);
    if (style == 0 || length == 15) return style == 1 ? d.substr(0, 4) + " " + d.substr(4, 6) + " " + d.substr(10) : d;
    const char sep = style == 1 ? ' ' : '-';
    return d.substr(0, 4) + sep + d.substr(4, 4) + sep + d.substr(8, 4) + sep + d.substr(12);
  }

  std::string Iban() {
    struct Shape {
      std::string country;
      int letters;
      int digits;
    };
    static const std::vector<Shape> shapes = {{"DE", 0, 18}, {"GB", 4, 14}, {"NL", 4, 10}, {"FR", 0, 23}};
    const Shape& s = Pick(shapes);
    const std::string bban = Alnum(s.letters, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + Digits(s.digits);
    // mod-97 over BBAN + country + "00", letters as 10..35.
    std::string numeric;
    for (char c : bban + s.country + "00") numeric += c >= 'A' ? std::to_string(c - 'A' + 10) : std::string(1, c);
    int mod = 0;
    for (char c : numeric) mod = (mod * 10 + (c - '0')) % 97;
    const int check = 98 - mod;
    const std::string iban = s.country + (check < 10 ? "0" : "") + std::to_string(check) + bban;
    if (Int(0, 1) == 0) return iban;
    std::string grouped;
    for (size_t i = 0; i < iban.size(); i += 4) grouped += (i ? " " : "") + iban.substr(i, 4);
    return grouped;
  }

  std::string Ssn() {
    int area = Int(1, 899);
    if (area == 666) area = 667;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03d-%02d-%04d", area, Int(1, 99), Int(1, 9999));
    return buf;
  }

  std::string Ip() {
    if (Int(0, 2) == 0)
      return "2001:db8:" + Alnum(4, "0123456789abcdef") + "::" + Alnum(3, "0123456789abcdef") + ":" +
             Alnum(4, "0123456789abcdef");
    return std::to_string(Int(11, 223)) + "." + std::to_string(Int(0, 255)) + "." + std::to_string(Int(0, 255)) +
           "." + std::to_string(Int(1, 254));
  }

  std::string Name() {
    static const std::vector<std::string> first = {"Ann", "Priya", "José", "Li", "Tomasz", "Aoife", "Kwame", "Jürgen",
                                                   "Fatima", "Sven", "Chloé", "Mohammed", "Olga", "Diego", "Emily"};
    static const std::vector<std::string> last = {"Smith", "Okafor", "García", "O'Brien", "Nguyen", "Müller",
                                                  "Kowalski", "Lindqvist", "Haddad", "Rossi", "Tanaka", "Dubois"};
    return Int(0, 3) == 0 ? Pick(first) : Pick(first) + " " + Pick(last);
  }

  std::string Address() {
    static const std::vector<std::string> names = {"Baker", "Elm", "Mission", "Pennsylvania", "High", "Station",
                                                   "Queen's", "Maple", "Church", "Victoria"};
    static const std::vector<std::string> streets = {"Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane",
                                                     "Drive", "Boulevard", "Way", "Close", "Court"};
    std::string a = std::to_string(Int(1, 9999)) + (Int(0, 5) == 0 ? "B" : "") + " " + Pick(names) + " " + Pick(streets);
    if (Int(0, 3) == 0) a += ", Apt " + std::to_string(Int(1, 40));
    return a;
  }

  std::string BirthDate() {
    static const std::vector<std::string> months = {"January", "March", "June", "September", "December", "Oct"};
    const std::string d = std::to_string(Int(1, 28)), m = std::to_string(Int(1, 12)), y = std::to_string(Int(1940, 2008));
    switch (Int(0, 4)) {
      case 0: return d + "/" + m + "/" + y;
      case 1: return y + "-" + (m.size() == 1 ? "0" + m : m) + "-" + (d.size() == 1 ? "0" + d : d);
      case 2: return d + " " + Pick(months) + " " + y;
      case 3: return Pick(months) + " " + d + ", " + y;
      default: return d + "." + m + "." + y;
    }
  }

  std::string Secret() {
    const std::string an = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    switch (Int(0, 5)) {
      case 0: return "sk-proj-" + Alnum(40, an);
      case 1: return "ghp_" + Alnum(36, an);
      case 2: return "AKIA" + Alnum(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
      case 3: return "xoxb-" + Digits(12) + "-" + Alnum(24, an);
      case 4: return "sk_live_" + Alnum(24, an);
      default:  // a JWT's header and payload are base64 of JSON, so both start "eyJ"
        return "eyJhbGciOiJIUzI1NiJ9.eyJ" + Alnum(30, an) + "." + Alnum(43, an);
    }
  }

 private:
  std::mt19937 rng_;
};

struct Case {
  std::string type;
  std::function<std::string(Gen&)> value;
  std::vector<std::string> templates;  // "{}" marks the value
};

std::string Escaped(std::string s) {
  for (size_t at = s.find('\n'); at != std::string::npos; at = s.find('\n', at)) s.replace(at, 1, "\\n");
  return s;
}

std::string Fill(const std::string& t, const std::string& v) {
  std::string out = t;
  out.replace(out.find("{}"), 2, v);
  return out;
}

std::vector<Case> Cases() {
  return {
      {"EMAIL", [](Gen& g) { return g.Email(); },
       {"Please send the invoice to {} instead.", "{}", "my email is {}, not the old one",
        "Can you change the account email to {}?", "I never got the reset mail at {}",
        "Contact: {}\nThanks", "Hi, it's me ({}) again.", "cc {} on the reply please"}},
      {"PHONE", [](Gen& g) { return g.Phone(); },
       {"Please call me back on {}.", "My number is {}", "You can reach me at {} after 5pm",
        "Phone: {}\nOrder 4411", "{} is my mobile", "text me on {} please", "Call {} tomorrow",
        "my new number: {}, thanks"}},
      {"CARD", [](Gen& g) { return g.Card(); },
       {"My card {} was charged twice.", "card number {} exp 09/27", "I paid with {} yesterday",
        "Refund to {} please", "{}", "Visa {}, can you check?", "the charge on card {} is wrong"}},
      {"IBAN", [](Gen& g) { return g.Iban(); },
       {"Please refund to IBAN {}.", "My bank account is {}", "IBAN: {}\nBIC: DEUTDEFF",
        "Send the money to {} thanks", "{} is the account"}},
      {"SSN", [](Gen& g) { return g.Ssn(); },
       {"My SSN is {}", "SSN: {}", "social security number {} for the tax form", "{} is my social"}},
      {"IP", [](Gen& g) { return g.Ip(); },
       {"Logins from {} are not mine", "my IP is {}", "blocked IP {}, please unblock",
        "The server at {} refuses connections."}},
      // Personal details: phrasings with the cues the redactor reads (README: "Personal
      // details are taken where a cue or their shape says what they are").
      {"NAME", [](Gen& g) { return g.Name(); },
       {"Hello, my name is {} and my order is late.", "Hi, my name is {}, I can't log in", "Name: {}\nOrder 2231",
        "It still does not work.\n\nKind regards,\n{}", "Please help.\nThanks,\n{}", "Thanks, {}!",
        "Cheers,\n{} | Acme Ltd", "Best regards\n\n{}"}},
      {"ADDRESS", [](Gen& g) { return g.Address(); },
       {"Please ship it to {} instead.", "My address is {}.", "I moved to {} last month",
        "Address: {}\nPhone on file", "It went to {} by mistake, London"}},
      {"DOB", [](Gen& g) { return g.BirthDate(); },
       {"DOB: {}", "my date of birth is {}", "Date of birth {} - please verify", "I was born on {}.",
        "birthday: {}"}},
      {"SECRET", [](Gen& g) { return g.Secret(); },
       {"I accidentally pasted my key {} in the last message", "Authorization: Bearer {}",
        "config: api_key={}", "here is the token {} if you need it", "{}"}},
  };
}

TEST(RedactEval, RecallOnGeneratedTicketSentences) {
  Gen gen(20261124);
  const Redactor redactor;
  const std::vector<Case> cases = Cases();
  std::map<std::string, std::pair<int, int>> found;  // type → (gone, total)
  std::map<std::string, std::string> first_miss;
  const int per_type = 2000;
  for (const Case& c : cases) {
    for (int i = 0; i < per_type; ++i) {
      const std::string value = c.value(gen);
      const std::string text = Fill(gen.Pick(c.templates), value);
      RedactionMap map;
      const std::string out = redactor.Redact(text, &map);
      auto& [gone, total] = found[c.type];
      ++total;
      if (out.find(value) == std::string::npos) {
        ++gone;
      } else {
        if (first_miss[c.type].empty()) first_miss[c.type] = text + "  ->  " + out;
        if (std::getenv("REDACT_EVAL_MISSES") != nullptr) std::printf("miss %s: %s  ->  %s\n", c.type.c_str(), Escaped(text).c_str(), Escaped(out).c_str());
      }
    }
  }
  int all = 0;
  for (const auto& [type, counts] : found) {
    const double recall = static_cast<double>(counts.first) / counts.second;
    all += counts.second;
    std::printf("recall %-7s %.4f (%d of %d)%s%s\n", type.c_str(), recall, counts.first, counts.second,
                first_miss[type].empty() ? "" : "  first miss: ", first_miss[type].c_str());
    const double goal = type == "PHONE" ? 0.97 : type == "NAME" || type == "ADDRESS" || type == "DOB" ? 0.99 : 0.995;
    EXPECT_GE(recall, goal) << type << ": " << first_miss[type];
  }
  EXPECT_GE(all, 10000);
}

// Benign tickets: every number in them is an order, tracking, invoice or model number, a
// date, an amount or a version. Any redaction is a false one.
TEST(RedactEval, FalseRedactionsOnBenignTicketsStayUnderOnePercent) {
  Gen gen(7);
  const Redactor redactor;
  const std::vector<std::function<std::string(Gen&)>> parts = {
      [](Gen& g) { return "order " + g.Digits(g.Int(6, 12)); },
      [](Gen& g) { return "order #" + g.Digits(g.Int(5, 9)); },
      [](Gen& g) { return "order number " + g.Digits(g.Int(7, 11)); },
      [](Gen& g) { return "tracking 1Z" + g.Alnum(6, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") + g.Digits(10); },
      [](Gen& g) { return "tracking number " + g.Digits(4) + " " + g.Digits(4) + " " + g.Digits(4) + " " + g.Digits(4) + " " + g.Digits(4) + " " + g.Digits(2); },
      [](Gen& g) { return "invoice INV-" + std::to_string(g.Int(2019, 2026)) + "-" + g.Digits(5); },
      [](Gen& g) { return "ticket #" + g.Digits(g.Int(4, 7)); },
      [](Gen& g) { return "on " + std::to_string(g.Int(2019, 2026)) + "-0" + std::to_string(g.Int(1, 9)) + "-1" + std::to_string(g.Int(0, 9)); },
      [](Gen& g) { return "on " + std::to_string(g.Int(10, 28)) + "/0" + std::to_string(g.Int(1, 9)) + "/" + std::to_string(g.Int(2019, 2026)); },
      [](Gen& g) { return "at " + std::to_string(g.Int(10, 23)) + ":" + g.Digits(2); },
      [](Gen& g) { return "version " + std::to_string(g.Int(1, 9)) + "." + std::to_string(g.Int(0, 20)) + "." + std::to_string(g.Int(0, 99)); },
      [](Gen& g) { return "$" + std::to_string(g.Int(1, 9)) + "," + g.Digits(3) + "." + g.Digits(2); },
      [](Gen& g) { return "\xE2\x82\xAC" + std::to_string(g.Int(5, 999)) + "." + g.Digits(2); },
      [](Gen& g) { return "model SM-G" + g.Digits(3) + "B"; },
      [](Gen& g) { return "serial " + g.Alnum(3, "ABCDEFGHJKLMNPQRSTUVWXYZ") + g.Digits(8); },
      [](Gen& g) { return "reference " + g.Digits(g.Int(8, 16)); },
      [](Gen& g) { return "booking confirmation " + g.Alnum(6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"); },
      [](Gen& g) { return std::to_string(g.Int(2, 40)) + " items"; },
      [](Gen& g) { return "waited " + std::to_string(g.Int(2, 14)) + " days"; },
      [](Gen& g) { return "room " + std::to_string(g.Int(100, 999)); },
  };
  const std::vector<std::string> frames = {
      "Hi, about {}: it has not arrived yet.", "My {} was wrong, please check.", "I asked about {} twice now!",
      "Status of {}?", "Can you look at {} and {} together?", "{} and {} were both charged.",
      "Thanks for the help with {}.", "Regarding {}, the app shows an error since {}."};
  const int tickets = 5000;
  int flagged = 0;
  std::string example;
  for (int i = 0; i < tickets; ++i) {
    std::string text = gen.Pick(frames);
    for (size_t at = text.find("{}"); at != std::string::npos; at = text.find("{}")) {
      text.replace(at, 2, gen.Pick(parts)(gen));
    }
    RedactionMap map;
    redactor.Redact(text, &map);
    if (!map.values.empty()) {
      ++flagged;
      if (std::getenv("REDACT_EVAL_MISSES") != nullptr)
        std::printf("false %s = %s in: %s\n", map.values.begin()->first.c_str(), map.values.begin()->second.c_str(),
                    text.c_str());
      if (example.empty()) example = text + "  ->  " + map.values.begin()->first + " = " + map.values.begin()->second;
    }
  }
  const double share = static_cast<double>(flagged) / tickets;
  std::printf("benign tickets with a redaction: %.4f (%d of %d)%s%s\n", share, flagged, tickets,
              example.empty() ? "" : "  first: ", example.c_str());
  EXPECT_LE(share, 0.01) << example;
}


// The requester's name, which the desk gives us (KnownNames), in sentences without any
// cue: the first name, the last name, the full name, possessives and bare signatures,
// with names that are everyday words too ("Will", "May") and names outside ASCII. A
// name counts as gone when no whole word of the output is still that name.
bool HasWord(const std::string& text, const std::string& word) {
  const auto letter = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80; };
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const size_t end = at + word.size();
    if ((at == 0 || !letter(text[at - 1])) && (end == text.size() || !letter(text[end]))) return true;
  }
  return false;
}

struct Person {
  std::string first, last;
};

const std::vector<Person>& People() {
  static const std::vector<Person> people = {
      {"Ann", "Smith"},     {"Will", "Turner"},   {"May", "Lee"},        {"Bill", "Frank"},   {"Grace", "Hope"},
      {"Mark", "Page"},     {"Rose", "Chase"},    {"June", "Price"},     {"José", "García"},  {"Zoë", "Müller"},
      {"Łukasz", "Nowak"},  {"Priya", "Sharma"},  {"Mohammed", "Khan"},  {"Olga", "Ivanova"}, {"Chen", "Wei"},
      {"Sunny", "Baker"},   {"Joy", "Young"},     {"Frank", "White"},    {"Hope", "Walker"},  {"Sean", "O'Brien"}};
  return people;
}

TEST(RedactEval, KnownRequesterNameRecallWithoutCues) {
  Gen gen(424242);
  const Redactor redactor;
  // {f} first name, {l} last name; what the check looks for is in `checks`.
  struct Template {
    std::string text;
    bool first, last;
  };
  const std::vector<Template> templates = {
      {"please ask {f} about the refund", true, false},
      {"The order was placed by {f} {l} last week.", true, true},
      {"I am writing on behalf of {f} {l}.", true, true},
      {"Can you send the invoice to {f}? It is {f}'s account.", true, false},
      {"The parcel for {l} never arrived.", false, true},
      {"The export fails again.\n\n{f} {l}\nAcme Ltd", true, true},
      {"Account holder is {f} {l}, please update it", true, true},
      {"my colleague {f} cannot log in", true, false},
      {"Sorry for the delay, {f} was away. {l} family account.", true, false},
      {"{f} {l} here: the app crashes on start", true, true},
      {"cheers\n{f}", true, false},
      {"the subscription of mr {l} renews tomorrow", false, true},
      {"i think {f} {l} already paid", true, true},
  };
  int gone = 0, total = 0;
  std::string first_miss;
  for (int i = 0; i < 4000; ++i) {
    const Person& p = gen.Pick(People());
    const Template& t = templates[static_cast<size_t>(gen.Int(0, static_cast<int>(templates.size()) - 1))];
    std::string text = t.text;
    for (size_t at = text.find("{f}"); at != std::string::npos; at = text.find("{f}")) text.replace(at, 3, p.first);
    for (size_t at = text.find("{l}"); at != std::string::npos; at = text.find("{l}")) text.replace(at, 3, p.last);
    RedactionMap map;
    const std::string out = redactor.Redact(text, &map, TextOrigin::kCustomerPublic, KnownNames(p.first + " " + p.last));
    ++total;
    const bool leaked = (t.first && HasWord(out, p.first)) || (t.last && HasWord(out, p.last));
    if (!leaked) {
      ++gone;
    } else {
      if (first_miss.empty()) first_miss = text + "  ->  " + out;
      if (std::getenv("REDACT_EVAL_MISSES") != nullptr) std::printf("miss KNOWN: %s  ->  %s\n", Escaped(text).c_str(), Escaped(out).c_str());
    }
  }
  const double recall = static_cast<double>(gone) / total;
  std::printf("recall known requester name %.4f (%d of %d)%s%s\n", recall, gone, total,
              first_miss.empty() ? "" : "  first miss: ", first_miss.c_str());
  EXPECT_GE(recall, 0.99) << first_miss;
}

// Ordinary tickets whose requester's name shares words with them ("I will", "in May",
// "my bill", "Chase card"), the name itself nowhere in the text: any NAME is a false one.
TEST(RedactEval, KnownRequesterNameOnBenignTicketsStaysUnderOnePercent) {
  Gen gen(99);
  const Redactor redactor;
  const std::vector<std::string> sentences = {
      "I will pay the bill in May.", "Will you refund my June order?", "The grace period ended in April.",
      "I hope you can mark it as resolved.", "Mark as read does not work.", "My Chase card was charged twice.",
      "The rose gold case is out of stock.", "Frank feedback: the app is slow.", "It is a sunny day and the site is down.",
      "We wish you joy with the new plan.", "Please bill my company instead.", "Page 2 of the invoice is blank.",
      "The price went up in June.", "Bill payment failed at 10:40.", "I will be away until August.",
      "Can you page the on-call team?", "Hope this helps.", "May I change the delivery address?",
      "The white model arrived instead of the black one.", "Young users cannot sign up.", "The walker frame is damaged.",
      "Baker street pickup point is closed.", "The June 2024 invoice is missing.", "Our Chase Bank transfer bounced.",
      "The deadline moved to May.", "See you in June!", "Since May the app crashes.", "Will it work offline?",
      "The update from April broke sync.", "Grace periods are listed on page 3."};
  const int tickets = 5000;
  int flagged = 0;
  std::string example;
  for (int i = 0; i < tickets; ++i) {
    const Person& p = gen.Pick(People());
    std::string text;
    for (int k = gen.Int(2, 4); k > 0; --k) text += gen.Pick(sentences) + " ";
    RedactionMap map;
    const std::string out =
        redactor.Redact(text, &map, TextOrigin::kCustomerPublic, KnownNames(p.first + " " + p.last));
    if (map.counts.count("NAME") != 0) {
      ++flagged;
      if (std::getenv("REDACT_EVAL_MISSES") != nullptr) std::printf("false KNOWN (%s %s): %s\n", p.first.c_str(), p.last.c_str(), out.c_str());
      if (example.empty()) example = p.first + " " + p.last + ": " + text + "  ->  " + out;
    }
  }
  const double share = static_cast<double>(flagged) / tickets;
  std::printf("benign tickets with a known-name redaction: %.4f (%d of %d)%s%s\n", share, flagged, tickets,
              example.empty() ? "" : "  first: ", example.c_str());
  EXPECT_LE(share, 0.01) << example;
}

}  // namespace
}  // namespace deskpilot
