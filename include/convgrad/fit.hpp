// Learning a filter from data: the objective over a data set of (x, y) pairs, the exact
// least-squares solution through the normal equations, and iterative optimisers.
//
// Every solver minimises the same objective over pairs p = 1..P:
//
//   F(h) = sum_p 1/2 || X_p h - y_p ||^2  +  ridge/2 ||h||^2,      ridge >= 0
//   dF/dh = sum_p X_p^T (X_p h - y_p) + ridge h  =  sum_p grad_kernel(x_p, r_p) + ridge h
//
// where X_p is the N_p x K design matrix of the 'same' model, X_p[n][j] = x_p[n - m_j],
// m_j = lo + j (x_p = 0 outside [0, N_p)). X_p is never formed: X_p h is conv(x_p, h) and
// X_p^T r is grad_kernel(x_p, r). The minimiser solves the normal equations
//
//   (G + ridge I) h = b,     G = sum_p X_p^T X_p,   b = sum_p X_p^T y_p.
//
// G is NOT Toeplitz for the 'same' model: G[i][j] = sum_{n=0..N-1} x[n-m_i] x[n-m_j] depends
// on where the window cuts the signal (DESIGN.md: the worked example's diagonal is 54, 55, 30).
//
// The library never prints: progress goes to a caller's callback.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/ops.hpp"
#include "convgrad/reduce.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

// One (input, target) recording pair; x and y have the same length (pairs may differ).
// Non-owning: the caller keeps the samples alive while the pair is used.
template <std::floating_point T>
struct Pair {
  std::span<const T> x;
  std::span<const T> y;
};

// Checks every pair once: non-empty, |x| = |y|, finite values. Throws invalid_argument /
// non_finite_input naming the pair (0-based) and the problem. Requires at least one pair.
template <std::floating_point T>
void validate_pairs(std::span<const Pair<T>> data);

// F(h) and dF/dh (into `grad`, size K; may be empty to skip the gradient). `pair_loss`, when
// non-null, receives 1/2 ||X_p h - y_p||^2 for every pair. Sums are accumulated in double.
template <std::floating_point T>
double objective(std::span<const Pair<T>> data, std::span<const T> h, Taps taps, double ridge,
                 std::span<T> grad = {}, std::vector<double>* pair_loss = nullptr,
                 Method method = Method::automatic);

// The largest eigenvalue of G = sum_p X_p^T X_p by power iteration, each product computed
// as G v = sum_p grad_kernel(x_p, conv(x_p, v)) (X^T X v without forming X). Starts from a
// seeded random vector; stops when the Rayleigh quotient changes by less than `rel_tol`
// (relative) or after `max_iter` products. The Rayleigh quotient never exceeds lambda_max
// and rises towards it.
template <std::floating_point T>
double largest_eigenvalue(std::span<const Pair<T>> data, Taps taps, double rel_tol = 1e-6,
                          std::size_t max_iter = 500, Method method = Method::automatic);

// The exact solution of the normal equations and how well-posed they were.
struct ExactSolution {
  std::vector<double> h;  // K taps, m = lo..hi
  double lambda_min = 0;  // eigenvalues of G + ridge I
  double lambda_max = 0;
  double condition = 0;              // lambda_max / lambda_min (2-norm condition number)
  bool condition_estimated = false;  // true above kExactEigenTaps: power/inverse iteration
};

// Above this many taps the condition number comes from power and inverse iteration instead
// of a full symmetric eigen-decomposition: that decomposition is O(K^3) work in one call that
// cannot be interrupted (interrupt.hpp), about 0.05 s at K = 512 but seconds at K = 2048.
inline constexpr std::size_t kExactEigenTaps = 512;
// The Gram matrix is K x K doubles; refuse beyond this many bytes (resource_limit).
inline constexpr std::size_t kDefaultGramBudget = std::size_t{2} << 30;  // 2 GiB

