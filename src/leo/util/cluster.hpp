#pragma once
// The processes of one run started by `mpirun -np K leo ...` (OpenMPI), behind
// a small interface: no MPI type appears here, and a program not started by
// mpirun never initialises MPI (no MPI_Init: the normal program, the tests and
// the Python module stay single processes). Only cluster.cpp includes <mpi.h>.
//
// Model: every rank runs the same command on the same input; work that is
// split into independent tasks (util/parallel.hpp) is shared out, and every
// rank receives every result, so all ranks go on with the same state. Rank 0
// is the primary: only it prints and writes files. What a rank decides by its
// own clock (a time limit) may differ between ranks: before each distributed
// step the ranks adopt rank 0's state (stability/sync.hpp), through
// all_gather, the one collective leo uses (so ranks that diverge meet in it
// and see each other's step instead of hanging in different collectives).
//
// Failures are never silent: MPI errors return codes (MPI_ERRORS_RETURN) that
// become leo::Error(internal); a gather that does not complete within
// LEO_MPI_TIMEOUT seconds (when set) is an error; a rank that dies makes
// mpirun stop the whole job with a non-zero exit. Ranks whose results do not
// agree (a different task list, a task missing or twice) are an error, never
// a merged result.
#include <cstdint>
#include <string>
#include <vector>

namespace leo::cluster {

// Whether this build has MPI support.
bool available();
// Whether the environment says this process was started by mpirun
// (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE set).
bool launched_by_mpirun();

// Initialises MPI when launched_by_mpirun() (else does nothing). Throws
// Error(bad_input) when launched by mpirun but built without MPI.
void start(int* argc, char*** argv);
// MPI_Finalize, when start() initialised MPI.
void stop();
// Ends every rank of the job at once with this exit code (MPI_Abort); when
// not distributed, returns without doing anything.
void abort(int code);

// This process's rank and the number of ranks (0 and 1 when not distributed).
int rank();
int size();
inline bool primary() { return rank() == 0; }
inline bool distributed() { return size() > 1; }

// Every rank calls it with its own message; returns every rank's message,
// ordered by rank, on every rank. Throws Error(internal) on an MPI error or
// when LEO_MPI_TIMEOUT (seconds) passes first. Not distributed: {mine}.
std::vector<std::string> all_gather(const std::string& mine);

// Test hook (tests/parallel_itest.cpp, docs): LEO_MPI_TEST_TIME_SCALE=R:F
// makes rank R's time limit F times the one given (e.g. 0.001: its clock
// seems to run a thousand times faster, as on a starved rank), so that a test
// can skew the ranks' clocks deterministically. 1 on every other rank, when
// not distributed or when unset or unreadable.
double test_time_scale();

}  // namespace leo::cluster
