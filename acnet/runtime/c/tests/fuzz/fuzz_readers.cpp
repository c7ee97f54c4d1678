// libFuzzer harness for the readers of untrusted metadata: the JSON reader,
// the schema, ModelInfo and the engine sidecar. The first byte picks the
// reader, the rest is the document. Beyond memory safety (ASan) and
// undefined behaviour (UBSan), it checks the readers' promises: they throw
// nothing but acnet::Error (std::invalid_argument from the bare JSON
// reader), with a one-line message; and what they accept is in range.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "error.h"
#include "json.h"
#include "model_info.h"
#include "schema.h"
#include "sidecar.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_readers: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_message(const std::string& message) {
  if (message.empty() || message.find('\n') != std::string::npos) broken("not a one-line message", message);
}

// Everything a parsed document holds is what RFC 8259 allows.
void check_value(const acnet::json::Value& v, int depth) {
  if (depth > 64) broken("nesting beyond the limit", "");
  switch (v.type()) {
    case acnet::json::Value::Type::Number:
      if (!std::isfinite(v.as_number())) broken("a non-finite number", "");
      break;
    case acnet::json::Value::Type::Array:
      for (const auto& item : v.as_array()) check_value(item, depth + 1);
      break;
    case acnet::json::Value::Type::Object:
      for (const auto& [key, item] : v.as_object()) check_value(item, depth + 1);
      break;
    default: break;
  }
}

void check_info(const acnet::ModelInfo& m) {
  if (m.num_classes < 1 || m.num_classes > 255 || m.class_names.size() != static_cast<size_t>(m.num_classes) ||
      m.class_id_offset < 0 || m.class_id_offset + m.num_classes - 1 > 255 || m.input_height < 1 ||
      m.input_width < 1 || m.input_height > 16384 || m.input_width > 16384 || m.batch < 0) {
    broken("accepted metadata out of range", std::to_string(m.num_classes));
  }
  for (const auto& name : m.class_names) {
    if (name.find('\0') != std::string::npos) broken("a class name with NUL", name);
  }
  const acnet::NormalizationConstants k = acnet::normalization_constants(m.normalization);
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(k.rgb_mean255[c]) || !std::isfinite(k.rgb_inv_std255[c]) || k.rgb_inv_std255[c] == 0.0f) {
      broken("accepted normalisation unusable in float32", "");
    }
  }
  if (!std::isfinite(k.depth_mean) || !std::isfinite(k.depth_inv_std) || k.depth_inv_std == 0.0f) {
    broken("accepted depth normalisation unusable in float32", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:  // the bare reader, then the schema over whatever it read
      try {
        const acnet::json::Value v = acnet::json::parse(text, 64);
        check_value(v, 0);
        for (const char* def : {"model_info", "sidecar"}) {
          try {
            acnet::schema::check(v, def);
          } catch (const acnet::schema::Violation& e) {
            check_message(e.what());
          }
        }
      } catch (const std::invalid_argument& e) {
        check_message(e.what());
      }
      break;
    case 1:
      try {
        check_info(acnet::model_info_from_text(text, "fuzz"));
      } catch (const acnet::Error& e) {
        if (e.status() != ACNET_ERROR_INVALID_ARTIFACT) broken("unexpected status", e.what());
        check_message(e.what());
      }
      break;
    case 2:
      try {
        const acnet::Sidecar s = acnet::sidecar_from_text(text, "fuzz");
        check_info(s.info);
        if (s.engine_size > 9007199254740991ull) broken("engine_size out of range", s.tensorrt_version);
        acnet::check_engine_compatible(s, "10.16.0", "NVIDIA Fake GPU", "8.7", "fuzz.engine");
      } catch (const acnet::Error& e) {
        if (e.status() != ACNET_ERROR_INVALID_ARTIFACT && e.status() != ACNET_ERROR_UNSUPPORTED) {
          broken("unexpected status", e.what());
        }
        check_message(e.what());
      }
      break;
  }
  return 0;
}
