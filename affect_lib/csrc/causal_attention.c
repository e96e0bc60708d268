/* Fused causal attention with dropout on the weights, forward and backward, for small head widths on the CPU.
 *
 * out_i = sum_{j <= i + offset} softmax_j(scale q_i . k_j) * keep_ij / (1 - p) * v_j       (one row at a time)
 *
 * where i = query_start + row is the query's position (query_start > 0 when only the last queries are computed).
 *
 * Nothing of size T x T is stored: the forward keeps only the row log-sum-exp, the backward recomputes the
 * scores and regenerates the dropout decisions from a counter-based hash of (seed, head, query, key), the same
 * hash as affect_lib.models.fused_attention.dropout_keep (the pure-PyTorch reference). Work is split over the
 * N * H heads only, each head computed by one thread in a fixed order, so the result does not depend on the
 * thread count. C11 with GCC/Clang vector types of 16 bytes (SSE2, the x86-64 baseline; no -march): the loops
 * over keys run 4 lanes at a time in a fixed order, and exp is a fixed polynomial (no libm in the loops), so
 * every machine computes the same numbers.
 *
 * The file is also valid C++: operators.cpp includes it and registers these functions as PyTorch
 * operators (built by torch.utils.cpp_extension with -O2 -ffp-contract=off; the same bits as a C11 build).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN 0x9E3779B9u
#define W 4 /* lanes of the vector type (16 bytes: SSE2 on x86-64, NEON elsewhere) */

typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
typedef uint32_t vu __attribute__((vector_size(16)));

