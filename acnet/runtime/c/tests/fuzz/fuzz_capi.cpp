// libFuzzer harness for the public C API (acnet.h) over a TensorRT engine
// and its sidecar, with the fake TensorRT and CUDA of tests/trt_fake: the
// input is ENGINE \0 SIDECAR (no \0: all sidecar, with the engine of
// corpus/capi's seeds). The second byte picks the device argument. Beyond
// ASan and UBSan it checks the error promise of acnet.h: never
// ACNET_ERROR_INTERNAL, a one-line message naming the problem, *out reset
// on failure; and on success that every call on the session keeps it.
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acnet.h"

namespace {

std::string g_engine;  // where the engine is written, its sidecar beside it

[[noreturn]] void broken(const char* what, const char* detail) {
  std::fprintf(stderr, "fuzz_capi: %s: %s\n", what, detail ? detail : "");
  std::abort();
}

void check(acnet_status st, const acnet_session* s, const char* call) {
  if (st == ACNET_ERROR_INTERNAL) broken(call, acnet_last_error(s));
  if (st != ACNET_OK) {
    const char* message = acnet_last_error(s);
    if (!message[0] || std::strchr(message, '\n')) broken("not a one-line message", message);
  }
}

bool write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

std::string g_dir;

void remove_files() {
  std::remove((g_engine + ".json").c_str());
  std::remove(g_engine.c_str());
  rmdir(g_dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  char dir[4096];
  std::snprintf(dir, sizeof dir, "%s/acnet-fuzz-capi-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) broken("mkdtemp", dir);
  g_dir = dir;
  g_engine = g_dir + "/model.engine";
  std::atexit(remove_files);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* const devices[] = {nullptr, "", "cuda", "cuda:0", "cuda:1", "cpu", " CUDA "};
  const char* device = devices[data[0] % (sizeof devices / sizeof devices[0])];
  const uint8_t frame_shape = data[1];
  data += 2;
  size -= 2;
  const uint8_t* split = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t engine_size = split ? static_cast<size_t>(split - data) : 0;
  const uint8_t* sidecar = split ? split + 1 : data;
  const size_t sidecar_size = split ? size - engine_size - 1 : size;
  if (!write_file(g_engine, data, engine_size) || !write_file(g_engine + ".json", sidecar, sidecar_size)) {
    broken("cannot write the inputs", g_engine.c_str());
  }

  acnet_session* s = reinterpret_cast<acnet_session*>(&g_engine);  // must come back NULL on failure
  const acnet_status st = acnet_session_create(g_engine.c_str(), device, &s);
  check(st, nullptr, "acnet_session_create");
  if (st != ACNET_OK) {
    if (s) broken("*out not reset on failure", acnet_status_name(st));
    return 0;
  }

  int classes = 0, h = 0, w = 0;
  size_t count = 0;
  const char* name = nullptr;
  check(acnet_num_classes(s, &classes), s, "acnet_num_classes");
  check(acnet_input_size(s, &h, &w), s, "acnet_input_size");
  check(acnet_backend(s, &name), s, "acnet_backend");
  check(acnet_logits_size(s, &count), s, "acnet_logits_size");
  for (int id : {INT_MIN, -1, 0, 1, 2, 254, 255, 256, INT_MAX}) {
    const acnet_status cs = acnet_class_name(s, id, &name);
    check(cs, s, "acnet_class_name");
    if (cs == ACNET_OK && !name) broken("class name NULL", "");
  }
  // One small frame of any shape (1..16 x 1..16), labels within the class ids or 0.
  const int fh = 1 + (frame_shape & 15), fw = 1 + (frame_shape >> 4);
  std::vector<uint8_t> rgb(static_cast<size_t>(fh) * fw * 3, 100), labels(static_cast<size_t>(fh) * fw, 0);
  std::vector<uint16_t> depth(static_cast<size_t>(fh) * fw, 1500);
  const acnet_status seg = acnet_segment(s, rgb.data(), depth.data(), fh, fw, labels.data());
  check(seg, s, "acnet_segment");
  if (count <= (size_t{4} << 20)) {
    std::vector<float> logits(count);
    check(acnet_logits(s, rgb.data(), depth.data(), fh, fw, logits.data(), logits.size()), s, "acnet_logits");
  }
  acnet_session_destroy(s);
  return 0;
}
