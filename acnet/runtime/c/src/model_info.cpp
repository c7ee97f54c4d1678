#include "model_info.h"

#include <cmath>
#include <stdexcept>

#include "error.h"

namespace acnet {
namespace {

class Reader {
 public:
  Reader(const json::Value& root, const std::string& source) : root_(root), source_(source) {}

  [[noreturn]] void bad(const std::string& what) const {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source_ + " has malformed acnet metadata: " + what);
  }

  const json::Value& required(const json::Value& obj, const std::string& key) const {
    const json::Value* v = obj.find(key);
    if (!v) {
      fail(ACNET_ERROR_INVALID_ARTIFACT,
           source_ + " has no acnet metadata field '" + key + "'; was it exported by acnet?");
    }
    return *v;
  }

  double number(const json::Value& v, const std::string& key) const {
    if (!v.is_number()) bad("'" + key + "' must be a number");
    return v.as_number();
  }

  int integer(const json::Value& v, const std::string& key) const {
    double d = number(v, key);
    if (d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0) bad("'" + key + "' must be an integer");
    return static_cast<int>(d);
  }

  std::string string(const json::Value& v, const std::string& key) const {
    if (!v.is_string()) bad("'" + key + "' must be a string");
    return v.as_string();
  }

  int integer_or(const std::string& key, int fallback) const {
    const json::Value* v = root_.find(key);
    return v ? integer(*v, key) : fallback;
  }

  std::string string_or(const std::string& key, const std::string& fallback) const {
    const json::Value* v = root_.find(key);
    return v ? string(*v, key) : fallback;
  }

  std::array<double, 3> triple(const json::Value& v, const std::string& key) const {
    if (!v.is_array() || v.as_array().size() != 3) bad("'" + key + "' must list three numbers");
    std::array<double, 3> out{};
    for (size_t i = 0; i < 3; ++i) out[i] = number(v.as_array()[i], key);
    return out;
  }

  const json::Value& root() const { return root_; }

 private:
  const json::Value& root_;
  const std::string& source_;
};

}  // namespace

ModelInfo model_info_from_json(const json::Value& value, const std::string& source) {
  if (!value.is_object()) fail(ACNET_ERROR_INVALID_ARTIFACT, source + " metadata is not a JSON object");
  Reader r(value, source);
  const json::Value& root = r.root();

  int schema = r.integer_or("schema_version", 1);
  if (schema > kSchemaVersion) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " was written by a newer acnet (metadata schema " +
                                           std::to_string(schema) + "); upgrade the acnet C library");
  }

  ModelInfo info;
  info.acnet_version = r.string(r.required(root, "acnet_version"), "acnet_version");
  info.backbone = r.string(r.required(root, "backbone"), "backbone");
  info.fusion = r.string_or("fusion", "acm");
  info.num_classes = r.integer(r.required(root, "num_classes"), "num_classes");
  const json::Value& names = r.required(root, "class_names");
  if (!names.is_array()) r.bad("'class_names' must be a list");
  for (const json::Value& n : names.as_array()) info.class_names.push_back(r.string(n, "class_names"));
  info.input_height = r.integer(r.required(root, "input_height"), "input_height");
  info.input_width = r.integer(r.required(root, "input_width"), "input_width");

  const json::Value& norm = r.required(root, "normalization");
  if (!norm.is_object()) r.bad("'normalization' must be an object");
  info.normalization.rgb_mean = r.triple(r.required(norm, "rgb_mean"), "rgb_mean");
  info.normalization.rgb_std = r.triple(r.required(norm, "rgb_std"), "rgb_std");
  info.normalization.depth_mean = r.number(r.required(norm, "depth_mean"), "depth_mean");
  info.normalization.depth_std = r.number(r.required(norm, "depth_std"), "depth_std");

  info.depth_unit = r.string_or("depth_unit", "m");
  info.output = r.string_or("output", "logits");
  info.precision = r.string_or("precision", "fp32");
  info.batch = r.integer_or("batch", 1);
  if (const json::Value* d = root.find("dynamic_hw")) {
    if (!d->is_bool()) r.bad("'dynamic_hw' must be true or false");
    info.dynamic_hw = d->as_bool();
  }
  info.source_sha256 = r.string_or("source_sha256", "");
  info.class_id_offset = r.integer_or("class_id_offset", 1);

  // The checks metadata.py makes, plus what a uint8 label image needs.
  if (info.num_classes < 1 || info.num_classes > 255) r.bad("num_classes must be in 1..255");
  if (static_cast<int>(info.class_names.size()) != info.num_classes) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " metadata lists " + std::to_string(info.class_names.size()) +
                                           " class names for " + std::to_string(info.num_classes) + " classes");
  }
  if (info.class_id_offset < 0 || info.class_id_offset + info.num_classes - 1 > 255) {
    r.bad("class ids (class_id_offset + channel) must fit in 0..255");
  }
  if (info.input_height < 1 || info.input_width < 1 || info.input_height > 16384 || info.input_width > 16384) {
    r.bad("input size must be in 1..16384");
  }
  for (double s : info.normalization.rgb_std) {
    if (!(s > 0)) r.bad("normalisation standard deviations must be positive");
  }
  if (!(info.normalization.depth_std > 0)) r.bad("normalisation standard deviations must be positive");
  if (info.batch < 0) r.bad("batch must be >= 0");
  if (info.depth_unit != "m") {
    fail(ACNET_ERROR_UNSUPPORTED, source + " expects depth in '" + info.depth_unit +
                                      "'; the C library feeds metres (millimetres / 1000), like the Python runtime");
  }
  return info;
}

ModelInfo model_info_from_text(std::string_view text, const std::string& source) {
  json::Value value;
  try {
    value = json::parse(text);
  } catch (const std::invalid_argument& e) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " has unreadable acnet metadata (" + e.what() + ")");
  }
  return model_info_from_json(value, source);
}

}  // namespace acnet