// Rows per chunk of the fixed chunk plan (stream.hpp): 2^20 rows make a chunk's window a few
// MiB and its conv/correlation work large enough that a K x K partial Gram matrix per chunk
// stays a small share. Every run that should agree to the last bit must use the same value.
inline constexpr std::size_t kFitChunkRows = std::size_t{1} << 20;

// Accumulates the normal equations chunk by chunk: G += X^T X, b += X^T y, yy += y^T y.
// Gram matrices and correlations add across pieces of the data, so a data set too large for
// memory (or spread over machines) can be accumulated in pieces and solved once.
//
// The pieces are the chunks of the fixed chunk plan (stream.hpp), numbered from first_chunk():
// add() cuts a signal into chunks of `rows` rows, add_window() takes one chunk, and the
// chunks' sums are added by the tree of reduce.hpp, held as a few node values (at most one K x K
// matrix per level of the tree). merge() joins objects holding adjacent chunk ranges; one
// covering chunks [0, C) of a data set, however it was assembled, has the same bits as any other.
//
// One chunk costs O(L log L + K^2) for its window of L <= rows + K - 1 samples (autocorrelation
// through the FFT, or O(L K) directly for short kernels, then O(K^2) edge corrections), never the
// rows x K design matrix. Work is in double whatever T is: the normal equations square the
// condition number, so float accumulation would lose what float data still determine.
class NormalEquations {
 public:
  explicit NormalEquations(Taps taps, std::size_t gram_budget = kDefaultGramBudget,
                           std::size_t first_chunk = 0);

  // The node values of normal equations already summed elsewhere (normal_equations() over a
  // source, from_bytes): width K^2 + K + 1, [G row-major, b, yy], nodes adjacent in chunk order.
  static NormalEquations from_nodes(Taps taps, std::vector<reduce::Partial> nodes, std::size_t pairs,
                                    std::size_t gram_budget = kDefaultGramBudget);

  // One whole pair (x, y) of the same length, as chunks of `rows` rows.
  template <std::floating_point T>
  void add(std::span<const T> x, std::span<const T> y, std::size_t rows = kFitChunkRows);

  // One chunk: its input window (stream.hpp's Window: x[first, first + size), the samples
  // x[a - hi, b - lo) clipped to the signal and widened to contain the rows), the target rows
  // y[a, b), and rows_at = a - first. The next chunk index, end_chunk().
  template <std::floating_point T>
  void add_window(std::span<const T> x_window, std::span<const T> y_rows, std::size_t rows_at);

  // this + other, other's chunks following this's (if other's range starts where this's ends,
  // or at chunk 0, it is placed after this's; if it ends where this's starts, before). Same
  // taps required. The result has the tree's bits when the pieces' chunk numbers are those of
  // the data set's plan.
  void merge(const NormalEquations& other);
  NormalEquations& operator+=(const NormalEquations& other) {
    merge(other);
    return *this;
  }

  // A versioned, checksummed little-endian blob ("CGNE", version, taps, pairs, nodes); from_bytes
  // throws invalid_argument for a corrupt, truncated or foreign blob, resource_limit beyond the
  // Gram budget.
  std::vector<std::uint8_t> to_bytes() const;
  static NormalEquations from_bytes(std::span<const std::uint8_t> bytes,
                                    std::size_t gram_budget = kDefaultGramBudget);

  // Solves (G + ridge I) h = b by Cholesky. Throws invalid_argument for ridge < 0 or no data,
  // singular_system when G + ridge I is singular to working precision (x all zero, more taps
  // than the data determine), with a message suggesting a ridge penalty.
  ExactSolution solve(double ridge) const;

  Taps taps() const { return taps_; }
  std::size_t K() const { return taps_.K(); }
  std::size_t pairs() const { return pairs_; }
  std::size_t first_chunk() const { return first_; }
  std::size_t end_chunk() const { return end_; }
  const std::vector<reduce::Partial>& nodes() const { return nodes_; }
  const std::vector<double>& gram() const;  // K x K, row-major, symmetric: the tree's root
  const std::vector<double>& rhs() const;   // b = X^T y
  double yy() const;                        // y^T y

