/* direct_conv_s1.h: the stride-1 register-tile kernels of the direct convolution, written once for a type
 * and included twice by direct_conv.h (so no include guard): with SN_S1_TYPE float / SN_S1_SUFFIX f, then
 * double / d. What each computes and the data layout: direct_conv.h and the comments below; NumPy twin:
 * scratchnet/fast/direct_conv.py.
 *
 * In here T is the element type, SN_V one vector register of T (sn_vf / sn_vd), SN_LANES its lanes
 * (sn_lanes_f / sn_lanes_d), SN_S1_FN(name) the function sn_s1_<name>_<suffix> (SN_S1_FN(forward) is
 * sn_s1_forward_f in the float pass), and SN_S1_FOR_TYPE(SN_S1_HEAD_) the type's SN_S1_HEAD_f / _d
 * (direct_conv.h). All are undefined again at the end. */
#define T SN_S1_TYPE
#define SN_V SN_S1_CAT(sn_v, SN_S1_SUFFIX)
#define SN_LANES SN_S1_CAT(sn_lanes_, SN_S1_SUFFIX)
#define SN_S1_FN(name) SN_S1_CAT(SN_S1_CAT(sn_s1_, name), SN_S1_CAT(_, SN_S1_SUFFIX))
#define SN_S1_FOR_TYPE(prefix) SN_S1_CAT(prefix, SN_S1_SUFFIX)

typedef T SN_V __attribute__((vector_size(SN_S1_BYTES), aligned(sizeof(T)), may_alias));
enum { SN_LANES = SN_S1_BYTES / (int)sizeof(T) };
/* the first n <= lanes entries of src, the rest 0 (AVX-512: one masked load; a copy otherwise) */
static inline SN_V SN_S1_FN(head)(const T* src, Py_ssize_t n) {
    SN_S1_FOR_TYPE(SN_S1_HEAD_)
}
/* dst[t] = (a, b)[t] for t < width <= 2 lanes, nothing past it */
static inline void SN_S1_FN(store)(T* dst, SN_V a, SN_V b, Py_ssize_t width) {
    enum { L = SN_LANES };
    if (width >= 2 * L) {
        *(SN_V*)dst = a;
        *(SN_V*)(dst + L) = b;
        return;
    }
    if (width > L) {
        *(SN_V*)dst = a;
        dst += L;
        width -= L;
        a = b;
    }
    SN_S1_FOR_TYPE(SN_S1_TAIL_)
}
/* max(0, v) lane by lane as np.maximum(v, 0): v where v > 0 or v is NaN, else +0 */
static inline SN_V SN_S1_FN(rectify)(SN_V v) {
    const SN_V zero = {0};
    const __typeof__(v > zero) keep = (v > zero) | (v != v);
    return (SN_V)((__typeof__(keep))v & keep);
}
/* y[f, oy, ox0 + t] for the filters f < nf of a block and t < width (2 vectors of columns), from the
   padded image xp (C, PH, PW) and the block's packed weights wp (C, kh, kw, FILTERS) and bias,
   rectified (max(0, y)) when relu */
SN_FUSED static inline __attribute__((always_inline)) void SN_S1_FN(forward_tile)(
        const T* restrict xp, const T* restrict wp, const T* restrict bias, T* restrict y,
        Py_ssize_t C, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t oy,
        Py_ssize_t ox0, Py_ssize_t width, Py_ssize_t nf, Py_ssize_t plane, Py_ssize_t OW, int relu) {
    enum { L = SN_LANES, FB = SN_S1_FILTERS };
    SN_V acc0[FB], acc1[FB];  /* two arrays: one of 16 vectors GCC kept in memory */
    for (int f = 0; f < FB; f++) { acc0[f] = (SN_V){0} + bias[f]; acc1[f] = acc0[f]; }
    /* do-while (C, kh, kw >= 1): with a path that skips the loops, GCC kept acc in memory */
    Py_ssize_t c = 0, i = 0;
    do {
        const T* row = xp + (c * PH + oy + i) * PW + ox0;
        const T* w = wp + (c * kh + i) * kw * FB;
        Py_ssize_t j = 0;
        do {
            const SN_V s0 = *(const SN_V*)(row + j), s1 = *(const SN_V*)(row + j + L);
            for (int f = 0; f < FB; f++) {
                acc0[f] += w[j * FB + f] * s0;
                acc1[f] += w[j * FB + f] * s1;
            }
        } while (++j < kw);
        if (++i == kh) {
            i = 0;
            c++;
        }
    } while (c < C);
    if (relu)
        for (int f = 0; f < FB; f++) {
            acc0[f] = SN_S1_FN(rectify)(acc0[f]);
            acc1[f] = SN_S1_FN(rectify)(acc1[f]);
        }
    for (int f = 0; f < FB; f++) {
        if (f < nf) SN_S1_FN(store)(y + f * plane + oy * OW + ox0, acc0[f], acc1[f], width);
    }
}
/* output row oy of all F filters of one image: its tiles, one call (with one input channel a tile
   is only kh*kw taps, and a call per tile cost a tenth of the layer) */
