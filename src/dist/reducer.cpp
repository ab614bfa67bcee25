// The tree reduction across ranks (reducer.hpp).
#include "reducer.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace convgrad::dist {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

constexpr std::uint64_t kMagic = 0x31656572'74677663;  // "cvgtree1"

// n = 0 is skipped: an empty vector's data() may be null, which memcpy and append must not see.
void put(std::string& out, const void* p, std::size_t n) {
  if (n > 0) out.append(static_cast<const char*>(p), n);
}

// Reads n bytes at `at` (advancing it), refusing to run past the end of a short message.
void get(const std::string& in, std::size_t& at, void* p, std::size_t n) {
  if (n > in.size() - at) throw std::runtime_error("tree reduction: a rank's message is cut short");
  if (n == 0) return;
  std::memcpy(p, in.data() + at, n);
  at += n;
}

std::uint64_t get_u64(const std::string& in, std::size_t& at) {
  std::uint64_t v = 0;
  get(in, at, &v, sizeof v);
  return v;
}

}  // namespace

std::string to_bytes(const std::vector<reduce::Partial>& parts) {
  std::string out;
  const std::uint64_t head[2] = {kMagic, parts.size()};
  put(out, head, sizeof head);
  for (const auto& p : parts) {
    const std::uint64_t node[3] = {p.node.begin, p.node.end, p.value.size()};
    put(out, node, sizeof node);
    put(out, p.value.data(), p.value.size() * sizeof(double));
  }
  return out;
}

std::vector<reduce::Partial> from_bytes(const std::string& bytes) {
  std::size_t at = 0;
  if (get_u64(bytes, at) != kMagic)
    throw std::runtime_error("tree reduction: a rank's message is not partials");
  const std::uint64_t count = get_u64(bytes, at);
  std::vector<reduce::Partial> parts;
  for (std::uint64_t i = 0; i < count; ++i) {
    reduce::Partial p;
    p.node.begin = get_u64(bytes, at);
    p.node.end = get_u64(bytes, at);
    const std::uint64_t width = get_u64(bytes, at);
    if (width > (bytes.size() - at) / sizeof(double))
      throw std::runtime_error("tree reduction: a rank's message is cut short");
    p.value.resize(width);
    get(bytes, at, p.value.data(), width * sizeof(double));
    parts.push_back(std::move(p));
  }
  if (at != bytes.size()) throw std::runtime_error("tree reduction: a rank's message has bytes left over");
  return parts;
}

std::pair<std::size_t, std::size_t> rank_chunks(std::size_t C, int rank, int ranks) {
  // C q / P without overflow: (C / P) q + (C % P) q / P, exact in integers.
  const auto P = static_cast<std::size_t>(ranks);
  const auto at = [&](std::size_t q) { return C / P * q + C % P * q / P; };
  return {at(static_cast<std::size_t>(rank)), at(static_cast<std::size_t>(rank) + 1)};
}

std::pair<std::size_t, std::size_t> TreeReducer::local_chunks(std::size_t C) {
  chunks_ = rank_chunks(C, world_.rank(), world_.size());
  return chunks_;
}

std::vector<reduce::Partial> TreeReducer::all_gather(std::vector<reduce::Partial> mine,
                                                     const std::string& error) {
  ++times_.passes;
  auto start = std::chrono::steady_clock::now();
  const Status failed = world_.agree(Status{error.empty() ? 0 : 1, error});
  times_.wait_seconds += seconds_since(start);
  if (!failed.ok()) {
    if (!error.empty()) return {};  // fit() rethrows this rank's own exception
    throw peer_failure(failed.message);
  }

  start = std::chrono::steady_clock::now();
  std::vector<reduce::Partial> all;
  for (const std::string& bytes : world_.all_gather(to_bytes(mine)))
    for (auto& p : from_bytes(bytes)) all.push_back(std::move(p));
  times_.reduce_seconds += seconds_since(start);
  return all;
}

}  // namespace convgrad::dist
