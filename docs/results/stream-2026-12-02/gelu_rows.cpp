#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>
#include "mnemo/backend/cpu/activation.hpp"
using namespace mnemo;
static double cpu_now(){ timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9; }
int main(int argc,char**argv){
  int which=atoi(argv[1]); int reps=atoi(argv[2]);
  cpu::ThreadPool::instance().set_threads(1);
  const long rows=64, cols=1024; std::vector<float> x(rows*cols), b(cols), y(rows*cols);
  for(long i=0;i<rows*cols;++i) x[i]=(i%97)*0.08f-4.f; for(long c=0;c<cols;++c) b[c]=0.001f*c;
  double best=1e9;
  for(int r=0;r<reps;++r){ double t0=cpu_now();
    if(which==0){ for(long i=0;i<rows;++i) for(long c=0;c<cols;++c) y[i*cols+c]=activation_value(Activation::Gelu, x[i*cols+c]+b[c]); }
    else cpu::bias_activation_forward<float>(x.data(), b.data(), y.data(), rows, cols, Activation::Gelu);
    best=std::min(best,cpu_now()-t0);}
  double maxerr=0; for(long i=0;i<rows*cols;++i){ double z=(double)x[i]+b[i%cols]; double ref=0.5*z*(1+std::erf(z/std::sqrt(2.0))); maxerr=std::max(maxerr,std::abs(ref-y[i]));}
  printf("%s best %.1f us per 64x1024, max abs err vs double %.2e\n", which?"vector":"scalar", best*1e6, maxerr);
}