/* MurmurHash3's 32-bit finaliser, lane-wise; fmix32 is one lane of it. */
static inline vu fmix32v(vu h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static inline uint32_t fmix32(uint32_t h) { return fmix32v((vu){h, h, h, h})[0]; }

/* Key of row (head b, query position i) of the dropout decisions; key j is dropped when
 * fmix32(row_key + j * GOLDEN) < threshold. The position is absolute (query_start + row), so a call on the last
 * query alone draws what the full computation draws for that row. */
static inline uint32_t row_key(uint32_t seed, uint32_t seed2, int64_t b, int64_t i) {
    return fmix32(seed ^ fmix32((uint32_t)i * GOLDEN + fmix32((uint32_t)b + seed2)));
}

static inline vf splat(float x) { return (vf){x, x, x, x}; }

static inline vf select(vi mask, vf a, vf b) { /* mask ? a : b, lane-wise */
    return (vf)(((vi)a & mask) | ((vi)b & ~mask));
}

static inline float hsum(vf x) { return (x[0] + x[1]) + (x[2] + x[3]); }

/* exp(x) for x <= 0 (x = score - max), Cephes-style 2^n * poly(r), lane-wise; exactly 0 below -87 (and -inf). */
static inline vf exp_nonpos(vf x) {
    const vf lo = splat(-87.0f);
    vi small = x < lo;
    vf xc = select(small, lo, x);
    vf t = xc * splat(1.44269504088896341f);
    vf n = (t + splat(12582912.0f)) - splat(12582912.0f); /* rint(t) by the 1.5 * 2^23 trick */
    vf r = xc - n * splat(0.693359375f) - n * splat(-2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return (vf)((vi)(p * (vf)e) & ~small);
}

typedef struct job_s {
    const float *q, *k, *v, *out, *dout, *lse;
    float *res, *res_lse, *dq, *dk, *dv;
    int64_t heads, tq, tk, e, offset, qstart;
    float scale, keep_scale;
    uint32_t threshold, seed, seed2;
    int nthreads, thread, mode; /* mode 0 forward, 1 backward, 2 dropout of res (heads, tq, tk) */
} job_t;

/* x (t, e) -> xt (e, ld), columns t..ld-1 zero; ld is t rounded up to the vector width. */
static void transpose(const float *x, float *xt, int64_t t, int64_t ld, int64_t e) {
    for (int64_t c = 0; c < e; c++) {
        for (int64_t j = 0; j < t; j++) xt[c * ld + j] = x[j * e + c];
        for (int64_t j = t; j < ld; j++) xt[c * ld + j] = 0.0f;
    }
}

/* s[0..nv) = scale q_i . k_j for the visible keys j < n, -inf for n <= j < nv (nv = n rounded up). */
static void scores_row(const float *qi, const float *kt, int64_t ld, int64_t n, int64_t nv, int64_t e,
                       float scale, float *s) {
    vf *sv = (vf *)s;
    for (int64_t j = 0; j < nv / W; j++) sv[j] = splat(0.0f);
    for (int64_t c = 0; c < e; c++) {
        const vf qc = splat(qi[c] * scale);
        const vf *kc = (const vf *)(kt + c * ld);
        for (int64_t j = 0; j < nv / W; j++) sv[j] += qc * kc[j];
    }
    for (int64_t j = n; j < nv; j++) s[j] = -INFINITY;
}

/* m[j] = keep_scale where weight j is kept, else 0. */
static void keep_row(uint32_t key, uint32_t threshold, float keep_scale, int64_t nv, float *m) {
    vf *mv = (vf *)m;
    const vu step = {0u, GOLDEN, 2u * GOLDEN, 3u * GOLDEN};
    const vu thr = {threshold, threshold, threshold, threshold};
    const vf ks = splat(keep_scale);
    for (int64_t j = 0; j < nv / W; j++) {
        vu h = fmix32v(((vu){key, key, key, key} + (uint32_t)(j * W) * GOLDEN) + step);
        mv[j] = (vf)((vi)ks & (vi)(h >= thr));
    }
}

/* Softmax numerators exp(s - max) in place; returns max, sets *sum. */
static float exp_row(float *s, int64_t nv, float *sum) {
    vf *sv = (vf *)s;
    vf mx = sv[0];
    for (int64_t j = 1; j < nv / W; j++) mx = select(sv[j] > mx, sv[j], mx);
    float m = mx[0];
    for (int w = 1; w < W; w++) m = mx[w] > m ? mx[w] : m;
    vf acc = splat(0.0f);
    const vf mv = splat(m);
    for (int64_t j = 0; j < nv / W; j++) {
        sv[j] = exp_nonpos(sv[j] - mv);
        acc += sv[j];
    }
    *sum = hsum(acc);
    return m;
}

static void forward_head(const job_t *a, int64_t b, int64_t ld, float *kt, float *vt, float *s, float *m) {
    const int64_t tq = a->tq, tk = a->tk, e = a->e;
    transpose(a->k + b * tk * e, kt, tk, ld, e);
    transpose(a->v + b * tk * e, vt, tk, ld, e);
    for (int64_t i = 0; i < tq; i++) {
        int64_t n = a->qstart + i + a->offset + 1; /* keys j <= position + offset are visible */
        n = n > tk ? tk : n;
        const int64_t nv = (n + W - 1) / W * W;
        const float *qi = a->q + (b * tq + i) * e;
        float *oi = a->res + (b * tq + i) * e;
        scores_row(qi, kt, ld, n, nv, e, a->scale, s);
        float l;
        const float mx = exp_row(s, nv, &l);
        const float inv = 1.0f / l;
        vf *sv = (vf *)s;
        if (a->threshold) {
            keep_row(row_key(a->seed, a->seed2, b, a->qstart + i), a->threshold, a->keep_scale, nv, m);
            const vf *mv = (const vf *)m;
            for (int64_t j = 0; j < nv / W; j++) sv[j] *= mv[j];
        }
        for (int64_t c = 0; c < e; c++) {
            const vf *vc = (const vf *)(vt + c * ld);
            vf acc = splat(0.0f);
            for (int64_t j = 0; j < nv / W; j++) acc += sv[j] * vc[j];
            oi[c] = hsum(acc) * inv;
        }
        a->res_lse[b * tq + i] = mx + logf(l);
    }
}

static void backward_head(const job_t *a, int64_t b, int64_t ld, float *kt, float *vt, float *dkt, float *dvt,
                          float *s, float *m, float *dp) {
    const int64_t tq = a->tq, tk = a->tk, e = a->e;
    transpose(a->k + b * tk * e, kt, tk, ld, e);
    transpose(a->v + b * tk * e, vt, tk, ld, e);
    memset(dkt, 0, sizeof(float) * e * ld);
    memset(dvt, 0, sizeof(float) * e * ld);
    vf *sv = (vf *)s, *dpv = (vf *)dp;
    const vf *mv = (const vf *)m;
    const vf scale = splat(a->scale);
    for (int64_t i = 0; i < tq; i++) {
        int64_t n = a->qstart + i + a->offset + 1; /* keys j <= position + offset are visible */
        n = n > tk ? tk : n;
        const int64_t nv = (n + W - 1) / W * W;
        const float *qi = a->q + (b * tq + i) * e;
        const float *oi = a->out + (b * tq + i) * e;
        const float *gi = a->dout + (b * tq + i) * e;
        float *dqi = a->dq + (b * tq + i) * e;
        float d = 0.0f; /* D_i = dO_i . O_i = sum_j P_ij dP_ij */
        for (int64_t c = 0; c < e; c++) d += gi[c] * oi[c];
        scores_row(qi, kt, ld, n, nv, e, a->scale, s);
        const vf lse = splat(a->lse[b * tq + i]);
        for (int64_t j = 0; j < nv / W; j++) sv[j] = exp_nonpos(sv[j] - lse); /* P_ij, 0 past n */
        for (int64_t j = 0; j < nv / W; j++) dpv[j] = splat(0.0f);
        for (int64_t c = 0; c < e; c++) {
            const vf gc = splat(gi[c]);
            const vf *vc = (const vf *)(vt + c * ld);
            for (int64_t j = 0; j < nv / W; j++) dpv[j] += gc * vc[j];
        }
        if (a->threshold) {
            keep_row(row_key(a->seed, a->seed2, b, a->qstart + i), a->threshold, a->keep_scale, nv, m);
            for (int64_t j = 0; j < nv / W; j++) dpv[j] *= mv[j];
        }
        for (int64_t c = 0; c < e; c++) { /* dV_j += P_ij keep_ij dO_i */
            const vf gc = splat(gi[c]);
            vf *dvc = (vf *)(dvt + c * ld);
            if (a->threshold)
                for (int64_t j = 0; j < nv / W; j++) dvc[j] += (sv[j] * mv[j]) * gc;
            else
                for (int64_t j = 0; j < nv / W; j++) dvc[j] += sv[j] * gc;
        }
        const vf dv_ = splat(d);
        for (int64_t j = 0; j < nv / W; j++) dpv[j] = sv[j] * (dpv[j] - dv_) * scale; /* dS_ij * scale */
        for (int64_t c = 0; c < e; c++) {
            const vf *kc = (const vf *)(kt + c * ld);
            vf *dkc = (vf *)(dkt + c * ld);
            const vf qc = splat(qi[c]);
            vf acc = splat(0.0f);
            for (int64_t j = 0; j < nv / W; j++) {
                acc += dpv[j] * kc[j];
                dkc[j] += dpv[j] * qc;
            }
            dqi[c] = hsum(acc);
        }
    }
    float *dk = a->dk + b * tk * e, *dv = a->dv + b * tk * e;
    for (int64_t j = 0; j < tk; j++)
        for (int64_t c = 0; c < e; c++) {
            dk[j * e + c] = dkt[c * ld + j];
            dv[j * e + c] = dvt[c * ld + j];
        }
}

static void dropout_rows(const job_t *a, int64_t b, float *m) {
    const int64_t t = a->tq, c = a->tk, nv = (c + W - 1) / W * W;
    for (int64_t i = 0; i < t; i++) {
        keep_row(row_key(a->seed, a->seed2, b, a->qstart + i), a->threshold, a->keep_scale, nv, m);
        const float *x = a->q + (b * t + i) * c;
        float *y = a->res + (b * t + i) * c;
        for (int64_t j = 0; j < c; j++) y[j] = x[j] * m[j];
    }
}

/* Heads [lo, hi) of job a, in order, with one scratch buffer; returns 0 on success. */
static int run_heads(const job_t *a, int64_t lo, int64_t hi) {
    const int64_t ld = (a->tk + W - 1) / W * W, e = a->e;
    float *buf = (float *)aligned_alloc(16, sizeof(float) * (size_t)(ld * (4 * e + 3)));
    if (!buf) return 1;
    float *kt = buf, *vt = kt + e * ld, *dkt = vt + e * ld, *dvt = dkt + e * ld;
    float *s = dvt + e * ld, *m = s + ld, *dp = m + ld;
    for (int64_t b = lo; b < hi; b++) {
        if (a->mode == 1)
            backward_head(a, b, ld, kt, vt, dkt, dvt, s, m, dp);
        else if (a->mode == 0)
            forward_head(a, b, ld, kt, vt, s, m);
        else
            dropout_rows(a, b, m);
    }
    free(buf);
    return 0;
}

#ifdef AFFECT_PARALLEL_HEADS
/* The including file runs the heads on its own thread pool: AFFECT_PARALLEL_HEADS(a) calls run_heads over
 * ranges of heads covering [0, a->heads) and returns 0 on success. Each head is computed by one thread in the
 * same order whatever the ranges, so the numbers are those of the pthread form below. */
static int run(job_t *base) { return AFFECT_PARALLEL_HEADS(base); }
#else
static void *run_job(void *arg) {
    const job_t *a = (const job_t *)arg;
    /* contiguous ranges of heads: thread t computes heads [t H / T, (t + 1) H / T) */
    int64_t lo = a->heads * a->thread / a->nthreads, hi = a->heads * (a->thread + 1) / a->nthreads;
    return run_heads(a, lo, hi) ? (void *)1 : NULL;
}

static int run(job_t *base) {
    int nt = base->nthreads < 1 ? 1 : base->nthreads;
    if (nt > base->heads) nt = (int)base->heads;
    if (nt < 1) nt = 1;
    base->nthreads = nt;
    job_t jobs[64];
    pthread_t tid[64];
    if (nt > 64) nt = base->nthreads = 64;
    int failed = 0;
    for (int t = 0; t < nt; t++) {
        jobs[t] = *base;
        jobs[t].thread = t;
    }
    int started = 1;
    while (started < nt && !pthread_create(&tid[started], NULL, run_job, &jobs[started])) started++;
    if (started < nt) failed = 2; /* the heads of the threads not started are not computed */
    failed |= run_job(&jobs[0]) != NULL;
    for (int t = 1; t < started; t++) { /* joined before jobs[] goes out of scope */
        void *r;
        pthread_join(tid[t], &r);
        failed |= r != NULL;
    }
    return failed;
}
#endif

/* q (B, tq, e), k and v (B, tk, e), out (B, tq, e), lse (B, tq); returns 0 on success. */
int affect_attention_forward(const float *q, const float *k, const float *v, float *out, float *lse, int64_t heads,
                             int64_t tq, int64_t tk, int64_t e, int64_t offset, int64_t qstart, float scale,
                             uint32_t threshold, float keep_scale, uint32_t seed, uint32_t seed2, int nthreads) {
    job_t a = {0};
    a.q = q, a.k = k, a.v = v, a.res = out, a.res_lse = lse;
    a.heads = heads, a.tq = tq, a.tk = tk, a.e = e, a.offset = offset, a.qstart = qstart;
    a.scale = scale, a.threshold = threshold, a.keep_scale = keep_scale, a.seed = seed, a.seed2 = seed2;
    a.nthreads = nthreads, a.mode = 0;
    return run(&a);
}

/* The gradients dq, dk, dv (shapes of q, k, v) from the forward's inputs, out, lse and dout. */
int affect_attention_backward(const float *q, const float *k, const float *v, const float *out, const float *lse,
                              const float *dout, float *dq, float *dk, float *dv, int64_t heads, int64_t tq,
                              int64_t tk, int64_t e, int64_t offset, int64_t qstart, float scale,
                              uint32_t threshold, float keep_scale, uint32_t seed, uint32_t seed2, int nthreads) {
    job_t a = {0};
    a.q = q, a.k = k, a.v = v, a.out = out, a.lse = lse, a.dout = dout, a.dq = dq, a.dk = dk, a.dv = dv;
    a.heads = heads, a.tq = tq, a.tk = tk, a.e = e, a.offset = offset, a.qstart = qstart;
    a.scale = scale, a.threshold = threshold, a.keep_scale = keep_scale, a.seed = seed, a.seed2 = seed2;
    a.nthreads = nthreads, a.mode = 1;
    return run(&a);
}

/* y = x * keep / (1 - p) for x (B, T, C), the decisions of rows (b, t) at positions query_start + t drawn as the
 * attention's (row key of (b, position), column j = feature); y may be x. Its own backward (same decisions). */
int affect_dropout(const float *x, float *y, int64_t b, int64_t t, int64_t c, int64_t qstart, uint32_t threshold,
                   float keep_scale, uint32_t seed, uint32_t seed2, int nthreads) {
    job_t a = {0};
    a.q = x, a.res = y;
    a.heads = b, a.tq = t, a.tk = c, a.e = 1, a.qstart = qstart;
    a.threshold = threshold, a.keep_scale = keep_scale, a.seed = seed, a.seed2 = seed2;
    a.nthreads = nthreads, a.mode = 2;
    return run(&a);
}
