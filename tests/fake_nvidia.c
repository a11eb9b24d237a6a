// Stand-ins for NVIDIA's libraries, built by tests/cuda_libraries_test.ts with the system C
// compiler (the tests are skipped without one) to check library handling without a GPU:
//   -DFAKE_DRIVER    libcuda.so.1: cuInit returns $FAKE_CUINIT (default 100, no device) and
//                    cuDeviceGetCount $FAKE_DEVICES; every other call succeeds. Like drivers
//                    before CUDA 12.8 it has no cuEventElapsedTime_v2.
//   -DFAKE_NVRTC     libnvrtc.so.13: like the real one (no RUNPATH), compiling opens
//                    libnvrtc-builtins.so.13.0 by soname and fails with NVRTC's message when
//                    that does not load; otherwise the "cubin" is FAKE_CUBIN.
//   -DFAKE_BUILTINS  libnvrtc-builtins.so.13.0.
//   -DFAKE_CUDNN     libcudnn.so.9: descriptors are counted (fake_cudnn_live); the heuristics
//                    rank algorithm 5 (a workspace of 2^40 bytes) before algorithm 0 (16
//                    bytes), both with FMA math; the convolutions record the algorithm and
//                    the math type set when they run (fake_cudnn_last).
//   -DFAKE_NCCL      libnccl.so.2 (version 2.21.5): ncclGetUniqueId writes bytes i*7+1;
//                    ncclCommInitRank and ncclAllReduce record what they were given
//                    (fake_nccl_init, fake_nccl_allreduce); a count of 0 is refused as
//                    NCCL's ncclInvalidArgument (4).

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#ifdef FAKE_DRIVER
static int env_int(const char *name, int fallback) {
  const char *v = getenv(name);
  return v ? atoi(v) : fallback;
}
int cuInit(unsigned flags) { return env_int("FAKE_CUINIT", 100); }
int cuDeviceGetCount(int *n) { *n = env_int("FAKE_DEVICES", 1); return 0; }
int cuDeviceGet(int *d, int i) { *d = i; return 0; }
int cuDeviceGetName(char *s, int len, int d) { strncpy(s, "Fake GPU", len); return 0; }
int cuDeviceGetAttribute(int *v, int attr, int d) { *v = attr == 75 ? 8 : 0; return 0; }
int cuGetErrorString(int status, const char **s) { *s = "fake driver error"; return 0; }
#define OK(name) int name() { return 0; }
OK(cuDevicePrimaryCtxRetain) OK(cuDevicePrimaryCtxRelease_v2) OK(cuCtxSetCurrent)
OK(cuMemAlloc_v2) OK(cuMemFree_v2) OK(cuMemGetInfo_v2) OK(cuMemcpyHtoDAsync_v2)
OK(cuMemcpyDtoHAsync_v2) OK(cuMemsetD32Async) OK(cuStreamCreate) OK(cuStreamDestroy_v2)
OK(cuStreamSynchronize) OK(cuEventCreate) OK(cuEventRecord) OK(cuEventSynchronize)
OK(cuModuleLoadData) OK(cuModuleUnload) OK(cuModuleGetFunction) OK(cuLaunchKernel)
#endif

#ifdef FAKE_NVRTC
static const char *log_text = "";
static const char cubin[] = "FAKE_CUBIN";
int nvrtcCreateProgram() { return 0; }
int nvrtcCompileProgram() {
  if (!dlopen("libnvrtc-builtins.so.13.0", RTLD_NOW)) {
    log_text = "nvrtc: error: failed to open libnvrtc-builtins.so.13.0.\n"
               "  Make sure that libnvrtc-builtins.so.13.0 is installed correctly.";
    return 7;
  }
  return 0;
}
// Sizes count the terminating NUL, as NVRTC's do.
int nvrtcGetProgramLogSize(void *p, size_t *n) { *n = strlen(log_text) + 1; return 0; }
int nvrtcGetProgramLog(void *p, char *s) { strcpy(s, log_text); return 0; }
int nvrtcGetCUBINSize(void *p, size_t *n) { *n = sizeof cubin - 1; return 0; }
int nvrtcGetCUBIN(void *p, char *s) { memcpy(s, cubin, sizeof cubin - 1); return 0; }
int nvrtcDestroyProgram() { return 0; }
const char *nvrtcGetErrorString(int s) {
  return s == 7 ? "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE" : "NVRTC_ERROR";
}
#endif

#ifdef FAKE_BUILTINS
int fake_nvrtc_builtins(void) { return 1; }
#endif

