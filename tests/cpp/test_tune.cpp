// The measured choice (method.hpp) and its cache file (tune.hpp): when it measures, what it records and
// where, that a cached record is obeyed rather than measured again, and that a bad cache file never throws.
// No test asserts which method is faster: timings are never checked, only their presence.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/tune.hpp"
#include "core/method_internal.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using convgrad::Method;
using convgrad::Taps;
using nlohmann::json;

namespace {

// Every test has its own cache file in a fresh directory, tuning on; afterwards tuning is off
// and the in-memory table empty again, so no test sees another's records.
class Tune : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("convgrad_test_tune_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    convgrad::set_tuning(true, cache());
    convgrad::detail::clear_tuning_memory();
  }
  void TearDown() override {
    convgrad::set_tuning(false);
    convgrad::detail::clear_tuning_memory();
    fs::remove_all(dir_);
  }

  fs::path cache() const { return dir_ / "cache" / "tune.json"; }

  json read_cache() const {
    std::ifstream in(cache());
    return json::parse(in);
  }
  void write_cache(const std::string& text) const {
    fs::create_directories(cache().parent_path());
    std::ofstream(cache()) << text;
  }

  fs::path dir_;
};

constexpr std::size_t kN = 1000;
const Taps kTaps = Taps::centred(1);  // K = 3

bool is_direct_or_fft(std::optional<Method> m) { return m == Method::direct || m == Method::fft; }

TEST_F(Tune, OffMeansTheModelDecidesAndNothingIsWritten) {
  convgrad::set_tuning(false, cache());
  const std::size_t before = convgrad::detail::tune_measurement_count();
  EXPECT_FALSE(convgrad::tuning_enabled());
  EXPECT_EQ(convgrad::tuned_method<double>(kN, kTaps), std::nullopt);
  const convgrad::MethodChoice choice = convgrad::resolve_method<double>(Method::automatic, kN, kTaps);
  EXPECT_EQ(choice.method, convgrad::choose_method(kN, 3));
  EXPECT_EQ(choice.source, convgrad::MethodSource::model);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before);
  EXPECT_FALSE(fs::exists(cache()));
}

TEST_F(Tune, OnMeasuresOnceRecordsBothTimingsAndThenUsesMemory) {
  const std::size_t before = convgrad::detail::tune_measurement_count();
  const std::optional<Method> first = convgrad::tuned_method<double>(kN, kTaps);
  ASSERT_TRUE(is_direct_or_fft(first));
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 1);
  EXPECT_EQ(convgrad::tune_cache_warning(), "");
  EXPECT_EQ(convgrad::last_tune_save(), cache());

  const json doc = read_cache();  // the directory was created for it
  EXPECT_EQ(doc.at("version"), 1);
  ASSERT_EQ(doc.at("records").size(), 1u);
  const json& r = doc.at("records")[0];
  EXPECT_EQ(r.at("dtype"), "float64");
  EXPECT_EQ(r.at("n"), kN);
  EXPECT_EQ(r.at("lo"), -1);
  EXPECT_EQ(r.at("hi"), 1);
  EXPECT_EQ(r.at("threads"), omp_get_max_threads());
  EXPECT_EQ(r.at("choice"), std::string(convgrad::to_string(*first)));
  EXPECT_EQ(r.at("source"), "measured");
  ASSERT_TRUE(r.at("direct_s").is_number());
  ASSERT_TRUE(r.at("fft_s").is_number());
  EXPECT_GT(r.at("direct_s").get<double>(), 0.0);
  EXPECT_GT(r.at("fft_s").get<double>(), 0.0);

  EXPECT_EQ(convgrad::tuned_method<double>(kN, kTaps), first);
  const convgrad::MethodChoice choice = convgrad::resolve_method<double>(Method::automatic, kN, kTaps);
  EXPECT_EQ(choice.method, *first);
  EXPECT_EQ(choice.source, convgrad::MethodSource::tuned);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 1);  // memory, not a new measurement
}

