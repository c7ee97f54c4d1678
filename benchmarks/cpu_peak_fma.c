/* Measured FP32 peak and effective clock of this CPU, for `acnet bench --cpu-clock-ghz`.
 *
 *   gcc -O3 -march=native -pthread cpu_peak_fma.c -o cpu_peak_fma && ./cpu_peak_fma
 *
 * - "effective clock": a chain of dependent register-register adds retires one per cycle,
 *   so adds per second = core clock (turbo included, which /proc/cpuinfo in a VM
 *   does not show).
 * - FP32 GFLOP/s: 12 independent AVX-512 FMA chains per thread (enough to cover
 *   FMA latency x pipes), 16 lanes x 2 FLOPs per FMA, on 1 and 2 threads.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <pthread.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 12
static void* work(void* arg){
  long iters=*(long*)arg; __m512 a[N]; __m512 b=_mm512_set1_ps(0.999999f), c=_mm512_set1_ps(1e-7f);
  for(int i=0;i<N;i++) a[i]=_mm512_set1_ps((float)i);
  for(long k=0;k<iters;k++){ for(int i=0;i<N;i++) a[i]=_mm512_fmadd_ps(a[i],b,c); }
  float s=0; for(int i=0;i<N;i++) s+=_mm512_reduce_add_ps(a[i]);
  static volatile float sink; sink=s; return 0;}
/* Register-register adds: Intel Golden Cove folds "add $1" chains in the renamer (they read 13.8 "GHz"). */
static void* chain(void* arg){ long iters=*(long*)arg; long x=0, y=iters&1|1; for(long k=0;k<iters;k++){ __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0" : "+r"(x) : "r"(y)); } static volatile long s; s=x; return 0;}
int main(){
  long it=200000000; double t=now(); chain(&it); double dt=now()-t;
  printf("effective clock (dependent adds): %.2f GHz\n", 4.0*it/dt/1e9);
  for(int th=1;th<=2;th++){ pthread_t p[2]; long iters=100000000; double t0=now();
    for(int i=0;i<th;i++) pthread_create(&p[i],0,work,&iters);
    for(int i=0;i<th;i++) pthread_join(p[i],0);
    double d=now()-t0; printf("%d thread(s): %.1f GFLOP/s FP32 (AVX-512 FMA)\n", th, th*iters*N*16*2.0/d/1e9);}
}