SN_FUSED static void SN_S1_FN(forward)(const T* restrict xp, const T* restrict wp,
        const T* restrict bias, T* restrict y, Py_ssize_t C, Py_ssize_t PH, Py_ssize_t PW,
        Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t oy, Py_ssize_t F, Py_ssize_t plane, Py_ssize_t OW,
        int relu) {
    enum { FB = SN_S1_FILTERS, CHUNK = 2 * SN_LANES };
    for (Py_ssize_t f0 = 0; f0 < F; f0 += FB)
        for (Py_ssize_t ox0 = 0; ox0 < OW; ox0 += CHUNK)
            SN_S1_FN(forward_tile)(xp, wp + f0 * C * kh * kw, bias + f0, y + f0 * plane, C, PH, PW,
                                   kh, kw, oy, ox0, OW - ox0 < CHUNK ? OW - ox0 : CHUNK,
                                   F - f0 < FB ? F - f0 : FB, plane, OW, relu);
}
/* lanes [lo, hi) of the vector at src, the others 0 and not read (so src may point outside its
   row: the lanes read are inside it) */
static inline SN_V SN_S1_FN(span)(const T* src, int lo, int hi) {
    SN_S1_FOR_TYPE(SN_S1_SPAN_)
}
/* dx[y0 + r, x0 + t] of one input plane for r < rows, t < width (2 vectors of columns) from the
   upstream gradients g (F, OH, OW) of its image, read in place (rows above or below them read as the
   zero row, columns outside them as zero lanes), and w = &W[0, c, 0, 0] (filters wstride apart):
   dx[y, x] = sum of W[f,c,i,j] g[f, y+pt-i, x+pl-j]; RB rows a tile (a constant where inlined) */
SN_FUSED static inline __attribute__((always_inline)) void SN_S1_FN(input_rows)(
        const T* restrict g, const T* restrict zero, const T* restrict w, T* restrict dx,
        Py_ssize_t F, Py_ssize_t wstride, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t kh, Py_ssize_t kw,
        Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t y0, Py_ssize_t rows, Py_ssize_t x0, Py_ssize_t width,
        Py_ssize_t W, const int RB) {
    enum { L = SN_LANES };
    SN_V acc0[SN_S1_ROWS], acc1[SN_S1_ROWS];
    for (int r = 0; r < RB; r++) { acc0[r] = (SN_V){0}; acc1[r] = acc0[r]; }
    Py_ssize_t f = 0, i = 0;  /* do-while (F, kh, kw >= 1), as in forward */
    do {
        Py_ssize_t j = 0;
        do {
            const T wv = w[f * wstride + i * kw + j];
            const Py_ssize_t c = x0 + pl - j;
            int lo0, hi0, lo1, hi1;
            sn_s1_span_bounds(c, OW, L, &lo0, &hi0);
            sn_s1_span_bounds(c + L, OW, L, &lo1, &hi1);
            for (int r = 0; r < RB; r++) {
                const Py_ssize_t q = y0 + r + pt - i;
                const T* row = (q >= 0 && q < OH ? g + (f * OH + q) * OW : zero) + c;
                acc0[r] += wv * SN_S1_FN(span)(row, lo0, hi0);
                acc1[r] += wv * SN_S1_FN(span)(row + L, lo1, hi1);
            }
        } while (++j < kw);
        if (++i == kh) {
            i = 0;
            f++;
        }
    } while (f < F);
    for (int r = 0; r < RB; r++) {
        if (r < rows) SN_S1_FN(store)(dx + (y0 + r) * W + x0, acc0[r], acc1[r], width);
    }
}
/* the same tile for a kernel height KH known when compiled (3 and 5): a loaded row of gradients
   g[f, y0 + pt - (KH-1) + s, ...] is read by every (row r, tap i) with r - i + KH - 1 = s, so it is
   loaded once for up to KH multiply-adds (RB + KH - 1 row loads per filter and tap column, not
   RB * KH) */
