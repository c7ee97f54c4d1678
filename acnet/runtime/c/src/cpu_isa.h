// The CPU features an AOTInductor CPU package needs (AOTI_CPU_ISA), checked
// against this CPU. Inductor writes the vector ISA it compiled for, upper
// case, e.g. "AVX512 AVX512_VNNI AMX_TILE" (torch/_inductor/cpu_vec_isa.py);
// running a package on a CPU without one of them dies with SIGILL.
#pragma once

#include <cctype>
#include <functional>
#include <sstream>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace acnet {

// The first token of `isa` that `supports` denies (lower case), or "" when all are there.
// Tokens this library does not know count as missing: a package made for an
// ISA it cannot check is not run on faith.
inline std::string missing_cpu_feature(const std::string& isa, const std::function<bool(const std::string&)>& supports) {
  std::istringstream tokens(isa);
  std::string token;
  while (tokens >> token) {
    for (auto& ch : token) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (token == "invalid_vec_isa") continue;  // inductor compiled scalar code
    if (!supports(token)) return token;
  }
  return "";
}

#if defined(__x86_64__) || defined(__i386__)
// AMX needs the CPU (CPUID.7.0:EDX[24] AMX-TILE) and the OS (XCR0 bits 17-18, tile state) to agree.
inline bool cpu_has_amx_tile() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24))) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv is usable
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & (3u << 17)) == (3u << 17);
}
#endif

// Whether this CPU has an AOTI_CPU_ISA token's features (the flags inductor compiles with).
inline bool this_cpu_supports(const std::string& token) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (token == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (token == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (token == "avx512_vnni") return __builtin_cpu_supports("avx512vnni");
  if (token == "amx_tile") return cpu_has_amx_tile();
  return false;
#else
  return token == "neon" || token == "asimd";  // every aarch64 CPU has Advanced SIMD
#endif
}

}  // namespace acnet
