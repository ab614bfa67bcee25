// Everything the `convgrad` commands share, by job: options (options.hpp), input and output
// files (files.hpp), printing (printing.hpp), seeded random cases (random_case.hpp) and how much to say
// (verbosity.hpp).
#pragma once

#include "commands.hpp"
#include "files.hpp"
#include "options.hpp"
#include "printing.hpp"
#include "random_case.hpp"
#include "verbosity.hpp"
