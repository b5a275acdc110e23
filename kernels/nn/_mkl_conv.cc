// XLA FFI handlers for a 2D convolution on CPU: im2col blocks and MKL's GEMM, spread over XLA's
// intra-op thread pool.
//
// parallax.kernels.nn._mkl_conv compiles this file on first use and registers
// "parallax_mkl_conv_2d" (the convolution) and "parallax_mkl_conv_2d_weight" (its kernel
// gradient) as CPU custom calls.
//
// Layouts are channels-last: x (n, h, w, c), kernel (k_h, k_w, c / g, o), y (n, h_out, w_out, o)
// for g groups: output channels [j o / g, (j + 1) o / g) read input channels
// [j c / g, (j + 1) c / g) only.
// Output pixel (p, q) reads the input at row s_h p + d_h a - lo_h and column s_w q + d_w b - lo_w
// of x dilated by (l_h, l_w) (l - 1 zeros between its rows or columns), for every tap (a, b) of
// the kernel; places outside the dilated input read zero. lo may be negative (the caller's
// padding below zero crops), and the output shape comes with the result buffer. These are the
// parameters of XLA's convolution (feature_group_count g), so the transposes of a convolution
// are convolutions of the same handler.
//
// The pixels (n, p, q) of the output are cut into blocks of whole rows of the im2col matrix
// (pixel, (j, a, b, c')) that fill kBlockBytes, so that each block stays in L2 while MKL reads
// it. Per group j, with the group's columns of the im2col block and of the kernel:
//   convolution: y[block] = bias + im2col(x)[block] @ kernel (k_h k_w c / g, o / g)
//   weight:      kernel_bar = sum over blocks of im2col(x)[block]^T @ y_bar[block]
// Each block is one sequential MKL GEMM (MKL's sequential layer: it never competes with XLA's
// threads for the cores). The weight gradient gives each task of parallax::Parallel its own
// accumulator and adds them up at the end, so it runs on every core without atomics.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mkl_cblas.h"
#include "_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int64_t kBlockBytes = int64_t{512} << 10;
// Blocks per task of the weight gradient is chosen so that there are about this many tasks per
// thread: enough to balance threads that run at different speeds, few accumulators to add up.
constexpr int64_t kTasksPerThread = 4;
// Below this many multiply-adds a call runs on the calling thread alone.
constexpr int64_t kMinParallelFlops = int64_t{1} << 20;

struct Geometry {
  int64_t n, h, w, c;          // input
  int64_t kh, kw, o;           // kernel (its input features are c)
  int64_t ho, wo;              // output
  int64_t sh, sw, lo_h, lo_w;  // window strides, low padding (may be negative)
  int64_t lh, lw, dh, dw;      // input (lhs) and kernel (rhs) dilation
  int64_t groups;

  int64_t Taps() const { return kh * kw * c; }
  int64_t GroupTaps() const { return kh * kw * (c / groups); }
  int64_t Pixels() const { return n * ho * wo; }
  // x itself is the im2col matrix: a 1x1 kernel reading every input pixel once, in order.
  bool Pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && lo_h == 0 && lo_w == 0 && lh == 1 &&
           lw == 1 && ho == h && wo == w;
  }
  int64_t BlockPixels(int64_t itemsize) const {
    return std::max<int64_t>(8, kBlockBytes / std::max<int64_t>(1, Taps() * itemsize));
  }
};

