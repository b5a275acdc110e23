// An XLA FFI handler that fails the running computation with a chosen message.
//
// parallax.kernels._native_check compiles this file on first use and registers the handler as
// the CPU custom call "parallax_value_check". A traced value check calls it only inside the
// branch of a conditional taken when the check fails; the runtime then raises an error whose
// text is "INVALID_ARGUMENT: <message>", with nothing in front of the message.
//
// Operand: index, an int32 scalar choosing the message. Attribute: messages, the candidate
// messages joined by '\x1f' (the ASCII unit separator, which no message contains). Results:
// any number, of any shape; never written, because the call always fails.

#include <cstdint>
#include <string>
#include <string_view>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

std::string_view Pick(std::string_view messages, int64_t index) {
  size_t start = 0;
  for (int64_t i = 0; i < index; ++i) {
    size_t sep = messages.find('\x1f', start);
    if (sep == std::string_view::npos) return messages.substr(0, messages.find('\x1f'));
    start = sep + 1;
  }
  size_t end = messages.find('\x1f', start);
  return messages.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                               : end - start);
}

ffi::Error Fail(ffi::Buffer<ffi::S32> index, std::string_view messages, ffi::RemainingRets) {
  int64_t i = index.element_count() > 0 ? index.typed_data()[0] : 0;
  return ffi::Error::InvalidArgument(std::string(Pick(messages, i < 0 ? 0 : i)));
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(parallax_value_check, Fail,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Attr<std::string_view>("messages")
                                  .RemainingRets());
