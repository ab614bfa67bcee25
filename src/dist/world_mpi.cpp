// The world over MPI (built when CONVGRAD_MPI is on). Only the calling thread talks to MPI
// (MPI_THREAD_FUNNELED): the OpenMP threads inside a rank compute, the main thread sends.
//
// Byte strings of any size travel point to point in pieces below MPI's int counts, and rank 0
// receives them in rank order, so what it assembles never depends on arrival order.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "world.hpp"

namespace convgrad::dist {
namespace {

constexpr int kTag = 10;                              // issue 10
constexpr std::size_t kPiece = std::size_t{1} << 30;  // bytes per MPI call

// Adds the wall-clock time of one collective call to the rank's traffic.
class Timed {
 public:
  explicit Timed(Traffic& t) : t_(t), start_(MPI_Wtime()) {}
  ~Timed() { t_.seconds += MPI_Wtime() - start_; }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  Traffic& t_;
  double start_;
};

// Waits for `request` without holding a core: it polls at once for a little while (ranks in
// step, as the iterative solvers' are, wait microseconds), then sleeps between polls, doubling
// up to 1 ms, so that a rank waiting for a slower one leaves the core to work that needs it
// (its own threads, or other ranks on an oversubscribed or shared machine). MPI's blocking
// calls would spin at full speed instead.
void wait_for(MPI_Request& request) {
  int done = 0;
  for (int i = 0; i < 2000 && !done; ++i) MPI_Test(&request, &done, MPI_STATUS_IGNORE);
  auto pause = std::chrono::microseconds(16);
  while (!done) {
    std::this_thread::sleep_for(pause);
    pause = std::min(2 * pause, std::chrono::microseconds(1000));
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
  }
}

int piece_size(std::size_t n, std::size_t at) { return static_cast<int>(std::min(kPiece, n - at)); }

void send_bytes(const std::string& s, int to, Traffic& t) {
  std::uint64_t n = s.size();
  MPI_Request r;
  MPI_Isend(&n, 1, MPI_UINT64_T, to, kTag, MPI_COMM_WORLD, &r);
  wait_for(r);
  for (std::size_t at = 0; at < s.size(); at += kPiece) {
    MPI_Isend(s.data() + at, piece_size(s.size(), at), MPI_BYTE, to, kTag, MPI_COMM_WORLD, &r);
    wait_for(r);
  }
  t.bytes_sent += s.size();
  t.messages += 1;
}

std::string receive_bytes(int from) {
  std::uint64_t n = 0;
  MPI_Request r;
  MPI_Irecv(&n, 1, MPI_UINT64_T, from, kTag, MPI_COMM_WORLD, &r);
  wait_for(r);
  std::string s(static_cast<std::size_t>(n), '\0');
  for (std::size_t at = 0; at < s.size(); at += kPiece) {
    MPI_Irecv(s.data() + at, piece_size(s.size(), at), MPI_BYTE, from, kTag, MPI_COMM_WORLD, &r);
    wait_for(r);
  }
  return s;
}

// Rank `root`'s bytes to every rank (`s` is read at the root and written elsewhere).
void broadcast_bytes(std::string& s, int root, int rank, int size, Traffic& t) {
  std::uint64_t n = s.size();
  MPI_Request r;
  MPI_Ibcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD, &r);
  wait_for(r);
  if (rank != root) s.assign(static_cast<std::size_t>(n), '\0');
  for (std::size_t at = 0; at < s.size(); at += kPiece) {
    MPI_Ibcast(s.data() + at, piece_size(s.size(), at), MPI_BYTE, root, MPI_COMM_WORLD, &r);
    wait_for(r);
  }
  if (rank == root) {
    t.bytes_sent += s.size() * static_cast<std::uint64_t>(size - 1);  // one copy per other rank
    t.messages += 1;
  }
}

}  // namespace

Status World::agree(const Status& mine) {
  Timed timed(traffic_);
  // The key of a rank's status: its rank when it failed itself, size + rank when it echoes
  // another's failure, 2 size when it succeeded. The least key names the status to report.
  const int key = mine.ok() ? 2 * size_ : mine.echo ? size_ + rank_ : rank_;
  int least = 2 * size_;
  MPI_Request r;
  MPI_Iallreduce(&key, &least, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &r);
  wait_for(r);
  if (least == 2 * size_) return {};
  const int first = least % size_;
  Status s = rank_ == first ? mine : Status{};
  MPI_Ibcast(&s.code, 1, MPI_INT, first, MPI_COMM_WORLD, &r);
  wait_for(r);
  broadcast_bytes(s.message, first, rank_, size_, traffic_);
  s.echo = least >= size_;
  return s;
}

std::vector<std::string> World::gather(const std::string& mine) {
  Timed timed(traffic_);
  if (!is_root()) {
    send_bytes(mine, 0, traffic_);
    return {};
  }
  std::vector<std::string> all{mine};
  for (int r = 1; r < size_; ++r) all.push_back(receive_bytes(r));
  return all;
}

std::vector<std::string> World::all_gather(const std::string& mine) {
  Timed timed(traffic_);
  // Every rank's size, then the bytes: MPI_Allgatherv where the total fits MPI's int counts
  // (each rank receives the others' bytes, never its own back), else through rank 0 in pieces.
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(size_));
  const std::uint64_t my_size = mine.size();
  MPI_Request r;
  MPI_Iallgather(&my_size, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &r);
  wait_for(r);
  std::uint64_t total = 0;
  for (const std::uint64_t n : sizes) total += n;
  if (total > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    std::vector<std::string> all;
    if (is_root()) {
      all.push_back(mine);
      for (int r = 1; r < size_; ++r) all.push_back(receive_bytes(r));
    } else {
      send_bytes(mine, 0, traffic_);
    }
    all.resize(sizes.size());
    for (auto& s : all) broadcast_bytes(s, 0, rank_, size_, traffic_);
    return all;
  }
  std::vector<int> counts(sizes.size()), at(sizes.size());
  for (std::size_t r = 0, offset = 0; r < sizes.size(); offset += sizes[r], ++r) {
    counts[r] = static_cast<int>(sizes[r]);
    at[r] = static_cast<int>(offset);
  }
  std::string joined(static_cast<std::size_t>(total), '\0');
  MPI_Iallgatherv(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, joined.data(), counts.data(),
                  at.data(), MPI_BYTE, MPI_COMM_WORLD, &r);
  wait_for(r);
  traffic_.bytes_sent += my_size * static_cast<std::uint64_t>(size_ - 1);  // one copy per other rank
  traffic_.messages += 1;
  std::vector<std::string> all;
  for (std::size_t r = 0; r < sizes.size(); ++r)
    all.push_back(joined.substr(static_cast<std::size_t>(at[r]), static_cast<std::size_t>(sizes[r])));
  return all;
}

void World::broadcast(std::string& bytes) {
  Timed timed(traffic_);
  broadcast_bytes(bytes, 0, rank_, size_, traffic_);
}

void World::barrier() {
  Timed timed(traffic_);
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  wait_for(r);
}

void World::abort(int code) {
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

bool built_with_mpi() { return true; }

std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string v(text, static_cast<std::size_t>(length));
  return v.substr(0, v.find_first_of(",\n"));
}

Session::Session(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  started_ = true;
  World& w = world();
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size_);
}

Session::~Session() {
  if (started_) MPI_Finalize();
}

}  // namespace convgrad::dist
