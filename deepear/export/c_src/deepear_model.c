/* deepear portable C99 inference library (see deepear_model.h and docs/c_library.md).
 *
 * A port of the Python reference: deepear.audio.features (framing, Hann window, FFT, |X|^2, frame energy,
 * Slaney mel filterbank, log), deepear.audio.silence (adaptive noise floor), deepear.audio.voicing (frame
 * features with 20 frames of context, MLP), deepear.audio.pitch (YIN per frame and prosody statistics per
 * window; compiled only when the front end sets pitch_stats: DEEPEAR_PITCH), deepear.audio.frontend (window
 * selection, summary statistics) and deepear.deepx.quantize (int8 layers: round-half-even input quantisation,
 * int8 x int8 -> int32, per channel rescale, fp32 activation). float arithmetic except where the reference
 * sums in float64.
 */
#define DEEPEAR_WEIGHTS_IMPL
#include "deepear_model.h"

#include <math.h>
#include <string.h>

/* The arena is computed by the exporter from the same layout; a mismatch fails the build. */
typedef char deepear_arena_size_check[(sizeof(deepear_stream) == DEEPEAR_ARENA_BYTES) ? 1 : -1];

#define ACT_NONE 0
#define ACT_SIGMOID 1
#define ACT_RELU 2
#define ACT_TANH 3

/* ---------------------------------------------------------------------------------------------------- */
/* Names and shapes */
const char *deepear_task_name(int task) { return deepear_task_names[task]; }
int deepear_task_n_classes(int task) { return deepear_task_n_cls[task]; }
int deepear_task_is_speech(int task) { return deepear_task_speech[task]; }
const char *deepear_label(int task, int cls) { return deepear_labels[deepear_task_offset[task] + cls]; }
double deepear_group_window_s(int group) { return deepear_group_window_sec[group]; }
double deepear_group_hop_s(int group) { return deepear_group_hop_sec[group]; }
size_t deepear_arena_bytes(void) { return sizeof(deepear_stream); }
int deepear_is_float_build(void) {
#ifdef DEEPEAR_FLOAT
    return 1;
#else
    return 0;
#endif
}

/* ---------------------------------------------------------------------------------------------------- */
/* FFT: iterative radix-2 complex FFT of N/2 points, then the split that gives the real N-point spectrum. */
static void fft_complex(float *z, unsigned m, unsigned log2m) {
    unsigned i, j, len;
    for (i = 0; i < m; i++) {                       /* bit-reversal permutation */
        unsigned r = 0, v = i, b;
        for (b = 0; b < log2m; b++) {
            r = (r << 1) | (v & 1u);
            v >>= 1;
        }
        if (r > i) {
            float tr = z[2 * i], ti = z[2 * i + 1];
            z[2 * i] = z[2 * r];
            z[2 * i + 1] = z[2 * r + 1];
            z[2 * r] = tr;
            z[2 * r + 1] = ti;
        }
    }
    for (len = 2; len <= m; len <<= 1) {
        unsigned half = len >> 1, step = DEEPEAR_N_FFT / len;  /* W_len^j = W_N^(j * N / len) */
        for (i = 0; i < m; i += len) {
            for (j = 0; j < half; j++) {
                float wr = deepear_twiddle[2 * (j * step)], wi = -deepear_twiddle[2 * (j * step) + 1];
                float *a = z + 2 * (i + j), *b = z + 2 * (i + j + half);
                float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }
        }
    }
}

/* |rFFT(window * frame)|^2 into s->power (DEEPEAR_N_BINS values). */
static void power_spectrum(deepear_stream *s, const int16_t *frame) {
    const unsigned m = DEEPEAR_N_FFT / 2;
    float *z = s->fft;
    unsigned k;
    memset(z, 0, sizeof(s->fft));
    for (k = 0; k < DEEPEAR_WIN_LEN; k++) {         /* x[j] = pcm[j] / 32768 * w[j - pad]; z[n] = x[2n] + i x[2n+1] */
        unsigned j = k + DEEPEAR_WIN_PAD;
        z[j] = ((float)frame[j] * (1.0f / 32768.0f)) * deepear_window[k];
    }
    fft_complex(z, m, DEEPEAR_LOG2_N_FFT - 1);
    s->power[0] = (z[0] + z[1]) * (z[0] + z[1]);
    s->power[m] = (z[0] - z[1]) * (z[0] - z[1]);
    for (k = 1; k < m; k++) {
        float ar = z[2 * k], ai = z[2 * k + 1], br = z[2 * (m - k)], bi = z[2 * (m - k) + 1];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        float or_ = 0.5f * (ai + bi), oi = -0.5f * (ar - br);
        float c = deepear_twiddle[2 * k], sn = deepear_twiddle[2 * k + 1];  /* W_N^k = c - i sn */
        float xr = er + c * or_ + sn * oi, xi = ei + c * oi - sn * or_;
        s->power[k] = xr * xr + xi * xi;
    }
}