 private:
  void push_leaf(std::vector<double> leaf);
  void total() const;  // fills the cache below from nodes_
  Taps taps_;
  std::size_t budget_;
  std::size_t pairs_ = 0;
  std::size_t first_ = 0, end_ = 0;
  std::vector<reduce::Partial> nodes_;  // adjacent, in chunk order
  mutable bool cached_ = false;
  mutable std::vector<double> G_, b_;
  mutable double yy_ = 0;
};

// The Gram matrix of one signal, G[i][j] = sum_{n=0..N-1} x[n-m_i] x[n-m_j], row-major K x K,
// built from the autocorrelation plus edge corrections (see gram.cpp).
template <std::floating_point T>
std::vector<double> gram_matrix(std::span<const T> x, Taps taps);

enum class Solver { exact, gd, nesterov, adam };
std::string_view to_string(Solver solver);
// "exact", "gd", "nesterov", "adam"; throws invalid_argument.
Solver parse_solver(std::string_view name);

// What an iterative solver reports after each iteration. `loss` and `grad_norm` are F and
// ||dF/dh|| at the point the gradient was taken (for mini-batches: the batch's estimate of
// the whole data set, scaled by P / batch).
struct Progress {
  std::size_t iteration = 0;  // 0 is the starting point, then one per step
  double loss = 0;
  double grad_norm = 0;
  double seconds = 0;      // since the solver started
  double grad_target = 0;  // the solver stops once grad_norm <= grad_target
};

struct FitOptions {
  Solver solver = Solver::exact;  // the default of the command line and Python too
  double ridge = 0;               // lambda >= 0
  // Stopping, whichever comes first:
  std::size_t max_iter = 100000;
  // ||dF/dh|| <= grad_tol * ||dF/dh at h = 0|| = grad_tol * ||b||, a finite number >= 0;
  // empty: the dtype's default (1e-10 double, 1e-5 float)
  std::optional<double> grad_tol;
  double loss_tol = 0;    // |F_k - F_{k-1}| <= loss_tol * |F_k|; 0 = off
  double time_limit = 0;  // seconds; 0 = none
  // adam:
  double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // Mini-batches: pairs per step, 1..P (unset = all pairs; 0 is refused). Pairs are visited
  // in a seeded shuffled order, one epoch after another; the batch gradient is scaled by P / batch.
  std::optional<std::size_t> batch;
  std::uint64_t seed = 1;
  Method method = Method::automatic;
  // Rows per chunk of the fixed chunk plan (stream.hpp); runs that must agree bit for bit use
  // the same value. At least 1.
  std::size_t chunk_rows = kFitChunkRows;
  // Called after every iteration; return false to stop early. May be empty.
  std::function<bool(const Progress&)> progress;
  bool keep_history = true;
};

// Throws invalid_argument unless `options` are valid for a data set of `pairs` pairs; each
// message starts with the field it is about ("ridge: ...", "lr: ..."), for callers to
// translate into their own spelling. fit() calls it first; callers may call it earlier.
void validate(const FitOptions& options, std::size_t pairs);

template <std::floating_point T>
struct FitResult {
  std::vector<T> h;
  Solver solver = Solver::gd;
  std::size_t iterations = 0;
  double seconds = 0;
  double loss = 0;                  // F(h) on the whole data set
  double grad_norm = 0;             // ||dF/dh|| at h on the whole data set
  std::vector<double> pair_loss;    // 1/2 ||X_p h - y_p||^2 per pair
  std::string stop_reason;          // "gradient tolerance", "loss change", "max iterations", ...
  double lambda_max = 0;            // of G + ridge I (power iteration for gd/nesterov; exact solver)
  double step = 0;                  // gd/nesterov step 1/lambda_max (after any halving)
  std::size_t step_halvings = 0;    // gd: times a step failed to decrease F and was halved
  std::optional<double> condition;  // exact solver
  bool condition_estimated = false;
  std::vector<Progress> history;  // one row per iteration (iterative solvers)
};