TEST_F(Tune, AFreshTableReadsTheFile) {
  const std::optional<Method> first = convgrad::tuned_method<double>(kN, kTaps);
  ASSERT_TRUE(is_direct_or_fft(first));
  convgrad::detail::clear_tuning_memory();
  const std::size_t before = convgrad::detail::tune_measurement_count();
  EXPECT_EQ(convgrad::tuned_method<double>(kN, kTaps), first);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before);
}

// The record says fft for K = 3, where every measurement and the model say direct: obeying it
// proves the cache is used, not measured again; the step is then fft's, bit for bit.
TEST_F(Tune, ARecordedChoiceIsObeyedAndGivesThatMethodsBits) {
  (void)convgrad::tune<float>(kN, kTaps);  // a record with this machine's key
  json doc = read_cache();
  ASSERT_EQ(doc.at("records").size(), 1u);
  doc["records"][0]["choice"] = "fft";
  write_cache(doc.dump());
  convgrad::detail::clear_tuning_memory();

  const std::size_t before = convgrad::detail::tune_measurement_count();
  EXPECT_EQ(convgrad::tuned_method<float>(kN, kTaps), Method::fft);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before);

  const auto x = convgrad::test::gaussian<float>(kN, 1), y = convgrad::test::gaussian<float>(kN, 2),
             h = convgrad::test::gaussian<float>(3, 3);
  const auto tuned = convgrad::loss_and_grad<float>(x, y, h, kTaps, Method::automatic, true);
  const auto fft = convgrad::loss_and_grad<float>(x, y, h, kTaps, Method::fft, true);
  EXPECT_TRUE(convgrad::test::bitwise_equal(tuned.yhat, fft.yhat));
  EXPECT_TRUE(convgrad::test::bitwise_equal(tuned.dh, fft.dh));
  EXPECT_TRUE(convgrad::test::bitwise_equal(tuned.dx, fft.dx));
  EXPECT_EQ(tuned.loss, fft.loss);
}

TEST_F(Tune, ACorruptFileIsIgnoredWithAWarningAndReplaced) {
  write_cache("{ this is not json");
  std::optional<Method> m;
  EXPECT_NO_THROW(m = convgrad::tuned_method<double>(kN, kTaps));
  EXPECT_TRUE(is_direct_or_fft(m));
  EXPECT_NE(convgrad::tune_cache_warning().find("ignored"), std::string::npos)
      << convgrad::tune_cache_warning();
  EXPECT_EQ(read_cache().at("records").size(), 1u);  // rewritten as a valid cache
}

TEST_F(Tune, AnotherVersionIsIgnoredWithAWarning) {
  write_cache(R"({"version": 99, "records": []})");
  std::optional<Method> m;
  EXPECT_NO_THROW(m = convgrad::tuned_method<double>(kN, kTaps));
  EXPECT_TRUE(is_direct_or_fft(m));
  EXPECT_NE(convgrad::tune_cache_warning().find("version 99"), std::string::npos)
      << convgrad::tune_cache_warning();
  EXPECT_EQ(read_cache().at("version"), 1);
}

TEST_F(Tune, AMalformedRecordMakesTheFileCorrupt) {
  write_cache(R"({"version": 1, "records": [{"dtype": "float64", "n": -5}]})");
  std::optional<Method> m;
  EXPECT_NO_THROW(m = convgrad::tuned_method<double>(kN, kTaps));
  EXPECT_TRUE(is_direct_or_fft(m));
  EXPECT_NE(convgrad::tune_cache_warning().find("ignored"), std::string::npos)
      << convgrad::tune_cache_warning();
}