SN_FUSED static inline __attribute__((always_inline)) void SN_S1_FN(input_kh)(
        const T* restrict g, const T* restrict zero, const T* restrict w, T* restrict dx,
        Py_ssize_t F, Py_ssize_t wstride, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t kw, Py_ssize_t pt,
        Py_ssize_t pl, Py_ssize_t y0, Py_ssize_t rows, Py_ssize_t x0, Py_ssize_t width, Py_ssize_t W,
        const int RB, const int KH) {
    enum { L = SN_LANES };
    SN_V acc0[SN_S1_ROWS], acc1[SN_S1_ROWS];
    for (int r = 0; r < RB; r++) { acc0[r] = (SN_V){0}; acc1[r] = acc0[r]; }
    const Py_ssize_t q0 = y0 + pt - (KH - 1);  /* the gradient row of s = 0 */
    Py_ssize_t f = 0, j = 0;  /* do-while (F, kw >= 1), as in forward */
    do {
        T wv[5];
        for (int i = 0; i < KH; i++) wv[i] = w[f * wstride + i * kw + j];
        const Py_ssize_t c = x0 + pl - j;
        int lo0, hi0, lo1, hi1;
        sn_s1_span_bounds(c, OW, L, &lo0, &hi0);
        sn_s1_span_bounds(c + L, OW, L, &lo1, &hi1);
        const T* gf = g + f * OH * OW;
        #pragma GCC unroll 16  /* whole, so that every acc index is a constant */
        for (int s = 0; s < RB + KH - 1; s++) {
            const Py_ssize_t q = q0 + s;
            const T* row = (q >= 0 && q < OH ? gf + q * OW : zero) + c;
            const SN_V a = SN_S1_FN(span)(row, lo0, hi0);
            const SN_V b = SN_S1_FN(span)(row + L, lo1, hi1);
            #pragma GCC unroll 8
            for (int i = 0; i < KH; i++) {
                const int r = s - (KH - 1) + i;
                if (r >= 0 && r < RB) {
                    acc0[r] += wv[i] * a;
                    acc1[r] += wv[i] * b;
                }
            }
        }
        if (++j == kw) {
            j = 0;
            f++;
        }
    } while (f < F);
    for (int r = 0; r < RB; r++) {
        if (r < rows) SN_S1_FN(store)(dx + (y0 + r) * W + x0, acc0[r], acc1[r], width);
    }
}
/* the tiles above with rb = SN_S1_ROWS or SN_S1_ROWS - 1 rows (the one that wastes fewer on the
   image's height: 7 for the course's 28 and 14 rows), kernel heights 3 and 5 on their own tiles */
SN_FUSED static void SN_S1_FN(input)(const T* restrict g, const T* restrict zero,
        const T* restrict w, T* restrict dx, Py_ssize_t F, Py_ssize_t wstride, Py_ssize_t OH,
        Py_ssize_t OW, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t y0,
        Py_ssize_t rows, Py_ssize_t x0, Py_ssize_t width, Py_ssize_t W, int rb) {
    const int full = rb == SN_S1_ROWS;
    if (kh == 5 && full)
        SN_S1_FN(input_kh)(g, zero, w, dx, F, wstride, OH, OW, kw, pt, pl, y0, rows, x0, width, W,
                           SN_S1_ROWS, 5);
    else if (kh == 5)
        SN_S1_FN(input_kh)(g, zero, w, dx, F, wstride, OH, OW, kw, pt, pl, y0, rows, x0, width, W,
                           SN_S1_ROWS - 1, 5);
    else if (kh == 3 && full)
        SN_S1_FN(input_kh)(g, zero, w, dx, F, wstride, OH, OW, kw, pt, pl, y0, rows, x0, width, W,
                           SN_S1_ROWS, 3);
    else if (kh == 3)
        SN_S1_FN(input_kh)(g, zero, w, dx, F, wstride, OH, OW, kw, pt, pl, y0, rows, x0, width, W,
                           SN_S1_ROWS - 1, 3);
    else if (full)
        SN_S1_FN(input_rows)(g, zero, w, dx, F, wstride, OH, OW, kh, kw, pt, pl, y0, rows, x0,
                             width, W, SN_S1_ROWS);
    else
        SN_S1_FN(input_rows)(g, zero, w, dx, F, wstride, OH, OW, kh, kw, pt, pl, y0, rows, x0,
                             width, W, SN_S1_ROWS - 1);
}
/* out[f, t] = dW[f0 + f, c, tap t] for f < WFILTERS, t < TAPS, and out[f, TAPS] = db[f0 + f]: the sums
   over images, rows and columns of g[n, f0+f, oy, ox] * xpad[n, c, oy + i, ox + j] (tap t at offset
   offsets[t] = i*PW + j) and of g[n, f0+f, oy, ox]; out for f >= nf is not meaningful. One vector
   of columns at a time in T, each image's lanes then added into doubles (so the float32 sums run
   over one image, not the batch), the lanes summed last in a fixed order */
