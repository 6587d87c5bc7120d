#include "deskpilot/redact.h"

#include <chrono>
#include <random>

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

std::string RedactOnce(const std::string& text, RedactionMap* map = nullptr) {
  RedactionMap local;
  return Redactor().Redact(text, map != nullptr ? map : &local);
}

// Expects `value` (embedded in `text`) to be replaced by a placeholder of `type`.
void ExpectRedacted(const std::string& text, const std::string& value, const std::string& type) {
  RedactionMap map;
  const std::string out = RedactOnce(text, &map);
  EXPECT_EQ(out.find(value), std::string::npos) << type << " leaked: " << out;
  const std::string placeholder = "<" + type + "_1>";
  EXPECT_NE(out.find(placeholder), std::string::npos) << text << " -> " << out;
  auto it = map.values.find(placeholder);
  ASSERT_NE(it, map.values.end()) << text << " -> " << out;
  EXPECT_EQ(it->second, value);
}

void ExpectUntouched(const std::string& text) {
  RedactionMap map;
  EXPECT_EQ(RedactOnce(text, &map), text);
  EXPECT_TRUE(map.values.empty()) << text << " -> " << map.values.begin()->first;
}

TEST(RedactTest, Email) {
  ExpectRedacted("Reach me at ann.lee+desk@example.co.uk.", "ann.lee+desk@example.co.uk", "EMAIL");
  ExpectRedacted("<bob@example.com>", "bob@example.com", "EMAIL");
  ExpectUntouched("ping @team about it, or user@localhost");
}

TEST(RedactTest, Phone) {
  ExpectRedacted("Call +1 (555) 123-4567 today", "+1 (555) 123-4567", "PHONE");
  ExpectRedacted("UK office: +44 20 7946 0958.", "+44 20 7946 0958", "PHONE");
  ExpectRedacted("my number 555-123-4567", "555-123-4567", "PHONE");
  ExpectRedacted("desk line (030) 1234 5678", "(030) 1234 5678", "PHONE");
  ExpectRedacted("please call me at 5551234567", "5551234567", "PHONE");
  ExpectRedacted("mobile: 555.123.4567", "555.123.4567", "PHONE");
  ExpectRedacted("ring 555-1234 after six", "555-1234", "PHONE");
  ExpectRedacted("phone 5551 2345", "5551 2345", "PHONE");
}

TEST(RedactTest, Card) {
  ExpectRedacted("card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111", "CARD");
  ExpectRedacted("mc 5500-0000-0000-0004", "5500-0000-0000-0004", "CARD");
  ExpectRedacted("amex 378282246310005", "378282246310005", "CARD");
  ExpectRedacted("discover 6011111111111117", "6011111111111117", "CARD");
  ExpectRedacted("new mc 2221000000000009", "2221000000000009", "CARD");
  // Luhn-invalid with a Visa prefix is not a card.
  ExpectUntouched("ref 4111 1111 1111 1112");
}

TEST(RedactTest, Iban) {
  ExpectRedacted("IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00", "IBAN");
  ExpectRedacted("pay GB82WEST12345698765432", "GB82WEST12345698765432", "IBAN");
  ExpectUntouched("code GB82WEST12345698765433");  // bad checksum
  ExpectUntouched("DE89370400440532013000123");     // wrong length for DE
}

TEST(RedactTest, Ssn) {
  ExpectRedacted("SSN 123-45-6789.", "123-45-6789", "SSN");
  for (const char* bad : {"000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567",
                          "123-45-0000"}) {
    RedactionMap map;
    RedactOnce(std::string("id ") + bad, &map);
    EXPECT_EQ(map.counts.count("SSN"), 0u) << bad;
  }
}

TEST(RedactTest, Ip) {
  ExpectRedacted("from 192.168.1.10 at noon", "192.168.1.10", "IP");
  ExpectRedacted("host 2001:db8::8a2e:370:7334 down", "2001:db8::8a2e:370:7334", "IP");
  ExpectRedacted("link fe80::1.", "fe80::1", "IP");
  ExpectUntouched("bad 256.1.1.1 and 1.2.3.4.5 and v1.2.3.4 at 08:49:37");
  ExpectUntouched("use std::string and a::b");
}

TEST(RedactTest, Secrets) {
  const std::vector<std::string> tokens = {
      "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
      "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
      "sk-abcdefghijklmnopqrstuvwxyz012345",
      "AKIAIOSFODNN7EXAMPLE",
      "ASIAIOSFODNN7EXAMPLE",
      "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
      "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
      "xoxb-123456789012-abcdefghijkl",
      "AIzaSyA1234567890abcdefghijklmnopqrstuv",
      "sk_live_abcdefghijklmnop1234",
      "rk_live_abcdefghijklmnop1234",
      "whsec_abcdefghijklmnop1234567890",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
  };
  for (const auto& token : tokens) ExpectRedacted("key " + token + " leaked", token, "SECRET");

  ExpectRedacted("login password=hunter2 thanks", "hunter2", "SECRET");
  ExpectRedacted(R"({"password": "c0rrect horse"})", "c0rrect horse", "SECRET");
  ExpectRedacted("Authorization: Bearer abc123.def456.ghi789", "abc123.def456.ghi789", "SECRET");
  ExpectRedacted("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz", "SECRET");

  const std::string pem =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy\n"
      "-----END RSA PRIVATE KEY-----";
  ExpectRedacted("here:\n" + pem + "\nbye", pem, "SECRET");

  ExpectUntouched("I use sk-learn and my password: reset is broken; the AKIA page");
}

