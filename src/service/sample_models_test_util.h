// SeedSampleModels, shared by the tests that build a Service in process and those that start
// the real binary (tests/harness.h).
#pragma once

#include <filesystem>

namespace deskpilot::testing_util {

// Copies the sample models trained by the `sample_models` CTest fixture into
// `data_dir`/models, where a Service (in process, or `deskpilot serve`, `triage`, `demo`)
// looks for them before training its own (a database's directory is its data dir).
// Training is deterministic, so a copy is the model it would train; only first-start
// training itself, which the classifier's unit tests and the fixture cover, is skipped.
// Without the fixture (a test binary run directly) nothing is copied and the service
// trains as on a fresh install. Files already there are kept.
inline void SeedSampleModels(const std::filesystem::path& data_dir) {
#ifdef DESKPILOT_TEST_MODEL_CACHE
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path from = DESKPILOT_TEST_MODEL_CACHE;
  if (!fs::is_directory(from, ec)) return;
  fs::create_directories(data_dir / "models", ec);
  for (const fs::directory_entry& e : fs::directory_iterator(from, ec)) {
    if (e.path().extension() != ".model") continue;
    fs::copy_file(e.path(), data_dir / "models" / e.path().filename(), fs::copy_options::skip_existing, ec);
  }
#else
  (void)data_dir;
#endif
}

}  // namespace deskpilot::testing_util
