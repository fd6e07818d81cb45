# cmake/mnemoCpuGemm.cmake — MNEMO_CPU_GEMM: the library behind BackendTraits<Cpu>::gemm for
# float and double (include/mnemo/backend/cpu/gemm.hpp and one header per provider).
#
#   eigen     (default) Eigen's own blocked kernel: no dependency beyond Eigen
#   openblas  cblas_?gemm of OpenBLAS   (Debian: libopenblas-serial-dev or libopenblas-pthread-dev)
#   blis      bli_?gemm of BLIS         (Debian: libblis-serial-dev or libblis-pthread-dev)
#   onednn    dnnl_sgemm of oneDNN      (Debian: libdnnl-dev; float only, double stays on Eigen)
#
# The choice becomes a compile definition (MNEMO_CPU_GEMM_<PROVIDER>), an include directory and a
# link library on mnemo::mnemo, exported with the package (absolute paths of this machine) and
# written into mnemo.pc. The serial builds are searched first: mnemo threads each product on its
# own pool and calls the provider with one thread per block (docs/benchmarks.md measures why).
# MNEMO_GEMM_INCLUDE_DIR / MNEMO_GEMM_LIBRARY override what is found (e.g. the pthread build).

set(MNEMO_CPU_GEMM "eigen" CACHE STRING "Provider of mnemo's CPU GEMM: eigen, openblas, blis or onednn")
set_property(CACHE MNEMO_CPU_GEMM PROPERTY STRINGS eigen openblas blis onednn)
string(TOLOWER "${MNEMO_CPU_GEMM}" _mnemo_gemm)

set(MNEMO_GEMM_DEFINITION "")
set(MNEMO_GEMM_LINK "")
set(MNEMO_GEMM_INCLUDE_FLAG "")
if(_mnemo_gemm STREQUAL "eigen")
  # nothing to find
elseif(_mnemo_gemm MATCHES "^(openblas|blis|onednn)$")
  set(_arch_inc "/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}")
  set(_arch_lib "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  if(_mnemo_gemm STREQUAL "openblas")
    set(_header cblas.h)
    set(_names openblas)
    set(_inc_hints "${_arch_inc}/openblas-serial" "${_arch_inc}/openblas-pthread")
    set(_lib_hints "${_arch_lib}/openblas-serial" "${_arch_lib}/openblas-pthread")
    set(_package "libopenblas-serial-dev")
  elseif(_mnemo_gemm STREQUAL "blis")
    set(_header blis.h)
    set(_names blis)
    set(_inc_hints "${_arch_inc}/blis-serial" "${_arch_inc}/blis-pthread")
    set(_lib_hints "${_arch_lib}/blis-serial" "${_arch_lib}/blis-pthread")
    set(_package "libblis-serial-dev")
  else()
    set(_header dnnl.h)
    set(_names dnnl)
    set(_inc_hints "")
    set(_lib_hints "")
    set(_package "libdnnl-dev")
  endif()
  find_path(MNEMO_GEMM_INCLUDE_DIR ${_header} HINTS ${_inc_hints} DOC "Include directory of the GEMM provider")
  find_library(MNEMO_GEMM_LIBRARY NAMES ${_names} HINTS ${_lib_hints} DOC "Library of the GEMM provider")
  if(NOT MNEMO_GEMM_INCLUDE_DIR OR NOT MNEMO_GEMM_LIBRARY)
    message(FATAL_ERROR "MNEMO_CPU_GEMM=${_mnemo_gemm}: ${_header} or lib${_names} not found "
                        "(Debian: apt-get install ${_package}; or set MNEMO_GEMM_INCLUDE_DIR and MNEMO_GEMM_LIBRARY)")
  endif()
  string(TOUPPER "${_mnemo_gemm}" _upper)
  set(MNEMO_GEMM_DEFINITION "MNEMO_CPU_GEMM_${_upper}")
  set(MNEMO_GEMM_LINK "${MNEMO_GEMM_LIBRARY}")
  if(_mnemo_gemm STREQUAL "onednn")
    # gemm_onednn.hpp calls omp_set_num_threads: link the OpenMP runtime oneDNN uses, without
    # -fopenmp (which would let Eigen thread on its own).
    find_package(OpenMP REQUIRED COMPONENTS CXX)
    list(APPEND MNEMO_GEMM_LINK ${OpenMP_CXX_LIBRARIES})
  endif()
  target_compile_definitions(mnemo INTERFACE ${MNEMO_GEMM_DEFINITION})
  if(NOT MNEMO_GEMM_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)  # e.g. not /usr/include
    target_include_directories(mnemo SYSTEM INTERFACE "${MNEMO_GEMM_INCLUDE_DIR}")
    set(MNEMO_GEMM_INCLUDE_FLAG "-I${MNEMO_GEMM_INCLUDE_DIR}")
  endif()
  target_link_libraries(mnemo INTERFACE ${MNEMO_GEMM_LINK})
  unset(_arch_inc)
  unset(_arch_lib)
  unset(_upper)
else()
  message(FATAL_ERROR "MNEMO_CPU_GEMM=${MNEMO_CPU_GEMM}: expected eigen, openblas, blis or onednn")
endif()
message(STATUS "mnemo: CPU GEMM provider ${_mnemo_gemm} ${MNEMO_GEMM_LINK}")
