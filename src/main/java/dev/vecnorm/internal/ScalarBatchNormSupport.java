package dev.vecnorm.internal;

/**
 * Plain Java implementation: the fallback when the Vector API is missing, and the baseline the vector
 * kernels are tested and benchmarked against. Its statistics are blocked two-pass in every layout;
 * the vector implementation's channels-last statistics are one-pass shifted sums (one read of memory),
 * so the two agree to rounding, within the accuracy contract, not to the bit. Both apply the same exact
 * double path to channels whose float result is not finite ({@link #redoNonFinite}).
 */
public final class ScalarBatchNormSupport implements BatchNormSupport {

  public static final ScalarBatchNormSupport INSTANCE = new ScalarBatchNormSupport();

  private ScalarBatchNormSupport() {}

  @Override
  public String name() {
    return "scalar";
  }

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                      float[] variance) {
    momentsM2(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
    toVariance(variance, channels, (double) outer * inner);
    redoNonFinite(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
  }

  /** M2 to the biased variance, in double. */
  static void toVariance(float[] m2, int channels, double count) {
    for (int c = 0; c < channels; c++) m2[c] = (float) (m2[c] / count);
  }

  /**
   * The float kernels either return accurate moments or overflow somewhere (a sum, a square, a shifted
   * value), and every overflow reaches the channel's mean or variance as Inf or NaN. So a channel whose
   * float result is not finite is recomputed exactly here, in double: a cold path that finite data of
   * ordinary range never takes. This gives the rule of {@link BatchNormSupport#moments}, the same for
   * every layout and both implementations.
   */
  static void redoNonFinite(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                            float[] variance) {
    for (int c = 0; c < channels; c++) {
      if (!Float.isFinite(mean[c]) || !Float.isFinite(variance[c])) {
        exactChannel(x, xOffset, outer, channels, inner, c, mean, variance);
        if (meanResidual != null) meanResidual[c] = 0; // the exact path's mean error is far below the variance's
      }
    }
  }

  /**
   * {@code mean[c] += pivot} for channels whose mean was accumulated relative to their first element
   * ({@code x[xOffset + c * stride]}), keeping the rounding error of that last add in
   * {@code meanResidual[c]} when asked. The double sum of two floats is exact (or off far below half a
   * float ulp), so {@code mean[c]} has the same bits as the float add.
   */
  static void addPivots(float[] x, int xOffset, int channels, int stride, float[] mean, float[] meanResidual) {
    for (int c = 0; c < channels; c++) {
      double m = (double) mean[c] + x[xOffset + c * stride];
      mean[c] = (float) m;
      if (meanResidual != null) meanResidual[c] = (float) (m - mean[c]);
    }
  }

  /**
   * Two-pass moments of channel c in double. The double sum of at most 2^31 floats cannot overflow, so it
   * is finite exactly when the channel holds no NaN or infinity; then the mean is finite and the variance
   * is the correctly rounded float of the double one (+Inf only when it exceeds Float.MAX_VALUE).
   * Otherwise the mean is the double {@code sum / n} (+-Inf for infinities of one sign, NaN for a NaN or
   * both signs) and the variance is NaN.
   */
  private static void exactChannel(float[] x, int xOffset, int outer, int channels, int inner, int c, float[] mean, float[] variance) {
    double n = (double) outer * inner, sum = 0;
    for (int o = 0; o < outer; o++) {
      int base = xOffset + (o * channels + c) * inner;
      for (int i = 0; i < inner; i++) sum += x[base + i];
    }
    double m = sum / n;
    if (!Double.isFinite(m)) {
      mean[c] = Double.isNaN(m) ? Float.NaN : (float) m; // canonical NaN: the same bits whatever the input payload
      variance[c] = Float.NaN;
      return;
    }
    double sq = 0;
    for (int o = 0; o < outer; o++) {
      int base = xOffset + (o * channels + c) * inner;
      for (int i = 0; i < inner; i++) {
        double d = x[base + i] - m;
        sq += d * d;
      }
    }
    mean[c] = (float) m;
    variance[c] = (float) (sq / n);
  }

  private static void momentsM2(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                                float[] m2) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          momentsLastBlock(x, xOffset, xOffset + r0 * channels + c, channels, n, r0, c, mean, m2);
        }
      }
      addPivots(x, xOffset, channels, 1, mean, meanResidual);
      return;
    }
    // Outer slices first, channels inside: memory is read in order, so the prefetcher keeps up even
    // when slices are short (channel-major order stalls on a cache miss per slice).
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int slice = xOffset + (o * channels + c) * inner;
        float pivot = x[xOffset + c * inner];
        for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
          int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0), base = slice + i0;
          float sum = 0;
          for (int i = 0; i < n; i++) sum += x[base + i];
          float center = sum / n;
          float sumD = 0, sumD2 = 0;
          for (int i = 0; i < n; i++) {
            float d = x[base + i] - center;
            sumD += d;
            sumD2 += d * d;
          }
          mergeBlock(mean, m2, c, (center - pivot) + sumD / n, Math.max(0f, sumD2 - sumD * (sumD / n)), n, o * inner + i0);
        }
      }
    }
    addPivots(x, xOffset, channels, inner, mean, meanResidual);
  }

  /**
   * One channel of one channels-last block, two-pass, merged into the running (mean - pivot, M2) of
   * the channel. The pivot is the channel's first element: keeping the running mean relative to it
   * keeps float merges accurate when |mean| is large against the spread.
   */
  static void momentsLastBlock(float[] x, int xOffset, int start, int stride, int n, int done, int c,
                               float[] mean, float[] m2) {
    float pivot = x[xOffset + c];
    float sum = 0;
    for (int r = 0, p = start; r < n; r++, p += stride) sum += x[p] - pivot;
    float center = pivot + sum / n;
    float sumD = 0, sumD2 = 0;
    for (int r = 0, p = start; r < n; r++, p += stride) {
      float d = x[p] - center;
      sumD += d;
      sumD2 += d * d;
    }
    // The correction terms undo the rounding of center: exact in exact arithmetic (corrected two-pass).
    mergeBlock(mean, m2, c, (center - pivot) + sumD / n, Math.max(0f, sumD2 - sumD * (sumD / n)), n, done);
  }

  /**
   * Chan's merge of a block's (n, mean - pivot, M2) into channel c's running (done, mean - pivot, M2).
   * Means stay relative to a pivot inside the data, so float merges keep digits under large offsets.
   */
  static void mergeBlock(float[] mean, float[] m2, int c, float blockMean, float blockM2, int n, int done) {
    if (done == 0) {
      mean[c] = blockMean;
      m2[c] = blockM2;
      return;
    }
    float total = (float) done + n;
    float delta = blockMean - mean[c];
    mean[c] += delta * (n / total);
    m2[c] += blockM2 + delta * delta * ((float) done * n / total);
  }

  /** Adds the pivots back: running means were kept relative to each channel's first element. */
  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          int off = r0 * channels + c;
          normalizeStrided(x, xOffset + off, y, yOffset + off, channels, n, mean[c],
              alpha(scale, fromVariance, epsilon, gamma, c), beta == null ? 0f : beta[c]);
        }
      }
      return;
    }
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int off = (o * channels + c) * inner;
        normalizeStrided(x, xOffset + off, y, yOffset + off, 1, inner, mean[c], alpha(scale, fromVariance, epsilon, gamma, c),
            beta == null ? 0f : beta[c]);
      }
    }
  }

  /** gamma * invStd for channel c, deriving invStd from a variance when asked. */
  static float alpha(float[] scale, boolean fromVariance, float epsilon, float[] gamma, int c) {
    float invStd = fromVariance ? invStd(scale[c], epsilon) : scale[c];
    return gamma == null ? invStd : gamma[c] * invStd;
  }

  /**
   * True when {@code a[from, to)} holds no infinity or NaN: an all-ones exponent plus one exponent step carries
   * into the sign bit, so the OR of those sums is negative exactly when some value is not finite. Branch-free,
   * so C2 vectorizes the OR; scalar, so a caller that runs it once a call allocates nothing while it is still
   * in C1 (a Vector API version cost 5 KB a call there on NHWC 64x56x56x64 statistics).
   */
  public static boolean allFinite(float[] a, int from, int to) {
    int bits = 0;
    for (int c = from; c < to; c++) bits |= (Float.floatToRawIntBits(a[c]) & 0x7f800000) + 0x00800000;
    return bits >= 0;
  }

  /** {@code 1 / sqrt(variance + epsilon)} as every inference path derives it (in double, rounded once). */
  public static float invStd(float variance, float epsilon) {
    return (float) (1.0 / Math.sqrt((double) variance + epsilon));
  }

  /**
   * {@link #invStd(float, float)} of {@code variance[from, to)} into {@code out}: one output per loop and no branch,
   * so C2 vectorizes the double square root and division (the folds and the statistics' finish run it every call).
   */
  public static void invStd(float[] variance, float epsilon, float[] out, int from, int to) {
    double eps = epsilon;
    for (int c = from; c < to; c++) out[c] = (float) (1.0 / Math.sqrt((double) variance[c] + eps));
  }

  /**
   * {@code y = (x - mean) * alpha + shift} over {@code n} elements {@code stride} apart. Subtracting
   * the mean before scaling, rather than folding it into the shift, keeps full precision when |mean|
   * is large against the spread, for one extra subtraction per element.
   */
  static void normalizeStrided(float[] x, int xStart, float[] y, int yStart, int stride, int n,
                               float mean, float alpha, float shift) {
    for (int i = 0, p = xStart, q = yStart; i < n; i++, p += stride, q += stride) {
      y[q] = Math.fma(x[p] - mean, alpha, shift);
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          int off = r0 * channels + c;
          reduceStrided(x, xOffset + off, dy, dyOffset + off, channels, n, mean[c], sumDy, sumDyXhat, c, r0 == 0);
        }
      }
    } else {
      for (int o = 0; o < outer; o++) {
        for (int c = 0; c < channels; c++) {
          int off = (o * channels + c) * inner;
          reduceStrided(x, xOffset + off, dy, dyOffset + off, 1, inner, mean[c], sumDy, sumDyXhat, c, o == 0);
        }
      }
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  /** Adds (or, when {@code first}, stores) sum dy and sum dy*(x - mean) of one strided run. */
  static void reduceStrided(float[] x, int xStart, float[] dy, int dyStart, int stride, int n, float mean,
                            float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    float sDy = 0, sDyX = 0;
    for (int i = 0, p = xStart, q = dyStart; i < n; i++, p += stride, q += stride) {
      float g = dy[q];
      sDy += g;
      sDyX = Math.fma(g, x[p] - mean, sDyX);
    }
    if (first) {
      sumDy[c] = sDy;
      sumDyXmu[c] = sDyX;
    } else {
      sumDy[c] += sDy;
      sumDyXmu[c] += sDyX;
    }
  }

  @Override
  public void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          int off = r0 * channels + c;
          applyStrided(x, xOffset + off, dy, dyOffset + off, dx, dxOffset + off, channels, n,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
      return;
    }
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int off = (o * channels + c) * inner;
        applyStrided(x, xOffset + off, dy, dyOffset + off, dx, dxOffset + off, 1, inner,
            mean, invStd, gamma, sumDy, sumDyXhat, count, c);
      }
    }
  }

  /**
   * {@code dx = a*dy + b*(x - mean) + k} with per-channel {@code a = gamma*invStd},
   * {@code b = -a*invStd*sumDyXhat/count}, {@code k = -a*sumDy/count}: the textbook
   * {@code gamma*invStd*(dy - mean(dy) - xhat*mean(dy*xhat))} expanded to two FMAs per element.
   */
  static void applyStrided(float[] x, int xStart, float[] dy, int dyStart, float[] dx, int dxStart, int stride, int n,
                           float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat,
                           double count, int c) {
    float a = Coefficients.backwardA(invStd, gamma, c);
    float b = Coefficients.backwardB(a, invStd, sumDyXhat, count, c), k = Coefficients.backwardK(a, sumDy, count, c);
    float m = mean[c];
    for (int i = 0, p = xStart, q = dyStart, r = dxStart; i < n; i++, p += stride, q += stride, r += stride) {
      dx[r] = Math.fma(dy[q], a, Math.fma(x[p] - m, b, k));
    }
  }
}
