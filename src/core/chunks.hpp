// The deterministic chunked-parallel loop: the one place where the promise of identical bits
// for any thread count is kept. Every kernel that splits a signal across threads runs it.
//
//   1. The work (blocks of the signal) is grouped into at most kMaxChunks chunks of
//      consecutive blocks, fixed by the number of blocks alone, never by the thread count.
//   2. Blocks run in order within a chunk, and each chunk keeps its own partial sums.
//   3. The partial sums are combined in chunk order, whichever thread computed them.
//
// So which thread runs a chunk, and when, never changes a bit; any reduction across machines
// must follow the same rule.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <span>

#include "convgrad/interrupt.hpp"
#include "fpmode.hpp"

namespace convgrad::detail {

// Bounds the per-chunk storage of partial sums (chunks x K doubles for dh, chunks x the
// spectrum's width for the FFT route) while leaving a few dozen chunks for the threads.
constexpr std::int64_t kMaxChunks = 64;

// Threads for a parallel region over `chunks` chunks: never more than there is work for, and
// never more than OMP_NUM_THREADS allows. (libgomp itself crashes building a team of 10^5
// threads, which OMP_NUM_THREADS=100000 used to ask for; chunks are at most a few dozen.)
inline int team_size(std::int64_t chunks) {
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(chunks, omp_get_max_threads())));
}

// `blocks` consecutive blocks grouped into `chunks` <= kMaxChunks chunks of per_chunk blocks
// (the last may hold fewer).
struct Chunks {
  std::int64_t blocks, per_chunk, chunks;
  explicit Chunks(std::int64_t blocks_)
      : blocks(blocks_),
        per_chunk(std::max<std::int64_t>(1, (blocks_ + kMaxChunks - 1) / kMaxChunks)),
        chunks((blocks_ + per_chunk - 1) / per_chunk) {}
  std::int64_t first_block(std::int64_t c) const { return c * per_chunk; }
  std::int64_t end_block(std::int64_t c) const { return std::min(blocks, (c + 1) * per_chunk); }
};

// Runs body(c, b, scratch) for every block b of every chunk c, blocks in order within a chunk.
//
// threads == 1: on the calling thread, chunks in order, with the scratch caller_scratch()
// gives (it may hand out a buffer kept between calls: even an OpenMP region of one thread
// costs two futex calls, which a small pass cannot afford). Otherwise on a team of `threads`
// OpenMP threads, each with its own worker_scratch(), in the calling thread's floating-point
// mode (a caller that flushes denormals has them flushed in every worker too). Chunks are
// handed out dynamically: a worker that wakes late (a sleeping OpenMP thread takes up to a
// millisecond to resume on a virtual machine) takes fewer, instead of the caller waiting for
// it. The body must write only chunk c's outputs and partial sums.
//
// A caller's stop check (interrupt.hpp: Ctrl-C in Python) is asked between chunks; once it
// says stop, the remaining chunks are skipped and convgrad::interrupted is thrown after the
// loop, so that nobody reads the incomplete outputs as a result.
template <class CallerScratch, class WorkerScratch, class Body>
void run_chunked(const Chunks& ch, int threads, CallerScratch&& caller_scratch,
                 WorkerScratch&& worker_scratch, Body&& body) {
  LoopStop stop;
  const auto run_chunk = [&](std::int64_t c, auto& scratch) {
    if (stop.requested()) return;
    for (std::int64_t b = ch.first_block(c); b < ch.end_block(c); ++b) body(c, b, scratch);
  };
  if (threads <= 1) {
    auto&& scratch = caller_scratch();
    for (std::int64_t c = 0; c < ch.chunks; ++c) run_chunk(c, scratch);
  } else {
    const FpMode mode = current_fp_mode();
#pragma omp parallel num_threads(threads)
    {
      const ScopedFpMode fp(mode);
      auto scratch = worker_scratch();
#pragma omp for schedule(dynamic)
      for (std::int64_t c = 0; c < ch.chunks; ++c) run_chunk(c, scratch);
    }
  }
  stop.throw_if_requested("the chunked loop");
}

// The same without scratch: body(c, b).
template <class Body>
void run_chunked(const Chunks& ch, int threads, Body&& body) {
  struct None {};
  const auto none = [] { return None{}; };
  run_chunked(ch, threads, none, none, [&](std::int64_t c, std::int64_t b, None&) { body(c, b); });
}

// The sum of one value per chunk, in chunk order.
inline double sum_in_chunk_order(std::span<const double> per_chunk) {
  double total = 0;
  for (const double v : per_chunk) total += v;
  return total;
}

// total[i] = the sum over chunks c, in chunk order, of partial[c * width + i], for i < width.
// `total` may be `partial` itself (row 0 is read before it is overwritten). Wide rows are
// summed in parallel over i: every column's own order stays the chunk order.
inline void sum_rows_in_chunk_order(const double* partial, std::int64_t chunks, std::int64_t width,
                                    double* total) {
  const auto column = [&](std::int64_t i) {
    double sum = 0;
    for (std::int64_t c = 0; c < chunks; ++c) sum += partial[c * width + i];
    total[i] = sum;
  };
  if (chunks > 1 && width >= 8192) {
#pragma omp parallel for schedule(dynamic, 1024) num_threads(team_size(chunks))
    for (std::int64_t i = 0; i < width; ++i) column(i);
  } else {
    for (std::int64_t i = 0; i < width; ++i) column(i);
  }
}

}  // namespace convgrad::detail
