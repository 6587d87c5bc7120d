// Shared fixtures for the embedded classifier tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "classifier/embedded/linear_model.h"

namespace deskpilot::testing {

// A fresh directory under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("deskpilot-clf-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Three topics with disjoint keywords, padded with filler words shared by all of them:
// linearly separable, but only through the keywords.
inline std::vector<LabeledText> SeparableData(int per_label, uint32_t seed = 1) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"billing", {"invoice", "charged", "refund", "payment", "receipt", "billing"}},
      {"shipping", {"parcel", "delivery", "courier", "tracking", "shipped", "arrive"}},
      {"login", {"password", "login", "locked", "username", "reset", "sign"}},
  };
  const std::vector<std::string> filler = {"hello", "please", "help", "my", "the", "today",
                                           "thanks", "account", "order", "can", "you", "need"};
  std::mt19937 rng(seed);
  std::vector<LabeledText> out;
  for (int i = 0; i < per_label; ++i) {
    for (const auto& [label, words] : topics) {
      std::string text;
      for (int w = 0; w < 6; ++w) {
        const auto& pool = (w % 2 == 0) ? words : filler;
        if (!text.empty()) text += ' ';
        text += pool[rng() % pool.size()];
      }
      out.push_back({text, label});
    }
  }
  return out;
}

// SeparableData with up to three made-up words appended to each text, drawn from a pool too
// large for most to recur: held-out texts then vary in how familiar their words are.
inline std::vector<LabeledText> SeparableDataWithNoise(int per_label, uint32_t seed = 1) {
  std::vector<LabeledText> out = SeparableData(per_label, seed);
  std::mt19937 rng(seed + 1000);
  for (LabeledText& ex : out) {
    const int extra = static_cast<int>(rng() % 4);
    for (int w = 0; w < extra; ++w) {
      std::string word;
      for (int c = 0; c < 7; ++c) word.push_back(static_cast<char>('a' + rng() % 26));
      ex.text += " " + word;
    }
  }
  return out;
}

}  // namespace deskpilot::testing
