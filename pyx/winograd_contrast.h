/* winograd_contrast.h: the C of tile_contrast, the check that decides whether Winograd holds its
 * accuracy on an input (pyx/winograd.pyx).
 *
 * What it computes: per image, over the tile grid of F(m x m, r x r), the ratio rho of a tile's largest
 * |x| to its windows' mean |x|, the largest |x|, and whether a NaN or an overflow was met
 * (sn_wino_abs_planes_*: sum and max of |z| over channels; sn_wino_plane_flags_*: max and NaN / inf
 * flags; sn_wino_contrast_grid: the grid part for several images at once).
 * NumPy twin: scratchnet/fast/winograd.py (tile_contrast).
 * Data layout: z (N, C, H, W) C-contiguous; per image two planes s and mx (H x W, of z's type); the grid
 * sums S and X (gh x gw x nc, image innermost) in double; results 3 doubles per image
 * (rho, max|z|, NaN flag). */
#ifndef SN_WINOGRAD_CONTRAST_H
#define SN_WINOGRAD_CONTRAST_H

#include <float.h>
#include <stdint.h>
#include <string.h>
/* s[k] = sum over c of |z[c, k]|, mx[k] = max over c of |z[c, k]| for k < HW, in z's type: loops over
   contiguous planes, which the compiler vectorises. A NaN reaches s (not mx); a sum that overflows is
   +inf in s while mx stays finite (the caller treats both as "not certified"). */
#define SN_WINO_ABS_PLANES(NAME, T)                                                                  \
static void NAME(const T* restrict z, Py_ssize_t C, Py_ssize_t HW, T* restrict s, T* restrict mx) { \
    for (Py_ssize_t k = 0; k < HW; k++) { s[k] = 0; mx[k] = 0; }                                  \
    for (Py_ssize_t c = 0; c < C; c++) {                                                          \
        const T* restrict src = z + c * HW;                                                       \
        for (Py_ssize_t k = 0; k < HW; k++) {                                                     \
            const T v = src[k] < 0 ? -src[k] : src[k];                                            \
            s[k] += v;                                                                            \
            mx[k] = v > mx[k] ? v : mx[k];                                                        \
        }                                                                                         \
    }                                                                                             \
}
SN_WINO_ABS_PLANES(sn_wino_abs_planes_f, float)
SN_WINO_ABS_PLANES(sn_wino_abs_planes_d, double)
/* For planes from the above: max of mx (non-negative, no NaN: its bit patterns as integers are in the
   same order, and an integer max vectorises) into *top; returns 0, or 1 if s holds a NaN, else 2 if it
   holds +inf (a sum that overflowed). */
typedef int32_t sn_wino_bits_f __attribute__((may_alias));
typedef int64_t sn_wino_bits_d __attribute__((may_alias));
#define SN_WINO_PLANE_FLAGS(NAME, T, BITS, MAXV)                                                     \
static int NAME(const T* restrict s, const T* restrict mx, Py_ssize_t HW, double* top) {            \
    const BITS* restrict b = (const BITS*)mx;                                                       \
    BITS best = 0;                                                                                  \
    int bad = 0;                                                                                    \
    for (Py_ssize_t k = 0; k < HW; k++) {                                                         \
        best = b[k] > best ? b[k] : best;                                                         \
        bad |= !(s[k] <= MAXV);                                                                   \
    }                                                                                             \
    T v;                                                                                          \
    memcpy(&v, &best, sizeof v);                                                                  \
    *top = v;                                                                                     \
    if (!bad) return 0;                                                                           \
    for (Py_ssize_t k = 0; k < HW; k++) if (s[k] != s[k]) return 1;                              \
    return 2;                                                                                     \
}
SN_WINO_PLANE_FLAGS(sn_wino_plane_flags_f, float, sn_wino_bits_f, FLT_MAX)
SN_WINO_PLANE_FLAGS(sn_wino_plane_flags_d, double, sn_wino_bits_d, DBL_MAX)
/* The grid part of tile_contrast for nc images at once, image innermost: S and X (gh x gw x nc) hold
   |z| summed and maximised over channels, padded coordinates minus g0. Every loop below runs along
   the images (or along whole rows of the grid), so it vectorises without a reduction; with short rows
   of a single image it did not, and this part cost more than the pass over z. rho[t] as in the twin:
   over the nty x ntx tiles, the largest X over the tile's peak region times weight (C r^2) over the
   smallest window sum (box, over [q, q + r) x [p, p + r)) at its origins inside [lo, hi). line and box
   are scratch of the grid's size, peak and least of nc. */
