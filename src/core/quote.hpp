// Quoting a file's content in a message. Every piece of what a file holds that goes into an
// error or a warning passes through quote_token, so a message stays one printable line:
// newlines, terminal escape sequences and bytes outside ASCII cannot reach the terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace convgrad::detail {

// `token` with every byte outside printable ASCII written as \xNN, cut after `max_chars`
// bytes (then "..." follows).
std::string quote_token(std::string_view token, std::size_t max_chars = 40);

}  // namespace convgrad::detail
