// The store pattern of a rollout alone: a time-major CartPole batch (observations and
// next observations [T][N][4] f32, four 4-byte fields [T][N], three 1-byte flags [T][N];
// 51 bytes per env-step) written by groups of four environments, BLOCK groups advancing
// step by step together (BLOCK = 1: each group's whole rollout before the next, as the
// lanes scan kernel does). No computation: how fast the memory system takes the stores.
//
//   cc -O2 -mavx2 -o /tmp/store_pattern bench/store_pattern.c
//   /tmp/store_pattern N T BLOCK ITERATIONS      e.g. 1024 500 1 30, 1024 500 16 30
//
// With -DSTREAM, each block-step is written to a small staging area first and then
// copied to the batch with non-temporal stores (no read for ownership), one `sfence` at
// the end: how much of the plain pattern's cost is the lines read before being written.
//
// Results and what they mean: docs/bench/envs.md, "Storing the batch".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <immintrin.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#ifdef STREAM
// `bytes` (a multiple of 16, both ends 16-byte aligned) with non-temporal stores.
static void stream(void*dst,const void*src,long bytes){
  for(long q=0;q<bytes;q+=16) _mm_stream_ps((float*)((char*)dst+q),_mm_load_ps((const float*)((const char*)src+q)));
}
#endif
int main(int argc,char**argv){
  long N=atol(argv[1]),T=atol(argv[2]); int block=atoi(argv[3]); int iters=atoi(argv[4]);
  float *obs=aligned_alloc(64,T*N*16), *nobs=aligned_alloc(64,T*N*16);
  float *w[4]; for(int i=0;i<4;i++) w[i]=aligned_alloc(64,T*N*4);
  uint8_t *fl[3]; for(int i=0;i<3;i++) fl[i]=aligned_alloc(64,T*N);
  memset(obs,0,T*N*16);memset(nobs,0,T*N*16);for(int i=0;i<4;i++)memset(w[i],0,T*N*4);for(int i=0;i<3;i++)memset(fl[i],0,T*N);
#ifdef STREAM
  // The staging area of one block-step (whole blocks only: N a multiple of 4 * BLOCK).
  long SB=block*4;
  float *sobs=aligned_alloc(64,SB*16),*snobs=aligned_alloc(64,SB*16),*sw[4];
  for(int i=0;i<4;i++) sw[i]=aligned_alloc(64,SB*4);
  uint8_t *sfl[3]; for(int i=0;i<3;i++) sfl[i]=aligned_alloc(64,SB);
#endif
  __m128 v=_mm_set1_ps(1.0f);
  double t0=now();
  for(int it=0;it<iters;it++){
   long G=N/4;
   for(long g0=0;g0<G;g0+=block){
    for(long t=0;t<T;t++){
#ifdef STREAM
     long B=block*4, e0=g0*4;
     for(long g=0;g<block;g++){
      long e=g*4;
      v=_mm_add_ps(v,_mm_set1_ps(1e-7f));
      for(int k=0;k<4;k++){ _mm_store_ps(sobs+(e+k)*4,v); _mm_store_ps(snobs+(e+k)*4,v);}
      for(int i=0;i<4;i++) _mm_store_ps(sw[i]+e,v);
      for(int i=0;i<3;i++) *(uint32_t*)(sfl[i]+e)=(uint32_t)it;
     }
     stream(obs+(t*N+e0)*4,sobs,B*16); stream(nobs+(t*N+e0)*4,snobs,B*16);
     for(int i=0;i<4;i++) stream(w[i]+t*N+e0,sw[i],B*4);
     for(int i=0;i<3;i++) stream(fl[i]+t*N+e0,sfl[i],B);
#else
     for(long g=g0;g<g0+block && g<G;g++){
      long e=g*4;
      v=_mm_add_ps(v,_mm_set1_ps(1e-7f));
      for(int k=0;k<4;k++){ _mm_storeu_ps(obs+(t*N+e+k)*4,v); _mm_storeu_ps(nobs+(t*N+e+k)*4,v);}
      for(int i=0;i<4;i++) _mm_storeu_ps(w[i]+t*N+e,v);
      for(int i=0;i<3;i++) *(uint32_t*)(fl[i]+t*N+e)=(uint32_t)it;
     }
#endif
    }
   }
  }
#ifdef STREAM
  _mm_sfence();
#endif
  double dt=now()-t0;
  printf("N=%ld T=%ld block=%d: %.1f M env-steps/s (%.2f GB/s stored)\n",N,T,block,N*T*(double)iters/dt/1e6,N*T*(double)iters*51/dt/1e9);
  return (int)obs[5];
}
