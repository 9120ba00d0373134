#include "stability_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "support.hpp"

namespace leo::test {

void expect_valid_witnesses(const Network& network, const Analysis& a) {
  std::set<std::tuple<int, int, bool>> shown;
  for (std::size_t k = 0; k < a.witnesses.size(); ++k) {
    const Witness& w = a.witnesses[k];
    ASSERT_EQ(w.input.size(), network.inputs()) << "witness " << k;
    EXPECT_TRUE(a.domain.box.contains(w.input)) << "witness " << k << " outside the box";
    auto pre = network.pre_activations(Eigen::MatrixXd(w.input));
    for (const WitnessUnit& u : w.units) {
      ASSERT_LT(static_cast<std::size_t>(u.layer), a.layers.size());
      ASSERT_LT(u.unit, pre[static_cast<std::size_t>(u.layer)].rows());
      double g = pre[static_cast<std::size_t>(u.layer)](u.unit, 0);
      if (u.positive) {
        EXPECT_GT(g, 0.0) << "witness " << k << " layer " << u.layer << " unit " << u.unit;
      } else {
        EXPECT_LT(g, 0.0) << "witness " << k << " layer " << u.layer << " unit " << u.unit;
      }
      shown.insert({u.layer, u.unit, u.positive});
    }
  }
  for (std::size_t h = 0; h < a.layers.size(); ++h)
    for (std::size_t i = 0; i < a.layers[h].size(); ++i)
      if (a.layers[h][i].status == Status::unstable) {
        EXPECT_TRUE(shown.count({static_cast<int>(h), static_cast<int>(i), true}))
            << "unstable layer " << h << " unit " << i << " has no positive witness";
        EXPECT_TRUE(shown.count({static_cast<int>(h), static_cast<int>(i), false}))
            << "unstable layer " << h << " unit " << i << " has no negative witness";
      }
}

void expect_not_contradicted(const Network& network, const Analysis& a, const Eigen::MatrixXd& X) {
  auto pre = network.pre_activations(X);
  for (std::size_t h = 0; h < a.layers.size(); ++h)
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
      const UnitVerdict& v = a.layers[h][i];
      auto row = pre[h].row(static_cast<Eigen::Index>(i));
      if (v.status == Status::inactive) {
        EXPECT_LE(row.maxCoeff(), 0.0) << "inactive layer " << h << " unit " << i << " by " << to_string(v.stage);
      }
      if (v.status == Status::active) {
        EXPECT_GE(row.minCoeff(), 0.0) << "active layer " << h << " unit " << i << " by " << to_string(v.stage);
      }
      // Proven bounds hold too.
      EXPECT_LE(row.maxCoeff(), v.upper) << "layer " << h << " unit " << i;
      EXPECT_GE(row.minCoeff(), v.lower) << "layer " << h << " unit " << i;
    }
}

void expect_not_contradicted(const Network& network, const Analysis& a, int samples, std::mt19937_64& rng) {
  const int batch = 10000;
  for (int done = 0; done < samples; done += batch) {
    int n = std::min(batch, samples - done);
    expect_not_contradicted(network, a, random_points(a.domain.box.lower, a.domain.box.upper, n, rng));
  }
}

Analysis analysis_of(const std::vector<std::vector<Status>>& statuses) {
  Analysis a;
  for (const auto& layer : statuses) {
    a.layers.emplace_back();
    for (Status s : layer) {
      UnitVerdict v;
      v.status = s;
      a.layers.back().push_back(v);
    }
  }
  return a;
}

}  // namespace leo::test