// Minimises F from h0 (empty: h = 0) with the chosen solver. It is fit() over a MemorySource
// (stream.hpp): the pairs are read in chunks of options.chunk_rows rows and the chunks' sums
// added by the fixed tree of reduce.hpp, so the result is that of a streamed or distributed fit
// with the same chunk_rows, bit for bit, and the same for any number of threads. Throws invalid_argument for
// bad options (negative ridge, lr <= 0, betas outside [0, 1), batch 0 or > P, h0 of the wrong size),
// singular_system from the exact solver.
//
// Guarantees: gd accepts a step only if F did not increase beyond the rounding of its own
// evaluation (loss_rounding); a step that does is halved, so F never increases. On
// well-conditioned problems in double, gd and nesterov reach the exact solution to 1e-8
// relative with the default tolerance; adam gets close (its fixed learning rate makes it
// hover at a distance set by lr).
//
// With far more taps than samples, only the taps some sample reaches (|m| <= N - 1, N the
// longest signal) are fitted: the others keep their start value (the exact solver with a ridge:
// zero), which is the answer on them; time and memory per iteration follow the reached taps.
template <std::floating_point T>
FitResult<T> fit(std::span<const Pair<T>> data, Taps taps, const FitOptions& options,
                 std::span<const T> h0 = {});

// Empty, or a one-line warning when there are more taps than samples to determine them (an
// underdetermined problem) and an iterative solver is chosen: it names the taps no sample
// reaches and advises the exact solver with a ridge penalty (which, without a ridge, refuses
// such a problem itself).
template <std::floating_point T>
std::string underdetermined_warning(std::span<const Pair<T>> data, Taps taps, const FitOptions& options);

// The rounding error bound of one evaluation of the objective at h, used by gd to tell a
// real increase from rounding. For each pair, r is computed in T from K-term sums, so
//   |delta r| <= eps_T ((K+1) ||h||_1 ||x||_2 + ||y||_2)   (Young: ||h * x||_2 <= ||h||_1 ||x||_2)
// and the loss moves by at most ||r|| |delta r| (Cauchy-Schwarz), plus eps_double N L for
// the double accumulation. Summed over pairs.
template <std::floating_point T>
double loss_rounding(std::span<const Pair<T>> data, std::span<const T> h, std::span<const double> pair_loss);

// ---- Multi-input, multi-output system identification (src/fit/mimo.cpp) ----------------------
//
// C_in input channels x_c and C_out output channels y_o of one recording, all N samples long,
// and a filter h_{o,c} (taps m = lo..hi) from every input to every output:
//
//   yhat_o[n] = sum_{c=0..C_in-1} sum_{m=lo..hi} h_{o,c}[m] x_c[n-m],   n = 0..N-1
//   minimise  sum_o 1/2 ||yhat_o - y_o||^2 + ridge/2 sum_{o,c} ||h_{o,c}||^2
//
// The design matrix is X = [X_0 ... X_{C_in-1}] (N x C_in K, X_c the 'same' design matrix of
// x_c), shared by every output, so the normal equations are one system with C_out right-hand
// sides:  (G + ridge I) [h_0 ... h_{C_out-1}] = [X^T y_0 ... X^T y_{C_out-1}],  G = X^T X of
// C_in x C_in blocks of K x K,
//
//   G_{cd}[i][j] = sum_{n=0..N-1} x_c[n-m_i] x_d[n-m_j]   (G_{dc} = G_{cd}^T),
//
// built like gram_matrix: the first row and column of each block from the cross-correlations
// of x_c and x_d plus edge corrections, the rest by sliding down the diagonals; never from X.
// One Cholesky factor serves every output. Correlated inputs make G nearly singular (two equal
// inputs make it singular): the condition number says so, and ridge is the remedy.
//
// The iterative solvers (gd, nesterov, adam) minimise the same objective with the same loops,
// options and stopping rules as fit(), over all the filters H at once: its gradient
//   dF/dh_{o,c}[m] = sum_n x_c[n-m] r_o[n] + ridge h_{o,c}[m],   r_o = yhat_o - y_o,
// is the multi-channel kernels' dW for one batch element (channels.hpp: conv_channels for yhat,
// grad_channels for dW), and the Hessian is G on every output, so gd's step is 1/lambda_max(G + ridge I).

