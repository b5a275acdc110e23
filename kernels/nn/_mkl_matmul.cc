// XLA FFI handler for a dense matrix product on CPU: MKL's GEMM on blocks of the result, spread
// over XLA's intra-op thread pool.
//
// parallax.kernels.nn._mkl_matmul compiles this file on first use and registers
// "parallax_mkl_matmul" as a CPU custom call.
//
// C (m, n) = op(A) op(B), row-major, where op(A) is A (m, k) or, with `transpose_a`, Aᵀ for A
// stored (k, m); likewise B (k, n) or, with `transpose_b`, stored (n, k). float32 and float64.
// The longer side of C is cut into blocks of whole 16-row (or 16-column) tiles, about two per
// thread, and each block is one sequential MKL GEMM that reads A and B in place
// (parallax::Parallel, kernels/_pool.h): MKL runs its sequential layer, so it never competes with
// XLA's threads for the cores.

#include <algorithm>
#include <cstdint>

#include "mkl_cblas.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Rows (or columns) of C per block are a multiple of this, and a block holds at least
// kMinBlockFlops multiply-adds, so that small products run as one call.
constexpr int64_t kTile = 16;
constexpr int64_t kMinBlockFlops = int64_t{1} << 21;

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
              n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
              n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

template <typename T>
void Run(ffi::ThreadPool& pool, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
         const T* b, T* c) {
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (k == 0) {
    std::fill(c, c + m * n, T(0));
    return;
  }
  const bool by_rows = m >= n;
  const int64_t side = by_rows ? m : n;
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t tiles = (side + kTile - 1) / kTile;
  const int64_t by_size = std::max<int64_t>(1, m * n * k / kMinBlockFlops);
  const int64_t blocks = std::min({tiles, 2 * threads, by_size});
  const int64_t per = (tiles + blocks - 1) / blocks * kTile;
  const int64_t count = (side + per - 1) / per;
  parallax::Parallel(pool, count, [&](int64_t i) {
    const int64_t lo = i * per, len = std::min(per, side - lo);
    if (by_rows) {  // rows lo.. of C: rows of op(A)
      const T* a0 = ta ? a + lo : a + lo * lda;
      Gemm(ta, tb, len, n, k, a0, lda, b, ldb, c + lo * n, n);
    } else {  // columns lo.. of C: columns of op(B)
      const T* b0 = tb ? b + lo * ldb : b + lo;
      Gemm(ta, tb, m, len, k, a, lda, b0, ldb, c + lo, n);
    }
  });
}

ffi::Error Matmul(ffi::ThreadPool pool, ffi::AnyBuffer a, ffi::AnyBuffer b,
                  ffi::Result<ffi::AnyBuffer> c, bool transpose_a, bool transpose_b) {
  const auto ad = a.dimensions(), bd = b.dimensions(), cd = c->dimensions();
  if (ad.size() != 2 || bd.size() != 2 || cd.size() != 2) {
    return ffi::Error::InvalidArgument("parallax_mkl_matmul: expected rank-2 operands");
  }
  const int64_t m = cd[0], n = cd[1], k = transpose_a ? ad[0] : ad[1];
  if ((transpose_a ? ad[1] : ad[0]) != m || (transpose_b ? bd[1] : bd[0]) != k ||
      (transpose_b ? bd[0] : bd[1]) != n) {
    return ffi::Error::InvalidArgument("parallax_mkl_matmul: operand shapes do not match");
  }
  if (m == 0 || n == 0) return ffi::Error::Success();
  const auto type = a.element_type();
  if (type != b.element_type() || type != c->element_type()) {
    return ffi::Error::InvalidArgument("parallax_mkl_matmul: operands differ in dtype");
  }
  if (type == ffi::DataType::F32) {
    Run(pool, transpose_a, transpose_b, m, n, k, static_cast<const float*>(a.untyped_data()),
        static_cast<const float*>(b.untyped_data()), static_cast<float*>(c->untyped_data()));
  } else if (type == ffi::DataType::F64) {
    Run(pool, transpose_a, transpose_b, m, n, k, static_cast<const double*>(a.untyped_data()),
        static_cast<const double*>(b.untyped_data()), static_cast<double*>(c->untyped_data()));
  } else {
    return ffi::Error::InvalidArgument("parallax_mkl_matmul: expected float32 or float64");
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_matmul, Matmul,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<bool>("transpose_a")
                                  .Attr<bool>("transpose_b"));