static void sn_wino_contrast_grid(const double* restrict S, const double* restrict X,
                                  double* restrict line, double* restrict box, Py_ssize_t gh,
                                  Py_ssize_t gw, Py_ssize_t nc, Py_ssize_t r, Py_ssize_t m,
                                  Py_ssize_t nty, Py_ssize_t ntx, double weight, Py_ssize_t max_off,
                                  Py_ssize_t max_len, Py_ssize_t org_len, Py_ssize_t lo_h,
                                  Py_ssize_t hi_h, Py_ssize_t lo_w, Py_ssize_t hi_w,
                                  double* restrict rho, double* restrict peak, double* restrict least) {
    const Py_ssize_t bh = gh - r + 1, bw = gw - r + 1, row = gw * nc, span = bw * nc;
    for (Py_ssize_t i = 0; i < gh; i++) {  /* line[i, p] = sum of S[i, p .. p + r) */
        double* restrict l = line + i * row;
        const double* restrict g = S + i * row;
        for (Py_ssize_t k = 0; k < span; k++) l[k] = g[k];
        for (Py_ssize_t b = 1; b < r; b++)
            for (Py_ssize_t k = 0; k < span; k++) l[k] += g[k + b * nc];
    }
    for (Py_ssize_t q = 0; q < bh; q++) {  /* box[q, p] = sum of line[q .. q + r, p] */
        double* restrict o = box + q * row;
        for (Py_ssize_t k = 0; k < span; k++) o[k] = line[q * row + k];
        for (Py_ssize_t a = 1; a < r; a++) {
            const double* restrict l = line + (q + a) * row;
            for (Py_ssize_t k = 0; k < span; k++) o[k] += l[k];
        }
    }
    for (Py_ssize_t t = 0; t < nc; t++) rho[t] = 0;
    const double inf = __builtin_inf();
    #define SN_CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : (v) > (hi) ? (hi) : (v))
    for (Py_ssize_t ty = 0; ty < nty; ty++)
        for (Py_ssize_t tx = 0; tx < ntx; tx++) {
            const Py_ssize_t a0 = SN_CLAMP(ty * m + max_off, 0, gh), a1 = SN_CLAMP(ty * m + max_off + max_len, 0, gh);
            const Py_ssize_t b0 = SN_CLAMP(tx * m + max_off, 0, gw), b1 = SN_CLAMP(tx * m + max_off + max_len, 0, gw);
            Py_ssize_t q0 = ty * m > lo_h ? ty * m : lo_h, q1 = ty * m + org_len < hi_h ? ty * m + org_len : hi_h;
            Py_ssize_t p0 = tx * m > lo_w ? tx * m : lo_w, p1 = tx * m + org_len < hi_w ? tx * m + org_len : hi_w;
            q0 = SN_CLAMP(q0, 0, bh); q1 = SN_CLAMP(q1, 0, bh);
            p0 = SN_CLAMP(p0, 0, bw); p1 = SN_CLAMP(p1, 0, bw);
            if (q0 >= q1 || p0 >= p1) continue;  /* no window inside: nothing to compare */
            for (Py_ssize_t t = 0; t < nc; t++) { peak[t] = 0; least[t] = inf; }
            for (Py_ssize_t a = a0; a < a1; a++)
                for (Py_ssize_t b = b0; b < b1; b++) {
                    const double* restrict x = X + (a * gw + b) * nc;
                    for (Py_ssize_t t = 0; t < nc; t++) peak[t] = x[t] > peak[t] ? x[t] : peak[t];
                }
            for (Py_ssize_t q = q0; q < q1; q++)
                for (Py_ssize_t p = p0; p < p1; p++) {
                    const double* restrict w = box + (q * gw + p) * nc;
                    for (Py_ssize_t t = 0; t < nc; t++) least[t] = w[t] < least[t] ? w[t] : least[t];
                }
            for (Py_ssize_t t = 0; t < nc; t++) {
                const double v = peak[t] > 0 ? (least[t] > 0 ? peak[t] * weight / least[t] : inf) : 0;
                rho[t] = v > rho[t] ? v : rho[t];
            }
        }
    #undef SN_CLAMP
}

#endif  /* SN_WINOGRAD_CONTRAST_H */