// The warning quotes what the file holds only escaped: one printable line, whatever the
// file's bytes (a record's dtype with a newline and an escape sequence; raw bytes that the
// JSON parser reports).
TEST_F(Tune, TheWarningEscapesTheFilesContent) {
  for (const std::string& text :
       {std::string(R"({"version": 1, "records": [{"dtype": "float\n\u001b[2Jx", "n": 5}]})"),
        std::string("{\"version\": 1, \"records\": [\xc2\x9b\x1b[2J]}"), std::string("\x1b[2J\n\x07")}) {
    convgrad::detail::clear_tuning_memory();
    write_cache(text);
    EXPECT_NO_THROW((void)convgrad::tuned_method<double>(kN, kTaps));
    const std::string w = convgrad::tune_cache_warning();
    EXPECT_NE(w.find("ignored"), std::string::npos) << w;
    for (const char c : w)
      EXPECT_TRUE(c >= 0x20 && c < 0x7F)
          << "byte 0x" << std::hex << (static_cast<int>(c) & 0xFF) << " in: " << w;
  }
}

TEST_F(Tune, AnUnwritableLocationKeepsTheChoiceInMemory) {
  std::ofstream(dir_ / "blocker") << "a regular file, not a directory";
  convgrad::set_tuning(true, dir_ / "blocker" / "sub" / "tune.json");
  const std::size_t before = convgrad::detail::tune_measurement_count();
  std::optional<Method> m;
  EXPECT_NO_THROW(m = convgrad::tuned_method<double>(kN, kTaps));
  EXPECT_TRUE(is_direct_or_fft(m));
  EXPECT_NE(convgrad::tune_cache_warning().find("not written"), std::string::npos)
      << convgrad::tune_cache_warning();
  EXPECT_EQ(convgrad::last_tune_save(), fs::path());
  EXPECT_EQ(convgrad::tuned_method<double>(kN, kTaps), m);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 1);
}

TEST_F(Tune, DtypeThreadCountAndSizeEachKeyTheirOwnRecord) {
  const std::size_t before = convgrad::detail::tune_measurement_count();
  ASSERT_TRUE(is_direct_or_fft(convgrad::tuned_method<double>(kN, kTaps)));
  ASSERT_TRUE(is_direct_or_fft(convgrad::tuned_method<float>(kN, kTaps)));
  ASSERT_TRUE(is_direct_or_fft(convgrad::tuned_method<float>(kN + 1, kTaps)));
  ASSERT_TRUE(is_direct_or_fft(convgrad::tuned_method<float>(kN, Taps::causal(3))));
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 4);

  const int threads = omp_get_max_threads();
  omp_set_num_threads(threads + 1);
  const std::optional<Method> other = convgrad::tuned_method<double>(kN, kTaps);
  omp_set_num_threads(threads);
  EXPECT_TRUE(is_direct_or_fft(other));
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 5);

  const json doc = read_cache();
  ASSERT_EQ(doc.at("records").size(), 5u);
  int with_more_threads = 0;
  for (const json& r : doc.at("records")) with_more_threads += r.at("threads") == threads + 1;
  EXPECT_EQ(with_more_threads, 1);
}

// Threads asking for the same problem at once wait for one measurement and share its answer.
TEST_F(Tune, ConcurrentCallersMeasureOnce) {
  const std::size_t before = convgrad::detail::tune_measurement_count();
  std::vector<std::optional<Method>> got(4);
  std::vector<std::thread> callers;
  for (auto& g : got) callers.emplace_back([&g] { g = convgrad::tuned_method<float>(kN, kTaps); });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 1);
  ASSERT_TRUE(is_direct_or_fft(got[0]));
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
}

TEST_F(Tune, TuneMeasuresEvenWhenTuningIsOffAndReportsTheModel) {
  convgrad::set_tuning(false, cache());
  const std::size_t before = convgrad::detail::tune_measurement_count();
  const convgrad::TuneRecord r = convgrad::tune<double>(kN, Taps::causal(5));
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before + 1);
  EXPECT_EQ(r.n, kN);
  EXPECT_EQ(r.taps, Taps::causal(5));
  EXPECT_EQ(r.dtype, "float64");
  EXPECT_EQ(r.model_choice, convgrad::choose_method(kN, 5));
  ASSERT_TRUE(r.direct_s && r.fft_s);
  EXPECT_EQ(r.choice, *r.fft_s < *r.direct_s ? Method::fft : Method::direct);
  EXPECT_EQ(read_cache().at("records")[0], json::parse(convgrad::to_json(r)));   // the file's form
  EXPECT_EQ(convgrad::tuned_method<double>(kN, Taps::causal(5)), std::nullopt);  // off: not used
}