// Rows [pix0, pix0 + count) of the im2col matrix into buf (count x k_h k_w c, row-major).
template <typename T>
void Im2col(const Geometry& g, const T* x, int64_t pix0, int64_t count, T* buf) {
  const int64_t taps = g.Taps(), plane = g.ho * g.wo;
  const int64_t cg = g.c / g.groups, group_taps = g.GroupTaps();
  // A kernel row reads k_w adjacent pixels, which are k_w c adjacent values of x.
  const bool dense_row = g.lw == 1 && g.dw == 1 && g.groups == 1;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t pix = pix0 + t, img = pix / plane, p = (pix % plane) / g.wo, q = pix % g.wo;
    T* row = buf + t * taps;
    for (int64_t a = 0; a < g.kh; ++a) {
      T* out = row + a * g.kw * cg;
      const int64_t r = p * g.sh + a * g.dh - g.lo_h;
      if (r < 0 || r % g.lh != 0 || r / g.lh >= g.h) {
        for (int64_t j = 0; j < g.groups; ++j) {
          std::fill(out + j * group_taps, out + j * group_taps + g.kw * cg, T(0));
        }
        continue;
      }
      const T* xrow = x + (img * g.h + r / g.lh) * g.w * g.c;
      const int64_t col0 = q * g.sw - g.lo_w;
      if (dense_row) {
        const int64_t first = std::clamp<int64_t>(-col0, 0, g.kw);
        const int64_t last = std::clamp<int64_t>(g.w - col0, first, g.kw);
        std::fill(out, out + first * g.c, T(0));
        std::memcpy(out + first * g.c, xrow + (col0 + first) * g.c,
                    sizeof(T) * (last - first) * g.c);
        std::fill(out + last * g.c, out + g.kw * g.c, T(0));
        continue;
      }
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t col = col0 + b * g.dw;
        const bool inside = col >= 0 && col % g.lw == 0 && col / g.lw < g.w;
        const T* src = xrow + (col / g.lw) * g.c;
        for (int64_t j = 0; j < g.groups; ++j) {
          T* dst = out + j * group_taps + b * cg;
          if (inside) {
            std::memcpy(dst, src + j * cg, sizeof(T) * cg);
          } else {
            std::fill(dst, dst + cg, T(0));
          }
        }
      }
    }
  }
}

void Gemm(bool ta, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda,
              b, ldb, beta, c, ldc);
}

void Gemm(bool ta, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, lda,
              b, ldb, beta, c, ldc);
}

// The calling thread's im2col buffer, grown on demand and kept for later calls.
template <typename T>
T* Scratch(int64_t size) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
  return buffer.data();
}

int64_t Tasks(ffi::ThreadPool& pool, const Geometry& g, int64_t blocks) {
  if (g.Pixels() * g.Taps() * g.o < kMinParallelFlops) return 1;
  const int64_t threads = std::max<int64_t>(1, pool.num_threads() + 1);
  return std::min(blocks, kTasksPerThread * threads);
}

template <typename T>
void Forward(ffi::ThreadPool& pool, const Geometry& g, const T* x, const T* kernel,
             const T* bias, T* y) {
  const int64_t taps = g.Taps(), pixels = g.Pixels(), per = g.BlockPixels(sizeof(T));
  const int64_t blocks = (pixels + per - 1) / per;
  const bool pointwise = g.Pointwise();
  auto block = [&](int64_t i) {
    const int64_t pix0 = i * per, count = std::min(per, pixels - pix0);
    T* out = y + pix0 * g.o;
    for (int64_t t = 0; t < count; ++t) std::copy(bias, bias + g.o, out + t * g.o);
    if (taps == 0) return;
    const T* a = x + pix0 * g.c;  // im2col, row stride taps (= c when pointwise)
    if (!pointwise) {
      T* buf = Scratch<T>(count * taps);
      Im2col(g, x, pix0, count, buf);
      a = buf;
    }
    const int64_t kg = g.GroupTaps(), og = g.o / g.groups;
    for (int64_t j = 0; j < g.groups; ++j) {
      Gemm(false, count, og, kg, a + j * kg, taps, kernel + j * og, g.o, T(1), out + j * og, g.o);
    }
  };
  if (Tasks(pool, g, blocks) == 1) {
    for (int64_t i = 0; i < blocks; ++i) block(i);
  } else {
    parallax::Parallel(pool, blocks, block);
  }
}

