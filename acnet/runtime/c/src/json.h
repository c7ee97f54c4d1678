// A strict RFC 8259 JSON reader for artefact metadata (AOTI package
// metadata, TensorRT sidecars): files that come from elsewhere, so every
// byte is untrusted. Only what metadata needs: no writer, no streaming.
//
// Strict where RFC 8259 is: UTF-8 only (no overlong forms, no encoded
// surrogates, nothing above U+10FFFF), no lone \u surrogates, no leading
// zeros, no NaN/Infinity, nothing after the value. Stricter in three ways,
// the same as acnet/_json.py: duplicate member names, numbers that overflow
// a double and nesting deeper than a limit are refused. A number too small
// for a double reads as (signed) zero or the nearest subnormal, as in Python.
// Strings may hold U+0000; the metadata schema refuses it where a C string
// would be cut short.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace acnet::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Members = std::vector<std::pair<std::string, Value>>;  // in document order, names unique

  Value() = default;
  static Value boolean(bool b);
  static Value number(double d);
  static Value string(std::string s);
  static Value array(std::vector<Value> items);
  static Value object(Members members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_object() const { return type_ == Type::Object; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_bool() const { return type_ == Type::Bool; }

  // Accessors throw std::invalid_argument naming the expected type.
  double as_number() const;
  const std::string& as_string() const;
  bool as_bool() const;
  const std::vector<Value>& as_array() const;
  const Members& as_object() const;

  // Member lookup on an object; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::shared_ptr<const std::vector<Value>> array_;
  std::shared_ptr<const Members> object_;
};

// Parse a complete JSON document; throws std::invalid_argument
// ("invalid JSON at byte N: what", or "invalid UTF-8 at byte N") for the
// first problem. Arrays and objects may nest at most `max_depth` deep.
Value parse(std::string_view text, int max_depth);

// `text` for a message: itself when it is at most 40 printable ASCII
// characters, else "?" (acnet/_json.py display_name).
std::string display_name(std::string_view text);

}  // namespace acnet::json
