// The summary of a run across MPI ranks (distributed.hpp).
#include "distributed.hpp"

#include <sys/resource.h>

namespace convgrad::cli {
namespace {

// User plus system CPU seconds of this process so far, all its threads: on a machine shared
// with other work, what the rank's own work cost, whatever the wall clock says.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

nlohmann::json ranks_summary(const dist::TreeReducer& reducer, std::uint64_t bytes_read) {
  dist::World& world = dist::world();
  const dist::Traffic t = world.traffic();  // before this gather adds to it
  const auto [a, b] = reducer.chunks();
  const nlohmann::json mine = {{"rank", world.rank()},
                               {"chunks", {a, b}},
                               {"bytes_read", bytes_read},
                               {"bytes_sent", t.bytes_sent},
                               {"messages", t.messages},
                               {"wait_seconds", reducer.times().wait_seconds},
                               {"reduce_seconds", reducer.times().reduce_seconds},
                               {"cpu_seconds", cpu_seconds()}};
  const std::vector<std::string> all = world.gather(mine.dump());
  if (!world.is_root()) return nullptr;
  nlohmann::json js = {{"ranks", world.size()},
                       {"mpi", dist::mpi_version()},
                       {"passes", reducer.times().passes},
                       {"per_rank", nlohmann::json::array()}};
  for (const std::string& r : all) js["per_rank"].push_back(nlohmann::json::parse(r));
  return js;
}

}  // namespace convgrad::cli
