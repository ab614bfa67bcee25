// What the world is, with or without MPI: the launcher's environment and the world of one.
#include <cstdlib>
#include <string>

#include "world.hpp"

namespace convgrad::dist {
namespace {

// The first of `names` set in the environment to a number >= 0, else `fallback`.
int env_number(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names)
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && n >= 0 && n < (1L << 30)) return static_cast<int>(n);
    }
  return fallback;
}

}  // namespace

int launcher_rank() { return env_number({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}, 0); }
int launcher_size() { return env_number({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, 1); }
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}

World& world() {
  static World w;
  return w;
}

}  // namespace convgrad::dist
