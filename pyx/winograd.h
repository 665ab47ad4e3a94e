/* winograd.h: the C of the Winograd transforms' inner loops (pyx/winograd.pyx).
 *
 * What it computes: the small-matrix products of the transforms (B^T d B, A^T M A and their adjoints)
 * for a block of SN_WINO_BLOCK tiles at once: sn_wino_left_* (a matrix on the left of every tile),
 * sn_wino_taps_* (a matrix against tap offsets of whole rows) and sn_wino_gather_* (tiles copied from the
 * image, 0 outside it).
 * NumPy twin: scratchnet/fast/winograd.py (same results to rounding: the sums run in another order).
 * Data layout: images C-contiguous NCHW; a block of tiles is stored tile-innermost,
 * d[(i*cols + j)*SN_WINO_BLOCK + t] for entry (i, j) of tile t, so every innermost loop runs over the
 * tiles with a fixed trip count; the transformed tiles are (alpha^2, C, N*th*tw). */
#ifndef SN_WINOGRAD_H
#define SN_WINOGRAD_H

/* The small-matrix products of the transforms, applied to a block of SN_WINO_BLOCK tiles at once:
   the innermost loop runs over the tiles with restrict pointers and a fixed trip count, so the
   compiler vectorises it. Lanes past the block's last tile compute on stale values and are ignored. */
#define SN_WINO_BLOCK 64
#define SN_WINO_LEFT(NAME, T)                                                                        \
static void NAME(const T* restrict mat, const T* restrict src, T* restrict dst, Py_ssize_t p,       \
                 Py_ssize_t q, Py_ssize_t cols) {                                                   \
    /* dst[a, k, :] = sum_i mat[a, i] src[i, k, :] */                                             \
    for (Py_ssize_t a = 0; a < p; a++)                                                            \
        for (Py_ssize_t k = 0; k < cols; k++) {                                                   \
            T acc[SN_WINO_BLOCK] = {0};                                                           \
            for (Py_ssize_t i = 0; i < q; i++) {                                                  \
                const T c = mat[a * q + i];                                                       \
                if (c == 0) continue;                                                             \
                const T* restrict s = src + (i * cols + k) * SN_WINO_BLOCK;                       \
                for (int t = 0; t < SN_WINO_BLOCK; t++) acc[t] += c * s[t];                       \
            }                                                                                     \
            T* restrict d = dst + (a * cols + k) * SN_WINO_BLOCK;                                 \
            for (int t = 0; t < SN_WINO_BLOCK; t++) d[t] = acc[t];                                \
        }                                                                                         \
}
SN_WINO_LEFT(sn_wino_left_f, float)
SN_WINO_LEFT(sn_wino_left_d, double)
/* dst[a * dst_stride + f] = sum_i mat[a, i] src[offset[i] + f] for a < p, f < len (mat is p x q): one
   step of a transform applied to whole phase planes (see _output_adjoint_planes), the loop over f in
   blocks of SN_WINO_BLOCK with the accumulators in registers, the last block cut to len */
#define SN_WINO_TAPS(NAME, T)                                                                        \
static inline __attribute__((always_inline)) void NAME##_block(                                    \
        const T* restrict mat, Py_ssize_t q, const T* restrict src,                                 \
        const Py_ssize_t* restrict offset, T* restrict d, Py_ssize_t n) {                           \
    /* d[t] = sum_i mat[i] src[offset[i] + t] for t < n (n <= SN_WINO_BLOCK); inlined with the      \
       constant n = SN_WINO_BLOCK for whole blocks, so those loops have a fixed trip count */      \
    T acc[SN_WINO_BLOCK] = {0};                                                                   \
    for (Py_ssize_t i = 0; i < q; i++) {                                                          \
        const T c = mat[i];                                                                       \
        if (c == 0) continue;                                                                     \
        const T* restrict s = src + offset[i];                                                    \
        for (Py_ssize_t t = 0; t < n; t++) acc[t] += c * s[t];                                    \
    }                                                                                             \
    for (Py_ssize_t t = 0; t < n; t++) d[t] = acc[t];                                             \
}                                                                                                 \
static void NAME(const T* restrict mat, Py_ssize_t p, Py_ssize_t q, const T* restrict src,          \
                 const Py_ssize_t* restrict offset, T* restrict dst, Py_ssize_t dst_stride,         \
                 Py_ssize_t len) {                                                                  \
    for (Py_ssize_t a = 0; a < p; a++) {                                                          \
        Py_ssize_t f0 = 0;                                                                        \
        for (; f0 + SN_WINO_BLOCK <= len; f0 += SN_WINO_BLOCK)                                    \
            NAME##_block(mat + a * q, q, src + f0, offset, dst + a * dst_stride + f0, SN_WINO_BLOCK); \
        if (f0 < len)                                                                             \
            NAME##_block(mat + a * q, q, src + f0, offset, dst + a * dst_stride + f0, len - f0);  \
    }                                                                                             \
}
SN_WINO_TAPS(sn_wino_taps_f, float)
SN_WINO_TAPS(sn_wino_taps_d, double)
/* d[(i*cols + j)*BLOCK + t] = src[plane[t] + h*W + w] for h = h0[t] + i, w = w0[t] + j inside the H x W
   plane, else 0: a block's tiles gathered one (i, j) at a time, the loop over tiles vectorised (indices
   clamped into the plane so every load is safe, then a select); a loop per tile and pixel with bounds
   tests was a third of a transform's time */
#define SN_WINO_GATHER(NAME, T)                                                                      \
static void NAME(const T* restrict src, const Py_ssize_t* restrict plane, const Py_ssize_t* restrict h0, \
                 const Py_ssize_t* restrict w0, T* restrict d, Py_ssize_t rows, Py_ssize_t cols,     \
                 Py_ssize_t H, Py_ssize_t W) {                                                      \
    Py_ssize_t base[SN_WINO_BLOCK];                                                                 \
    int row_inside[SN_WINO_BLOCK];                                                                  \
    for (Py_ssize_t i = 0; i < rows; i++) {                                                       \
        for (int t = 0; t < SN_WINO_BLOCK; t++) {  /* the start of row h0 + i of each tile */       \
            const Py_ssize_t h = h0[t] + i;                                                       \
            row_inside[t] = (h >= 0) & (h < H);                                                   \
            base[t] = plane[t] + (h < 0 ? 0 : h >= H ? H - 1 : h) * W;                            \
        }                                                                                         \
        for (Py_ssize_t j = 0; j < cols; j++) {                                                   \
            T* restrict out = d + (i * cols + j) * SN_WINO_BLOCK;                                 \
            for (int t = 0; t < SN_WINO_BLOCK; t++) {                                             \
                const Py_ssize_t w = w0[t] + j;                                                   \
                const int inside = row_inside[t] & (w >= 0) & (w < W);                            \
                const T v = src[base[t] + (w < 0 ? 0 : w >= W ? W - 1 : w)];                      \
                out[t] = inside ? v : (T)0;                                                       \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}
SN_WINO_GATHER(sn_wino_gather_f, float)
SN_WINO_GATHER(sn_wino_gather_d, double)

#endif  /* SN_WINOGRAD_H */
