// The summary of a run across MPI ranks (distributed.hpp).
#include "distributed.hpp"

namespace convgrad::cli {

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
                               {"reduce_seconds", reducer.times().reduce_seconds}};
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
