package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Plain Java implementation: the fallback when the Vector API is missing, and the baseline the vector
 * kernels are tested and benchmarked against. It sweeps memory in the same blocks and order as the
 * vector implementation, which reuses its per-channel loops for channel tails.
 */
public final class ScalarBatchNormSupport implements BatchNormSupport {

  public static final ScalarBatchNormSupport INSTANCE = new ScalarBatchNormSupport();

  static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private ScalarBatchNormSupport() {}

  @Override
  public String name() {
    return "scalar";
  }

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean, float[] m2) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          momentsLastBlock(x, xOffset, xOffset + r0 * rowBytes + c * 4L, rowBytes, n, r0, c, mean, m2);
        }
      }
      finishLast(x, xOffset, channels, 0, mean);
    } else {
      for (int c = 0; c < channels; c++) {
        // Running (count, mean, M2) in double locals: no allocation, and no float drift across blocks.
        double count = 0, runMean = 0, runM2 = 0;
        for (int o = 0; o < outer; o++) {
          long slice = xOffset + ((long) o * channels + c) * inner * 4L;
          for (long i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
            long n = Math.min(Blocking.BLOCK_FLOATS, inner - i0);
            long base = slice + i0 * 4L;
            float center = sumContiguous(x, base, n) / n;
            float sumD = 0, sumD2 = 0;
            for (long i = 0; i < n; i++) {
              float d = x.get(FLOAT_LE, base + i * 4) - center;
              sumD += d;
              sumD2 += d * d;
            }
            double blockMean = center + (double) sumD / n;
            double blockM2 = Math.max(0.0, sumD2 - (double) sumD * sumD / n);
            double total = count + n;
            double delta = blockMean - runMean;
            runMean += delta * (n / total);
            runM2 += blockM2 + delta * delta * (count * n / total);
            count = total;
          }
        }
        mean[c] = (float) runMean;
        m2[c] = (float) runM2;
      }
    }
  }

  static float sumContiguous(MemorySegment x, long base, long n) {
    float sum = 0;
    for (long i = 0; i < n; i++) sum += x.get(FLOAT_LE, base + i * 4);
    return sum;
  }

  /**
   * One channel of one channels-last block, two-pass, merged into the running (mean - pivot, M2) of
   * the channel. The pivot is the channel's first element: keeping the running mean relative to it
   * keeps float merges accurate when |mean| is large against the spread.
   */
  static void momentsLastBlock(MemorySegment x, long xOffset, long blockBase, long rowBytes, long n, long done,
                               int c, float[] mean, float[] m2) {
    float pivot = x.get(FLOAT_LE, xOffset + c * 4L);
    float sum = 0;
    long p = blockBase;
    for (long r = 0; r < n; r++, p += rowBytes) sum += x.get(FLOAT_LE, p) - pivot;
    float center = pivot + sum / n;
    float sumD = 0, sumD2 = 0;
    p = blockBase;
    for (long r = 0; r < n; r++, p += rowBytes) {
      float d = x.get(FLOAT_LE, p) - center;
      sumD += d;
      sumD2 += d * d;
    }
    // The correction terms undo the rounding of center: exact in exact arithmetic (corrected two-pass).
    float blockMean = (center - pivot) + sumD / n;
    float blockM2 = Math.max(0f, sumD2 - sumD * sumD / n);
    if (done == 0) {
      mean[c] = blockMean;
      m2[c] = blockM2;
    } else {
      float total = done + n;
      float delta = blockMean - mean[c];
      mean[c] += delta * (n / total);
      m2[c] += blockM2 + delta * delta * ((float) done * n / total);
    }
  }

  /** Adds the pivots back: running means were kept relative to each channel's first element. */
  static void finishLast(MemorySegment x, long xOffset, int channels, int fromChannel, float[] mean) {
    for (int c = fromChannel; c < channels; c++) mean[c] += x.get(FLOAT_LE, xOffset + c * 4L);
  }

  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          float alpha = alpha(scale, fromVariance, epsilon, gamma, c);
          float shift = beta == null ? 0f : beta[c];
          long off = (r0 * channels + c) * 4L;
          normalizeStrided(x, xOffset + off, y, yOffset + off, rowBytes, n, mean[c], alpha, shift);
        }
      }
    } else {
      for (int c = 0; c < channels; c++) {
        float alpha = alpha(scale, fromVariance, epsilon, gamma, c);
        float shift = beta == null ? 0f : beta[c];
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          normalizeStrided(x, xOffset + off, y, yOffset + off, 4, inner, mean[c], alpha, shift);
        }
      }
    }
  }

  /** gamma * invStd for channel c, deriving invStd from a variance when asked. */
  static float alpha(float[] scale, boolean fromVariance, float epsilon, float[] gamma, int c) {
    float invStd = fromVariance ? invStd(scale[c], epsilon) : scale[c];
    return gamma == null ? invStd : gamma[c] * invStd;
  }

  static float invStd(float variance, float epsilon) {
    return (float) (1.0 / Math.sqrt((double) variance + epsilon));
  }

  /**
   * {@code y = (x - mean) * alpha + shift} over {@code n} elements {@code stride} bytes apart.
   * Subtracting the mean before scaling, rather than folding it into the shift, keeps full precision
   * when |mean| is large against the spread, for one extra subtraction per element.
   */
  static void normalizeStrided(MemorySegment x, long xBase, MemorySegment y, long yBase, long stride, long n,
                               float mean, float alpha, float shift) {
    for (long i = 0; i < n; i++) {
      float v = x.get(FLOAT_LE, xBase + i * stride);
      y.set(FLOAT_LE, yBase + i * stride, Math.fma(v - mean, alpha, shift));
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          long off = (r0 * channels + c) * 4L;
          reduceStrided(x, xOffset + off, dy, dyOffset + off, rowBytes, n, mean[c], sumDy, sumDyXhat, c, r0 == 0);
        }
      }
    } else {
      for (int c = 0; c < channels; c++) {
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          reduceStrided(x, xOffset + off, dy, dyOffset + off, 4, inner, mean[c], sumDy, sumDyXhat, c, o == 0);
        }
      }
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  /** Adds (or, when {@code first}, stores) sum dy and sum dy*(x - mean) of one strided run. */
  static void reduceStrided(MemorySegment x, long xBase, MemorySegment dy, long dyBase, long stride, long n, float mean,
                            float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    float sDy = 0, sDyX = 0;
    for (long i = 0; i < n; i++) {
      float g = dy.get(FLOAT_LE, dyBase + i * stride);
      sDy += g;
      sDyX = Math.fma(g, x.get(FLOAT_LE, xBase + i * stride) - mean, sDyX);
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
  public void backwardApply(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                            long dxOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                            float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        for (int c = 0; c < channels; c++) {
          long off = (r0 * channels + c) * 4L;
          applyStrided(x, xOffset + off, dy, dyOffset + off, dx, dxOffset + off, rowBytes, n,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
    } else {
      for (int c = 0; c < channels; c++) {
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          applyStrided(x, xOffset + off, dy, dyOffset + off, dx, dxOffset + off, 4, inner,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
    }
  }

  /**
   * {@code dx = a*dy + b*(x - mean) + k} with per-channel {@code a = gamma*invStd},
   * {@code b = -a*invStd*sumDyXhat/count}, {@code k = -a*sumDy/count}: the textbook
   * {@code gamma*invStd*(dy - mean(dy) - xhat*mean(dy*xhat))} expanded to two FMAs per element.
   */
  static void applyStrided(MemorySegment x, long xBase, MemorySegment dy, long dyBase, MemorySegment dx, long dxBase,
                           long stride, long n, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                           float[] sumDyXhat, double count, int c) {
    float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
    float b = (float) (-a * (double) invStd[c] * sumDyXhat[c] / count);
    float k = (float) (-a * (double) sumDy[c] / count);
    float m = mean[c];
    for (long i = 0; i < n; i++) {
      float g = dy.get(FLOAT_LE, dyBase + i * stride);
      float v = x.get(FLOAT_LE, xBase + i * stride);
      dx.set(FLOAT_LE, dxBase + i * stride, Math.fma(g, a, Math.fma(v - m, b, k)));
    }
  }
}
