/* The distances ||g_j - g_l|| (j < l) between the rows of g (k, dim) float32, in float64, with NumPy's rounding.
 *
 * Each distance is sqrt of the sum of the squared differences (double)g_j[i] - (double)g_l[i], summed in the
 * order of NumPy's pairwise summation (np.add.reduce over a contiguous row: eight running sums over blocks of
 * up to 128 terms, combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), the block's remainder added
 * one by one; longer rows split in two halves at a multiple of 8, the halves' sums added). So the result has the
 * bits of affect_lib.privacy.analysis.wdp.all_pair_distances' NumPy form on every machine (no reassociation:
 * built with -ffp-contract=off and without -ffast-math), in one pass instead of NumPy's three per row.
 * Pairs are numbered in row-major order: (0, 1), (0, 2), ..., (0, k - 1), (1, 2), ...
 *
 * Also valid C++: operators.cpp includes it and registers affect::pair_distances.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Eight lanes of the running sums: GCC's and clang's vector extension, lowered to what the target has (SSE2
 * pairs on the x86-64 baseline); each lane is the scalar sum's own sequence of IEEE operations. */
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

/* On x86-64 Linux with GCC, the block sums are also compiled for AVX2 and AVX-512 and chosen at load time: the
 * same operations in the same order on wider registers (no FMA: -ffp-contract=off), so the same bits. A test
 * defines it empty to build each instruction set alone. */
#ifndef AFFECT_WIDE_CLONES
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define AFFECT_WIDE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AFFECT_WIDE_CLONES
#endif
#endif

/* The eight squared differences (double)a[j] - (double)b[j], j < 8. */
static inline f64x8 squared_differences(const float *a, const float *b) {
    f32x8 x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    const f64x8 d = __builtin_convertvector(x, f64x8) - __builtin_convertvector(y, f64x8);
    return d * d;
}

/* NumPy's sum of a block of n <= 128 squared differences of a and b. */
AFFECT_WIDE_CLONES static double block_sum(const float *a, const float *b, int64_t n) {
    double res = 0.0;
    int64_t i = 0;
    if (n >= 8) {
        f64x8 r = squared_differences(a, b);
        for (i = 8; i < n - n % 8; i += 8) r += squared_differences(a + i, b + i);
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    }
    for (; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        res += d * d;
    }
    return res;
}

/* NumPy's pairwise sum of the n squared differences of a and b. */
static double pair_sum(const float *a, const float *b, int64_t n) {
    if (n > 128) {
        int64_t half = n / 2;
        half -= half % 8;
        return pair_sum(a, b, half) + pair_sum(a + half, b + half, n - half);
    }
    return block_sum(a, b, n);
}

/* out[p] for the pairs p in [lo, hi). */
void affect_pair_distances(const float *g, int64_t k, int64_t dim, int64_t lo, int64_t hi, double *out) {
    int64_t j = 0, first = 0; /* first: the number of row j's first pair */
    while (j < k - 1 && first + (k - 1 - j) <= lo) first += k - 1 - j, j++;
    for (int64_t p = lo; p < hi; p++) {
        if (p == first + (k - 1 - j)) first += k - 1 - j, j++;
        const int64_t l = j + 1 + (p - first);
        out[p] = sqrt(pair_sum(g + j * dim, g + l * dim, dim));
    }
}
