#include "schema.h"

#include <cmath>

#include "error.h"
#include <string>
#include <vector>

// kMetadataSchema[]: acnet/runtime/metadata.schema.json, embedded by CMake.
#include "metadata_schema.inc"

namespace acnet::schema {
namespace {

using json::Value;

// The keywords this interpreter understands; any other makes the schema
// itself invalid (a test loads it), so a rule can never be silently ignored.
constexpr std::string_view kKeywords[] = {
    "type",     "properties", "required", "additionalProperties", "minProperties", "items",   "minItems",
    "maxItems", "minimum",    "maximum",  "exclusiveMinimum",     "enum",          "format",  "default",
    "$ref",     "$comment",   "description", "x-acnet-newer-than"};

struct Schema {
  Value root;
  Limits limits;
};

[[noreturn]] void broken(const std::string& what) { throw std::logic_error("metadata schema: " + what); }

void check_keywords(const Value& node, int depth) {
  if (depth > 16) broken("nested too deeply");
  if (!node.is_object()) broken("a rule is not an object");
  for (const auto& [key, value] : node.as_object()) {
    bool known = false;
    for (std::string_view k : kKeywords) known = known || key == k;
    if (!known) broken("unknown keyword '" + key + "'");
    for (const char* bound : {"minimum", "maximum", "exclusiveMinimum", "minItems", "maxItems", "minProperties",
                              "x-acnet-newer-than"}) {
      if (key == bound && (!value.is_number() || value.as_number() != std::floor(value.as_number()) ||
                           std::fabs(value.as_number()) > 9007199254740991.0)) {
        broken("'" + key + "' must be an integer");
      }
    }
    if (key == "properties") {
      for (const auto& [name, rule] : value.as_object()) check_keywords(rule, depth + 1);
    } else if (key == "items" || key == "additionalProperties") {
      check_keywords(value, depth + 1);
    }
  }
  if (const Value* ref = node.find("$ref"); ref && node.as_object().size() != 1) broken("$ref beside other keywords");
  if (const Value* required = node.find("required")) {
    const Value* properties = node.find("properties");
    for (const Value& name : required->as_array()) {
      if (!properties || !properties->find(name.as_string())) broken("required '" + name.as_string() + "' is no property");
    }
  }
}

const Schema& schema() {
  static const Schema s = [] {
    Schema out;
    const std::string_view text(reinterpret_cast<const char*>(kMetadataSchema), sizeof kMetadataSchema);
    out.root = json::parse(text, 64);
    const Value* limits = out.root.find("x-acnet-limits");
    const Value* defs = out.root.find("$defs");
    const Value* max_bytes = limits ? limits->find("max_bytes") : nullptr;
    const Value* max_depth = limits ? limits->find("max_depth") : nullptr;
    if (!max_bytes || !max_depth || !defs || !defs->is_object()) broken("no x-acnet-limits or $defs");
    out.limits.max_bytes = static_cast<size_t>(max_bytes->as_number());
    out.limits.max_depth = static_cast<int>(max_depth->as_number());
    for (const auto& [name, rule] : defs->as_object()) check_keywords(rule, 0);
    return out;
  }();
  return s;
}

const Value& definition_of(std::string_view name) {
  const Value* rule = schema().root.find("$defs")->find(name);
  if (!rule) broken("no definition '" + std::string(name) + "'");
  return *rule;
}

const Value& resolve(const Value& rule) {
  const Value* ref = rule.find("$ref");
  if (!ref) return rule;
  const std::string& target = ref->as_string();
  constexpr std::string_view prefix = "#/$defs/";
  if (target.compare(0, prefix.size(), prefix) != 0) broken("unsupported $ref " + target);
  return definition_of(std::string_view(target).substr(prefix.size()));
}

std::string integer_text(double d) { return std::to_string(static_cast<long long>(d)); }

bool has_type(const Value& rule, std::string_view type) {
  const Value* t = rule.find("type");
  if (!t) return false;
  if (t->is_string()) return t->as_string() == type;
  for (const Value& item : t->as_array()) {
    if (item.as_string() == type) return true;
  }
  return false;
}

// "an integer in 1..255", "a list of 3 items", ... (acnet/_typed.py _describe).
std::string describe(const Value& rule) {
  std::vector<std::string> kinds;
  const Value* t = rule.find("type");
  std::vector<std::string> types;
  if (t && t->is_string()) types.push_back(t->as_string());
  if (t && t->is_array()) {
    for (const Value& item : t->as_array()) types.push_back(item.as_string());
  }
  std::string text;
  for (const std::string& type : types) {
    std::string kind;
    if (type == "integer" || type == "number") {
      kind = type == "integer" ? "an integer" : "a number";
      const Value* lo = rule.find("minimum");
      const Value* hi = rule.find("maximum");
      if (lo && hi) kind += " in " + integer_text(lo->as_number()) + ".." + integer_text(hi->as_number());
      else if (lo) kind += " >= " + integer_text(lo->as_number());
      else if (hi) kind += " <= " + integer_text(hi->as_number());
      if (const Value* x = rule.find("exclusiveMinimum")) kind += " greater than " + integer_text(x->as_number());
    } else if (type == "string") {
      kind = "a string";
      if (const Value* e = rule.find("enum")) {
        kind = "one of";
        const char* sep = " ";
        for (const Value& option : e->as_array()) {
          kind += sep + ("'" + option.as_string() + "'");
          sep = ", ";
        }
      } else if (const Value* f = rule.find("format")) {
        if (f->as_string() == "version") kind = "a version like 10.3.0.26";
        else if (f->as_string() == "compute-capability") kind = "a compute capability like 8.7";
        else broken("unknown format '" + f->as_string() + "'");
      }
    } else if (type == "boolean") {
      kind = "true or false";
    } else if (type == "array") {
      kind = "a list";
      const Value* lo = rule.find("minItems");
      const Value* hi = rule.find("maxItems");
      if (lo && hi && lo->as_number() == hi->as_number()) kind += " of " + integer_text(lo->as_number()) + " items";
      else if (lo && hi) kind += " of " + integer_text(lo->as_number()) + " to " + integer_text(hi->as_number()) + " items";
      else if (lo) kind += " of at least " + integer_text(lo->as_number()) + " items";
      else if (hi) kind += " of at most " + integer_text(hi->as_number()) + " items";
    } else if (type == "object") {
      kind = "an object";
      if (const Value* n = rule.find("minProperties")) kind += " with at least " + integer_text(n->as_number()) + " members";
    } else if (type == "null") {
      kind = "null";
    } else {
      broken("unknown type '" + type + "'");
    }
    text += (text.empty() ? "" : " or ") + kind;
  }
  return text;
}

bool is_digits(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// format "version": 3 or 4 dot-separated numbers of 1..9 digits, then
// optionally "+" and 1..64 of [A-Za-z0-9._-] (acnet/_typed.py _FORMATS).
bool is_version(std::string_view s) {
  const size_t plus = s.find('+');
  if (plus != std::string_view::npos) {
    const std::string_view local = s.substr(plus + 1);
    if (local.empty() || local.size() > 64) return false;
    for (char c : local) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
      if (!ok) return false;
    }
    s = s.substr(0, plus);
  }
  size_t parts = 0;
  for (;;) {
    const size_t dot = s.find('.');
    if (!is_digits(s.substr(0, dot), 9)) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s = s.substr(dot + 1);
  }
  return parts == 3 || parts == 4;
}

// format "compute-capability": "major.minor", 1..3 digits each.
bool is_compute_capability(std::string_view s) {
  const size_t dot = s.find('.');
  return dot != std::string_view::npos && is_digits(s.substr(0, dot), 3) && is_digits(s.substr(dot + 1), 3);
}

[[noreturn]] void invalid(const std::string& path, const std::string& what) {
  throw Violation(Violation::Kind::Invalid, path, "'" + path + "' must be " + what);
}

std::string child(const std::string& path, std::string_view key) {
  const std::string shown = json::display_name(key);
  return path.empty() ? shown : path + "." + shown;
}

void check_value(const Value& value, const Value& unresolved, const std::string& path) {
  const Value& rule = resolve(unresolved);
  bool typed = !rule.find("type");
  for (std::string_view type : {"integer", "number", "string", "boolean", "array", "object", "null"}) {
    if (typed || !has_type(rule, type)) continue;
    if ((type == "integer" || type == "number") && value.is_number()) typed = true;
    if (type == "string" && value.is_string()) typed = true;
    if (type == "boolean" && value.is_bool()) typed = true;
    if (type == "array" && value.is_array()) typed = true;
    if (type == "object" && value.is_object()) typed = true;
    if (type == "null" && value.is_null()) typed = true;
  }
  if (!typed) invalid(path, describe(rule));

  if (value.is_number()) {
    const double d = value.as_number();
    bool ok = !has_type(rule, "integer") || has_type(rule, "number") || d == std::floor(d);
    if (const Value* lo = rule.find("minimum")) ok = ok && d >= lo->as_number();
    if (const Value* hi = rule.find("maximum")) ok = ok && d <= hi->as_number();
    if (const Value* x = rule.find("exclusiveMinimum")) ok = ok && d > x->as_number();
    if (!ok) invalid(path, describe(rule));
    if (const Value* newest = rule.find("x-acnet-newer-than"); newest && d > newest->as_number()) {
      throw Violation(Violation::Kind::Newer, path, "'" + path + "' is newer than this acnet",
                      static_cast<long long>(d));
    }
  } else if (value.is_string()) {
    const std::string& s = value.as_string();
    if (s.find('\0') != std::string::npos) {
      throw Violation(Violation::Kind::Invalid, path, "'" + path + "' must not contain NUL characters");
    }
    if (const Value* e = rule.find("enum")) {
      bool found = false;
      for (const Value& option : e->as_array()) found = found || option.as_string() == s;
      if (!found) invalid(path, describe(rule));
    }
    if (const Value* f = rule.find("format")) {
      const bool ok = f->as_string() == "version" ? is_version(s) : is_compute_capability(s);
      if (!ok) invalid(path, describe(rule));
    }
  } else if (value.is_array()) {
    const auto& items = value.as_array();
    const double n = static_cast<double>(items.size());
    const Value* lo = rule.find("minItems");
    const Value* hi = rule.find("maxItems");
    if ((lo && n < lo->as_number()) || (hi && n > hi->as_number())) invalid(path, describe(rule));
    if (const Value* item_rule = rule.find("items")) {
      for (size_t i = 0; i < items.size(); ++i) check_value(items[i], *item_rule, path + "[" + std::to_string(i) + "]");
    }
  } else if (value.is_object()) {
    const auto& members = value.as_object();
    if (const Value* n = rule.find("minProperties"); n && static_cast<double>(members.size()) < n->as_number()) {
      invalid(path, describe(rule));
    }
    const Value* properties = rule.find("properties");
    const Value* required = rule.find("required");
    if (properties) {
      for (const auto& [key, property_rule] : properties->as_object()) {
        if (const Value* v = value.find(key)) {
          check_value(*v, property_rule, child(path, key));
          continue;
        }
        bool needed = false;
        if (required) {
          for (const Value& r : required->as_array()) needed = needed || r.as_string() == key;
        }
        if (needed) throw Violation(Violation::Kind::Missing, child(path, key), "no field '" + child(path, key) + "'");
      }
    }
    if (const Value* extra = rule.find("additionalProperties")) {
      for (const auto& [key, v] : members) {
        if (!properties || !properties->find(key)) check_value(v, *extra, child(path, key));
      }
    }
  }
}

}  // namespace

const Limits& limits() { return schema().limits; }

void check(const json::Value& value, std::string_view definition) {
  check_value(value, definition_of(definition), "");
}

void check_document(const json::Value& value, std::string_view definition, const std::string& source) {
  const bool sidecar = definition == "sidecar";
  try {
    check(value, definition);
  } catch (const Violation& v) {
    switch (v.kind()) {
      case Violation::Kind::Missing:
        fail(ACNET_ERROR_INVALID_ARTIFACT, sidecar ? source + " is incomplete: no '" + v.path() + "' field"
                                                   : source + " has no acnet metadata field '" + v.path() +
                                                         "'; was it exported by acnet?");
      case Violation::Kind::Newer:
        fail(ACNET_ERROR_INVALID_ARTIFACT, source + " was written by a newer acnet (" +
                                               (sidecar ? "sidecar" : "metadata") + " schema " +
                                               std::to_string(v.version()) + "); upgrade the acnet C library");
      case Violation::Kind::Invalid:
        break;
    }
    fail(ACNET_ERROR_INVALID_ARTIFACT,
         source + (sidecar ? " is malformed: " : " has malformed acnet metadata: ") + v.what());
  }
}

const json::Value& member(const json::Value& object, std::string_view definition, std::string_view key) {
  if (const Value* v = object.find(key)) return *v;
  const Value* rule = definition_of(definition).find("properties");
  rule = rule ? rule->find(key) : nullptr;
  const Value* fallback = rule ? rule->find("default") : nullptr;
  if (!fallback) broken("no default for '" + std::string(key) + "' in " + std::string(definition));
  return *fallback;
}

json::Value parse(std::string_view text) {
  const Limits& l = limits();
  if (text.size() > l.max_bytes) {
    throw std::invalid_argument("larger than " + std::to_string(l.max_bytes) + " bytes");
  }
  return json::parse(text, l.max_depth);
}

}  // namespace acnet::schema
