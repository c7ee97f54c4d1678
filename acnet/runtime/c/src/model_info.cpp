#include "model_info.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "error.h"
#include "schema.h"

namespace acnet {
namespace {

constexpr std::string_view kDef = "model_info";

const json::Value& field(const json::Value& root, std::string_view key) { return schema::member(root, kDef, key); }

std::array<double, 3> triple(const json::Value& v) {
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) out[i] = v.as_array()[i].as_number();
  return out;
}

}  // namespace

NormalizationConstants normalization_constants(const Normalization& norm) {
  // Conversions of out-of-range doubles to float give +-inf (IEEE 754, as
  // numpy's float32 casts); the checks below look for exactly that.
  NormalizationConstants k;
  for (int c = 0; c < 3; ++c) {
    k.rgb_mean255[c] = static_cast<float>(norm.rgb_mean[c]) * 255.0f;
    k.rgb_inv_std255[c] = 1.0f / (static_cast<float>(norm.rgb_std[c]) * 255.0f);
  }
  k.depth_mean = static_cast<float>(norm.depth_mean);
  k.depth_inv_std = static_cast<float>(1.0 / norm.depth_std);
  return k;
}

ModelInfo model_info_from_json(const json::Value& value, const std::string& source) {
  const std::string malformed = source + " has malformed acnet metadata: ";
  if (!value.is_object()) fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "not a JSON object");
  schema::check_document(value, kDef, source);

  // Every field has its type and range now: the casts below are exact.
  const bool camera_io = field(value, "io").as_string() == "camera";
  if (camera_io != (value.find("camera") != nullptr)) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "'io' is '" + (camera_io ? "camera" : "tensor") + "' but 'camera' is " +
                                           (camera_io ? "missing" : "present"));
  }
  ModelInfo info;
  info.acnet_version = field(value, "acnet_version").as_string();
  info.backbone = field(value, "backbone").as_string();
  info.fusion = field(value, "fusion").as_string();
  info.num_classes = static_cast<int>(field(value, "num_classes").as_number());
  for (const json::Value& n : field(value, "class_names").as_array()) info.class_names.push_back(n.as_string());
  info.input_height = static_cast<int>(field(value, "input_height").as_number());
  info.input_width = static_cast<int>(field(value, "input_width").as_number());
  const json::Value& norm = field(value, "normalization");
  info.normalization.rgb_mean = triple(*norm.find("rgb_mean"));
  info.normalization.rgb_std = triple(*norm.find("rgb_std"));
  info.normalization.depth_mean = norm.find("depth_mean")->as_number();
  info.normalization.depth_std = norm.find("depth_std")->as_number();
  info.depth_unit = field(value, "depth_unit").as_string();
  info.output = field(value, "output").as_string();
  info.precision = field(value, "precision").as_string();
  info.batch = static_cast<int>(field(value, "batch").as_number());
  info.dynamic_hw = field(value, "dynamic_hw").as_bool();
  info.source_sha256 = field(value, "source_sha256").as_string();
  info.class_id_offset = static_cast<int>(field(value, "class_id_offset").as_number());

  // The rules between fields, in the order Python meets them (Normalization, then ModelInfo.__post_init__).
  const NormalizationConstants k = normalization_constants(info.normalization);
  auto refuse = [&](const std::string& path) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "'normalization." + path +
                                           "' is out of range for the float32 preprocessing");
  };
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(k.rgb_mean255[c])) refuse("rgb_mean[" + std::to_string(c) + "]");
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(k.rgb_inv_std255[c]) || k.rgb_inv_std255[c] == 0.0f) refuse("rgb_std[" + std::to_string(c) + "]");
  }
  if (!std::isfinite(k.depth_mean)) refuse("depth_mean");
  if (!std::isfinite(k.depth_inv_std) || k.depth_inv_std == 0.0f) refuse("depth_std");

  // Camera-native I/O (schema 2): the types and ranges are the schema's, the rules between fields metadata.py
  // CameraIO's.
  if (const json::Value* camera = value.find("camera")) {
    const json::Value& c = *camera;
    info.camera_native = true;
    info.camera.height = static_cast<int>(c.find("height")->as_number());
    info.camera.width = static_cast<int>(c.find("width")->as_number());
    info.camera.depth_dtype = c.find("depth_dtype")->as_string();
    info.camera.depth_scale = c.find("depth_scale")->as_number();
    char scale[32];
    std::snprintf(scale, sizeof scale, "%g", info.camera.depth_scale);
    if (info.camera.depth_dtype == "float32" && info.camera.depth_scale != 1.0) {
      fail(ACNET_ERROR_INVALID_ARTIFACT,
           malformed + "float32 camera depth is metres: its depth_scale is 1, got " + scale);
    }
    if (info.camera.depth_dtype == "uint16" && 65535.0 * info.camera.depth_scale > 1000.0) {
      char most[32];
      std::snprintf(most, sizeof most, "%.3g", 65535.0 * info.camera.depth_scale);
      fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "a depth_scale of " + scale + " m per unit puts uint16 depth up to " +
                                             most + " m, beyond any sensor (1000 m)");
    }
  }
  if (info.class_names.size() != static_cast<size_t>(info.num_classes)) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "metadata lists " + std::to_string(info.class_names.size()) +
                                           " class names for " + std::to_string(info.num_classes) + " classes");
  }
  const int last = info.class_id_offset + info.num_classes - 1;  // both in range: no overflow
  if (last > 255) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "class ids " + std::to_string(info.class_id_offset) + ".." +
                                           std::to_string(last) + " (class_id_offset + channel) do not fit in 0..255");
  }
  if (info.camera_native && info.output != "labels") {
    fail(ACNET_ERROR_INVALID_ARTIFACT, malformed + "a camera-native model outputs labels, but its metadata says '" +
                                           printable(info.output) + "'");
  }
  if (info.camera_native && info.dynamic_hw) {
    fail(ACNET_ERROR_INVALID_ARTIFACT,
         malformed + "a camera-native model has a fixed camera size, but its metadata says dynamic_hw");
  }
  return info;
}

ModelInfo model_info_from_text(std::string_view text, const std::string& source) {
  json::Value value;
  try {
    value = schema::parse(text);
  } catch (const std::invalid_argument& e) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " has unreadable acnet metadata (" + e.what() + ")");
  }
  return model_info_from_json(value, source);
}

}  // namespace acnet
