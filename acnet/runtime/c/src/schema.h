// The rules for acnet's metadata and engine sidecars: acnet/runtime/
// metadata.schema.json, compiled into the library (CMake embeds it) and
// read by the Python package too (acnet/_typed.py check_schema), so both
// refuse the same documents with the same words. This is the one place
// that checks a metadata field's type and range; adding a field is one
// entry in the schema (plus the struct member that holds it).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "json.h"

namespace acnet::schema {

// The JSON reader's limits for metadata documents (x-acnet-limits).
struct Limits {
  size_t max_bytes = 0;
  int max_depth = 0;
};
const Limits& limits();

// Why a document does not satisfy the schema.
class Violation : public std::runtime_error {
 public:
  enum class Kind {
    Invalid,  // what(): "'path' must be ..."
    Missing,  // a required member is absent; path() names it
    Newer,    // a schema version above x-acnet-newer-than; version() holds it
  };
  Violation(Kind kind, std::string path, const std::string& message, long long version = 0)
      : std::runtime_error(message), kind_(kind), path_(std::move(path)), version_(version) {}
  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }
  long long version() const { return version_; }

 private:
  Kind kind_;
  std::string path_;
  long long version_;
};

// Check `value` against $defs/`definition` ("model_info", "sidecar");
// throws Violation for the first problem, in the schema's order.
void check(const json::Value& value, std::string_view definition);

// check(), with a violation turned into acnet::Error(ACNET_ERROR_INVALID_ARTIFACT)
// in the words of that document's readers (as metadata.py check_document):
//   model_info  "SOURCE has no acnet metadata field 'x'; was it exported by acnet?",
//               "SOURCE has malformed acnet metadata: 'x' must be ...";
//   sidecar     "SOURCE is incomplete: no 'x' field", "SOURCE is malformed: 'x' must be ...";
//   both        "SOURCE was written by a newer acnet (<kind> schema N); upgrade the acnet C library".
void check_document(const json::Value& value, std::string_view definition, const std::string& source);

// Member `key` of an object that passed check(value, definition), or the
// default the schema gives it. Throws std::logic_error when the schema
// names no such property or gives it no default (an acnet bug).
const json::Value& member(const json::Value& object, std::string_view definition, std::string_view key);

// Parse metadata text under limits(); throws std::invalid_argument.
json::Value parse(std::string_view text);

}  // namespace acnet::schema
