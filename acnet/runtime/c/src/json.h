// A small JSON reader for artefact metadata (AOTI package metadata, TensorRT
// sidecars). Only what metadata needs: no writer, no streaming.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace acnet::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Value() = default;
  static Value boolean(bool b);
  static Value number(double d);
  static Value string(std::string s);
  static Value array(std::vector<Value> items);
  static Value object(std::map<std::string, Value> members);

  Type type() const { return type_; }
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
  const std::map<std::string, Value>& as_object() const;

  // Member lookup on an object; nullptr when absent.
  const Value* find(const std::string& key) const;

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::shared_ptr<std::vector<Value>> array_;
  std::shared_ptr<std::map<std::string, Value>> object_;
};

// Parse a complete JSON document; throws std::invalid_argument with the
// byte offset of the first problem.
Value parse(std::string_view text);

}  // namespace acnet::json