// N K = 1.6e10 taps: the model expects direct to take over a second and fft far less, so only
// fft is timed, and the record says that the model, not a measurement, excluded direct.
TEST_F(Tune, AMethodPredictedOverASecondIsNotTimed) {
  const std::size_t n = 1'000'000;
  const Taps taps = Taps::centred(8191);  // K = 16383
  ASSERT_GT(convgrad::predicted_step_seconds(Method::direct, n, taps.K(), sizeof(double)), 1.0);
  ASSERT_EQ(convgrad::choose_method(n, taps.K(), sizeof(double)), Method::fft);
  const convgrad::TuneRecord r = convgrad::tune<double>(n, taps);
  EXPECT_FALSE(r.direct_s.has_value());
  EXPECT_TRUE(r.fft_s.has_value());
  EXPECT_EQ(r.choice, Method::fft);
  EXPECT_EQ(r.source, "model: direct predicted > 1 s per step");
  const json rec = read_cache().at("records")[0];
  EXPECT_TRUE(rec.at("direct_s").is_null());
}

TEST_F(Tune, InvalidProblemsAreRefused) {
  EXPECT_THROW((void)convgrad::tune<double>(0, kTaps), convgrad::invalid_argument);
  EXPECT_THROW((void)convgrad::tune<double>(kN, Taps{3, 1}), convgrad::invalid_argument);
  EXPECT_EQ(convgrad::tuned_method<double>(0, kTaps), std::nullopt);
}

// A requested method is reported as such and never looks anything up.
TEST_F(Tune, ARequestedMethodIsReportedAsRequested) {
  const std::size_t before = convgrad::detail::tune_measurement_count();
  const convgrad::MethodChoice choice = convgrad::resolve_method<double>(Method::fft, kN, kTaps);
  EXPECT_EQ(choice.method, Method::fft);
  EXPECT_EQ(choice.source, convgrad::MethodSource::requested);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before);
  EXPECT_EQ(convgrad::to_string(convgrad::MethodSource::tuned), "tuned");
}

// A record the model made (timing would have taken too long) resolves as the model's choice.
TEST_F(Tune, AModelledRecordResolvesAsTheModel) {
  (void)convgrad::tune<double>(kN, kTaps);
  json doc = read_cache();
  doc["records"][0]["source"] = "model: both methods predicted > 1 s per step";
  doc["records"][0]["choice"] = "fft";
  write_cache(doc.dump());
  convgrad::detail::clear_tuning_memory();
  const convgrad::MethodChoice choice = convgrad::resolve_method<double>(Method::automatic, kN, kTaps);
  EXPECT_EQ(choice.method, Method::fft);
  EXPECT_EQ(choice.source, convgrad::MethodSource::model);
}

// take_tune_warning hands each problem out once; tune_cache_warning keeps describing it.
TEST_F(Tune, ATakenWarningIsGivenOnce) {
  write_cache("{ this is not json");
  ASSERT_TRUE(is_direct_or_fft(convgrad::tuned_method<double>(kN, kTaps)));
  const std::string taken = convgrad::take_tune_warning();
  EXPECT_NE(taken.find("ignored"), std::string::npos) << taken;
  EXPECT_EQ(convgrad::take_tune_warning(), "");
  EXPECT_EQ(convgrad::tune_cache_warning(), taken);
}

// The core keeps records through whatever store is registered: here one in memory, which
// sees every save and supplies records as the file would.
class MemoryStore final : public convgrad::TuneStore {
 public:
  std::vector<convgrad::TuneRecord> kept;
  int loads = 0, saves = 0;
  std::vector<convgrad::TuneRecord> load(std::string&) override {
    ++loads;
    return kept;
  }
  bool save(const std::vector<convgrad::TuneRecord>& records, std::string&) override {
    ++saves;
    kept = records;
    return true;
  }
};