TEST(RedactTest, NoFalsePositivesOnTicketNoise) {
  for (const char* text :
       {"order 12345678", "order #100234", "tracking 1Z999AA10123456784",
        "invoice INV-2024-00017", "2024-05-01", "version 1.2.3", "\xE2\x82\xAC" "1,299.00",
        "1234567812345670", "ref #A-10293", "on 05-01-2024 at 10:30", "ISBN 978-3-16-148410-0",
        "please call about order 12345678", "total $1 299 000.00",
        "Order 555-1234567 shipped", "in 2023 1500 tickets", "from 2023-2024 on"}) {
    ExpectUntouched(text);
  }
}

TEST(RedactTest, RepeatedValuesSharePlaceholders) {
  RedactionMap map;
  Redactor r;
  const std::string subject = r.Redact("Refund for ann@example.com", &map);
  const std::string body =
      r.Redact("ann@example.com and bob@example.com; again ann@example.com", &map);
  EXPECT_EQ(subject, "Refund for <EMAIL_1>");
  EXPECT_EQ(body, "<EMAIL_1> and <EMAIL_2>; again <EMAIL_1>");
  EXPECT_EQ(map.counts.at("EMAIL"), 2);
  EXPECT_EQ(map.values.size(), 2u);
}

TEST(RedactTest, NumberingPerType) {
  RedactionMap map;
  const std::string out = RedactOnce(
      "a@x.io 192.168.0.1 b@x.io 10.0.0.1 call +1 555 123 4567", &map);
  EXPECT_EQ(out, "<EMAIL_1> <IP_1> <EMAIL_2> <IP_2> call <PHONE_1>");
}

TEST(RedactTest, RestoreRoundTrip) {
  const std::string text =
      "Hi, I'm ann@example.com (+44 20 7946 0958), card 4111-1111-1111-1111, "
      "key sk-abcdefghijklmnopqrstuvwxyz012345, host 10.1.2.3. Grüße 🙂";
  RedactionMap map;
  Redactor r;
  const std::string redacted = r.Redact(text, &map);
  EXPECT_EQ(redacted,
            "Hi, I'm <EMAIL_1> (<PHONE_1>), card <CARD_1>, key <SECRET_1>, host <IP_1>. "
            "Grüße 🙂");
  EXPECT_EQ(Redactor::Restore(redacted, map), text);
  // Unknown placeholders and stray brackets pass through.
  EXPECT_EQ(Redactor::Restore("<EMAIL_9> <b> a < b > c <EMAIL_1>", map),
            "<EMAIL_9> <b> a < b > c ann@example.com");
  // Redacting redacted text changes nothing.
  EXPECT_EQ(r.Redact(redacted, &map), redacted);
}

TEST(RedactTest, UnicodeIsPreserved) {
  const std::string text = "日本語のテキスト — naïve café ✓ 📞 ann@example.com ✓ Straße 12";
  const std::string out = RedactOnce(text);
  EXPECT_EQ(out, "日本語のテキスト — naïve café ✓ 📞 <EMAIL_1> ✓ Straße 12");
}

TEST(RedactTest, LargeHostileInputsAreFast) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a", "Z", "7", "0", " ", "-", ".", "@", ":", "+",
                                           "(", ")", "é", "日本", "🙂", "sk-", "eyJ", "x@y.com",
                                           "4111", "password=", "DE89", "\n", "#", "1.2"};
  std::string random;
  while (random.size() < (1 << 20)) random += pieces[rng() % pieces.size()];
  const std::vector<std::string> inputs = {
      random,
      std::string(1 << 20, '1'),
      [] { std::string s; while (s.size() < (1 << 20)) s += "1-"; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "12 "; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "a.b"; return s + "@"; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "sk-"; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "password=x"; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "authorization=a"; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "ab:"; return s; }(),
      [] { std::string s; while (s.size() < (1 << 20)) s += "1.1.1.1."; return s; }(),
  };
  Redactor r;
  for (size_t i = 0; i < inputs.size(); ++i) {
    RedactionMap map;
    const auto start = std::chrono::steady_clock::now();
    const std::string out = r.Redact(inputs[i], &map);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // Release builds take ~0.05-0.2 s per MB; a quadratic path would take minutes, so a
    // generous bound catches it without flaking on a busy 2-core machine.
    EXPECT_LT(elapsed, std::chrono::seconds(3)) << "input " << i;
    EXPECT_EQ(Redactor::Restore(out, map), inputs[i]) << "input " << i;
  }
}

}  // namespace
}  // namespace deskpilot
