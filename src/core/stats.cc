#include "deskpilot/stats.h"

#include <algorithm>
#include <cmath>

namespace deskpilot {

// The first term in log space (n can be thousands), the rest by the ratio of consecutive
// terms (no lgamma: it writes a global, signgam, which threads would race on).
double BinomialTail(size_t n, size_t k, double q) {
  if (k == 0) return 1.0;
  if (k > n || q <= 0.0) return 0.0;
  if (q >= 1.0) return 1.0;
  double log_term = static_cast<double>(k) * std::log(q) + static_cast<double>(n - k) * std::log1p(-q);
  for (size_t i = 1; i <= k; ++i) log_term += std::log(static_cast<double>(n - k + i) / static_cast<double>(i));
  double term = std::exp(log_term), sum = 0.0;
  for (size_t j = k; j <= n && term > 0.0; ++j) {
    sum += term;
    term *= static_cast<double>(n - j) / static_cast<double>(j + 1) * q / (1.0 - q);
  }
  return std::min(sum, 1.0);
}

Shortfall TestShortfall(size_t n, size_t wrong, double target, double significance) {
  Shortfall out;
  if (n == 0 || static_cast<double>(n - std::min(wrong, n)) >= target * static_cast<double>(n)) return out;
  out.p_value = BinomialTail(n, wrong, 1.0 - target);
  out.short_of_target = out.p_value < significance;
  return out;
}

}  // namespace deskpilot
