// `convgrad`: parse the command line, call the library, print. Exit codes (app.hpp,
// kExitStatus): 0 success, 1 bad data or I/O (and `check` disagreements), 2 usage errors.
// Every error is one line `convgrad: error: ...`; nothing is ever left half-written (the io
// layer writes atomically).
// Under mpirun (`mpirun -np P convgrad fit`, distributed.hpp) every rank runs the command and
// rank 0 alone prints.
#include <poll.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "app.hpp"
#include "commands.hpp"
#include "convgrad/io.hpp"
#include "distributed.hpp"
#include "library_errors.hpp"
#include "verbosity.hpp"
#include "world.hpp"

namespace {

// One line on standard error, from rank 0 only when the command runs on several ranks.
int fail(int code, const char* what) {
  if (convgrad::dist::world().is_root()) std::fprintf(stderr, "convgrad: error: %s\n", what);
  return code;
}

// True when fd is a pipe or socket whose reader has gone (a write would fail with EPIPE).
bool reader_gone(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
}

// What a command printed must have reached standard output: a full disk or /dev/full is an
// error (exit 1), and a reader that stopped reading (`| head`) ends the run quietly with the
// status a shell reports for SIGPIPE, as when SIGPIPE is not ignored.
int finish_stdout(int code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !std::ferror(stdout)) return code;
  if (err == EPIPE || reader_gone(STDOUT_FILENO)) return 128 + SIGPIPE;
  const std::string why = err != 0 ? std::strerror(err) : "an earlier write failed";
  std::fprintf(stderr, "convgrad: error: cannot write to standard output: %s\n", why.c_str());
  return code == 0 ? 1 : code;
}

int dispatch(int argc, char** argv);

// The streaming commands allocate and free a chunk's buffers (megabytes each) for every chunk.
// glibc's defaults hand such blocks back to the kernel when freed (mmap, or a trimmed heap
// top) and take fresh zeroed pages for the next chunk: a page fault every 4 KiB, a quarter of
// a streamed fit's time at N = 10^8 (bench/SCALE_RESULTS.md). Kept in the heap instead, the
// next chunk reuses the same pages; the peak resident size is what it was (the largest set of
// buffers in flight), the memory merely stays with the process until it ends.
void keep_freed_chunks() {
#if defined(__GLIBC__)
  constexpr int kMmapAbove = 32 << 20;    // the largest threshold glibc accepts (64-bit)
  constexpr int kTrimAbove = 256 << 20;   // a heap top freed beyond this goes back to the kernel
  mallopt(M_MMAP_THRESHOLD, kMmapAbove);  // fixing both also turns off glibc's dynamic threshold
  mallopt(M_TRIM_THRESHOLD, kTrimAbove);
#endif
}

// A build without MPI started by mpirun with P > 1 ranks would run P independent copies that
// all write the same outputs: refused (once, by the launcher's rank 0).
int refuse_without_mpi() {
  if (convgrad::dist::launcher_rank() == 0)
    std::fprintf(stderr,
                 "convgrad: error: started by mpirun with %d ranks, but this convgrad was built without "
                 "MPI (CONVGRAD_MPI=OFF); run it as one process, or rebuild it with MPI\n",
                 convgrad::dist::launcher_size());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_chunks();
  // An interrupted run (Ctrl-C, `timeout`, a closed terminal) leaves no temporary file behind.
  convgrad::io::remove_temporaries_on_signals();
  // MPI starts only when a launcher started this process; a plain run never touches it.
  const convgrad::dist::Session mpi(argc, argv);
  if (!convgrad::dist::built_with_mpi() && convgrad::dist::launcher_size() > 1) return refuse_without_mpi();
  return finish_stdout(dispatch(argc, argv));
}

namespace {

int dispatch(int argc, char** argv) {
  using namespace convgrad::cli;
  CLI::App app{"convgrad: learnable 1-D filters, their loss and every form of its gradient", "convgrad"};
  std::vector<Subcommand> commands = build_command(app);
  // The subcommand is the first word (the command itself takes only --help and --version):
  // a word that is none is named, with the list, before CLI11 would call it "not expected".
  if (argc < 2) return fail(2, "no subcommand given; see 'convgrad help' (or convgrad --help) for the list");
  if (argv[1][0] != '-')
    if (const auto unknown = unknown_subcommand(app, argv[1])) return fail(2, unknown->c_str());
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {  // help is printed once, by rank 0 under mpirun
    return convgrad::dist::world().is_root() ? app.exit(e) : 0;
  } catch (const CLI::CallForAllHelp& e) {
    return convgrad::dist::world().is_root() ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return convgrad::dist::world().is_root() ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    return fail(2, e.what());
  }
  const convgrad::dist::World& world = convgrad::dist::world();
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) {
        if (world.distributed() && sub->get_name() != "fit")
          return fail(2, ("only `convgrad fit` runs across MPI ranks; run `convgrad " + sub->get_name() +
                          "` as one process")
                             .c_str());
        require_one_verbosity();
        check_standard_streams(*sub);
        const auto start = std::chrono::steady_clock::now();
        const int code = run();
        note("%s finished in %.3f s (exit status %d)", sub->get_name().c_str(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), code);
        return code;
      }
    return fail(2, "no subcommand given; see 'convgrad help'");
  } catch (const agreed_failure& e) {  // every rank is here with the same error
    return fail(e.status.code, e.status.message.c_str());
  } catch (const usage_error& e) {  // from the options alone, so the same on every rank
    return fail(2, e.what());
  } catch (...) {
    const CommandError c = current_error();
    if (!world.distributed()) return fail(c.exit_code, c.message.c_str());
    // A failure outside any agreement (a bug: other ranks may be waiting in a collective
    // call): said by this rank, then the whole job ends (MPI_Abort).
    std::fprintf(stderr, "convgrad: error: rank %d: %s\n", world.rank(), c.message.c_str());
    convgrad::dist::world().abort(c.exit_code);
  }
}

}  // namespace