SN_FUSED static void SN_S1_FN(weights)(const T* restrict xpad, const T* restrict g,
        double* restrict out, const Py_ssize_t* offsets, Py_ssize_t N, Py_ssize_t C, Py_ssize_t c,
        Py_ssize_t F, Py_ssize_t f0, Py_ssize_t nf, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
        Py_ssize_t OW) {
    enum { L = SN_LANES, FB = SN_S1_WFILTERS, TJ = SN_S1_TAPS };
    double sums[FB * (TJ + 1) * L];
    T image[FB * (TJ + 1) * L];  /* one image's lanes (whole-vector stores: subscripting a vector,
                                    GCC kept the tile in memory) */
    memset(sums, 0, sizeof sums);
    /* filters past nf read filter f0's gradients: their sums are computed and never used */
    Py_ssize_t goff[FB];
    for (int f = 0; f < FB; f++) goff[f] = (f < nf ? f : 0) * OH * OW;
    Py_ssize_t n = 0;
    do {  /* do-while (N, OH >= 1): with a path that skips the loops, GCC kept acc in memory */
        SN_V acc[FB][TJ], bias[FB];
        for (int f = 0; f < FB; f++) {
            bias[f] = (SN_V){0};
            for (int t = 0; t < TJ; t++) acc[f][t] = (SN_V){0};
        }
        Py_ssize_t oy = 0;
        do {
            const T* xr = xpad + ((n * C + c) * PH + oy) * PW;
            const T* gr = g + ((n * F + f0) * OH + oy) * OW;
            for (Py_ssize_t ox0 = 0; ox0 < OW; ox0 += L) {  /* lanes past OW read as 0 */
                const Py_ssize_t count = OW - ox0 < L ? OW - ox0 : L;
                SN_V gv[FB];
                for (int f = 0; f < FB; f++) {
                    gv[f] = SN_S1_FN(head)(gr + goff[f] + ox0, count);
                    bias[f] += gv[f];
                }
                for (int t = 0; t < TJ; t++) {
                    const SN_V s = *(const SN_V*)(xr + ox0 + offsets[t]);
                    for (int f = 0; f < FB; f++) acc[f][t] += gv[f] * s;
                }
            }
        } while (++oy < OH);
        for (int f = 0; f < FB; f++) {
            for (int t = 0; t < TJ; t++) *(SN_V*)(image + (f * (TJ + 1) + t) * L) = acc[f][t];
            *(SN_V*)(image + (f * (TJ + 1) + TJ) * L) = bias[f];
        }
        for (int k = 0; k < FB * (TJ + 1) * L; k++) sums[k] += (double)image[k];
    } while (++n < N);
    for (int f = 0; f < FB; f++)
        for (int t = 0; t <= TJ; t++) {
            double total = 0;
            for (int l = 0; l < L; l++) total += sums[(f * (TJ + 1) + t) * L + l];
            out[f * (TJ + 1) + t] = total;
        }
}

#undef T
#undef SN_V
#undef SN_LANES
#undef SN_S1_FN
#undef SN_S1_FOR_TYPE
#undef SN_S1_TYPE
#undef SN_S1_SUFFIX
