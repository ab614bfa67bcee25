// The one fixed pairwise tree that adds partial sums over chunks, whoever computed them.
//
// The chunks of a data set are numbered 0..C-1 (stream.hpp's ChunkPlan). Their partial sums
// (Gram matrices, gradients, ...) are added by ONE tree over [0, C), fixed by C alone:
//
//   a node [s, e) with e - s > 1 has children [s, s + 2^k) and [s + 2^k, e), 2^k the largest
//   power of two < e - s, and its value is left + right, in that order.
//
// A thread, an MPI rank or a Dask task that owns a contiguous range [a, b) of chunks computes
// the values of the range's canonical nodes (the largest tree nodes inside it) and hands them
// on; finish() completes the tree from any set of nodes that tiles [0, C). Floating-point
// addition is not associative, but every value is computed by the same additions in the same
// order whatever the division of [0, C), so the root is the same to the last bit.
//
// Two facts used below: a node of size n has the subtree of the tree over [0, n), shifted;
// and every aligned block [j 2^k, (j+1) 2^k) inside [0, C) is a node whatever C is. So
// leaves pushed in order into an Accumulator (a binary counter of aligned blocks) meet the
// same additions as the tree.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

namespace convgrad::reduce {

// The chunks [begin, end) under one tree node.
struct Node {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }
  friend bool operator==(const Node&, const Node&) = default;
};

// A node and its value (a vector of partial sums, the same width for every node of one tree).
struct Partial {
  Node node;
  std::vector<double> value;
};

// begin + the largest power of two < size: where a node of more than one chunk splits.
std::size_t split(Node node);

// The canonical nodes of the range [a, b) in the tree over [0, C), in chunk order: the tree
// nodes inside [a, b) whose parent is not. Empty for a == b; invalid_argument unless a <= b <= C.
std::vector<Node> canonical_nodes(std::size_t C, std::size_t a, std::size_t b);

// Whether `node` is a node of the tree over [0, C).
bool is_node(std::size_t C, Node node);

// left[i] = left[i] + right[i]: the one addition of the tree (left operand first).
void add_into(std::span<double> left, std::span<const double> right);

// The root of the tree over [0, C) from partials whose nodes are tree nodes that tile [0, C)
// (the canonical nodes of any partition of [0, C) into ranges), in any order. invalid_argument
// when they overlap, leave a gap, are not nodes of the tree or differ in width.
std::vector<double> finish(std::size_t C, std::vector<Partial> parts);

// The values of the canonical nodes of [a, b) in the tree over [0, C). leaf(c, value) writes
// chunk c's partial sums into `value` (width doubles, zeroed beforehand). Leaves are computed
// in parallel by up to `threads` threads (0: OpenMP's maximum), at most `threads` at a time plus
// one value per level of the tree held in memory; the result is the same for any thread count.
// leaf may throw: the first exception (in chunk order among those computed) is rethrown.
std::vector<Partial> node_values(std::size_t C, std::size_t a, std::size_t b, std::size_t width,
                                 const std::function<void(std::size_t c, std::span<double> value)>& leaf,
                                 int threads = 0);

// leaf(c, value) for c = a..b-1 (value: width doubles, zeroed), computed in parallel batches of up
// to `threads` (0: OpenMP's maximum) in the caller's floating-point mode, each handed to
// sink(c, value) on the calling thread in chunk order. The first exception (in chunk order) is
// rethrown once its batch is done; the caller's stop check is polled between batches.
void leaves_in_order(std::size_t a, std::size_t b, std::size_t width,
                     const std::function<void(std::size_t c, std::span<double> value)>& leaf,
                     const std::function<void(std::size_t c, std::vector<double> value)>& sink,
                     int threads = 0);

// Leaves (or aligned nodes) pushed in chunk order from `first`, combined as soon as two are
// siblings: holds at most one aligned block per power of two. The building block of
// NormalEquations::add and node_values.
class Accumulator {
 public:
  explicit Accumulator(std::size_t first = 0) : first_(first), end_(first) {}
  // The value of chunk end() (consumed).
  void push(std::vector<double> leaf);
  std::size_t first() const { return first_; }
  std::size_t end() const { return end_; }
  // The held aligned blocks, in chunk order.
  const std::vector<Partial>& blocks() const { return blocks_; }
  // The blocks folded right to left (last + ... first): the root of the tree over [first, end)
  // when first == 0. Empty when nothing was pushed.
  std::vector<double> fold() const;

 private:
  std::size_t first_, end_;
  std::vector<Partial> blocks_;
};

}  // namespace convgrad::reduce
