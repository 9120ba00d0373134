#pragma once
// Under mpirun (util/cluster.hpp), rank 0's state rules: at each sync point
// every rank adopts rank 0's analysis, bounds and decision to go on, so that
// the ranks reach every distributed step (util/parallel.hpp run_tasks) with
// the same task list, whatever their own clocks did before it.
//
// Why: every rank runs the stages before a distributed step itself, and many
// are budgeted by the wall clock (a share of the time left, a deadline
// checked between units); ranks with different CPU shares would decide
// different units, or one would stop where another goes on, and the task
// lists (or the number of steps) would differ. The cascade syncs at the start
// of every stage and at its end; the split stage before each pass of each
// layer; the per-unit MILP before each layer.
//
// Invariant: after follow_primary() returns, the analysis, bounds and extra
// of every rank equal rank 0's bit for bit, and every rank returns rank 0's
// `go` and rank 0's seconds left. What the non-primary ranks computed since
// the last sync is discarded (it was sound, but may differ). Not
// distributed: nothing is serialised or changed, and the result is {go,
// seconds_left} as given.
//
// Errors (Error(internal), one line): ranks at different sync points (their
// control flow diverged), or ranks whose inputs differ (a network or domain
// fingerprint, `inputs`: then the command lines or files differ), or a
// malformed message.
#include <cstdint>
#include <string>
#include <string_view>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo::sync {

struct Decision {
  bool go = true;             // rank 0's decision to go on
  double seconds_left = 0.0;  // rank 0's seconds left (infinity: no limit)
};

// `site` names the sync point (e.g. "split layer 2 pass 0"); `inputs` is a
// fingerprint of what every rank must share (input_fingerprint; 0: none).
// `bounds` and `extra` (any other state, as bytes) may be null.
Decision follow_primary(std::string_view site, std::uint64_t inputs, bool go, double seconds_left, Analysis& analysis,
                        NetworkBounds* bounds, std::string* extra = nullptr);

// What a rank goes by after a sync point on a clock (follow_clock).
class SharedClock {
 public:
  // Not distributed: this process's own clock, `limit`.
  explicit SharedClock(const Deadline& limit) : limit_(limit) {}
  SharedClock(bool go, const Deadline& limit) : shared_(true), go_(go), limit_(limit) {}

  // Whether to stop here: under mpirun rank 0's decision at the sync point
  // (the same on every rank); not distributed, whether `limit` has expired now.
  bool stop() const { return shared_ ? !go_ : limit_.expired(); }
  // The time limit of what follows the sync point: under mpirun rank 0's
  // seconds left (unlimited stays unlimited); not distributed, `limit`.
  const Deadline& limit() const { return limit_; }

 private:
  bool shared_ = false;
  bool go_ = true;
  Deadline limit_;
};

// The sync point of a step with a time limit, the form every distributed step
// takes: follow_primary with this rank's decision to go on (`limit` not
// expired) and `limit`'s seconds left, and a clock that every rank then goes
// by, so that they stop at the same step and give their tasks rank 0's time.
// On rank 0 the clock's limit is `limit` itself. Not distributed: nothing is
// sent, nothing changes, and the clock is `limit`.
SharedClock follow_clock(std::string_view site, std::uint64_t inputs, const Deadline& limit, Analysis& analysis,
                         NetworkBounds* bounds, std::string* extra = nullptr);

// A fingerprint of the network and the box: the box's bits and the
// network's pre-activations (bits) at the box's centre and corners lower and
// upper. Cheap (three evaluations); differs for a different network or box
// but for a vanishing chance.
std::uint64_t input_fingerprint(const Network& net, const Box& box);

// The state as bytes and back (what follow_primary sends): the verdicts,
// witnesses, stage times, certification counts, skipped models and flags of
// the analysis (its domain and layouts are the input's: not sent), and the
// bounds. read_state throws Error(internal) on a malformed message or one
// whose shapes do not fit `analysis`.
std::string write_state(const Analysis& analysis, const NetworkBounds* bounds, const std::string* extra);
void read_state(const std::string& bytes, Analysis& analysis, NetworkBounds* bounds, std::string* extra);

}  // namespace leo::sync
