// PARALLAX_HOST_ISA: compile a function for AVX-512, AVX2 and baseline x86-64, the version chosen
// at load time from the CPU. A handler's library is built once per source and may be loaded on
// another machine (a shared cache), so it cannot target the build host's ISA with -march.

#ifndef PARALLAX_KERNELS_ISA_H_
#define PARALLAX_KERNELS_ISA_H_

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define PARALLAX_HOST_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PARALLAX_HOST_ISA
#endif

#endif  // PARALLAX_KERNELS_ISA_H_
