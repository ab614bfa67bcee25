// Fuzz target: sound files through libsndfile (io::read_signal on a file named *.wav,
// src/io/wav.cpp): convgrad's own RIFF walk for truncated data, then whatever libsndfile
// recognises in the bytes (WAV, but also AIFF, AU, FLAC, ... whatever the name says) and
// convgrad's checks of what it reports (channels, frames, sizes, finite samples).
//
// Channel 0 is asked for, so that multi-channel files are read to the end rather than
// refused before their data (the refusal without --channel is one comparison).
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return convgrad::fuzz::read_signal_from("input.wav", data, size, 0);
}
