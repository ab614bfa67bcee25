// Fuzz target: the .npy reader (io::read_signal on a file named *.npy, src/io/npy.cpp): the
// magic, the version, the header length, the Python-literal header dict, the shape, the
// dtype and the data length.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return convgrad::fuzz::read_signal_from("input.npy", data, size);
}
