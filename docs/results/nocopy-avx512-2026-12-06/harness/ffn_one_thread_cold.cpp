#include <dnnl.h>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cstring>
#include <random>
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(){
  const int m=64,n=1024,k=256; omp_set_num_threads(1);
  const int NB=24; std::vector<float> A(m*k), B((size_t)NB*k*1040), Bc(k*1040), C(m*n);
  std::mt19937 g(1); std::uniform_real_distribution<float> u(-1,1);
  for(auto&x:A)x=u(g); for(auto&x:B)x=u(g);
  int which=0; auto run=[&](int mode){ float* Bp=B.data()+(size_t)(which=(which+1)%NB)*k*1040;
    if(mode==0) dnnl_sgemm('N','N',m,n,k,1,A.data(),k,Bp,1024,0,C.data(),n);
    else if(mode==1) dnnl_sgemm('N','N',m,n,k,1,A.data(),k,Bp,1040,0,C.data(),n);
    else if(mode==3){ for(int p=0;p<k;++p) std::memcpy(Bc.data()+p*1040,Bp+p*1024,1024*4);
      dnnl_sgemm('N','N',m,n,k,1,A.data(),k,Bc.data(),1040,0,C.data(),n); }
    else if(mode==4){ for(int j0=0;j0<n;j0+=256){ for(int p=0;p<k;++p){ if(p+8<k){const char* q=(const char*)(Bp+(p+8)*1024+j0); for(int l=0;l<1024;l+=64) __builtin_prefetch(q+l);} std::memcpy(Bc.data()+p*256,Bp+p*1024+j0,256*4);}
      dnnl_sgemm('N','N',m,256,k,1,A.data(),k,Bc.data(),256,0,C.data()+j0,n);} }
    else { for(int j0=0;j0<n;j0+=256){ for(int p=0;p<k;++p) std::memcpy(Bc.data()+p*256,Bp+p*1024+j0,256*4);
      dnnl_sgemm('N','N',m,256,k,1,A.data(),k,Bc.data(),256,0,C.data()+j0,n);} }
  };
  const char* names[]={"ldb1024 direct","ldb1040 padded","ldb1024 copied","full pad copy","copy+prefetch"};
  for(int round=0;round<5;++round) for(int mode=0;mode<5;++mode){
    std::vector<double> t; for(int r=0;r<7;++r){ double t0=now(); for(int i=0;i<200;++i) run(mode); t.push_back((now()-t0)/200);} std::sort(t.begin(),t.end());
    printf("%-16s %7.1f us %6.1f GF/s\n",names[mode],t[3]*1e6,2.0*m*n*k/t[3]*1e-9);
  }
}