TEST_F(Tune, TheCoreUsesTheRegisteredStore) {
  const auto store = std::make_shared<MemoryStore>();
  convgrad::set_tune_store(store);
  const convgrad::TuneRecord r = convgrad::tune<float>(kN, kTaps);
  EXPECT_EQ(store->loads, 1);
  EXPECT_EQ(store->saves, 1);
  ASSERT_EQ(store->kept.size(), 1u);
  EXPECT_TRUE(convgrad::same_key(store->kept[0], r));
  EXPECT_FALSE(fs::exists(cache()));  // the file store is not involved

  store->kept[0].choice = r.choice == Method::fft ? Method::direct : Method::fft;
  convgrad::set_tune_store(store);  // forgets the table: the next lookup reads the store
  const std::size_t before = convgrad::detail::tune_measurement_count();
  EXPECT_EQ(convgrad::tuned_method<float>(kN, kTaps), store->kept[0].choice);
  EXPECT_EQ(convgrad::detail::tune_measurement_count(), before);
  convgrad::set_tuning(true, cache());  // back to a file for TearDown
}

// The cache is only ever a regular file: a FIFO (or a device such as /dev/null) in its place
// is refused with a warning and left as it is, and the choice is kept in memory.
TEST_F(Tune, ANonRegularCacheIsNeverReplaced) {
  const fs::path fifo = dir_ / "fifo.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  convgrad::set_tuning(true, fifo);
  std::optional<Method> m;
  EXPECT_NO_THROW(m = convgrad::tuned_method<double>(kN, kTaps));
  EXPECT_TRUE(is_direct_or_fft(m));
  EXPECT_NE(convgrad::tune_cache_warning().find("not a regular file"), std::string::npos)
      << convgrad::tune_cache_warning();
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_FALSE(fs::exists(dir_ / "fifo.json.lock"));
  EXPECT_EQ(convgrad::last_tune_save(), fs::path());
  EXPECT_EQ(convgrad::tuned_method<double>(kN, kTaps), m);
}

// A write merges under the lock file beside the cache: records another process added since
// this one read the file survive.
TEST_F(Tune, AWriteMergesWhatOthersAddedAndLocksBesideTheCache) {
  (void)convgrad::tune<double>(kN, kTaps);
  json doc = read_cache();
  json other = doc["records"][0];
  other["n"] = kN + 7;  // a record "another process" wrote
  doc["records"].push_back(other);
  write_cache(doc.dump());
  (void)convgrad::tune<double>(kN + 1, kTaps);  // the table never read kN + 7
  const json now = read_cache();
  ASSERT_EQ(now.at("records").size(), 3u);
  EXPECT_TRUE(fs::is_regular_file(fs::path(cache().string() + ".lock")));
}

// Sets an environment variable for one scope and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TuneCacheLocation, FollowsTheEnvironment) {
  ScopedEnv cache("CONVGRAD_TUNE_CACHE", nullptr), xdg("XDG_CACHE_HOME", nullptr),
      home("HOME", "/home/someone");
  EXPECT_EQ(convgrad::default_tune_cache(), fs::path("/home/someone/.cache/convgrad/tune.json"));
  {
    ScopedEnv set_xdg("XDG_CACHE_HOME", "/var/cache/me");
    EXPECT_EQ(convgrad::default_tune_cache(), fs::path("/var/cache/me/convgrad/tune.json"));
    ScopedEnv set_file("CONVGRAD_TUNE_CACHE", "/tmp/mine.json");
    EXPECT_EQ(convgrad::default_tune_cache(), fs::path("/tmp/mine.json"));
  }
  ScopedEnv no_home("HOME", nullptr);
  EXPECT_EQ(convgrad::default_tune_cache(), fs::path());
}

}  // namespace