#ifdef FAKE_CUDNN
static long next_desc = 0x1000;
static int live = 0, math = -1, last_algo = -1, last_math = -1;
int fake_cudnn_live(void) { return live; }
int fake_cudnn_last(void) { return last_algo * 100 + last_math; }
static int create(void **p) { *p = (void *)next_desc++; live++; return 0; }
static int destroy(void *p) { live--; return 0; }
int cudnnCreate(void **h) { *h = (void *)1; return 0; }
int cudnnDestroy(void *h) { return 0; }
int cudnnSetStream() { return 0; }
const char *cudnnGetErrorString(int s) { return "CUDNN_STATUS_FAKE"; }
int cudnnCreateTensorDescriptor(void **p) { return create(p); }
int cudnnCreateFilterDescriptor(void **p) { return create(p); }
int cudnnCreateConvolutionDescriptor(void **p) { return create(p); }
int cudnnDestroyTensorDescriptor(void *p) { return destroy(p); }
int cudnnDestroyFilterDescriptor(void *p) { return destroy(p); }
int cudnnDestroyConvolutionDescriptor(void *p) { return destroy(p); }
int cudnnSetTensor4dDescriptor() { return 0; }
int cudnnSetFilter4dDescriptor() { return 0; }
int cudnnSetConvolution2dDescriptor() { return 0; }
int cudnnSetConvolutionGroupCount() { return 0; }
int cudnnSetConvolutionMathType(void *conv, int m) { math = m; return 0; }
// cudnnConvolution*AlgoPerf_t: algo, status, time, memory, determinism, mathType, reserved.
struct perf { int algo, status; float time; size_t memory; int determinism, mathType, reserved[3]; };
static int heuristics(int requested, int *count, struct perf *p) {
  memset(p, 0, 2 * sizeof *p);
  p[0].algo = 5; p[0].mathType = 3; p[0].memory = 16; // memory: not what the size call says
  p[1].algo = 0; p[1].mathType = 3;
  *count = 2;
  return 0;
}
#define HEURISTICS(name) \
  int name(void *h, void *a, void *b, void *c, void *d, int n, int *count, struct perf *p) { \
    return heuristics(n, count, p); }
HEURISTICS(cudnnGetConvolutionForwardAlgorithm_v7)
HEURISTICS(cudnnGetConvolutionBackwardDataAlgorithm_v7)
HEURISTICS(cudnnGetConvolutionBackwardFilterAlgorithm_v7)
#define SIZE(name) \
  int name(void *h, void *a, void *b, void *c, void *d, int algo, size_t *bytes) { \
    *bytes = algo == 5 ? (size_t)1 << 40 : 16; return 0; }
SIZE(cudnnGetConvolutionForwardWorkspaceSize)
SIZE(cudnnGetConvolutionBackwardDataWorkspaceSize)
SIZE(cudnnGetConvolutionBackwardFilterWorkspaceSize)
#define CONV(name) \
  int name(void *h, void *al, void *a, long x, void *b, long y, void *conv, int algo) { \
    last_algo = algo; last_math = math; return 0; }
CONV(cudnnConvolutionForward)
CONV(cudnnConvolutionBackwardData)
CONV(cudnnConvolutionBackwardFilter)
#endif

#ifdef FAKE_NCCL
typedef struct { unsigned char internal[128]; } ncclUniqueId; // passed by value
static ncclUniqueId init_id;
static int init_size = -1, init_rank = -1;
static unsigned long long ar[7]; // send, recv, count, datatype, op, comm, stream
int ncclGetVersion(int *v) { *v = 22105; return 0; }
int ncclGetUniqueId(ncclUniqueId *id) {
  for (int i = 0; i < 128; i++) id->internal[i] = (unsigned char)(i * 7 + 1);
  return 0;
}
int ncclCommInitRank(void **comm, int nranks, ncclUniqueId id, int rank) {
  init_id = id; init_size = nranks; init_rank = rank;
  *comm = (void *)0xc0ffee;
  return 0;
}
int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, void *comm,
                  void *stream) {
  unsigned long long v[7] = {(unsigned long long)send, (unsigned long long)recv, count,
                             (unsigned long long)type, (unsigned long long)op,
                             (unsigned long long)comm, (unsigned long long)stream};
  memcpy(ar, v, sizeof ar);
  return count == 0 ? 4 : 0;
}
int ncclCommDestroy(void *comm) { return 0; }
const char *ncclGetErrorString(int status) {
  return status == 4 ? "invalid argument (run with NCCL_DEBUG=WARN for details)" : "fake";
}
void fake_nccl_init(unsigned char *id, int *size_rank) {
  memcpy(id, init_id.internal, 128); size_rank[0] = init_size; size_rank[1] = init_rank;
}
void fake_nccl_allreduce(unsigned long long *out) { memcpy(out, ar, sizeof ar); }
#endif
