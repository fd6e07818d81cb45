#include <chrono>
#include <cstdio>
#include <vector>
#include <ctime>
#include "mnemo/backend/cpu/gemm.hpp"
#include "mnemo/backend/cpu/small_gemm.hpp"
using namespace mnemo; using namespace mnemo::cpu;
static double cpu_now(){ timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9; }
int main(int argc, char** argv){
  int which = argc>1 ? atoi(argv[1]) : 0; int reps = argc>2? atoi(argv[2]):200;
  ThreadPool::instance().set_threads(1);
  struct S{long m,n,k; Trans tb;} shapes[]={{64,256,256,Trans::N},{64,1024,256,Trans::N},{64,256,1024,Trans::N},{64,64,64,Trans::T},{64,256,256,Trans::T}};
  for (auto s: shapes){
    std::vector<float> A(s.m*s.k,0.5f),B(s.k*s.n,0.25f),C(s.m*s.n);
    long ldb = s.tb==Trans::N? s.n : s.k;
    double best=1e9;
    for(int r=0;r<reps;++r){ double t0=cpu_now();
      if(which==0) gemm_strided_batched<float>(Trans::N,s.tb,s.m,s.n,s.k,1.f,A.data(),s.k,0,B.data(),ldb,0,0.f,C.data(),s.n,0,1);
      else small_gemm<float>(Trans::N,s.tb,s.m,s.n,s.k,1.f,A.data(),s.k,0,B.data(),ldb,0,0.f,C.data(),s.n,0,1);
      double t=cpu_now()-t0; if(t<best)best=t; }
    printf("%s m%ld n%ld k%ld tb%d: best %.1f us  %.1f GFLOP/s  C0=%g\n", which?"small":"eigen", s.m,s.n,s.k,(int)s.tb, best*1e6, 2.0*s.m*s.n*s.k/best*1e-9, C[0]);
  }
}
