#include "deskpilot/crypto.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(CryptoTest, HmacSha256Rfc4231) {
  // RFC 4231 test case 1 and 2.
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, HmacSha1Rfc2202) {
  EXPECT_EQ(HexEncode(HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(CryptoTest, ZendeskStyleSignature) {
  // Zendesk signs base64(HMAC-SHA256(secret, timestamp + raw body)); expected value
  // computed independently with Python's hmac module.
  const std::string secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
  const std::string timestamp = "2024-05-01T12:00:00Z";
  const std::string body = R"({"ticket":{"id":42}})";
  EXPECT_EQ(Base64Encode(HmacSha256(secret, timestamp + body)),
            "0DLPnWL5hLLbcE0/TNTCgRJMNcZc7qBFOunAQm4+nPc=");
}

TEST(CryptoTest, Sha256) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

TEST(CryptoTest, Base64KnownValues) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  std::string out;
  ASSERT_TRUE(Base64Decode("Zm9vYg==", &out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(Base64Decode("", &out));
  EXPECT_EQ(out, "");
}

TEST(CryptoTest, Base64RoundTripAllBytes) {
  std::string raw;
  for (int len = 0; len < 300; ++len) {
    raw.push_back(static_cast<char>(len * 37 + 11));
    std::string decoded;
    ASSERT_TRUE(Base64Decode(Base64Encode(raw), &decoded)) << len;
    EXPECT_EQ(decoded, raw) << len;
  }
}

TEST(CryptoTest, Base64RejectsMalformed) {
  std::string out = "unchanged";
  for (const char* bad : {"Zm9", "Zm9v!", "Zm=v", "Z===", "Zm9vYg=", "====", "Zm9vYg==Zm9v",
                          "Zm 9v", "Zm9vYh==" /* non-canonical trailing bits */}) {
    EXPECT_FALSE(Base64Decode(bad, &out)) << bad;
  }
  EXPECT_EQ(out, "unchanged");
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("signature", "signature"));
  EXPECT_FALSE(ConstantTimeEquals("signature", "signaturf"));
  EXPECT_FALSE(ConstantTimeEquals("signature", "signatur"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

TEST(CryptoTest, RandomHex) {
  const std::string a = RandomHex(16);
  const std::string b = RandomHex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(CryptoTest, HexDecodeRoundTripsAndRefusesMalformed) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string back;
  ASSERT_TRUE(HexDecode(HexEncode(all), &back));
  EXPECT_EQ(back, all);
  ASSERT_TRUE(HexDecode("DEADbeef", &back));
  EXPECT_EQ(back, "\xDE\xAD\xBE\xEF");
  for (const char* bad : {"abc", "zz", "0g", " 00", "00 "}) EXPECT_FALSE(HexDecode(bad, &back)) << bad;
}

}  // namespace
}  // namespace deskpilot
