# cmake/mnemoInstall.cmake — install rules and the exported package, so that a host project can
# use `find_package(mnemo CONFIG)` against an install prefix (or `add_subdirectory` the source
# tree, which needs none of this).
#
# Installed layout under the prefix:
#   include/mnemo/**/*.hpp, *.cuh                       the headers
#   share/cmake/mnemo/mnemoConfig.cmake                   finds the dependencies, loads the targets
#   share/cmake/mnemo/mnemoConfigVersion.cmake            SameMajorVersion compatibility
#   lib/libmnemo_compiled.a                               the compiled mode's instantiations
#   lib/libmnemo_compiled_cuda.a                          the same on CUDA (only with mnemo::cuda)
#   share/cmake/mnemo/mnemoTargets.cmake                  mnemo::mnemo, mnemo::compiled
#   share/cmake/mnemo/mnemoCudaTargets.cmake              mnemo::cuda, mnemo::compiled_cuda (only when
#                                                         CUDA was configured)
#   share/cmake/mnemo/mnemoMpiTargets.cmake               mnemo::mpi (only when MPI was found)
#   share/cmake/mnemo/mnemoNcclTargets.cmake              mnemo::nccl (only when NCCL was found)
#
# Expects the targets `mnemo`, `mnemo_compiled` and, when MNEMO_HAS_CUDA / MNEMO_HAS_MPI /
# MNEMO_HAS_NCCL, `mnemo_cuda` and `mnemo_compiled_cuda` / `mnemo_mpi` / `mnemo_nccl` to exist.

include(CMakePackageConfigHelpers)

set(MNEMO_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/mnemo"
    CACHE STRING "Where mnemo's CMake package files are installed (relative to the prefix)")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/mnemo"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")

install(TARGETS mnemo mnemo_compiled EXPORT mnemoTargets)
install(EXPORT mnemoTargets NAMESPACE mnemo:: DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")

# The CUDA target goes into its own export file: a consumer without a CUDA toolkit can still
# load mnemo::mnemo, and gets mnemo::cuda only when it asks for it and the toolkit is found.
if(MNEMO_HAS_CUDA)
  set_target_properties(mnemo_cuda PROPERTIES EXPORT_NAME cuda)
  # mnemo::compiled_cuda (the compiled mode on CUDA) links mnemo::compiled from mnemoTargets,
  # which mnemoConfig.cmake always loads first.
  install(TARGETS mnemo_cuda mnemo_compiled_cuda EXPORT mnemoCudaTargets)
  install(EXPORT mnemoCudaTargets NAMESPACE mnemo:: DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")
endif()

# The transports of data-parallel training (docs/distributed.md), each in its own export file for
# the same reason: mnemoConfig.cmake loads mnemo::mpi when MPI is found on the consumer's side, and
# mnemo::nccl (which links mnemo::cuda and the toolkit's libnccl by path) with mnemo::cuda.
if(MNEMO_HAS_MPI)
  set_target_properties(mnemo_mpi PROPERTIES EXPORT_NAME mpi)
  install(TARGETS mnemo_mpi EXPORT mnemoMpiTargets)
  install(EXPORT mnemoMpiTargets NAMESPACE mnemo:: DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")
endif()
if(MNEMO_HAS_NCCL)
  set_target_properties(mnemo_nccl PROPERTIES EXPORT_NAME nccl)
  install(TARGETS mnemo_nccl EXPORT mnemoNcclTargets)
  install(EXPORT mnemoNcclTargets NAMESPACE mnemo:: DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")
endif()

# Values substituted into mnemoConfig.cmake.in.
set(MNEMO_EXPORTS_OPENMP OFF)
if(MNEMO_OPENMP AND OpenMP_CXX_FOUND)
  set(MNEMO_EXPORTS_OPENMP ON)
endif()
set(MNEMO_EXPORTS_CUDA ${MNEMO_HAS_CUDA})
set(MNEMO_EXPORTS_MPI ${MNEMO_HAS_MPI})
set(MNEMO_EXPORTS_NCCL ${MNEMO_HAS_NCCL})
# The GEMM provider (cmake/mnemoCpuGemm.cmake): its libraries are checked by mnemoConfig.cmake.
set(MNEMO_EXPORTS_GEMM "${_mnemo_gemm}")
set(MNEMO_EXPORTS_GEMM_FILES "${MNEMO_GEMM_LINK}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/mnemoConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/mnemoConfig.cmake"
  INSTALL_DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")
# Not ARCH_INDEPENDENT: the package holds a static library (mnemo::compiled) built for one
# architecture, so the version file also checks the pointer size.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/mnemoConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/mnemoConfig.cmake" "${PROJECT_BINARY_DIR}/mnemoConfigVersion.cmake"
        DESTINATION "${MNEMO_INSTALL_CMAKEDIR}")

# pkg-config file for builds without CMake (CPU library only). The prefix is the one the install
# was configured with; `cmake --install --prefix P` rewrites it by configuring mnemo.pc at install
# time (install(CODE) below), so the file always names where it was installed.
set(MNEMO_PC_OPENMP_FLAGS "")
if(MNEMO_EXPORTS_OPENMP)
  set(MNEMO_PC_OPENMP_FLAGS "${OpenMP_CXX_FLAGS}")
endif()
set(MNEMO_PC_GEMM_CFLAGS "")
set(MNEMO_PC_GEMM_LIBS "")
if(MNEMO_GEMM_DEFINITION)
  set(MNEMO_PC_GEMM_CFLAGS "-D${MNEMO_GEMM_DEFINITION} ${MNEMO_GEMM_INCLUDE_FLAG}")
  list(JOIN MNEMO_GEMM_LINK " " MNEMO_PC_GEMM_LIBS)
endif()
install(CODE "
  set(CMAKE_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(PROJECT_DESCRIPTION \"${PROJECT_DESCRIPTION}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(MNEMO_PC_OPENMP_FLAGS \"${MNEMO_PC_OPENMP_FLAGS}\")
  set(MNEMO_PC_GEMM_CFLAGS \"${MNEMO_PC_GEMM_CFLAGS}\")
  set(MNEMO_PC_GEMM_LIBS \"${MNEMO_PC_GEMM_LIBS}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/mnemo.pc.in\" \"${PROJECT_BINARY_DIR}/mnemo.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/mnemo.pc" DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")
