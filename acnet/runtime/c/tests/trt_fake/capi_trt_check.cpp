// The public C API (acnet.h) over TensorRT engines and their sidecars, with
// the fake TensorRT and CUDA beside this file, for tests/test_metadata_cases.py.
// Not installed.
//
//   capi_trt_check cases CASES.json   one line per case: NAME<TAB>STATUS<TAB>MESSAGE, and for a
//                                     session that opens, NAME<TAB>ACNET_OK<TAB>SUMMARY after
//                                     segmenting a frame
//   capi_trt_check open ENGINE [DEVICE]
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "acnet.h"
#include "json.h"

namespace {

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

// What a session says about its model, and that it segments a frame.
std::string open_and_use(const std::string& path, const char* device) {
  acnet_session* s = nullptr;
  acnet_status st = acnet_session_create(path.c_str(), device, &s);
  if (st != ACNET_OK) return std::string(acnet_status_name(st)) + "\t" + one_line(acnet_last_error(nullptr));
  int classes = 0, h = 0, w = 0;
  acnet_num_classes(s, &classes);
  acnet_input_size(s, &h, &w);
  std::string names;
  for (int id = 0; id <= 256; ++id) {
    const char* name = nullptr;
    if (acnet_class_name(s, id, &name) == ACNET_OK) names += (names.empty() ? "" : ",") + std::to_string(id);
  }
  const int fh = 5, fw = 7;
  std::vector<uint8_t> rgb(fh * fw * 3, 90), labels(fh * fw, 0);
  std::vector<uint16_t> depth(fh * fw, 1200);
  st = acnet_segment(s, rgb.data(), depth.data(), fh, fw, labels.data());
  std::string result = "ACNET_OK\t{\"num_classes\":" + std::to_string(classes) + ",\"input\":[" + std::to_string(h) +
                       "," + std::to_string(w) + "],\"class_ids\":[" + names + "],\"segment\":\"" +
                       acnet_status_name(st) + "\"}";
  acnet_session_destroy(s);
  return result;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "open" && (argc == 3 || argc == 4)) {
    std::cout << open_and_use(argv[2], argc == 4 ? argv[3] : nullptr) << "\n";
    return 0;
  }
  if (cmd == "cases" && argc == 3) {
    const acnet::json::Value cases = acnet::json::parse(read_text(argv[2]), 64);
    for (const acnet::json::Value& c : cases.as_array()) {
      if (c.find("reader")->as_string() != "sidecar") continue;
      std::cout << c.find("name")->as_string() << "\t" << open_and_use(c.find("path")->as_string(), nullptr) << "\n";
    }
    return 0;
  }
  std::cerr << "usage: capi_trt_check cases CASES.json | open ENGINE [DEVICE]\n";
  return 2;
}