template <typename T>
void Weight(ffi::ThreadPool& pool, const Geometry& g, const T* x, const T* dy, T* dw) {
  const int64_t taps = g.Taps(), pixels = g.Pixels(), per = g.BlockPixels(sizeof(T));
  const int64_t kg = g.GroupTaps(), og = g.o / g.groups, size = kg * g.o;
  std::fill(dw, dw + size, T(0));
  if (pixels == 0 || size == 0) return;
  const int64_t blocks = (pixels + per - 1) / per;
  const int64_t tasks = Tasks(pool, g, blocks);
  const int64_t per_task = (blocks + tasks - 1) / tasks;
  const int64_t used = (blocks + per_task - 1) / per_task;
  const bool pointwise = g.Pointwise();
  std::vector<T> partial(static_cast<size_t>((used - 1) * size), T(0));
  auto task = [&](int64_t j) {
    T* acc = j == 0 ? dw : partial.data() + (j - 1) * size;
    const int64_t last = std::min(blocks, (j + 1) * per_task);
    for (int64_t i = j * per_task; i < last; ++i) {
      const int64_t pix0 = i * per, count = std::min(per, pixels - pix0);
      const T* a = x + pix0 * g.c;
      if (!pointwise) {
        T* buf = Scratch<T>(count * taps);
        Im2col(g, x, pix0, count, buf);
        a = buf;
      }
      for (int64_t j = 0; j < g.groups; ++j) {
        Gemm(true, kg, og, count, a + j * kg, taps, dy + pix0 * g.o + j * og, g.o, T(1),
             acc + j * og, g.o);
      }
    }
  };
  if (used == 1) {
    task(0);
  } else {
    parallax::Parallel(pool, used, task);
  }
  for (int64_t j = 1; j < used; ++j) {
    const T* acc = partial.data() + (j - 1) * size;
    for (int64_t e = 0; e < size; ++e) dw[e] += acc[e];
  }
}

ffi::Error Check(const Geometry& g) {
  if (g.sh < 1 || g.sw < 1 || g.lh < 1 || g.lw < 1 || g.dh < 1 || g.dw < 1) {
    return ffi::Error::InvalidArgument(
        "parallax_mkl_conv_2d: strides and dilations must be positive");
  }
  if (g.groups < 1 || g.c % g.groups != 0 || g.o % g.groups != 0) {
    return ffi::Error::InvalidArgument(
        "parallax_mkl_conv_2d: groups must divide the input and output features");
  }
  return ffi::Error::Success();
}

struct Attrs {
  int64_t sh, sw, lo_h, lo_w, lh, lw, dh, dw, groups;
};

Geometry Make(ffi::Span<const int64_t> xd, ffi::Span<const int64_t> kd,
              ffi::Span<const int64_t> yd, const Attrs& at) {
  return Geometry{xd[0], xd[1], xd[2],   xd[3],   kd[0], kd[1], kd[3], yd[1],    yd[2],
                  at.sh, at.sw, at.lo_h, at.lo_w, at.lh, at.lw, at.dh, at.dw, at.groups};
}