// Every block of G for the inputs xs (C_in spans of one length N >= 1, finite), in double:
// row-major (C_in K) x (C_in K), entry [c K + i][d K + j] = G_{cd}[i][j].
template <std::floating_point T>
std::vector<double> block_gram_matrix(std::span<const std::span<const T>> xs, Taps taps);

// Above this condition number the fitted taps keep fewer than half of double's digits (a
// solve through the normal equations loses about log10(condition) of them): mimo_advice says so.
inline constexpr double kIllConditioned = 6.7108864e7;  // 1 / sqrt(eps_double) = 2^26

struct MimoSolution {
  std::size_t inputs = 0, outputs = 0;  // C_in, C_out
  Taps taps;
  std::vector<double> h;            // C_out x C_in x K, row-major: h[(o C_in + c) K + j] = h_{o,c}[lo + j]
  std::vector<double> output_loss;  // 1/2 ||yhat_o - y_o||^2 for every output o (no ridge term)
  double loss = 0;                  // sum_o output_loss[o] + ridge/2 ||h||^2
  double ridge = 0;
  double lambda_min = 0, lambda_max = 0;  // eigenvalues of G + ridge I
  double condition = 0;                   // lambda_max / lambda_min
  bool condition_estimated = false;       // true above kExactEigenTaps unknowns: power/inverse iteration
  double seconds = 0;
  // How it was found; for the iterative solvers as fit() reports them (FitResult), and there
  // condition (with lambda_min) is 0: not computed, and lambda_max comes from power iteration
  // (gd, nesterov; 0 for adam).
  Solver solver = Solver::exact;
  std::size_t iterations = 1;
  std::string stop_reason = "solved";
  double grad_norm = 0;  // ||dF/dH|| at h
  double step = 0;       // gd/nesterov step 1/lambda_max (after any halving)
  std::size_t step_halvings = 0;
  std::vector<Progress> history;  // one row per iteration (iterative solvers, options.keep_history)
};

// The exact least-squares fit of every h_{o,c}: xs are the C_in inputs, ys the C_out targets,
// all of one length N. Throws invalid_argument for no inputs or outputs, lengths that differ,
// empty or non-finite signals, a negative ridge; resource_limit when G exceeds `gram_budget`
// bytes; singular_system when G + ridge I is singular to working precision (an all-zero input,
// inputs that are copies or filtered copies of each other, more taps than the data determine),
// with a message suggesting a ridge penalty.
template <std::floating_point T>
MimoSolution fit_mimo(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys,
                      Taps taps, double ridge = 0, std::size_t gram_budget = kDefaultGramBudget);

// The same fit with the solver of `options`: exact gives the function above (options.ridge);
// gd, nesterov and adam run fit()'s solver loops from H0 (C_out x C_in x K as MimoSolution::h;
// empty: zero), computing every product in T with options.method, bit for bit the same for any
// number of threads. Throws as the function above for bad data, invalid_argument for invalid
// options (validate(options, 1)), an H0 of the wrong size, or options.batch (the one recording is
// taken whole each step: mini-batches are over pairs, and outputs are not pairs).
template <std::floating_point T>
MimoSolution fit_mimo(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys,
                      Taps taps, const FitOptions& options, std::span<const T> h0 = {});

// Empty, or one sentence for a large condition number (above kIllConditioned): the inputs are
// strongly correlated (or do not excite every tap) and a ridge penalty would steady the taps.
std::string mimo_advice(const MimoSolution& solution);

}  // namespace convgrad
