// Small statistics shared by the model evaluation and the shadow-trial review: both ask
// whether a label's automated answers fall short of the target precision by more than
// chance explains.
#pragma once

#include <cstddef>

namespace deskpilot {

// The precision automatic answers are meant to reach unless an admin says otherwise: the
// embedded model's auto-threshold is chosen for it, and eval and the shadow review test
// labels against it.
inline constexpr double kDefaultTargetPrecision = 0.98;

// P(X >= k) for X ~ Binomial(n, q): the chance of at least k wrong answers out of n when each
// is wrong with probability q. Exact for n in the thousands.
double BinomialTail(size_t n, size_t k, double q);

// Whether `wrong` of `n` answers falls short of `target` precision beyond chance, and how
// unlikely it is: the tail BinomialTail(n, wrong, 1 - target) is under `significance`. Not
// corrected for testing many labels, on purpose: a label listed by chance costs some
// automation, a label missed costs wrong answers sent.
inline constexpr double kShortfallSignificance = 0.05;
struct Shortfall {
  bool short_of_target = false;
  double p_value = 1.0;  // 1 when precision meets the target (or n is 0)
};
Shortfall TestShortfall(size_t n, size_t wrong, double target, double significance = kShortfallSignificance);

}  // namespace deskpilot
