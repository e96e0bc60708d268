// The library's C kernels as PyTorch operators (torch.library), built by torch.utils.cpp_extension
// (affect_lib/kernels.py):
//
//   affect::attention_forward(q, k, v, ...) -> (out, lse)        q (B, tq, e), k and v (B, tk, e), lse (B, tq)
//   affect::attention_backward(q, k, v, out, lse, dout, ...) -> (dq, dk, dv)
//   affect::hash_dropout(x, ...) -> y                            x (B, T, C)
//   affect::pair_distances(g) -> d                               g (k, dim) float32, d (k(k-1)/2,) float64
//
// causal_attention.c: CPU, float32, contiguous tensors only (affect_lib/models/fused_attention.py checks before
// calling); pair_distances.c: contiguous CPU rows. Autograd and fake (meta) implementations are registered from
// Python. The scalars are those of the C functions; the thread count is PyTorch's (no result depends on it).
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <tuple>

#ifndef AFFECT_GRAIN
#define AFFECT_GRAIN 32768 /* at::internal::GRAIN_SIZE, torch's own threshold for its elementwise loops */
#endif

// Items per at::parallel_for task so that a task does at least min_work units of work: below that, a call runs
// on this thread rather than wake the pool's (costly with OMP_WAIT_POLICY=PASSIVE).
static int64_t grain(int64_t work_per_item, int64_t min_work) {
    return std::max<int64_t>(1, min_work / std::max<int64_t>(1, work_per_item));
}

#ifdef _OPENMP
// Built with -fopenmp: the heads run on PyTorch's own OpenMP thread pool (at::parallel_for is inline, so only an
// OpenMP build runs it in parallel), not on threads started per call (tens of microseconds each).
struct job_s;
static int parallel_heads(const job_s *a);
#define AFFECT_PARALLEL_HEADS parallel_heads
#include "causal_attention.c"

static int parallel_heads(const job_s *a) {
    std::atomic<int> failed{0};  // heads per task: at least AFFECT_GRAIN multiply-adds
    at::parallel_for(0, a->heads, grain(a->tq * a->tk * a->e, AFFECT_GRAIN), [&](int64_t lo, int64_t hi) {
        if (run_heads(a, lo, hi)) failed = 1;
    });
    return failed.load();
}
#else
#include "causal_attention.c"
#endif
#include "pair_distances.c"

namespace {

void check(const at::Tensor &x, const char *name) {
    TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous() && x.dim() == 3,
                "affect::", name, ": expected a contiguous 3-d float32 CPU tensor");
}

void check_code(int code, const char *name) { TORCH_CHECK(code == 0, "affect::", name, " failed (code ", code, ")"); }

std::tuple<at::Tensor, at::Tensor> attention_forward(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                                                     int64_t offset, int64_t query_start, double scale,
                                                     int64_t threshold, double keep_scale, int64_t seed,
                                                     int64_t seed2) {
    check(q, "attention_forward"), check(k, "attention_forward"), check(v, "attention_forward");
    TORCH_CHECK(k.sizes() == v.sizes() && q.size(0) == k.size(0) && q.size(2) == k.size(2),
                "affect::attention_forward: q (B, tq, e), k and v (B, tk, e) expected");
    at::Tensor out = at::empty_like(q);
    at::Tensor lse = at::empty({q.size(0), q.size(1)}, q.options());
    check_code(affect_attention_forward(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(),
                                        out.data_ptr<float>(), lse.data_ptr<float>(), q.size(0), q.size(1),
                                        k.size(1), q.size(2), offset, query_start, (float)scale,
                                        (uint32_t)threshold, (float)keep_scale, (uint32_t)seed, (uint32_t)seed2,
                                        at::get_num_threads()),
               "attention_forward");
    return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_backward(
    const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const at::Tensor &out, const at::Tensor &lse,
    const at::Tensor &dout, int64_t offset, int64_t query_start, double scale, int64_t threshold,
    double keep_scale, int64_t seed, int64_t seed2) {
    for (const at::Tensor *x : {&q, &k, &v, &out, &dout}) check(*x, "attention_backward");
    TORCH_CHECK(lse.is_contiguous(), "affect::attention_backward: lse must be contiguous");
    TORCH_CHECK(k.sizes() == v.sizes() && q.size(0) == k.size(0) && q.size(2) == k.size(2) &&
                    out.sizes() == q.sizes() && dout.sizes() == q.sizes() && lse.dim() == 2 &&
                    lse.size(0) == q.size(0) && lse.size(1) == q.size(1),
                "affect::attention_backward: q, out, dout (B, tq, e), k and v (B, tk, e), lse (B, tq) expected");
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    check_code(affect_attention_backward(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(),
                                         out.data_ptr<float>(), lse.data_ptr<float>(), dout.data_ptr<float>(),
                                         dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>(),
                                         q.size(0), q.size(1), k.size(1), q.size(2), offset, query_start,
                                         (float)scale, (uint32_t)threshold, (float)keep_scale, (uint32_t)seed,
                                         (uint32_t)seed2, at::get_num_threads()),
               "attention_backward");
    return {dq, dk, dv};
}

at::Tensor hash_dropout(const at::Tensor &x, int64_t position, int64_t threshold, double keep_scale, int64_t seed,
                        int64_t seed2) {
    check(x, "hash_dropout");
    at::Tensor y = at::empty_like(x);
    check_code(affect_dropout(x.data_ptr<float>(), y.data_ptr<float>(), x.size(0), x.size(1), x.size(2), position,
                              (uint32_t)threshold, (float)keep_scale, (uint32_t)seed, (uint32_t)seed2,
                              at::get_num_threads()),
               "hash_dropout");
    return y;
}

at::Tensor pair_distances(const at::Tensor &g) {
    TORCH_CHECK(g.device().is_cpu() && g.scalar_type() == at::kFloat && g.is_contiguous() && g.dim() == 2 &&
                    g.size(0) >= 2,
                "affect::pair_distances: expected a contiguous (k >= 2, dim) float32 CPU tensor");
    const int64_t k = g.size(0), pairs = k * (k - 1) / 2;
    at::Tensor out = at::empty({pairs}, g.options().dtype(at::kDouble));
    // one thread below a million terms (measured: waking the pool costs more than it saves there)
    at::parallel_for(0, pairs, grain(g.size(1), int64_t{1} << 20), [&](int64_t lo, int64_t hi) {
        affect_pair_distances(g.data_ptr<float>(), k, g.size(1), lo, hi, out.data_ptr<double>());
    });
    return out;
}

}  // namespace

TORCH_LIBRARY(affect, m) {
    m.def("attention_forward(Tensor q, Tensor k, Tensor v, int offset, int query_start, float scale, "
          "int threshold, float keep_scale, int seed, int seed2) -> (Tensor, Tensor)");
    m.def("attention_backward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout, int offset, "
          "int query_start, float scale, int threshold, float keep_scale, int seed, int seed2) "
          "-> (Tensor, Tensor, Tensor)");
    m.def("hash_dropout(Tensor x, int position, int threshold, float keep_scale, int seed, int seed2) -> Tensor");
    m.def("pair_distances(Tensor g) -> Tensor");
}

TORCH_LIBRARY_IMPL(affect, CPU, m) {
    m.impl("attention_forward", &attention_forward);
    m.impl("attention_backward", &attention_backward);
    m.impl("hash_dropout", &hash_dropout);
    m.impl("pair_distances", &pair_distances);
}
