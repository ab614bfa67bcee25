// Test hooks of the measured choice (method.hpp): not part of the public API.
#pragma once

#include <cstddef>

namespace convgrad::detail {

// Forgets the in-memory records (the store is read again on the next lookup) and the warning.
void clear_tuning_memory();
// How many times a measurement has run in this process.
std::size_t tune_measurement_count();

}  // namespace convgrad::detail
