// Errors inside the library: thrown as acnet::Error, turned into an
// acnet_status and a message at the ABI boundary (acnet.cpp), never further.
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace acnet
