#include "service/metrics.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.Describe("x_total", "counter", "X things.");
  m.Inc("x_total", {{"outcome", "ok"}});
  m.Inc("x_total", {{"outcome", "ok"}});
  m.Inc("x_total", {{"outcome", "a\"b"}});
  m.Observe("lat_seconds", {{"stage", "s"}}, 0.003);
  m.Set("jobs", {{"state", "done"}}, 4);
  std::string t = m.Render();
  EXPECT_NE(t.find("# HELP x_total X things.\n# TYPE x_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("x_total{outcome=\"ok\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("x_total{outcome=\"a\\\"b\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{stage=\"s\",le=\"0.0025\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{stage=\"s\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_count{stage=\"s\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("jobs{state=\"done\"} 4\n"), std::string::npos);
}

}  // namespace
}  // namespace deskpilot
