#include "sidecar.h"

#include <algorithm>
#include <fstream>

#include "error.h"
#include "schema.h"

namespace acnet {
namespace {

constexpr std::string_view kDef = "sidecar";

// The GPU name compared without case or spacing (sidecar.py _same_gpu).
std::string gpu_key(std::string_view name) {
  std::string out, word;
  for (size_t i = 0; i <= name.size(); ++i) {
    const char c = i < name.size() ? name[i] : ' ';
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
      if (!word.empty()) out += (out.empty() ? "" : " ") + word;
      word.clear();
    } else {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  return out;
}

}  // namespace

std::vector<long> version_numbers(std::string_view text) {
  std::vector<long> out;
  text = text.substr(0, text.find('+'));
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    size_t j = i;
    long v = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      if (j - i < 9) v = v * 10 + (text[j] - '0');
      ++j;
    }
    out.push_back(j - i > 9 ? -1 : v);
    i = j;
  }
  return out;
}

Sidecar sidecar_from_text(std::string_view text, const std::string& source) {
  json::Value root;
  try {
    root = schema::parse(text);
  } catch (const std::invalid_argument& e) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is unreadable: " + e.what());
  }
  if (!root.is_object()) fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is not an acnet engine sidecar (expected a JSON object)");
  schema::check_document(root, kDef, source);
  Sidecar s;
  s.tensorrt_version = root.find("tensorrt_version")->as_string();
  s.gpu_name = root.find("gpu_name")->as_string();
  s.compute_capability = root.find("compute_capability")->as_string();
  s.precision = root.find("precision")->as_string();
  // An integer in 0..2^53-1 (the schema): exact as a double and as uint64.
  s.engine_size = static_cast<uint64_t>(schema::member(root, kDef, "engine_size").as_number());
  s.info = model_info_from_json(*root.find("model_info"), source);
  return s;
}

Sidecar read_sidecar(const std::string& engine, uint64_t engine_size) {
  const std::string path = engine + ".json";
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, "engine " + engine + " has no sidecar " + path +
                                           "; build engines with `acnet export trt` (it records the TensorRT "
                                           "version, GPU and model metadata the runtime needs)");
  }
  const std::string source = "sidecar " + path;
  // Read no more than the limit, however large the file is.
  const size_t limit = schema::limits().max_bytes;
  std::string text;
  char chunk[16384];
  while (text.size() <= limit && f.read(chunk, sizeof chunk).gcount() > 0) {
    text.append(chunk, static_cast<size_t>(f.gcount()));
  }
  if (f.bad()) fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is unreadable: read error");
  if (text.size() > limit) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " is unreadable: larger than " + std::to_string(limit) + " bytes");
  }
  Sidecar s = sidecar_from_text(text, source);
  if (s.engine_size != 0 && s.engine_size != engine_size) {
    fail(ACNET_ERROR_INVALID_ARTIFACT, source + " describes a " + std::to_string(s.engine_size) +
                                           "-byte engine but " + engine + " has " + std::to_string(engine_size) +
                                           " bytes; the engine was replaced: rebuild both with `acnet export trt`");
  }
  return s;
}

void check_engine_compatible(const Sidecar& sidecar, std::string_view trt_version, std::string_view gpu_name,
                             std::string_view cc, const std::string& engine) {
  std::vector<std::string> problems;
  std::vector<long> built = version_numbers(sidecar.tensorrt_version), here = version_numbers(trt_version);
  built.resize(3, -1);
  here.resize(3, -2);
  if (!std::equal(built.begin(), built.begin() + 3, here.begin())) {
    problems.push_back("TensorRT " + sidecar.tensorrt_version + " (this machine has " + std::string(trt_version) + ")");
  }
  if (sidecar.compute_capability != cc) {
    problems.push_back("compute capability " + sidecar.compute_capability + " (this GPU has " + std::string(cc) + ")");
  }
  if (gpu_key(sidecar.gpu_name) != gpu_key(gpu_name)) {
    problems.push_back("the GPU '" + printable(sidecar.gpu_name) + "' (this one is '" + printable(gpu_name) + "')");
  }
  if (problems.empty()) return;
  std::string joined;
  for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
  fail(ACNET_ERROR_UNSUPPORTED, "engine " + engine + " was built for " + joined +
                                    "; TensorRT engines run only with the TensorRT version and GPU they were "
                                    "built on: rebuild it here with `acnet export trt`");
}

}  // namespace acnet
