// mnemo/core/config.hpp — compiler portability macros shared by host and device code.
#pragma once

#if defined(__CUDACC__)
#define MNEMO_HOST_DEVICE __host__ __device__
#define MNEMO_DEVICE_INLINE __host__ __device__ __forceinline__
#else
#define MNEMO_HOST_DEVICE
#define MNEMO_DEVICE_INLINE inline
#endif

namespace mnemo {
inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;
}  // namespace mnemo
