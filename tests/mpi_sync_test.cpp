// stability/sync.hpp in one process: the state rank 0 sends under mpirun
// comes back bit for bit (verdicts, witnesses, times, counts, bounds, extra
// bytes), a malformed or misfitting message is an Error(internal), never a
// partly adopted state, and without mpirun follow_primary changes nothing.
// (The distributed behaviour: parallel_itest Mpi.*.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "leo/stability/sync.hpp"
#include "leo/util/cluster.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {

Analysis sample_analysis() {
  Analysis a;
  a.layers = {std::vector<UnitVerdict>(3), std::vector<UnitVerdict>(2)};
  a.layers[0][0] = {Status::active, Stage::crown, 0.25, 3.5, true, false};
  a.layers[0][1] = {Status::inactive, Stage::split, -std::numeric_limits<double>::infinity(), -0.0, false, true};
  a.layers[0][2] = {Status::undecided, Stage::none, -1.0 / 3, 2.0 / 7, true, true};
  a.layers[1][0] = {Status::unstable, Stage::samples, -5e-300, 1e300, true, true};
  a.layers[1][1] = {Status::inactive, Stage::milp, -2, std::nextafter(-1.0, 0.0), false, false};
  Witness w;
  w.input = Eigen::VectorXd::LinSpaced(4, -1, 1);
  w.units = {{0, 2, true}, {1, 0, false}};
  a.witnesses = {w, Witness{Eigen::VectorXd::Constant(4, 0.1), {}}};
  a.stage_times = {{Stage::ibp, 0.001, 3}, {Stage::milp, 2.5, 1}};
  a.time_seconds = 7.25;
  a.timed_out = true;
  a.certification = {4, 3, 1, 0, 123456789012L, 77, 1.5};
  a.skipped_models = {{Stage::milp, 1, 10, 20, 5, 6}};
  return a;
}

NetworkBounds sample_bounds() {
  NetworkBounds b(2);
  b[0].lower = Eigen::Vector3d(-1, 0.5, -std::numeric_limits<double>::infinity());
  b[0].upper = Eigen::Vector3d(1, 0.75, 2);
  b[1].lower = Eigen::Vector2d(-3, -4);
  b[1].upper = Eigen::Vector2d(3, 4);
  return b;
}

// Every field the sync carries, bit for bit (== on doubles; -0.0 by its sign too).
void expect_same(const Analysis& x, const Analysis& y) {
  ASSERT_EQ(x.layers.size(), y.layers.size());
  for (std::size_t h = 0; h < x.layers.size(); ++h) {
    ASSERT_EQ(x.layers[h].size(), y.layers[h].size());
    for (std::size_t i = 0; i < x.layers[h].size(); ++i) {
      const UnitVerdict &u = x.layers[h][i], &v = y.layers[h][i];
      EXPECT_EQ(u.status, v.status);
      EXPECT_EQ(u.stage, v.stage);
      EXPECT_EQ(u.lower, v.lower);
      EXPECT_EQ(std::signbit(u.upper), std::signbit(v.upper));
      EXPECT_EQ(u.upper, v.upper);
      EXPECT_EQ(u.seen_positive, v.seen_positive);
      EXPECT_EQ(u.seen_negative, v.seen_negative);
    }
  }
  ASSERT_EQ(x.witnesses.size(), y.witnesses.size());
  for (std::size_t k = 0; k < x.witnesses.size(); ++k) {
    EXPECT_EQ(x.witnesses[k].input, y.witnesses[k].input);
    ASSERT_EQ(x.witnesses[k].units.size(), y.witnesses[k].units.size());
    for (std::size_t q = 0; q < x.witnesses[k].units.size(); ++q) {
      EXPECT_EQ(x.witnesses[k].units[q].layer, y.witnesses[k].units[q].layer);
      EXPECT_EQ(x.witnesses[k].units[q].unit, y.witnesses[k].units[q].unit);
      EXPECT_EQ(x.witnesses[k].units[q].positive, y.witnesses[k].units[q].positive);
    }
  }
  ASSERT_EQ(x.stage_times.size(), y.stage_times.size());
  for (std::size_t k = 0; k < x.stage_times.size(); ++k) {
    EXPECT_EQ(x.stage_times[k].stage, y.stage_times[k].stage);
    EXPECT_EQ(x.stage_times[k].seconds, y.stage_times[k].seconds);
    EXPECT_EQ(x.stage_times[k].decided, y.stage_times[k].decided);
  }
  EXPECT_EQ(x.time_seconds, y.time_seconds);
  EXPECT_EQ(x.timed_out, y.timed_out);
  const Certification &c = x.certification, &d = y.certification;
  EXPECT_EQ(c.claims, d.claims);
  EXPECT_EQ(c.proven, d.proven);
  EXPECT_EQ(c.refuted, d.refuted);
  EXPECT_EQ(c.unknown, d.unknown);
  EXPECT_EQ(c.nodes, d.nodes);
  EXPECT_EQ(c.lps, d.lps);
  EXPECT_EQ(c.seconds, d.seconds);
  ASSERT_EQ(x.skipped_models.size(), y.skipped_models.size());
  for (std::size_t k = 0; k < x.skipped_models.size(); ++k) {
    const SkippedModel &m = x.skipped_models[k], &n = y.skipped_models[k];
    EXPECT_EQ(m.stage, n.stage);
    EXPECT_EQ(m.layer, n.layer);
    EXPECT_EQ(m.rows, n.rows);
    EXPECT_EQ(m.nonzeros, n.nonzeros);
    EXPECT_EQ(m.limit_rows, n.limit_rows);
    EXPECT_EQ(m.limit_nonzeros, n.limit_nonzeros);
  }
}

