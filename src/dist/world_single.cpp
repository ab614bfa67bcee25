// The world of one process (a build without MPI, CONVGRAD_MPI off): every collective call
// is the identity, so the command's distributed path runs unchanged as one rank.
#include <cstdlib>
#include <string>
#include <vector>

#include "world.hpp"

namespace convgrad::dist {

Status World::agree(const Status& mine) { return mine; }
std::vector<std::string> World::gather(const std::string& mine) { return {mine}; }
std::vector<std::string> World::all_gather(const std::string& mine) { return {mine}; }
void World::broadcast(std::string&) {}
void World::barrier() {}
void World::abort(int code) { std::exit(code); }

bool built_with_mpi() { return false; }
std::string mpi_version() { return ""; }

Session::Session(int&, char**&) {}
Session::~Session() = default;

}  // namespace convgrad::dist
