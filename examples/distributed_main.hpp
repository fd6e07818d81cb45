// examples/distributed_main.hpp — the entry point of the examples that train on one process or,
// with `--distributed 1`, on every rank of an `mpirun` (docs/distributed.md): memformer_recall and
// real_text_lm. Without MPI in the build (MNEMO_EXAMPLE_MPI undefined) the flag is refused.
#pragma once

#include <cstdio>
#include <exception>

#include "mnemo/core/error.hpp"
#include "mnemo/dist/communicator.hpp"
#if defined(MNEMO_EXAMPLE_MPI)
#include "mnemo/dist/mpi_communicator.hpp"
#endif

namespace examples {

#if defined(MNEMO_EXAMPLE_MPI)
using Communicator = mnemo::dist::MpiCommunicator;
#else
using Communicator = mnemo::dist::SingleProcess;
#endif

/// Returns run(nullptr) (a mnemo::Error is printed, exit status 1), or with `distributed`, starts
/// MPI and returns run(&world) on every rank; an exception there aborts every rank, since the
/// others may wait in a collective. `program` names the binary in the no-MPI message (status 2).
template <class Run>
int run_on_one_or_all_ranks(int argc, char** argv, bool distributed, const char* program, Run&& run) {
  if (!distributed) {
    try {
      return run(static_cast<Communicator*>(nullptr));
    } catch (const mnemo::Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  }
#if defined(MNEMO_EXAMPLE_MPI)
  mnemo::dist::MpiSession mpi(argc, argv);
  try {
    Communicator world;
    return run(&world);
  } catch (const std::exception& e) {
    mnemo::dist::MpiSession::abort(e.what());
  }
  return 1;
#else
  (void)argc;
  (void)argv;
  std::fprintf(stderr, "--distributed 1: this build of %s has no MPI (configure with MPI found, "
                       "e.g. apt-get install libopenmpi-dev)\n", program);
  return 2;
#endif
}

}  // namespace examples
