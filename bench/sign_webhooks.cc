// Pre-signs webhook deliveries for bench/webhook.lua: wrk's Lua has no HMAC, so this
// writes, per delivery, the event id and the base64 HMAC-SHA256 over timestamp + body
// (the Zendesk scheme the sandbox adapter verifies). The body is a ~2 KB Zendesk-style
// ticket event; only its "id" differs between deliveries, so the Lua script rebuilds it
// from the prefix/suffix written on the first two lines.
//
// usage: deskpilot_sign_webhooks SECRET COUNT TIMESTAMP OUT_FILE
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

std::string Base64(const unsigned char* data, int size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, size);
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Prefix() { return R"({"id":")"; }

// ~1.9 KB of realistic ticket text around the event id, as in shared/docs/performance.md.
std::string Suffix() {
  std::string description =
      "Hello, I ordered the Alpine 40L backpack last Tuesday (order NW-20417) and the tracking "
      "page has not updated since Friday. The parcel was supposed to arrive yesterday. Could you "
      "check with the carrier and tell me when it will be delivered? I need it for a trip on "
      "Saturday, otherwise I would like to cancel and get a refund. ";
  std::string text;
  while (text.size() < 1500) text += description;
  return R"(","type":"ticket.created","ticket_id":"1042","created_at":"2026-11-22T10:00:00Z",)"
         R"("actor":{"id":"customer-77","role":"end-user"},"ticket":{"id":1042,)"
         R"("subject":"Where is my order NW-20417?","status":"new","priority":"normal",)"
         R"("requester":{"email":"ann.lee@example.com","name":"Ann Lee"},"description":")" +
         text + R"("}})";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SECRET COUNT TIMESTAMP OUT_FILE\n", argv[0]);
    return 2;
  }
  const std::string secret = argv[1];
  const long count = std::atol(argv[2]);
  const std::string timestamp = argv[3];
  std::ofstream out(argv[4], std::ios::binary);
  if (count <= 0 || !out) {
    std::fprintf(stderr, "bad COUNT or cannot write %s\n", argv[4]);
    return 2;
  }
  const std::string prefix = Prefix();
  const std::string suffix = Suffix();
  out << prefix << '\n' << suffix << '\n' << timestamp << '\n';
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  for (long i = 0; i < count; ++i) {
    const std::string id = "evt-" + std::to_string(i);
    const std::string message = timestamp + prefix + id + suffix;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
             &mac_size) == nullptr) {
      std::fprintf(stderr, "HMAC failed\n");
      return 1;
    }
    out << id << '\t' << Base64(mac, static_cast<int>(mac_size)) << '\n';
  }
  return out.good() ? 0 : 1;
}
