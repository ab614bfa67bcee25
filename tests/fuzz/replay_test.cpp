// Replays a fuzz target's checked-in corpus, tests/fuzz/<target>/ (seeds and every input a
// fuzzer once found), through its harness in the ordinary build: built once per target as
// fuzz_replay_<target>, with the harness's LLVMFuzzerTestOneInput linked in. Under the
// sanitizer build (build-asan) this is the regression test for each finding; anywhere, an
// exception the harness lets through, or an abort for a broken promise, fails it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(FUZZ_CORPUS))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzReplay, EveryCorpusInputIsAcceptedOrRefusedCleanly) {
  const std::vector<fs::path> files = corpus_files();
  ASSERT_FALSE(files.empty()) << "no corpus in " << FUZZ_CORPUS;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    std::ifstream in(file, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), {}};
    int rc = -1;
    EXPECT_NO_THROW(
        rc = LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    EXPECT_EQ(rc, 0);
  }
}

}  // namespace
