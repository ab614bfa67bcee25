// The processes of one run: MPI's world when the command was started by an MPI launcher
// (`mpirun -np P convgrad fit ...`), else a world of one process. This room (src/dist/) is the
// only code that includes mpi.h; everything else sees this header, which works the same with
// or without MPI built in (CONVGRAD_MPI), so a plain `convgrad fit` never needs mpirun.
//
// Every collective call below must be made by every rank, in the same order. What a rank
// cannot know alone (did any rank fail? what did the others compute?) is agreed here; the
// command decides everything else identically on every rank from the same options.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace convgrad::dist {

// What happened to one rank in one phase of the work: code 0 is success; otherwise the exit
// code and the one-line message the command would print.
// An `echo` repeats another rank's failure (peer_failure): agreement prefers the original,
// whose exit code is the one to report.
struct Status {
  int code = 0;
  std::string message;
  bool echo = false;
  bool ok() const { return code == 0; }
};

// Thrown on a rank that did not fail itself when another rank's failure was agreed in the
// middle of the work (the reducer, reducer.hpp); its message is that rank's.
struct peer_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What this rank spent on communication: payload bytes it sent to other ranks (each copy
// counted), and wall-clock seconds inside collective calls (transfer and waiting).
struct Traffic {
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages = 0;
  double seconds = 0;
};

class World {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // Collective: every rank passes its own status and all receive the same one: success when
  // every rank succeeded, else the status of the lowest-numbered rank that failed (one that
  // failed itself before one that echoes another's failure).
  Status agree(const Status& mine);

  // Collective: rank 0 receives every rank's bytes in rank order (its own first); the other
  // ranks receive an empty list. Any size (sent in pieces below MPI's int counts).
  std::vector<std::string> gather(const std::string& mine);

  // Collective: every rank receives every rank's bytes in rank order.
  std::vector<std::string> all_gather(const std::string& mine);

  // Collective: rank 0's bytes to every rank (`bytes` is read at rank 0, replaced elsewhere).
  void broadcast(std::string& bytes);

  // Collective: every rank waits until all have arrived.
  void barrier();

  // Ends every process of the job now with `code` (MPI_Abort): for a failure that cannot be
  // agreed because other ranks may be waiting in a collective call. A world of one exits.
  [[noreturn]] void abort(int code);

  const Traffic& traffic() const { return traffic_; }

 private:
  friend class Session;
  int rank_ = 0, size_ = 1;
  Traffic traffic_;
};

// This process's world (a world of one until a Session starts MPI).
World& world();

// The rank and the number of ranks an MPI launcher gave this process, read from the
// environment (Open MPI's OMPI_COMM_WORLD_RANK/SIZE, else PMI's PMI_RANK/SIZE), whatever this
// build supports: 0 and 1 when no launcher started it.
int launcher_rank();
int launcher_size();
bool launched_by_mpi();

// True when this build has MPI (CONVGRAD_MPI); "" or the library's version line.
bool built_with_mpi();
std::string mpi_version();

// Lives for the whole of main(): starts MPI when launched by an MPI launcher and built with
// it, finalises it at the end; otherwise does nothing (a build without MPI started with P > 1
// ranks is refused by the command, which would otherwise run P independent copies).
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  bool started_ = false;
};

}  // namespace convgrad::dist
