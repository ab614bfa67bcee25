// fit()'s partial sums across the ranks of a World (convgrad/stream.hpp's Reducer), for the
// one fixed tree of convgrad/reduce.hpp:
//
//   - the chunks [0, C) are cut into P contiguous ranges, rank r computing [C r / P, C (r+1) / P);
//   - each rank computes the values of its range's canonical nodes (or, for per-pair sums, of
//     its chunks) and sends them to rank 0, which sends every rank's to every rank;
//   - fit() completes the tree on every rank (reduce::finish) from the same nodes.
//
// Every value is the same sum in the same order whatever P is (reduce.hpp), so every rank, for
// every P, gets the same root to the last bit; each rank sends about (its nodes) x width x 8
// bytes per pass, never anything proportional to its samples (rank 0 also relays them all).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "convgrad/reduce.hpp"
#include "convgrad/stream.hpp"
#include "world.hpp"

namespace convgrad::dist {

// Where the time of the reductions went, on this rank, summed over every pass.
struct ReduceTimes {
  std::size_t passes = 0;
  double wait_seconds = 0;    // waiting for the slowest rank to finish its chunks (imbalance)
  double reduce_seconds = 0;  // every rank's nodes to rank 0, and from there to every rank
};

class TreeReducer final : public Reducer {
 public:
  explicit TreeReducer(World& world) : world_(world) {}

  // rank_chunks(C, rank, size) of the world.
  std::pair<std::size_t, std::size_t> local_chunks(std::size_t C) override;

  // Every rank's partials, in rank order, to every rank. When some rank met an error, every
  // rank learns it first: the ranks that met it return (fit() rethrows their own exception),
  // the others throw peer_failure with the failing rank's message.
  std::vector<reduce::Partial> all_gather(std::vector<reduce::Partial> mine,
                                          const std::string& error) override;

  const ReduceTimes& times() const { return times_; }
  // The chunks this rank computed in the last pass ([0, 0) before any).
  std::pair<std::size_t, std::size_t> chunks() const { return chunks_; }

 private:
  World& world_;
  ReduceTimes times_;
  std::pair<std::size_t, std::size_t> chunks_;
};

// The chunks rank r of P computes out of [0, C): [C r / P, C (r+1) / P), contiguous, as even
// as whole chunks allow, together a partition of [0, C) in rank order.
std::pair<std::size_t, std::size_t> rank_chunks(std::size_t C, int rank, int ranks);

// The partials as bytes and back: a checked little format (a count, then per node its range,
// width and values), for ranks of one kind of machine (the doubles travel as they are).
// from_bytes throws std::runtime_error for bytes that are not such a message.
std::string to_bytes(const std::vector<reduce::Partial>& parts);
std::vector<reduce::Partial> from_bytes(const std::string& bytes);

}  // namespace convgrad::dist