/* Mean-square level in dBFS (Parseval, float64 sum as the reference). */
static float energy_db(const float *p) {
    double total = 0.0;
    unsigned k;
    for (k = 0; k < DEEPEAR_N_BINS; k++) total += (double)p[k];
    total = 2.0 * total - (double)p[0] - (double)p[DEEPEAR_N_BINS - 1];
    return (float)(10.0 * log10(total / DEEPEAR_ENERGY_DENOM + 1e-10));
}

static void log_mel(const float *p, float *out) {
    float mx = 0.0f, floor_;
    unsigned b, i;
    for (b = 0; b < DEEPEAR_N_MELS; b++) {
        const float *w = deepear_mel_w + deepear_mel_off[b];
        const float *q = p + deepear_mel_start[b];
        float acc = 0.0f;
        for (i = 0; i < deepear_mel_len[b]; i++) acc += q[i] * w[i];
        out[b] = acc;
        if (b == 0 || acc > mx) mx = acc;
    }
    floor_ = mx * DEEPEAR_LOG_RANGE_FACTOR;
    if (floor_ < DEEPEAR_LOG_AMIN) floor_ = DEEPEAR_LOG_AMIN;
    for (b = 0; b < DEEPEAR_N_MELS; b++) out[b] = 10.0f * log10f(out[b] > floor_ ? out[b] : floor_);
}

