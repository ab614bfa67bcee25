// FlushDenormals (convgrad/fpenv.hpp): FTZ and DAZ on for one scope of the calling thread.
#include "convgrad/fpenv.hpp"

#include "fpmode.hpp"

namespace convgrad {

FlushDenormals::FlushDenormals() {
#if CONVGRAD_HAVE_MXCSR
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | detail::kFtzDazBits);
#endif
}

FlushDenormals::~FlushDenormals() {
#if CONVGRAD_HAVE_MXCSR
  _mm_setcsr(saved_);
#endif
}

}  // namespace convgrad
