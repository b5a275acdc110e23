// PARALLAX_HOST_ISA: compile a function for AVX-512, AVX2 and baseline x86-64, the version chosen
// at load time from the CPU. A handler's library is built once per source and may be loaded on
// another machine (a shared cache), so it cannot target the build host's ISA with -march.
// PARALLAX_AVX512_INTRINSICS: code written with AVX-512 intrinsics (in functions marked
// __attribute__((target("avx512f")))) may be compiled; it runs only where
// parallax::kHostAvx512, the load-time check of the CPU, is true.

#ifndef PARALLAX_KERNELS_ISA_H_
#define PARALLAX_KERNELS_ISA_H_

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define PARALLAX_HOST_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#define PARALLAX_AVX512_INTRINSICS 1
namespace parallax {
inline const bool kHostAvx512 = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f"));
}  // namespace parallax
#else
#define PARALLAX_HOST_ISA
#endif

#endif  // PARALLAX_KERNELS_ISA_H_
