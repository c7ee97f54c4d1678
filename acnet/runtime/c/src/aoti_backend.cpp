// AOTInductor backend: runs a .pt2 package from `acnet export aoti` with
// libtorch's model-package loader, on the CPU or a CUDA device.
#include <sys/utsname.h>

#include <cctype>
#include <cstring>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/headeronly/version.h>

#include "backend.h"
#include "cpu_isa.h"
#include "error.h"

namespace acnet {
namespace {

// Keys `acnet export aoti` writes into the package metadata (acnet/export/aoti.py).
constexpr const char* kInfoKey = "acnet.model_info";
constexpr const char* kTorchVersionKey = "acnet.torch_version";

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? std::string("unknown error") : line;
}

std::string torch_message(const c10::Error& e) { return first_line(e.what_without_backtrace()); }

std::string get(const std::unordered_map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  return it == meta.end() ? std::string() : it->second;
}

// A CPU package contains machine code for the exporting machine's vector ISA
// (AOTI_CPU_ISA, e.g. "AVX512 AVX512_VNNI AMX_TILE"); running it elsewhere
// would die with SIGILL, so refuse it with a message instead.
void check_cpu_isa(const std::string& isa, const std::string& source) {
  const std::string token = missing_cpu_feature(isa, this_cpu_supports);
  if (!token.empty()) {
    fail(ACNET_ERROR_UNSUPPORTED, source + " was compiled for CPUs with " + printable(isa) + " but this CPU lacks " + printable(token) +
                                      "; export the package on (a machine like) the target");
  }
}

class AotiBackend final : public Backend {
 public:
  AotiBackend(const std::string& path, const Device& requested) {
    std::unordered_map<std::string, std::string> meta;
    try {
      meta = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
    } catch (const c10::Error& e) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is not an AOTInductor package (" + torch_message(e) + ")");
    } catch (const std::exception& e) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + " is not an AOTInductor package (" + first_line(e.what()) + ")");
    }
    const std::string info_json = get(meta, kInfoKey);
    if (info_json.empty()) {
      fail(ACNET_ERROR_INVALID_ARTIFACT,
           path + " is an AOTInductor package without acnet metadata; export it with `acnet export aoti`");
    }
    info_ = model_info_from_text(info_json, path);
    check_servable(info_, path);
    if (info_.output != "logits" && !info_.camera_native) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, path + " metadata says it outputs '" + printable(info_.output) +
                                             "', but AOTInductor packages from acnet output logits");
    }

    const std::string package_device = get(meta, "AOTI_DEVICE_KEY");
    check_machine(meta, path);
    device_ = resolve_device(package_device, requested, path);
    if (device_.is_cpu()) check_cpu_isa(get(meta, "AOTI_CPU_ISA"), path);

    const std::string exported_with = get(meta, kTorchVersionKey);
    try {
      loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
          path, "model", /*run_single_threaded=*/false, /*num_runners=*/1,
          device_.is_cuda() ? device_.index() : static_cast<c10::DeviceIndex>(-1));
    } catch (const c10::Error& e) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "cannot load " + path + " (" + torch_message(e) + ")" +
                                             version_note(exported_with));
    } catch (const std::exception& e) {
      fail(ACNET_ERROR_INVALID_ARTIFACT, "cannot load " + path + " (" + first_line(e.what()) + ")" +
                                             version_note(exported_with));
    }
    name_ = "aoti/" + (device_.is_cuda() ? "cuda:" + std::to_string(device_.index()) : std::string("cpu"));
  }

  void run(const float* rgb, const float* depth, float* logits, int32_t* /*labels*/) override {
    const int64_t h = info_.input_height;
    const int64_t w = info_.input_width;
    const int64_t c = info_.num_classes;
    try {
      c10::InferenceMode guard;
      auto options = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);
      at::Tensor rgb_t = at::from_blob(const_cast<float*>(rgb), {1, 3, h, w}, options);
      at::Tensor depth_t = at::from_blob(const_cast<float*>(depth), {1, 1, h, w}, options);
      if (device_.is_cuda()) {
        rgb_t = rgb_t.to(device_);
        depth_t = depth_t.to(device_);
      }
      std::vector<at::Tensor> outputs = loader_->run({rgb_t, depth_t});
      if (outputs.size() != 1) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, "the package returned " + std::to_string(outputs.size()) +
                                               " outputs; an acnet model returns one logits tensor");
      }
      const at::Tensor& out = outputs[0];
      if (out.dim() != 4 || out.size(0) != 1 || out.size(1) != c || out.size(2) != h || out.size(3) != w) {
        std::ostringstream msg;
        msg << "the package's output has shape " << out.sizes() << " but its metadata promises [1, " << c << ", "
            << h << ", " << w << "]";
        fail(ACNET_ERROR_INVALID_ARTIFACT, msg.str());
      }
      at::Tensor host = out.to(at::kCPU, at::kFloat).contiguous();
      std::memcpy(logits, host.const_data_ptr<float>(), sizeof(float) * static_cast<size_t>(c * h * w));
    } catch (const c10::Error& e) {
      fail(ACNET_ERROR_INFERENCE, "AOTInductor inference failed: " + torch_message(e));
    }
  }

  // The package holds the camera heads (acnet/export/camera.py): the buffers go in as they are, wrapped
  // without a copy on the CPU, copied once to a CUDA device.
  void run_camera(const uint8_t* rgb, const void* depth, uint8_t* labels, uint8_t* confidence) override {
    const int64_t h = info_.camera.height;
    const int64_t w = info_.camera.width;
    const bool uint16 = info_.camera.depth_dtype == "uint16";
    try {
      c10::InferenceMode guard;
      at::Tensor rgb_t = at::from_blob(const_cast<uint8_t*>(rgb), {1, h, w, 3}, at::TensorOptions().dtype(at::kByte));
      at::Tensor depth_t = at::from_blob(const_cast<void*>(depth), {1, h, w},
                                         at::TensorOptions().dtype(uint16 ? at::kUInt16 : at::kFloat));
      if (device_.is_cuda()) {
        rgb_t = rgb_t.to(device_);
        depth_t = depth_t.to(device_);
      }
      std::vector<at::Tensor> outputs = loader_->run({rgb_t, depth_t});
      if (outputs.size() != 2) {
        fail(ACNET_ERROR_INVALID_ARTIFACT, "the package returned " + std::to_string(outputs.size()) +
                                               " outputs; a camera-native acnet model returns labels and confidence");
      }
      uint8_t* targets[2] = {labels, confidence};
      for (int k = 0; k < 2; ++k) {
        const at::Tensor& out = outputs[k];
        if (out.dim() != 3 || out.size(0) != 1 || out.size(1) != h || out.size(2) != w || out.scalar_type() != at::kByte) {
          std::ostringstream msg;
          msg << "the package's output " << k << " is " << out.scalar_type() << " " << out.sizes()
              << " but its metadata promises uint8 [1, " << h << ", " << w << "]";
          fail(ACNET_ERROR_INVALID_ARTIFACT, msg.str());
        }
        at::Tensor host = out.to(at::kCPU).contiguous();
        std::memcpy(targets[k], host.const_data_ptr<uint8_t>(), static_cast<size_t>(h * w));
      }
    } catch (const c10::Error& e) {
      fail(ACNET_ERROR_INFERENCE, "AOTInductor inference failed: " + torch_message(e));
    }
  }

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  c10::Device device_{c10::kCPU};

  static std::string version_note(const std::string& exported_with) {
    if (exported_with.empty() || exported_with.rfind(TORCH_VERSION, 0) == 0) return "";
    return "; it was exported with torch " + printable(exported_with) + " and this library is built against torch " +
           TORCH_VERSION + ": re-export it with the same torch";
  }

  static void check_machine(const std::unordered_map<std::string, std::string>& meta, const std::string& path) {
    const std::string machine = get(meta, "AOTI_MACHINE");
    struct utsname u {};
    if (!machine.empty() && uname(&u) == 0 && machine != u.machine) {
      fail(ACNET_ERROR_UNSUPPORTED, path + " was compiled for " + printable(machine) + " but this machine is " + u.machine);
    }
  }

  static c10::Device resolve_device(const std::string& package_device, const Device& requested,
                                    const std::string& path) {
    if (package_device != "cpu" && package_device != "cuda") {
      fail(ACNET_ERROR_UNSUPPORTED, path + " was compiled for device '" + printable(package_device) +
                                        "'; the C library runs cpu and cuda packages");
    }
    if (requested.kind == Device::Kind::Cpu && package_device != "cpu") {
      fail(ACNET_ERROR_UNSUPPORTED,
           path + " was compiled for cuda; export with `acnet export aoti --device cpu` to run on the CPU");
    }
    if (requested.kind == Device::Kind::Cuda && package_device != "cuda") {
      fail(ACNET_ERROR_UNSUPPORTED,
           path + " was compiled for the CPU; export with `acnet export aoti --device cuda` to run on a GPU");
    }
    if (package_device == "cpu") return c10::Device(c10::kCPU);
    if (!torch::cuda::is_available()) {
      fail(ACNET_ERROR_UNSUPPORTED, path + " needs a CUDA device, but none is available here"
                                           " (or the torch libraries were built without CUDA)");
    }
    const int count = torch::cuda::device_count();
    const int index = requested.index < 0 ? 0 : requested.index;
    if (index >= count) {
      fail(ACNET_ERROR_UNSUPPORTED,
           "device cuda:" + std::to_string(index) + " requested but only " + std::to_string(count) + " found");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
};

}  // namespace

std::unique_ptr<Backend> open_aoti(const std::string& path, const Device& device) {
  return std::make_unique<AotiBackend>(path, device);
}

}  // namespace acnet
