// Drives the library's internal C++ code (metadata parsing, preprocessing,
// label postprocessing) on raw files so tests/test_capi.py can compare it
// with acnet/runtime/preprocess.py bit for bit. Not installed.
//
//   kernels_check info INFO.json
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
#include "model_info.h"
#include "preprocess.h"

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

int run(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "info" && argc == 3) {
    try {
      acnet::ModelInfo info = acnet::model_info_from_text(read_text(argv[2]), "metadata");
      std::cout << "ok " << info.num_classes << " classes, input " << info.input_height << "x" << info.input_width
                << ", offset " << info.class_id_offset << "\n";
      for (const auto& name : info.class_names) std::cout << name << "\n";
    } catch (const acnet::Error& e) {
      std::cout << acnet_status_name(e.status()) << " " << e.what() << "\n";
    }
    return 0;
  }
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
