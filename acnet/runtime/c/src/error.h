// Errors inside the library: thrown as acnet::Error, turned into an
// acnet_status and a message at the ABI boundary (acnet.cpp), never further.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "acnet.h"

namespace acnet {

class Error : public std::runtime_error {
 public:
  Error(acnet_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  acnet_status status() const noexcept { return status_; }

 private:
  acnet_status status_;
};

[[noreturn]] inline void fail(acnet_status status, const std::string& message) { throw Error(status, message); }

// Text from an artefact, fit for a one-line message: control characters
// become '?', and more than 100 bytes are cut (at a character boundary) to "...".
inline std::string printable(std::string_view text) {
  std::string out;
  size_t n = text.size();
  if (n > 100) {
    n = 100;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  }
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c);
  }
  return n < text.size() ? out + "..." : out;
}

}  // namespace acnet
