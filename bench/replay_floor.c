// The work of one bench/replay.rlp iteration written by hand, as a floor for how fast any
// implementation can run it on this machine: draw 4 CartPole-shaped transitions (two
// [4, 4] standard normals by Box-Muller, 4 uniforms for the reward, 4 actions and two
// sets of 4 flags), write them at the ring buffer's pointer, draw 64 row indices
// uniformly below the buffer's size, gather those rows of all six fields (obs and
// next_obs [capacity][4] f32, action i32, reward f32, terminated and truncated bytes) and
// fold each field's mean into a running sum, as the program does. The cheapest choices
// throughout: a xoshiro256+ generator (no counter-based Philox), one thread, no bounds
// checks, no framework. Capacity 10^6, filled before timing as the program's buffer is
// after its first 250,000 iterations.
//
//   cc -O2 -march=native -o /tmp/replay_floor bench/replay_floor.c -lm
//   (-DSEPARATE: one gather loop per field; -DSEPARATE -DPREFETCH: with the rows
//   prefetched first)
//   /tmp/replay_floor 200000        (iterations; prints microseconds per iteration)
//
// Results and what they mean: docs/benchmarks.md, "Replay at capacity 10^6: the floor".
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CAP 1000000
#define INSERT 4
#define DRAW 64

static uint64_t s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull, 1};
static inline uint64_t next(void) {
  uint64_t r = s[0] + s[3], t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return r;
}
static inline double uniform(void) { return (next() >> 11) * 0x1.0p-53; }
static inline float normal(void) {
  double u = 1.0 - uniform(), v = uniform();
  return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 200000;
  float(*obs)[4] = malloc(sizeof(float[4]) * CAP), (*nobs)[4] = malloc(sizeof(float[4]) * CAP);
  int32_t *action = malloc(4 * CAP);
  float *reward = malloc(4 * CAP);
  uint8_t *term = malloc(CAP), *trunc = malloc(CAP);
  for (long i = 0; i < CAP; i++) {
    for (int j = 0; j < 4; j++) obs[i][j] = nobs[i][j] = (float)uniform();
    action[i] = i & 1; reward[i] = 1.0f; term[i] = trunc[i] = 0;
  }
  long ptr = 0, size = CAP;
  double seen = 0.0, t0 = now();
  for (long it = 0; it < iters; it++) {
    for (int r = 0; r < INSERT; r++, ptr = (ptr + 1) % CAP) {
      for (int j = 0; j < 4; j++) obs[ptr][j] = normal();
      for (int j = 0; j < 4; j++) nobs[ptr][j] = normal();
      action[ptr] = (int32_t)floor(uniform() * 2.0);
      reward[ptr] = (float)uniform();
      term[ptr] = uniform() < 0.01;
      trunc[ptr] = uniform() < 0.01;
    }
    int32_t idx[DRAW];
    for (int k = 0; k < DRAW; k++) idx[k] = (int32_t)floor(uniform() * size);
    float so = 0, sn = 0, sr = 0, sa = 0, sd = 0;
#ifdef SEPARATE
    // One loop per field, as rlpc's kernels run; with PREFETCH, every field's rows are
    // prefetched first, as rlpc's executor does (compiler/jit/src/warm.rs).
#ifdef PREFETCH
    for (int k = 0; k < DRAW; k++) {
      long i = idx[k];
      __builtin_prefetch(obs[i]); __builtin_prefetch(nobs[i]); __builtin_prefetch(&reward[i]);
      __builtin_prefetch(&action[i]); __builtin_prefetch(&term[i]); __builtin_prefetch(&trunc[i]);
    }
#endif
    for (int k = 0; k < DRAW; k++) for (int j = 0; j < 4; j++) so += obs[idx[k]][j];
    for (int k = 0; k < DRAW; k++) for (int j = 0; j < 4; j++) sn += nobs[idx[k]][j];
    for (int k = 0; k < DRAW; k++) sr += reward[idx[k]];
    for (int k = 0; k < DRAW; k++) sa += (float)action[idx[k]];
    for (int k = 0; k < DRAW; k++) sd += (float)(term[idx[k]] && !trunc[idx[k]]);
#else
    for (int k = 0; k < DRAW; k++) {
      long i = idx[k];
      for (int j = 0; j < 4; j++) { so += obs[i][j]; sn += nobs[i][j]; }
      sr += reward[i]; sa += (float)action[i]; sd += (float)(term[i] && !trunc[i]);
    }
#endif
    seen += sr / 64 + so / 256 + sa / 64 + sn / 256 + sd / 64;
  }
  double dt = now() - t0;
  printf("replay floor (C, one thread): %ld iterations in %.2f s: %.2f us per iteration, %.0f iterations/s (seen %.3f)\n",
         iters, dt, 1e6 * dt / iters, iters / dt, seen);
  return 0;
}
