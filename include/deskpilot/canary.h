// The prompt canary: a random token planted in every model-backed adapter's system
// prompt that no legitimate output ever contains. Seeing it in a model's answer or in
// a write-back means the model was steered into repeating its instructions (prompt
// injection or leakage), so that output is refused and the ticket goes to a human.
#pragma once

#include <string>

namespace deskpilot {

// 16 lower-case hex characters, drawn once per process from OpenSSL's RAND_bytes on
// first use. Thread-safe. Never logged: a log line is an output too.
const std::string& ProcessCanary();

}  // namespace deskpilot
