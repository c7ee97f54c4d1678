// Drives the library's internal C++ code (metadata parsing, preprocessing,
// label postprocessing) on raw files so tests/test_capi.py can compare it
// with acnet/runtime/preprocess.py bit for bit, and tests/
// test_metadata_cases.py the metadata and sidecar readers with Python's.
// Not installed.
//
//   kernels_check info INFO.json
//   kernels_check cases CASES.json     one line per case: NAME<TAB>ok<TAB>JSON or NAME<TAB>STATUS<TAB>MESSAGE
//   kernels_check preprocess INFO.json RGB.u8 DEPTH.u16 H W OUT_RGB.f32 OUT_DEPTH.f32
//   kernels_check labels LOGITS.f32 C h w H W OUT.u8
//   kernels_check resize-labels LABELS.i32 h w H W OUT.u8
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "error.h"
#include "json.h"
#include "model_info.h"
#include "preprocess.h"
#include "sidecar.h"

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

template <class T>
std::vector<T> read_raw(const std::string& path, size_t count) {
  std::string bytes = read_text(path);
  if (bytes.size() != count * sizeof(T)) throw std::runtime_error(path + " has the wrong size");
  std::vector<T> out(count);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

template <class T>
void write_raw(const std::string& path, const std::vector<T>& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(T)));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// ---- what a reader made of a document, as JSON, for Python to compare with its own

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string number(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string camera(const acnet::ModelInfo& m) {
  if (!m.camera_native) return "null";
  const acnet::Camera& c = m.camera;
  return "{\"height\":" + std::to_string(c.height) + ",\"width\":" + std::to_string(c.width) +
         ",\"depth_dtype\":" + quoted(c.depth_dtype) + ",\"depth_scale\":" + number(c.depth_scale) + "}";
}

std::string summary(const acnet::ModelInfo& m) {
  std::string names;
  for (const auto& n : m.class_names) names += (names.empty() ? "" : ",") + quoted(n);
  std::string triples[2];
  for (int k = 0; k < 2; ++k) {
    const auto& v = k == 0 ? m.normalization.rgb_mean : m.normalization.rgb_std;
    triples[k] = "[" + number(v[0]) + "," + number(v[1]) + "," + number(v[2]) + "]";
  }
  return "{\"acnet_version\":" + quoted(m.acnet_version) + ",\"backbone\":" + quoted(m.backbone) +
         ",\"fusion\":" + quoted(m.fusion) + ",\"num_classes\":" + std::to_string(m.num_classes) +
         ",\"class_names\":[" + names + "],\"input_height\":" + std::to_string(m.input_height) +
         ",\"input_width\":" + std::to_string(m.input_width) + ",\"normalization\":{\"rgb_mean\":" + triples[0] +
         ",\"rgb_std\":" + triples[1] + ",\"depth_mean\":" + number(m.normalization.depth_mean) +
         ",\"depth_std\":" + number(m.normalization.depth_std) + "},\"depth_unit\":" + quoted(m.depth_unit) +
         ",\"output\":" + quoted(m.output) + ",\"precision\":" + quoted(m.precision) +
         ",\"batch\":" + std::to_string(m.batch) + ",\"dynamic_hw\":" + (m.dynamic_hw ? "true" : "false") +
         ",\"source_sha256\":" + quoted(m.source_sha256) + ",\"class_id_offset\":" + std::to_string(m.class_id_offset) +
         ",\"camera\":" + camera(m) + "}";
}

std::string summary(const acnet::Sidecar& s) {
  return "{\"tensorrt_version\":" + quoted(s.tensorrt_version) + ",\"gpu_name\":" + quoted(s.gpu_name) +
         ",\"compute_capability\":" + quoted(s.compute_capability) + ",\"precision\":" + quoted(s.precision) +
         ",\"engine_size\":" + std::to_string(s.engine_size) + ",\"model_info\":" + summary(s.info) + "}";
}

std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

// Each case: {"name", "reader": "model_info" | "sidecar", "path", and for a
// sidecar "runtime": {"tensorrt", "gpu", "cc"}} (the engine is `path`).
int run_cases(const std::string& file) {
  const acnet::json::Value cases = acnet::json::parse(read_text(file), 64);
  for (const acnet::json::Value& c : cases.as_array()) {
    const std::string& name = c.find("name")->as_string();
    const std::string& reader = c.find("reader")->as_string();
    const std::string& path = c.find("path")->as_string();
    std::string result;
    try {
      if (reader == "model_info") {
        result = "ok\t" + summary(acnet::model_info_from_text(read_text(path), "metadata"));
      } else {
        const acnet::json::Value& rt = *c.find("runtime");
        const acnet::Sidecar s = acnet::read_sidecar(path, read_text(path).size());
        acnet::check_engine_compatible(s, rt.find("tensorrt")->as_string(), rt.find("gpu")->as_string(),
                                       rt.find("cc")->as_string(), path);
        result = "ok\t" + summary(s);
      }
    } catch (const acnet::Error& e) {
      result = std::string(acnet_status_name(e.status())) + "\t" + one_line(e.what());
    } catch (const std::exception& e) {
      result = std::string("ACNET_ERROR_INTERNAL\tinternal error: ") + one_line(e.what());
    }
    std::cout << name << "\t" << result << "\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "info" && argc == 3) {
    try {
      acnet::ModelInfo info = acnet::model_info_from_text(read_text(argv[2]), "metadata");
      std::cout << "ok " << info.num_classes << " classes, input " << info.input_height << "x" << info.input_width
                << ", offset " << info.class_id_offset;
      if (info.camera_native) {
        std::cout << ", camera " << info.camera.height << "x" << info.camera.width << " " << info.camera.depth_dtype
                  << " x " << info.camera.depth_scale;
      }
      std::cout << "\n";
      for (const auto& name : info.class_names) std::cout << name << "\n";
    } catch (const acnet::Error& e) {
      std::cout << acnet_status_name(e.status()) << " " << e.what() << "\n";
    }
    return 0;
  }
  if (cmd == "cases" && argc == 3) return run_cases(argv[2]);
  if (cmd == "preprocess" && argc == 9) {
    acnet::ModelInfo info = acnet::model_info_from_text(read_text(argv[2]), "metadata");
    const int h = std::atoi(argv[5]), w = std::atoi(argv[6]);
    const size_t n = static_cast<size_t>(h) * w;
    auto rgb = read_raw<uint8_t>(argv[3], n * 3);
    auto depth = read_raw<uint16_t>(argv[4], n);
    const size_t m = static_cast<size_t>(info.input_height) * info.input_width;
    std::vector<float> out_rgb(3 * m), out_depth(m);
    acnet::preprocess_rgb(rgb.data(), h, w, info.input_height, info.input_width, info.normalization, out_rgb.data());
    acnet::preprocess_depth(depth.data(), h, w, info.input_height, info.input_width, info.normalization,
                            out_depth.data());
    write_raw(argv[7], out_rgb);
    write_raw(argv[8], out_depth);
    return 0;
  }
  if (cmd == "labels" && argc == 9) {
    const int c = std::atoi(argv[3]), h = std::atoi(argv[4]), w = std::atoi(argv[5]);
    const int oh = std::atoi(argv[6]), ow = std::atoi(argv[7]);
    auto logits = read_raw<float>(argv[2], static_cast<size_t>(c) * h * w);
    std::vector<uint8_t> labels(static_cast<size_t>(oh) * ow);
    acnet::logits_to_labels(logits.data(), c, h, w, oh, ow, 1, labels.data());
    write_raw(argv[8], labels);
    return 0;
  }
  if (cmd == "resize-labels" && argc == 8) {
    const int h = std::atoi(argv[3]), w = std::atoi(argv[4]), oh = std::atoi(argv[5]), ow = std::atoi(argv[6]);
    auto labels = read_raw<int32_t>(argv[2], static_cast<size_t>(h) * w);
    std::vector<uint8_t> out(static_cast<size_t>(oh) * ow);
    acnet::resize_labels(labels.data(), h, w, oh, ow, out.data());
    write_raw(argv[7], out);
    return 0;
  }
  std::cerr << "usage: kernels_check info|preprocess|labels|resize-labels ...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "kernels_check: " << e.what() << "\n";
    return 1;
  }
}
