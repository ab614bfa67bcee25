// The command across MPI ranks (`mpirun -np P convgrad fit ...`; src/dist/world.hpp,
// docs/scale.md). Every rank runs the same steps from the same options; a step whose outcome
// can differ between ranks (reading a rank's own part of the data, computing its partial sums)
// runs through `collectively`, so that a failure on any rank ends the step on every rank with
// the same error: rank 0 prints it once, every rank exits with its code, nobody waits forever
// and nothing is written.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "library_errors.hpp"
#include "reducer.hpp"
#include "world.hpp"

namespace convgrad::cli {

// Thrown on every rank when some rank failed in a step: the error all ranks agreed on (that of
// the lowest-numbered rank that failed). main.cpp prints it on rank 0 only.
struct agreed_failure : std::exception {
  explicit agreed_failure(dist::Status s) : status(std::move(s)) {}
  const char* what() const noexcept override { return status.message.c_str(); }
  dist::Status status;
};

// Runs `work` on this rank; in a distributed run every rank then agrees on the outcome: the
// result when every rank succeeded, else agreed_failure on all of them. In a run of one
// process it is just work(), exceptions untouched.
template <class F>
auto collectively(F&& work) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  if (!dist::world().distributed()) return work();
  dist::Status mine;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
  try {
    if constexpr (std::is_void_v<R>) {
      work();
      result.emplace(true);
    } else {
      result.emplace(work());
    }
  } catch (const dist::peer_failure& e) {  // another rank's failure, agreed mid-work
    mine = {1, e.what(), true};
  } catch (...) {
    const CommandError e = current_error();
    mine = {e.exit_code, e.message};
  }
  const dist::Status all = dist::world().agree(mine);
  if (!all.ok()) throw agreed_failure(all);
  if constexpr (!std::is_void_v<R>) return std::move(*result);
}

// Collective: what every rank did, for rank 0's summary (null on the other ranks): the number
// of ranks and the MPI library; per rank, the chunks it computed, the bytes it read from its
// files for the fit (`bytes_read`, headers not counted), the payload bytes and messages it
// sent, the seconds it waited for the slowest rank and those of the exchanges (reducer.hpp's
// ReduceTimes) over every pass, and the CPU seconds it used (all its threads).
nlohmann::json ranks_summary(const dist::TreeReducer& reducer, std::uint64_t bytes_read);

}  // namespace convgrad::cli
