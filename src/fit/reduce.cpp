// The fixed pairwise tree of reduce.hpp: canonical nodes, the one addition, finishing the root
// from any tiling of [0, C), and the binary counter that meets the same additions leaf by leaf.
#include "convgrad/reduce.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <exception>
#include <optional>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/interrupt.hpp"
#include "core/fpmode.hpp"

namespace convgrad::reduce {
namespace {

std::string show(Node n) { return "[" + std::to_string(n.begin) + ", " + std::to_string(n.end) + ")"; }

void collect(Node node, std::size_t a, std::size_t b, std::vector<Node>& out) {
  if (node.end <= a || node.begin >= b) return;                      // disjoint
  if (node.begin >= a && node.end <= b) return out.push_back(node);  // inside: canonical
  const std::size_t s = split(node);
  collect({node.begin, s}, a, b, out);
  collect({s, node.end}, a, b, out);
}

// The value of `node` from the sorted parts: a part that is the node, or the sum of its children.
std::vector<double> value_of(Node node, std::vector<Partial>& parts, std::size_t width) {
  const auto it = std::lower_bound(parts.begin(), parts.end(), node.begin,
                                   [](const Partial& p, std::size_t b) { return p.node.begin < b; });
  if (it != parts.end() && it->node == node) return std::move(it->value);
  if (node.size() == 1)
    throw invalid_argument("reduce: chunk " + std::to_string(node.begin) +
                           " is inside a part that is not a node of the tree");
  const std::size_t s = split(node);
  std::vector<double> left = value_of({node.begin, s}, parts, width);
  const std::vector<double> right = value_of({s, node.end}, parts, width);
  add_into(left, right);
  return left;
}

}  // namespace

std::size_t split(Node node) {
  const std::size_t n = node.size();
  return node.begin + (std::bit_floor(n - 1));  // the largest power of two < n, for n >= 2
}

std::vector<Node> canonical_nodes(std::size_t C, std::size_t a, std::size_t b) {
  if (a > b || b > C)
    throw invalid_argument("reduce: chunk range " + show({a, b}) + " is not inside [0, " + std::to_string(C) +
                           ")");
  std::vector<Node> out;
  if (a < b) collect({0, C}, a, b, out);
  return out;
}

bool is_node(std::size_t C, Node node) {
  if (node.begin >= node.end || node.end > C) return false;
  const std::vector<Node> nodes = canonical_nodes(C, node.begin, node.end);
  return nodes.size() == 1;
}

void add_into(std::span<double> left, std::span<const double> right) {
  for (std::size_t i = 0; i < left.size(); ++i) left[i] = left[i] + right[i];
}

std::vector<double> finish(std::size_t C, std::vector<Partial> parts) {
  if (C == 0) throw invalid_argument("reduce: no chunks to reduce");
  std::sort(parts.begin(), parts.end(),
            [](const Partial& l, const Partial& r) { return l.node.begin < r.node.begin; });
  std::size_t at = 0;
  const std::size_t width = parts.empty() ? 0 : parts.front().value.size();
  for (const Partial& p : parts) {
    if (p.node.begin != at || p.node.end <= p.node.begin)
      throw invalid_argument("reduce: the parts do not tile [0, " + std::to_string(C) + "): " + show(p.node) +
                             (p.node.begin < at ? " overlaps" : " leaves a gap after") + " chunk " +
                             std::to_string(at));
    if (p.value.size() != width)
      throw invalid_argument("reduce: part " + show(p.node) + " has " + std::to_string(p.value.size()) +
                             " values, others " + std::to_string(width));
    if (!is_node(C, p.node))
      throw invalid_argument("reduce: part " + show(p.node) + " is not a node of the tree over [0, " +
                             std::to_string(C) + ")");
    at = p.node.end;
  }
  if (at != C)
    throw invalid_argument("reduce: the parts cover [0, " + std::to_string(at) + "), not [0, " +
                           std::to_string(C) + ")");
  return value_of({0, C}, parts, width);
}

void Accumulator::push(std::vector<double> leaf) {
  Partial p{{end_, end_ + 1}, std::move(leaf)};
  ++end_;
  // Siblings: two adjacent aligned blocks of one size 2^k, the left one aligned to 2^(k+1).
  while (!blocks_.empty()) {
    Partial& left = blocks_.back();
    const std::size_t n = left.node.size();
    if (n != p.node.size() || (left.node.begin - first_) % (2 * n) != 0) break;
    add_into(left.value, p.value);
    left.node.end = p.node.end;
    p = std::move(left);
    blocks_.pop_back();
  }
  blocks_.push_back(std::move(p));
}

std::vector<double> Accumulator::fold() const {
  if (blocks_.empty()) return {};
  std::vector<double> v = blocks_.back().value;
  for (std::size_t i = blocks_.size() - 1; i-- > 0;) {
    std::vector<double> left = blocks_[i].value;
    add_into(left, v);
    v = std::move(left);
  }
  return v;
}

void leaves_in_order(std::size_t a, std::size_t b, std::size_t width,
                     const std::function<void(std::size_t, std::span<double>)>& leaf,
                     const std::function<void(std::size_t, std::vector<double>)>& sink, int threads) {
  if (threads <= 0) threads = omp_get_max_threads();
  const auto batch = static_cast<std::size_t>(std::max(1, threads));
  std::vector<std::vector<double>> values(std::min(batch, b - a));
  std::vector<std::exception_ptr> errors(values.size());
  for (std::size_t c0 = a; c0 < b; c0 += batch) {
    poll_interrupt("reduce");
    const auto n = static_cast<std::int64_t>(std::min(batch, b - c0));
    const int team = static_cast<int>(std::min<std::int64_t>(n, threads));
    const auto one = [&](std::int64_t i) {
      try {
        values[i].assign(width, 0.0);
        leaf(c0 + static_cast<std::size_t>(i), values[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    };
    if (team == 1) {  // no OpenMP region: even one of one thread costs futex calls a small pass cannot afford
      for (std::int64_t i = 0; i < n; ++i) one(i);
    } else {
      const detail::FpMode mode = detail::current_fp_mode();  // workers run in the caller's mode
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
      for (std::int64_t i = 0; i < n; ++i) {
        const detail::ScopedFpMode fp(mode);
        one(i);
      }
    }
    for (std::int64_t i = 0; i < n; ++i)
      if (errors[i]) std::rethrow_exception(errors[i]);
    for (std::int64_t i = 0; i < n; ++i) sink(c0 + static_cast<std::size_t>(i), std::move(values[i]));
  }
}

std::vector<Partial> node_values(std::size_t C, std::size_t a, std::size_t b, std::size_t width,
                                 const std::function<void(std::size_t, std::span<double>)>& leaf,
                                 int threads) {
  std::vector<Partial> out;
  for (const Node node : canonical_nodes(C, a, b)) {
    Accumulator acc;  // positions relative to node.begin: a node's subtree is the tree over [0, size)
    leaves_in_order(
        node.begin, node.end, width, leaf,
        [&](std::size_t, std::vector<double> value) { acc.push(std::move(value)); }, threads);
    out.push_back({node, acc.fold()});
  }
  return out;
}

}  // namespace convgrad::reduce
