// The kernel of causal_attention.c as PyTorch operators (torch.library), built by torch.utils.cpp_extension:
//
//   affect::attention_forward(q, k, v, ...) -> (out, lse)        q (B, tq, e), k and v (B, tk, e), lse (B, tq)
//   affect::attention_backward(q, k, v, out, lse, dout, ...) -> (dq, dk, dv)
//   affect::hash_dropout(x, ...) -> y                            x (B, T, C)
//
// CPU, float32, contiguous tensors only (affect_lib/models/fused_attention.py checks before calling); autograd
// and fake (meta) implementations are registered from Python. The scalars are those of the C functions; the
// thread count is PyTorch's (the result does not depend on it).
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <tuple>

#include "causal_attention.c"

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

}  // namespace

TORCH_LIBRARY(affect, m) {
    m.def("attention_forward(Tensor q, Tensor k, Tensor v, int offset, int query_start, float scale, "
          "int threshold, float keep_scale, int seed, int seed2) -> (Tensor, Tensor)");
    m.def("attention_backward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout, int offset, "
          "int query_start, float scale, int threshold, float keep_scale, int seed, int seed2) "
          "-> (Tensor, Tensor, Tensor)");
    m.def("hash_dropout(Tensor x, int position, int threshold, float keep_scale, int seed, int seed2) -> Tensor");
}

TORCH_LIBRARY_IMPL(affect, CPU, m) {
    m.impl("attention_forward", &attention_forward);
    m.impl("attention_backward", &attention_backward);
    m.impl("hash_dropout", &hash_dropout);
}