void deepear_frame_features(deepear_stream *s, const int16_t *frame, float *lm, float *e_db) {
    power_spectrum(s, frame);
    *e_db = energy_db(s->power);
    log_mel(s->power, lm);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Silence filter: floor[t] = R(t) + min_{s<=t}(max(e[s], abs) - R(s)); active = e >= abs && e > floor + margin */
static int silence_active(deepear_stream *s, float e, uint32_t t) {
    double r = t + 1 > DEEPEAR_N_INIT ? DEEPEAR_RISE_PER_FRAME_DB * (double)(t - (DEEPEAR_N_INIT - 1)) : 0.0;
    double ed = (double)e, m = (ed > DEEPEAR_ABS_FLOOR_DB ? ed : DEEPEAR_ABS_FLOOR_DB) - r;
    if (t == 0 || m < s->floor_run_min) s->floor_run_min = m;
    return ed >= DEEPEAR_ABS_FLOOR_DB && ed > r + s->floor_run_min + DEEPEAR_MARGIN_DB;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Voicing indicator */
static float peakiness_db(const float *p, unsigned a, unsigned b) {
    float s1 = 0.0f, s2 = 0.0f;
    unsigned k;
    for (k = a; k < b; k++) {
        s1 += p[k];
        s2 += p[k] * p[k];
    }
    return 10.0f * log10f((float)(b - a) * s2 / (s1 * s1 + 1e-30f) + 1e-12f);
}

static float speech_prob(deepear_stream *s, const float *lm) {
    const unsigned n = DEEPEAR_VOI_N_LOW, c = DEEPEAR_VOI_CTX;
    const float inv_n = 1.0f / (float)DEEPEAR_VOI_N_LOW;
    float *f = s->voi_feat, lev = 0.0f, spread = 0.0f, flux1 = 0.0f, flux2 = 0.0f, dshape4 = 0.0f;
    float flat = peakiness_db(s->power, DEEPEAR_HARM_LO_A, DEEPEAR_HARM_LO_B), hi, lo, fsum, psum, logit;
    unsigned i, j, p1, p2, p4;
    for (i = 0; i < n; i++) lev += lm[i] * inv_n;
    if (s->voi_n == 0) {                            /* stream start: the first frame repeated into the past */
        for (j = 0; j < c; j++) {
            memcpy(s->voi_low + j * n, lm, n * sizeof(float));
            s->voi_lev[j] = lev;
            s->voi_flux[j] = 0.0f;
            s->voi_flat[j] = flat;
        }
        s->voi_n = c;
        s->voi_pos = 0;
    }
    p1 = (s->voi_pos + c - 1) % c;                  /* slots of frames t-1, t-2, t-4 */
    p2 = (s->voi_pos + c - 2) % c;
    p4 = (s->voi_pos + c - 4) % c;
    for (i = 0; i < n; i++) {
        float sh = lm[i] - lev;
        float sh4 = s->voi_low[p4 * n + i] - s->voi_lev[p4];
        f[i] = sh;
        spread += sh * sh * inv_n;
        flux1 += fabsf(lm[i] - s->voi_low[p1 * n + i]) * inv_n;
        flux2 += fabsf(lm[i] - s->voi_low[p2 * n + i]) * inv_n;
        dshape4 += fabsf(sh - sh4) * inv_n;
    }
    hi = lo = lev;                                  /* level range over the last CTX frames (incl. this one) */
    for (j = 1; j < c; j++) {
        float v = s->voi_lev[(s->voi_pos + c - j) % c];
        if (v > hi) hi = v;
        if (v < lo) lo = v;
    }
    fsum = flux1;
    psum = flat;
    for (j = 1; j < DEEPEAR_VOI_SHORT; j++) {
        fsum += s->voi_flux[(s->voi_pos + c - j) % c];
        psum += s->voi_flat[(s->voi_pos + c - j) % c];
    }
    f[n] = sqrtf(spread);
    f[n + 1] = flat;
    f[n + 2] = peakiness_db(s->power, DEEPEAR_HARM_HI_A, DEEPEAR_HARM_HI_B);
    f[n + 3] = flux1;
    f[n + 4] = flux2;
    f[n + 5] = dshape4;
    f[n + 6] = lev - s->voi_lev[p2];
    f[n + 7] = hi - lev;
    f[n + 8] = lev - lo;
    f[n + 9] = fsum / (float)DEEPEAR_VOI_SHORT;
    f[n + 10] = psum / (float)DEEPEAR_VOI_SHORT;
    /* push this frame into the context ring */
    memcpy(s->voi_low + s->voi_pos * n, lm, n * sizeof(float));
    s->voi_lev[s->voi_pos] = lev;
    s->voi_flux[s->voi_pos] = flux1;
    s->voi_flat[s->voi_pos] = flat;
    s->voi_pos = (s->voi_pos + 1) % c;
    /* MLP: standardisation folded into w1 (w1 * scale, b1 - (mean * scale) @ w1), relu, dense(1), sigmoid */
    for (j = 0; j < DEEPEAR_VOI_HIDDEN; j++) s->voi_hidden[j] = deepear_voi_b1[j];
    for (i = 0; i < DEEPEAR_VOI_N_FEAT; i++) {
        const float *w = deepear_voi_w1 + i * DEEPEAR_VOI_HIDDEN;
        for (j = 0; j < DEEPEAR_VOI_HIDDEN; j++) s->voi_hidden[j] += f[i] * w[j];
    }
    logit = DEEPEAR_VOI_B2;
    for (j = 0; j < DEEPEAR_VOI_HIDDEN; j++) logit += (s->voi_hidden[j] > 0.0f ? s->voi_hidden[j] : 0.0f) * deepear_voi_w2[j];
    if (logit > 30.0f) logit = 30.0f;
    if (logit < -30.0f) logit = -30.0f;
    return 1.0f / (1.0f + expf(-logit));
}

#ifdef DEEPEAR_PITCH
/* ---------------------------------------------------------------------------------------------------- */
/* Pitch tracker (deepear.audio.pitch.pitch_track): YIN on the front-end frame itself, no look-ahead.
 *
 * The difference function d(tau) = sum_{j<W} (x[j] - x[j+tau])^2 = e(0) + e(tau) - 2 r(tau) (W = N_FFT -
 * TAU_MAX; e(tau) the energy of x[tau..tau+W), r(tau) = sum_{j<W} x[j] x[j+tau]) is computed directly, in
 * integers on the int16 samples: TAU_MAX * W multiply-accumulates per frame (214 x 298 = 64k for 75-500 Hz),
 * where the Python reference takes an FFT cross-correlation in float64. Why direct: on the targets of this
 * library (a Cortex-M4 has a single-precision FPU and no double hardware) int16 x int16 products accumulated
 * in int64 are single-cycle DSP instructions (SMLAL, SMLALD for two) and need no FFT buffers, while double
 * FFTs would be emulated in software and the float32 FFT of the log-mel path is far too coarse for a
 * difference of near-equal energies; and the integer sums are exact (|x| <= 2^15, at most N_FFT terms), so d
 * is the reference's d without its FFT round-off (about 1e-16 of the frame energy; the int16 -> float scale
 * 2^-30 cancels in the normalisation). The cumulative-mean
 * normalisation, the threshold search and the parabolic interpolation then run in double in the reference's
 * order of operations. The search stops at the first lag YIN accepts (the rule needs no later lag), so a
 * voiced frame costs less than noise, whose frames take every lag. */
void deepear_pitch_frame(deepear_stream *s, const int16_t *x, float *f0_hz, float *aperiodicity) {
    const int n = DEEPEAR_PITCH_N_LAGS;             /* dn[i]: lag TAU_MIN + i */
    double *dn = s->pitch_dn, ap, a, c, den, shift = 0.0;
    int64_t e0 = 0, et, cum = 0;
    int tau, j, i, k = -1;
    for (j = 0; j < DEEPEAR_PITCH_W; j++) e0 += (int32_t)x[j] * (int32_t)x[j];
    et = e0;
    for (tau = 1; tau <= DEEPEAR_PITCH_TAU_MAX; tau++) {
        int64_t r0 = 0, r1 = 0, r2 = 0, r3 = 0, d;  /* r in 4 partial sums: exact in any order, ~3x faster */
        const int16_t *y = x + tau;
        et += (int32_t)y[DEEPEAR_PITCH_W - 1] * (int32_t)y[DEEPEAR_PITCH_W - 1]   /* e(tau) from e(tau - 1) */
              - (int32_t)x[tau - 1] * (int32_t)x[tau - 1];
        for (j = 0; j + 4 <= DEEPEAR_PITCH_W; j += 4) {
            r0 += (int32_t)x[j] * (int32_t)y[j];
            r1 += (int32_t)x[j + 1] * (int32_t)y[j + 1];
            r2 += (int32_t)x[j + 2] * (int32_t)y[j + 2];
            r3 += (int32_t)x[j + 3] * (int32_t)y[j + 3];
        }
        for (; j < DEEPEAR_PITCH_W; j++) r0 += (int32_t)x[j] * (int32_t)y[j];
        d = e0 + et - 2 * ((r0 + r1) + (r2 + r3));  /* >= 0, exact */
        cum += d;
        i = tau - DEEPEAR_PITCH_TAU_MIN;
        if (i < 0) continue;
        dn[i] = cum > 0 ? (double)d * (double)tau / (double)cum : 0.0;
        /* YIN's absolute threshold: the first lag under it that is a local minimum (<= the next lag) */
        if (i > 0 && dn[i - 1] < DEEPEAR_PITCH_THRESHOLD && dn[i - 1] <= dn[i]) {
            k = i - 1;
            break;
        }
    }
    if (k < 0) {                                    /* none: the global minimum (its first occurrence) */
        k = 0;
        for (i = 1; i < n; i++)
            if (dn[i] < dn[k]) k = i;
    }
    ap = dn[k];
    a = dn[k > 0 ? k - 1 : 0];
    c = dn[k < n - 1 ? k + 1 : n - 1];
    den = a - 2.0 * ap + c;
    if (k > 0 && k < n - 1 && fabs(den) > 1e-12) {  /* parabolic interpolation of the lag */
        shift = 0.5 * (a - c) / den;
        if (shift > 1.0) shift = 1.0;
        if (shift < -1.0) shift = -1.0;
    }
    *f0_hz = (float)((double)DEEPEAR_SAMPLE_RATE / ((double)(k + DEEPEAR_PITCH_TAU_MIN) + shift));
    *aperiodicity = e0 == 0 ? 1.0f : (float)ap;     /* a digitally silent frame is aperiodic */
}

/* The frame's pitch into the rings: F0 in semitones re 100 Hz (float32 as the reference rounds it), aperiodicity. */
static void pitch_frame_to_ring(deepear_stream *s, uint32_t slot) {
    float f0, ap;
    double f;
    deepear_pitch_frame(s, s->pcm, &f0, &ap);
    f = (double)f0 > 1e-3 ? (double)f0 : 1e-3;
    s->ring_st[slot] = (float)(12.0 * log2(f / 100.0));
    s->ring_aper[slot] = ap;
}
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* The multi-task MLP */
static float activation(float x, int act) {
    switch (act) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_TANH: return tanhf(x);
    default: return x;
    }
}

#ifdef DEEPEAR_FLOAT
static void deepear_mlp_layer(deepear_stream *s, int li, const float *x, float *y) {
    const deepear_flayer *L = &deepear_flayers[li];
    int o, j;
    (void)s;
    for (o = 0; o < L->n_out; o++) {
        const float *w = L->w + (size_t)o * (size_t)L->n_in;
        float acc = 0.0f;
        for (j = 0; j < L->n_in; j++) acc += x[j] * w[j];
        y[o] = activation(acc + L->b[o], L->act);
    }
}
#else
static void deepear_mlp_layer(deepear_stream *s, int li, const float *x, float *y) {
    const deepear_qlayer *L = &deepear_qlayers[li];
    int8_t *q = s->act_q;
    int o, j;
    for (j = 0; j < L->n_in; j++) {                 /* round half to even, saturate to [-128, 127] */
        float r = rintf(x[j] / L->in_scale);
        q[j] = (int8_t)(r > 127.0f ? 127 : (r < -128.0f ? -128 : (int)r));
    }
    for (o = 0; o < L->n_out; o++) {
        const int8_t *w = L->w + (size_t)o * (size_t)L->n_in;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;     /* 4 partial sums: exact in int32, any order */
        for (j = 0; j + 4 <= L->n_in; j += 4) {
            a0 += (int32_t)q[j] * (int32_t)w[j];
            a1 += (int32_t)q[j + 1] * (int32_t)w[j + 1];
            a2 += (int32_t)q[j + 2] * (int32_t)w[j + 2];
            a3 += (int32_t)q[j + 3] * (int32_t)w[j + 3];
        }
        for (; j < L->n_in; j++) a0 += (int32_t)q[j] * (int32_t)w[j];
        y[o] = activation((float)(L->bias[o] + ((a0 + a1) + (a2 + a3))) * L->rescale[o], L->act);
    }
}
#endif

/* x (DEEPEAR_DIM raw) -> standardise -> trunk into s->trunk_out. */
static void deepear_mlp_trunk(deepear_stream *s, const float *x) {
    float *a = s->act_a, *b = s->act_b, *t;
    int i;
    for (i = 0; i < DEEPEAR_DIM; i++) a[i] = (x[i] - deepear_in_mean[i]) / deepear_in_std[i];
    for (i = 0; i < DEEPEAR_N_TRUNK; i++) {
        deepear_mlp_layer(s, i, a, b);
        t = a;
        a = b;
        b = t;
    }
    memcpy(s->trunk_out, a, sizeof(float) * DEEPEAR_TRUNK_OUT);
}

/* Head of `task` on s->trunk_out -> logits into out (n_classes). */
static void deepear_mlp_head(deepear_stream *s, int task, float *out) {
    const float *src = s->trunk_out;
    float *bufs[2];
    int i, n = deepear_task_n_layers[task], first = deepear_task_first_layer[task];
    bufs[0] = s->act_a;
    bufs[1] = s->act_b;
    for (i = 0; i < n; i++) {
        float *dst = (i == n - 1) ? out : bufs[i & 1];
        deepear_mlp_layer(s, first + i, src, dst);
        src = dst;
    }
}

void deepear_mlp_all(deepear_stream *s, const float *x, float *out) {
    int t;
    deepear_mlp_trunk(s, x);
    for (t = 0; t < DEEPEAR_N_TASKS; t++) deepear_mlp_head(s, t, out + deepear_task_offset[t]);
}

static int softmax_argmax(float *z, int n) {
    float mx = z[0], sum = 0.0f;
    int i, top = 0;
    for (i = 1; i < n; i++)
        if (z[i] > mx) {
            mx = z[i];
            top = i;
        }
    for (i = 0; i < n; i++) {
        z[i] = expf(z[i] - mx);
        sum += z[i];
    }
    for (i = 0; i < n; i++) z[i] /= sum;
    return top;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Windows: selection rule, summary statistics, routing */
static void heap_sort(float *v, int n) {
    int i, end;
    for (i = n / 2 - 1; i >= 0; i--) {
        int r = i;
        for (;;) {
            int c = 2 * r + 1;
            float t;
            if (c >= n) break;
            if (c + 1 < n && v[c + 1] > v[c]) c++;
            if (v[r] >= v[c]) break;
            t = v[r]; v[r] = v[c]; v[c] = t;
            r = c;
        }
    }
    for (end = n - 1; end > 0; end--) {
        float t = v[0];
        int r = 0;
        v[0] = v[end];
        v[end] = t;
        for (;;) {
            int c = 2 * r + 1;
            if (c >= end) break;
            if (c + 1 < end && v[c + 1] > v[c]) c++;
            if (v[r] >= v[c]) break;
            t = v[r]; v[r] = v[c]; v[c] = t;
            r = c;
        }
    }
}

static float quantile_sorted(const float *v, int k, double q) {
    double pos = q * (double)(k - 1);
    int lo = (int)floor(pos), hi = lo + 1 < k - 1 ? lo + 1 : k - 1;
    float frac = (float)(pos - (double)lo);
    return v[lo] + frac * (v[hi] - v[lo]);
}

/* Statistics `codes` (n; STAT_NAMES indices, with pitch also 7 = p10, 8 = p90) of the k values in s->sort_buf
 * -> out[0], out[1], ... (sorts sort_buf). Matches features.summary_stats_batch: mean in double, population
 * std, numpy's linear quantiles. */
static void band_stats(deepear_stream *s, int k, const uint8_t *codes, int n, float *out) {
    double sum = 0.0, ss = 0.0;
    float mean;
    int i, st;
    for (i = 0; i < k; i++) sum += (double)s->sort_buf[i];
    mean = (float)(sum / (double)k);
    for (i = 0; i < k; i++) {
        float d = s->sort_buf[i] - mean;
        ss += (double)(d * d);
    }
    heap_sort(s->sort_buf, k);
    for (st = 0; st < n; st++) {
        float v;
        switch (codes[st]) {
        case 0: v = mean; break;
        case 1: v = sqrtf((float)(ss / (double)k)); break;
        case 2: v = s->sort_buf[0]; break;
        case 3: v = s->sort_buf[k - 1]; break;
        case 4: v = quantile_sorted(s->sort_buf, k, 0.5); break;
        case 5: v = quantile_sorted(s->sort_buf, k, 0.25); break;
#ifdef DEEPEAR_PITCH
        case 7: v = quantile_sorted(s->sort_buf, k, 0.1); break;     /* p10, p90: pitch statistics only */
        case 8: v = quantile_sorted(s->sort_buf, k, 0.9); break;
#endif
        default: v = quantile_sorted(s->sort_buf, k, 0.75); break;
        }
        out[st] = v;
    }
}

#define RING_VALUE(s, start, i, b) ((s)->ring_values[(((start) + (i)) % DEEPEAR_MAX_WIN) * DEEPEAR_N_MELS + (b)])

#ifdef DEEPEAR_PITCH
/* Indices of PITCH_STAT_NAMES (deepear_pitch_code holds them in front_end.pitch_stats order; c_codegen maps
 * the names) and the statistics each part computes (DEEPEAR_PITCH_MASK: the requested ones). */
#define PS_VOICED_FRAC 0
#define PS_ST_MEAN 1
#define PS_ST_RANGE 6
#define PS_DST_ABSMED 7
#define PS_DST_STD 8
#define PS_APER_MEAN 9
#define PS_APER_P25 10
#define PS_N_NAMES 11
#define PS_NEED_ST (((DEEPEAR_PITCH_MASK) >> PS_ST_MEAN) & 0x3f)
#define PS_NEED_DST (((DEEPEAR_PITCH_MASK) >> PS_DST_ABSMED) & 0x3)
#define PS_NEED_APER (((DEEPEAR_PITCH_MASK) >> PS_APER_MEAN) & 0x3)
#define RING_VOICED(s, start, i) ((s)->ring_aper[((start) + (i)) % DEEPEAR_MAX_WIN] < DEEPEAR_PITCH_VOICED_MAX)
#define RING_ST(s, start, i) ((s)->ring_st[((start) + (i)) % DEEPEAR_MAX_WIN])

/* deepear.audio.pitch.window_stats of the window [start, start + w) over the frames the log-mel statistics use
 * (sel) -> out (DEEPEAR_N_PITCH values). A frame is voiced when selected and its aperiodicity is under
 * voiced_max (the reference's F0 > 0 always holds: F0 = sr / lag). F0 statistics over the voiced frames (0
 * with fewer than MIN_VOICED), movement over pairs of consecutive voiced frames (0 with fewer than 2 pairs),
 * aperiodicity over the selected frames. Uses s->sort_buf. */
static void pitch_window_stats(deepear_stream *s, uint32_t start, uint32_t w, const uint8_t *sel, float *out) {
    static const uint8_t aper_codes[2] = {0, 5};             /* mean, p25 */
    static const uint8_t st_codes[5] = {0, 1, 7, 4, 8};      /* mean, std, p10, median, p90 */
    static const uint8_t std_code[1] = {1}, median_code[1] = {4};
    float v[PS_N_NAMES], t[5];
    uint32_t i;
    int n_sel = 0, n_voiced = 0, n_pairs = 0, j;
    memset(v, 0, sizeof(v));
    for (i = 0; i < w; i++) {
        if (!sel[i]) continue;
        s->sort_buf[n_sel++] = s->ring_aper[(start + i) % DEEPEAR_MAX_WIN];
        n_voiced += RING_VOICED(s, start, i);
        if (i > 0 && sel[i - 1] && RING_VOICED(s, start, i) && RING_VOICED(s, start, i - 1)) n_pairs++;
    }
    if (n_sel > 0) {
        v[PS_VOICED_FRAC] = (float)((double)n_voiced / (double)n_sel);
        if (PS_NEED_APER) {
            band_stats(s, n_sel, aper_codes, 2, t);
            v[PS_APER_MEAN] = t[0];
            v[PS_APER_P25] = t[1];
        }
    }
    if (PS_NEED_ST && n_voiced >= DEEPEAR_PITCH_MIN_VOICED) {
        int k = 0;
        for (i = 0; i < w; i++)
            if (sel[i] && RING_VOICED(s, start, i)) s->sort_buf[k++] = RING_ST(s, start, i);
        band_stats(s, k, st_codes, 5, t);
        for (j = 0; j < 5; j++) v[PS_ST_MEAN + j] = t[j];      /* st_mean, st_std, st_p10, st_median, st_p90 */
        v[PS_ST_RANGE] = t[4] - t[2];
    }
    if (PS_NEED_DST && n_pairs >= 2) {               /* F0 movement, semitones per hop */
        int k = 0;
        for (i = 1; i < w; i++)
            if (sel[i] && sel[i - 1] && RING_VOICED(s, start, i) && RING_VOICED(s, start, i - 1))
                s->sort_buf[k++] = RING_ST(s, start, i) - RING_ST(s, start, i - 1);
        band_stats(s, k, std_code, 1, &v[PS_DST_STD]);
        for (j = 0; j < k; j++) s->sort_buf[j] = fabsf(s->sort_buf[j]);
        band_stats(s, k, median_code, 1, &v[PS_DST_ABSMED]);
    }
    for (j = 0; j < DEEPEAR_N_PITCH; j++) out[j] = v[deepear_pitch_code[j]];
}
#endif

/* Selected frames of the window [start, start + w) -> s->features; returns k (frames used).
 * Layout as features.window_vectors: N_STATS per band (band-major), then N_DSTATS per band of the deltas,
 * then the N_PITCH pitch statistics. */
static int window_stats(deepear_stream *s, uint32_t start, uint32_t w, const uint8_t *sel) {
    int b, k = 0;
    uint32_t i;
    for (b = 0; b < DEEPEAR_N_MELS; b++) {
        k = 0;
        for (i = 0; i < w; i++)
            if (sel[i]) s->sort_buf[k++] = RING_VALUE(s, start, i, b);
        band_stats(s, k, deepear_stat_code, DEEPEAR_N_STATS, &s->features[b * DEEPEAR_N_STATS]);
    }
#if DEEPEAR_N_DSTATS > 0
    /* deltas inside the window (features.window_deltas): d_i = sum_j j (x_min(i+j,w-1) - x_max(i-j,0)) / den */
    for (b = 0; b < DEEPEAR_N_MELS; b++) {
        const float den = (float)(DEEPEAR_DELTA_WIDTH * (DEEPEAR_DELTA_WIDTH + 1) * (2 * DEEPEAR_DELTA_WIDTH + 1) / 3);
        k = 0;
        for (i = 0; i < w; i++) {
            float acc = 0.0f;
            uint32_t j;
            if (!sel[i]) continue;
            for (j = 1; j <= DEEPEAR_DELTA_WIDTH; j++) {
                uint32_t hi = i + j < w ? i + j : w - 1, lo = i >= j ? i - j : 0;
                acc += (float)j * (RING_VALUE(s, start, hi, b) - RING_VALUE(s, start, lo, b));
            }
            s->sort_buf[k++] = acc / den;
        }
        band_stats(s, k, deepear_dstat_code, DEEPEAR_N_DSTATS,
                   &s->features[DEEPEAR_N_MELS * DEEPEAR_N_STATS + b * DEEPEAR_N_DSTATS]);
    }
#else
    (void)deepear_dstat_code;
#endif
#ifdef DEEPEAR_PITCH
    pitch_window_stats(s, start, w, sel, &s->features[DEEPEAR_DIM - DEEPEAR_N_PITCH]);
#endif
    return k;
}

#if DEEPEAR_ADAPT_GROUP >= 0
/* Per-speaker adaptation (deepear.audio.speaker_norm.RunningSpeakerStats, same float operations in the same
 * order): add the window to the stream's statistics (Welford), and adapt it with them combined with a prior of
 * DEEPEAR_AD_PRIOR pseudo-windows at the training population's mean / std. */
static void adapt_update(deepear_stream *s) {
    int i;
    float n;
    s->ad_n++;
    n = (float)s->ad_n;
    for (i = 0; i < DEEPEAR_DIM; i++) {
        float x = s->features[i], d = x - s->ad_mean[i];
        s->ad_mean[i] = s->ad_mean[i] + d / n;
        s->ad_m2[i] = s->ad_m2[i] + d * (x - s->ad_mean[i]);
    }
}

static void adapt_apply(deepear_stream *s) {
    const float n = (float)s->ad_n, n0 = DEEPEAR_AD_PRIOR, tot = n + n0, w = n / tot, c = n * n0 / tot;
    int i;
    for (i = 0; i < DEEPEAR_DIM; i++) {
        float rm = deepear_ad_ref_mean[i], rs = deepear_ad_ref_std[i];
        float d = s->ad_mean[i] - rm;
        float mu = rm + d * w;
        float m2 = s->ad_m2[i] + n0 * (rs * rs) + (d * d) * c;
        float sd = sqrtf(m2 / tot), fl = DEEPEAR_AD_FLOOR * rs;
        if (sd < fl) sd = fl;
        s->ad_x[i] = rm + rs * ((s->features[i] - mu) / sd);
    }
}
#endif

static void emit_window(deepear_stream *s, int g, uint32_t start, uint32_t w, int partial, deepear_event_fn cb,
                        void *user) {
    uint8_t sel[DEEPEAR_MAX_WIN];
    const float *x_in = NULL;
    deepear_event ev;
    uint32_t i, n_active = 0;
    int any_audible = 0, use_active, k = 0, t, trunk_done = 0;
    double score = 0.0;
    for (i = 0; i < w; i++) {
        uint32_t slot = (start + i) % DEEPEAR_MAX_WIN;
        n_active += s->ring_active[slot];
        if (s->ring_energy[slot] > DEEPEAR_ABS_FLOOR_DB) any_audible = 1;
    }
    use_active = n_active >= DEEPEAR_MIN_ACTIVE;
    memset(&ev, 0, sizeof(ev));
    ev.silent = !use_active && !any_audible;
    for (i = 0; i < w; i++) {
        uint32_t slot = (start + i) % DEEPEAR_MAX_WIN;
        sel[i] = (uint8_t)(use_active ? s->ring_active[slot] : (ev.silent ? 1 : s->ring_energy[slot] > DEEPEAR_ABS_FLOOR_DB));
        if (sel[i]) {
            score += (double)s->ring_speech[slot];
            k++;
        }
    }
    score = ev.silent ? 0.0 : score / (double)(k > 0 ? k : 1);
#ifdef DEEPEAR_STAT_VOICED
    /* front_end.stat_frames = "voiced": the statistics use, of the frames chosen above, those the voicing
     * indicator calls speech, when there are at least DEEPEAR_VOICED_MIN of them (the speech score, the voiced
     * flag and n_selected keep the frames chosen above) */
    if (!ev.silent) {
        uint32_t n_voiced = 0;
        for (i = 0; i < w; i++)
            n_voiced += (uint32_t)(sel[i] && s->ring_speech[(start + i) % DEEPEAR_MAX_WIN] > DEEPEAR_FRAME_THRESHOLD);
        if (n_voiced >= DEEPEAR_VOICED_MIN)
            for (i = 0; i < w; i++)
                sel[i] = (uint8_t)(sel[i] && s->ring_speech[(start + i) % DEEPEAR_MAX_WIN] > DEEPEAR_FRAME_THRESHOLD);
    }
#endif
    window_stats(s, start, w, sel);
    ev.speech_score = (float)score;
    ev.voiced = !ev.silent && (float)score > DEEPEAR_WINDOW_THRESHOLD;
    ev.t_start = (double)start * DEEPEAR_HOP_S;
    ev.t_end = (double)(start + w - 1) * DEEPEAR_HOP_S + DEEPEAR_FRAME_S;
    ev.group = g;
    ev.partial = partial;
    ev.n_selected = k;
    ev.features = s->features;
    x_in = s->features;
    ev.n_tasks = deepear_group_n_tasks[g];
#if DEEPEAR_ADAPT_GROUP >= 0
    if (g == DEEPEAR_ADAPT_GROUP && !ev.silent) {
        if (ev.voiced) adapt_update(s);
        adapt_apply(s);
        x_in = s->ad_x;
    }
#else
    (void)deepear_ad_ref_mean;
    (void)deepear_ad_ref_std;
#endif
    for (t = 0; t < ev.n_tasks; t++) {
        int task = deepear_group_tasks[g][t];
        ev.task[t] = task;
        ev.top[t] = -1;
        ev.probs[t] = NULL;
        if (ev.silent) {
            ev.status[t] = DEEPEAR_TASK_SKIPPED_SILENT;
        } else if (s->routing && deepear_task_speech[task] && !ev.voiced) {
            ev.status[t] = DEEPEAR_TASK_SKIPPED_NOT_SPEECH;
        } else {
            float *p = s->probs + deepear_task_offset[task];
            if (!trunk_done) {
                deepear_mlp_trunk(s, x_in);
                trunk_done = 1;
            }
            deepear_mlp_head(s, task, p);
            ev.status[t] = DEEPEAR_TASK_RAN;
            ev.top[t] = softmax_argmax(p, deepear_task_n_cls[task]);
            ev.probs[t] = p;
        }
    }
    s->n_emitted[g]++;
    if (cb) cb(&ev, user);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Streaming */
void deepear_init(deepear_stream *s) {
    memset(s, 0, sizeof(*s));
    s->routing = 1;
}

void deepear_set_routing(deepear_stream *s, int on) { s->routing = on ? 1u : 0u; }

static void process_frame(deepear_stream *s, deepear_event_fn cb, void *user) {
    uint32_t t = s->n_frames, slot = t % DEEPEAR_MAX_WIN;
    float *lm = s->ring_values + slot * DEEPEAR_N_MELS, e;
    int g;
    deepear_frame_features(s, s->pcm, lm, &e);
    s->ring_energy[slot] = e;
    s->ring_active[slot] = (uint8_t)silence_active(s, e, t);
    s->ring_speech[slot] = speech_prob(s, lm);
#ifdef DEEPEAR_PITCH
    pitch_frame_to_ring(s, slot);
#endif
    s->n_frames = t + 1;
    for (g = 0; g < DEEPEAR_N_GROUPS; g++) {
        uint32_t w = deepear_group_win[g], h = deepear_group_hop[g];
        if (s->n_frames >= w && (s->n_frames - w) % h == 0) emit_window(s, g, s->n_frames - w, w, 0, cb, user);
    }
}

void deepear_push(deepear_stream *s, const int16_t *pcm, size_t n, deepear_event_fn cb, void *user) {
    while (n > 0) {
        size_t take = DEEPEAR_N_FFT - s->n_pcm;
        if (take > n) take = n;
        memcpy(s->pcm + s->n_pcm, pcm, take * sizeof(int16_t));
        s->n_pcm += (uint32_t)take;
        pcm += take;
        n -= take;
        if (s->n_pcm == DEEPEAR_N_FFT) {
            process_frame(s, cb, user);
            memmove(s->pcm, s->pcm + DEEPEAR_HOP, (DEEPEAR_N_FFT - DEEPEAR_HOP) * sizeof(int16_t));
            s->n_pcm = DEEPEAR_N_FFT - DEEPEAR_HOP;
        }
    }
}

void deepear_flush(deepear_stream *s, deepear_event_fn cb, void *user) {
    int g;
    uint32_t routing = s->routing;
    for (g = 0; g < DEEPEAR_N_GROUPS; g++)
        if (s->n_emitted[g] == 0 && s->n_frames > 0) emit_window(s, g, 0, s->n_frames, 1, cb, user);
    deepear_init(s);
    s->routing = routing;
}