// A receiver: the same shapes, everything else fresh.
Analysis fresh() {
  Analysis a;
  a.layers = {std::vector<UnitVerdict>(3), std::vector<UnitVerdict>(2)};
  return a;
}

TEST(SyncState, RoundTripsBitForBit) {
  const Analysis a = sample_analysis();
  const NetworkBounds b = sample_bounds();
  const std::string extra("random\0state", 12);
  const std::string bytes = sync::write_state(a, &b, &extra);
  Analysis got = fresh();
  NetworkBounds got_bounds;
  std::string got_extra = "old";
  sync::read_state(bytes, got, &got_bounds, &got_extra);
  expect_same(a, got);
  ASSERT_EQ(got_bounds.size(), b.size());
  for (std::size_t j = 0; j < b.size(); ++j) {
    EXPECT_EQ(got_bounds[j].lower, b[j].lower);
    EXPECT_EQ(got_bounds[j].upper, b[j].upper);
  }
  EXPECT_EQ(got_extra, extra);

  // Without bounds and extra (the per-unit MILP's sync).
  Analysis plain = fresh();
  sync::read_state(sync::write_state(a, nullptr, nullptr), plain, nullptr, nullptr);
  expect_same(a, plain);
}

TEST(SyncState, MalformedOrMisfittingStateIsAnInternalErrorAndChangesNothing) {
  const Analysis a = sample_analysis();
  const NetworkBounds b = sample_bounds();
  const std::string bytes = sync::write_state(a, &b, nullptr);
  auto rejects = [&](const std::string& message, Analysis into, NetworkBounds* bounds) {
    const Analysis before = into;
    try {
      sync::read_state(message, into, bounds, nullptr);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::internal);
      EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos) << e.what();
    }
    expect_same(before, into);  // nothing adopted
  };
  NetworkBounds sink;
  for (std::size_t cut : {std::size_t{0}, std::size_t{7}, bytes.size() / 2, bytes.size() - 1}) {
    SCOPED_TRACE(cut);
    rejects(bytes.substr(0, cut), fresh(), &sink);
  }
  rejects(bytes + "x", fresh(), &sink);  // trailing bytes
  Analysis other;                         // another shape: 2 layers of 2
  other.layers = {std::vector<UnitVerdict>(2), std::vector<UnitVerdict>(2)};
  rejects(bytes, other, &sink);
  rejects(bytes, fresh(), nullptr);  // the sender sent bounds, the receiver expects none
  std::string bad_status = bytes;
  bad_status[16] = 9;  // layer 0 unit 0's status (after the two counts): no such Status
  rejects(bad_status, fresh(), &sink);
}

TEST(SyncState, WithoutMpirunFollowPrimaryChangesNothing) {
  if (cluster::distributed()) GTEST_SKIP() << "the test itself runs under mpirun";
  Analysis a = sample_analysis();
  NetworkBounds b = sample_bounds();
  std::string extra = "x";
  for (bool go : {true, false}) {
    const sync::Decision d = sync::follow_primary("site", 42, go, 3.5, a, &b, &extra);
    EXPECT_EQ(d.go, go);
    EXPECT_EQ(d.seconds_left, 3.5);
  }
  expect_same(a, sample_analysis());
  EXPECT_EQ(b[1].upper, sample_bounds()[1].upper);
  EXPECT_EQ(extra, "x");
}

// Without mpirun the clock of a sync point is the process's own: the limit
// given (the same end), stop() reads it when asked, nothing else changes.
TEST(SyncState, WithoutMpirunTheClockIsTheProcesssOwn) {
  if (cluster::distributed()) GTEST_SKIP() << "the test itself runs under mpirun";
  Analysis a = sample_analysis();
  NetworkBounds b = sample_bounds();
  const sync::SharedClock none = sync::follow_clock("site", 42, Deadline(), a, &b, nullptr);
  EXPECT_FALSE(none.stop());
  EXPECT_TRUE(none.limit().unlimited());
  const Deadline soon(0.05);
  const sync::SharedClock clock = sync::follow_clock("site", 42, soon, a, &b, nullptr);
  EXPECT_FALSE(clock.stop());
  EXPECT_LE(std::abs(clock.limit().remaining() - soon.remaining()), 1e-3);
  while (!soon.expired()) {
  }
  EXPECT_TRUE(clock.stop());  // read now, not at the sync point
  EXPECT_EQ(clock.limit().remaining(), 0.0);
  expect_same(a, sample_analysis());
  EXPECT_EQ(b[1].upper, sample_bounds()[1].upper);
  // Under mpirun (the two-argument form): the decision made at the sync point, whatever the clock says later.
  EXPECT_TRUE(sync::SharedClock(false, Deadline()).stop());
  EXPECT_FALSE(sync::SharedClock(true, soon).stop());
}

TEST(SyncState, InputFingerprintNamesTheNetworkAndTheBox) {
  const Network net({AffineLayer(Eigen::MatrixXd::Identity(2, 2), Eigen::VectorXd::Zero(2)),
                     AffineLayer(Eigen::MatrixXd::Ones(1, 2), Eigen::VectorXd::Zero(1))});
  const Box box(Eigen::Vector2d(0, 0), Eigen::Vector2d(1, 1));
  const std::uint64_t base = sync::input_fingerprint(net, box);
  EXPECT_EQ(sync::input_fingerprint(net, box), base);
  Network other = net;
  other.layers[1].weights(0, 1) = 2;  // another weight
  EXPECT_NE(sync::input_fingerprint(other, box), base);
  const Box wider(Eigen::Vector2d(0, 0), Eigen::Vector2d(1, 2));
  EXPECT_NE(sync::input_fingerprint(net, wider), base);
}

}  // namespace
}  // namespace leo