ffi::Error Conv(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer kernel, ffi::AnyBuffer bias,
                ffi::Result<ffi::AnyBuffer> y, int64_t sh, int64_t sw, int64_t lo_h, int64_t lo_w,
                int64_t lh, int64_t lw, int64_t dh, int64_t dw, int64_t groups) {
  const auto xd = x.dimensions(), kd = kernel.dimensions(), yd = y->dimensions();
  if (xd.size() != 4 || kd.size() != 4 || yd.size() != 4 || bias.dimensions().size() != 1) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d: expected NHWC, HWIO and a bias");
  }
  if (groups < 1 || kd[2] * groups != xd[3] || yd[0] != xd[0] || yd[3] != kd[3] ||
      bias.dimensions()[0] != kd[3]) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d: operand shapes do not match");
  }
  const Geometry g = Make(xd, kd, yd, Attrs{sh, sw, lo_h, lo_w, lh, lw, dh, dw, groups});
  if (auto e = Check(g); e.failure()) return e;
  if (g.Pixels() == 0 || g.o == 0) return ffi::Error::Success();
  const auto type = x.element_type();
  if (type != kernel.element_type() || type != bias.element_type() ||
      type != y->element_type()) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d: operands differ in dtype");
  }
  if (type == ffi::DataType::F32) {
    Forward(pool, g, static_cast<const float*>(x.untyped_data()),
            static_cast<const float*>(kernel.untyped_data()),
            static_cast<const float*>(bias.untyped_data()), static_cast<float*>(y->untyped_data()));
  } else if (type == ffi::DataType::F64) {
    Forward(pool, g, static_cast<const double*>(x.untyped_data()),
            static_cast<const double*>(kernel.untyped_data()),
            static_cast<const double*>(bias.untyped_data()),
            static_cast<double*>(y->untyped_data()));
  } else {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d: expected float32 or float64");
  }
  return ffi::Error::Success();
}

ffi::Error ConvWeight(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer dy,
                      ffi::Result<ffi::AnyBuffer> dk, int64_t sh, int64_t sw, int64_t lo_h,
                      int64_t lo_w, int64_t lh, int64_t lw, int64_t dh, int64_t dw, int64_t groups) {
  const auto xd = x.dimensions(), yd = dy.dimensions(), kd = dk->dimensions();
  if (xd.size() != 4 || kd.size() != 4 || yd.size() != 4) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d_weight: expected NHWC and HWIO");
  }
  if (groups < 1 || kd[2] * groups != xd[3] || yd[0] != xd[0] || yd[3] != kd[3]) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d_weight: operand shapes do not match");
  }
  const Geometry g = Make(xd, kd, yd, Attrs{sh, sw, lo_h, lo_w, lh, lw, dh, dw, groups});
  if (auto e = Check(g); e.failure()) return e;
  const auto type = x.element_type();
  if (type != dy.element_type() || type != dk->element_type()) {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d_weight: operands differ in dtype");
  }
  if (type == ffi::DataType::F32) {
    Weight(pool, g, static_cast<const float*>(x.untyped_data()),
           static_cast<const float*>(dy.untyped_data()), static_cast<float*>(dk->untyped_data()));
  } else if (type == ffi::DataType::F64) {
    Weight(pool, g, static_cast<const double*>(x.untyped_data()),
           static_cast<const double*>(dy.untyped_data()),
           static_cast<double*>(dk->untyped_data()));
  } else {
    return ffi::Error::InvalidArgument("parallax_mkl_conv_2d_weight: expected float32 or float64");
  }
  return ffi::Error::Success();
}

}  // namespace

#define PARALLAX_CONV_ATTRS(binding)  \
  binding.Attr<int64_t>("stride_h")   \
      .Attr<int64_t>("stride_w")      \
      .Attr<int64_t>("pad_h")         \
      .Attr<int64_t>("pad_w")         \
      .Attr<int64_t>("lhs_dilation_h") \
      .Attr<int64_t>("lhs_dilation_w") \
      .Attr<int64_t>("rhs_dilation_h") \
      .Attr<int64_t>("rhs_dilation_w") \
      .Attr<int64_t>("groups")

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_conv_2d, Conv,
                              PARALLAX_CONV_ATTRS(ffi::Ffi::Bind()
                                                      .Ctx<ffi::ThreadPool>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Ret<ffi::AnyBuffer>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_mkl_conv_2d_weight, ConvWeight,
                              PARALLAX_CONV_ATTRS(ffi::Ffi::Bind()
                                                      .Ctx<ffi::ThreadPool>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Arg<ffi::AnyBuffer>()
                                                      .Ret<ffi::AnyBuffer>()));
