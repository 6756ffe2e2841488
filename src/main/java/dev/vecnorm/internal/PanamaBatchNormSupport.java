package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API implementation. Loaded by name from {@link VectorizationProvider} so that nothing else
 * links against the incubator module.
 *
 * <p>Channels-last ({@code inner == 1}) kernels vectorize across channels: each cache block of rows is
 * walked in channel tiles of four vectors, one accumulator or coefficient register per vector, then
 * one-vector tiles, then the scalar implementation's per-channel loop for the remaining channels.
 * Channels-first kernels vectorize along the contiguous inner extent of each (outer, channel) slice.
 * Species and lane counts live only in static finals so C2 folds them.
 */
final class PanamaBatchNormSupport implements BatchNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;
  private static final long VBYTES = LANES * 4L;
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final FloatVector ZERO = FloatVector.zero(SPECIES);
  private static final FloatVector ONE = FloatVector.broadcast(SPECIES, 1f);

  /** Without hardware FMA, Vector.fma falls back to a slow exact emulation; mul+add is then the right call. */
  static final boolean HAS_FMA = VectorizationProvider.hasFastFma();

  PanamaBatchNormSupport() {
    if (SPECIES.vectorBitSize() < 128) {
      throw new UnsupportedOperationException("preferred float vector is " + SPECIES.vectorBitSize() + " bits; need >= 128");
    }
  }

  static String describe() {
    return SPECIES.vectorBitSize() + "-bit vectors, " + LANES + " float lanes, FMA=" + HAS_FMA;
  }

  @Override
  public String name() {
    return "panama";
  }

  private static FloatVector load(MemorySegment s, long offset) {
    return FloatVector.fromMemorySegment(SPECIES, s, offset, LE);
  }

  private static void store(FloatVector v, MemorySegment s, long offset) {
    v.intoMemorySegment(s, offset, LE);
  }

  private static FloatVector fma(FloatVector a, FloatVector b, FloatVector c) {
    return HAS_FMA ? a.fma(b, c) : a.mul(b).add(c);
  }

  /**
   * Lane sum in a fixed order. {@code reduceLanes(ADD)} may associate differently in the interpreter
   * and in C2, so the same call could give different bits before and after JIT; this cannot.
   */
  private static float sumLanes(FloatVector v) {
    float sum = 0;
    for (int i = 0; i < LANES; i++) sum += v.lane(i);
    return sum;
  }

  private static FloatVector loadOr(float[] a, int c, FloatVector absent) {
    return a == null ? absent : FloatVector.fromArray(SPECIES, a, c);
  }

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean, float[] m2) {
    if (inner == 1) {
      momentsChannelsLast(x, xOffset, outer, channels, mean, m2);
    } else {
      momentsChannelsFirst(x, xOffset, outer, channels, inner, mean, m2);
    }
  }

  private static void momentsChannelsLast(MemorySegment x, long xOffset, int rows, int channels, float[] mean, float[] m2) {
    long rowBytes = channels * 4L;
    long blockRows = Blocking.rowsPerBlock(channels);
    int tileBound = channels - channels % TILE;
    int vectorBound = SPECIES.loopBound(channels);
    for (long r0 = 0; r0 < rows; r0 += blockRows) {
      long n = Math.min(blockRows, rows - r0);
      long blockBase = xOffset + r0 * rowBytes;
      int c = 0;
      for (; c < tileBound; c += TILE) momentsTile4(x, xOffset, blockBase, rowBytes, n, r0, c, mean, m2);
      for (; c < vectorBound; c += LANES) momentsTile1(x, xOffset, blockBase, rowBytes, n, r0, c, mean, m2);
      for (; c < channels; c++) { // scalar tail
        ScalarBatchNormSupport.momentsLastBlock(x, xOffset, blockBase + c * 4L, rowBytes, n, r0, c, mean, m2);
      }
    }
    int c = 0;
    for (; c < vectorBound; c += LANES) {
      load(x, xOffset + c * 4L).add(FloatVector.fromArray(SPECIES, mean, c)).intoArray(mean, c);
    }
    ScalarBatchNormSupport.finishLast(x, xOffset, channels, c, mean);
  }

  /**
   * Four channel vectors of one block: pass 1 sums {@code x - pivot}, pass 2 sums the deviations from
   * the block's center and their squares while the block is still in cache. The pivot (row 0 of the
   * channels) keeps the running float mean small, so merges do not lose digits to a large offset.
   */
  private static void momentsTile4(MemorySegment x, long xOffset, long blockBase, long rowBytes, long n, long done,
                                   int c, float[] mean, float[] m2) {
    long pivotAt = xOffset + c * 4L;
    FloatVector k0 = load(x, pivotAt), k1 = load(x, pivotAt + VBYTES);
    FloatVector k2 = load(x, pivotAt + 2 * VBYTES), k3 = load(x, pivotAt + 3 * VBYTES);
    FloatVector acc0 = ZERO, acc1 = ZERO, acc2 = ZERO, acc3 = ZERO;
    long p = blockBase + c * 4L;
    for (long r = 0; r < n; r++, p += rowBytes) {
      acc0 = acc0.add(load(x, p).sub(k0));
      acc1 = acc1.add(load(x, p + VBYTES).sub(k1));
      acc2 = acc2.add(load(x, p + 2 * VBYTES).sub(k2));
      acc3 = acc3.add(load(x, p + 3 * VBYTES).sub(k3));
    }
    float invN = 1f / n;
    FloatVector c0 = k0.add(acc0.mul(invN)), c1 = k1.add(acc1.mul(invN));
    FloatVector c2 = k2.add(acc2.mul(invN)), c3 = k3.add(acc3.mul(invN));
    FloatVector d0 = ZERO, d1 = ZERO, d2 = ZERO, d3 = ZERO;
    FloatVector q0 = ZERO, q1 = ZERO, q2 = ZERO, q3 = ZERO;
    p = blockBase + c * 4L;
    for (long r = 0; r < n; r++, p += rowBytes) {
      FloatVector e0 = load(x, p).sub(c0);
      FloatVector e1 = load(x, p + VBYTES).sub(c1);
      FloatVector e2 = load(x, p + 2 * VBYTES).sub(c2);
      FloatVector e3 = load(x, p + 3 * VBYTES).sub(c3);
      d0 = d0.add(e0);
      d1 = d1.add(e1);
      d2 = d2.add(e2);
      d3 = d3.add(e3);
      q0 = fma(e0, e0, q0);
      q1 = fma(e1, e1, q1);
      q2 = fma(e2, e2, q2);
      q3 = fma(e3, e3, q3);
    }
    mergeBlock(c0.sub(k0), d0, q0, n, done, mean, m2, c);
    mergeBlock(c1.sub(k1), d1, q1, n, done, mean, m2, c + LANES);
    mergeBlock(c2.sub(k2), d2, q2, n, done, mean, m2, c + 2 * LANES);
    mergeBlock(c3.sub(k3), d3, q3, n, done, mean, m2, c + 3 * LANES);
  }

  /** One channel vector of one block; even and odd rows go to separate accumulators for ILP. */
  private static void momentsTile1(MemorySegment x, long xOffset, long blockBase, long rowBytes, long n, long done,
                                   int c, float[] mean, float[] m2) {
    FloatVector k = load(x, xOffset + c * 4L);
    FloatVector accEven = ZERO, accOdd = ZERO;
    long p = blockBase + c * 4L;
    long r = 0;
    for (; r + 1 < n; r += 2, p += 2 * rowBytes) {
      accEven = accEven.add(load(x, p).sub(k));
      accOdd = accOdd.add(load(x, p + rowBytes).sub(k));
    }
    if (r < n) accEven = accEven.add(load(x, p).sub(k));
    FloatVector center = k.add(accEven.add(accOdd).mul(1f / n));
    FloatVector dEven = ZERO, dOdd = ZERO, qEven = ZERO, qOdd = ZERO;
    p = blockBase + c * 4L;
    r = 0;
    for (; r + 1 < n; r += 2, p += 2 * rowBytes) {
      FloatVector e0 = load(x, p).sub(center);
      FloatVector e1 = load(x, p + rowBytes).sub(center);
      dEven = dEven.add(e0);
      dOdd = dOdd.add(e1);
      qEven = fma(e0, e0, qEven);
      qOdd = fma(e1, e1, qOdd);
    }
    if (r < n) {
      FloatVector e0 = load(x, p).sub(center);
      dEven = dEven.add(e0);
      qEven = fma(e0, e0, qEven);
    }
    mergeBlock(center.sub(k), dEven.add(dOdd), qEven.add(qOdd), n, done, mean, m2, c);
  }

  /**
   * Corrected two-pass block moments ({@code mean = center + sumD/n}, {@code M2 = sumD2 - sumD^2/n},
   * exact in exact arithmetic whatever the rounding of center), then Chan's merge into the running
   * (mean - pivot, M2) of {@code done} earlier rows.
   */
  private static void mergeBlock(FloatVector centerRel, FloatVector sumD, FloatVector sumD2, long n, long done,
                                 float[] mean, float[] m2, int c) {
    float invN = 1f / n;
    FloatVector blockMean = centerRel.add(sumD.mul(invN));
    FloatVector blockM2 = sumD2.sub(sumD.mul(sumD).mul(invN)).max(ZERO);
    if (done == 0) {
      blockMean.intoArray(mean, c);
      blockM2.intoArray(m2, c);
      return;
    }
    float total = done + n;
    FloatVector runMean = FloatVector.fromArray(SPECIES, mean, c);
    FloatVector delta = blockMean.sub(runMean);
    runMean.add(delta.mul(n / total)).intoArray(mean, c);
    FloatVector runM2 = FloatVector.fromArray(SPECIES, m2, c).add(blockM2);
    fma(delta.mul(delta), FloatVector.broadcast(SPECIES, (float) done * n / total), runM2).intoArray(m2, c);
  }

  private static void momentsChannelsFirst(MemorySegment x, long xOffset, int outer, int channels, int inner,
                                           float[] mean, float[] m2) {
    for (int c = 0; c < channels; c++) {
      // Running (count, mean, M2) in double locals: merges across slices and blocks do not drift.
      double count = 0, runMean = 0, runM2 = 0;
      for (int o = 0; o < outer; o++) {
        long slice = xOffset + ((long) o * channels + c) * inner * 4L;
        for (long i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
          int n = (int) Math.min(Blocking.BLOCK_FLOATS, inner - i0);
          long base = slice + i0 * 4L;
          float center = sumContiguous(x, base, n) / n;
          FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
          FloatVector d0 = ZERO, d1 = ZERO, q0 = ZERO, q1 = ZERO;
          int upperBound = n - n % (2 * LANES);
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector e0 = load(x, base + i * 4L).sub(vCenter);
            FloatVector e1 = load(x, base + i * 4L + VBYTES).sub(vCenter);
            d0 = d0.add(e0);
            d1 = d1.add(e1);
            q0 = fma(e0, e0, q0);
            q1 = fma(e1, e1, q1);
          }
          for (; i < SPECIES.loopBound(n); i += LANES) {
            FloatVector e0 = load(x, base + i * 4L).sub(vCenter);
            d0 = d0.add(e0);
            q0 = fma(e0, e0, q0);
          }
          float sumD = sumLanes(d0.add(d1));
          float sumD2 = sumLanes(q0.add(q1));
          for (; i < n; i++) { // scalar tail
            float e = x.get(ScalarBatchNormSupport.FLOAT_LE, base + i * 4L) - center;
            sumD += e;
            sumD2 += e * e;
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

  /** Sum of {@code n} contiguous floats: four accumulators, one lane reduction, scalar tail. */
  private static float sumContiguous(MemorySegment x, long base, int n) {
    FloatVector acc0 = ZERO, acc1 = ZERO, acc2 = ZERO, acc3 = ZERO;
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i < upperBound; i += TILE) {
      long p = base + i * 4L;
      acc0 = acc0.add(load(x, p));
      acc1 = acc1.add(load(x, p + VBYTES));
      acc2 = acc2.add(load(x, p + 2 * VBYTES));
      acc3 = acc3.add(load(x, p + 3 * VBYTES));
    }
    for (; i < SPECIES.loopBound(n); i += LANES) acc0 = acc0.add(load(x, base + i * 4L));
    float sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
    for (; i < n; i++) sum += x.get(ScalarBatchNormSupport.FLOAT_LE, base + i * 4L); // scalar tail
    return sum;
  }

  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      int tileBound = channels - channels % TILE;
      int vectorBound = SPECIES.loopBound(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        long xBlock = xOffset + r0 * rowBytes, yBlock = yOffset + r0 * rowBytes;
        int c = 0;
        for (; c < tileBound; c += TILE) {
          normalizeTile4(x, xBlock + c * 4L, y, yBlock + c * 4L, rowBytes, n, mean, scale, fromVariance, epsilon, gamma, beta, c);
        }
        for (; c < vectorBound; c += LANES) {
          FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
          FloatVector a = alpha(scale, fromVariance, epsilon, gamma, c);
          FloatVector b = loadOr(beta, c, ZERO);
          long xp = xBlock + c * 4L, yp = yBlock + c * 4L;
          for (long r = 0; r < n; r++, xp += rowBytes, yp += rowBytes) store(fma(load(x, xp).sub(m), a, b), y, yp);
        }
        for (; c < channels; c++) { // scalar tail
          ScalarBatchNormSupport.normalizeStrided(x, xBlock + c * 4L, y, yBlock + c * 4L, rowBytes, n, mean[c],
              ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c), beta == null ? 0f : beta[c]);
        }
      }
    } else {
      int vectorBound = SPECIES.loopBound(inner);
      for (int c = 0; c < channels; c++) {
        float alpha = ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c);
        float shift = beta == null ? 0f : beta[c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          long xs = xOffset + off, ys = yOffset + off;
          int i = 0;
          for (; i < vectorBound; i += LANES) store(fma(load(x, xs + i * 4L).sub(m), a, b), y, ys + i * 4L);
          // scalar tail
          ScalarBatchNormSupport.normalizeStrided(x, xs + i * 4L, y, ys + i * 4L, 4, inner - i, mean[c], alpha, shift);
        }
      }
    }
  }

  private static FloatVector alpha(float[] scale, boolean fromVariance, float epsilon, float[] gamma, int c) {
    FloatVector s = FloatVector.fromArray(SPECIES, scale, c);
    FloatVector invStd = fromVariance ? ONE.div(s.add(epsilon).sqrt()) : s;
    return gamma == null ? invStd : invStd.mul(FloatVector.fromArray(SPECIES, gamma, c));
  }

  private static void normalizeTile4(MemorySegment x, long xBase, MemorySegment y, long yBase, long rowBytes, long n,
                                     float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                     float[] gamma, float[] beta, int c) {
    FloatVector m0 = FloatVector.fromArray(SPECIES, mean, c), m1 = FloatVector.fromArray(SPECIES, mean, c + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, mean, c + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, mean, c + 3 * LANES);
    FloatVector a0 = alpha(scale, fromVariance, epsilon, gamma, c), a1 = alpha(scale, fromVariance, epsilon, gamma, c + LANES);
    FloatVector a2 = alpha(scale, fromVariance, epsilon, gamma, c + 2 * LANES), a3 = alpha(scale, fromVariance, epsilon, gamma, c + 3 * LANES);
    FloatVector b0 = loadOr(beta, c, ZERO), b1 = loadOr(beta, c + LANES, ZERO);
    FloatVector b2 = loadOr(beta, c + 2 * LANES, ZERO), b3 = loadOr(beta, c + 3 * LANES, ZERO);
    long xp = xBase, yp = yBase;
    for (long r = 0; r < n; r++, xp += rowBytes, yp += rowBytes) {
      FloatVector v0 = load(x, xp), v1 = load(x, xp + VBYTES), v2 = load(x, xp + 2 * VBYTES), v3 = load(x, xp + 3 * VBYTES);
      store(fma(v0.sub(m0), a0, b0), y, yp);
      store(fma(v1.sub(m1), a1, b1), y, yp + VBYTES);
      store(fma(v2.sub(m2), a2, b2), y, yp + 2 * VBYTES);
      store(fma(v3.sub(m3), a3, b3), y, yp + 3 * VBYTES);
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      int tileBound = channels - channels % TILE;
      int vectorBound = SPECIES.loopBound(channels);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        long blockBytes = r0 * rowBytes;
        int c = 0;
        for (; c < tileBound; c += TILE) {
          reduceTile4(x, xOffset + blockBytes + c * 4L, dy, dyOffset + blockBytes + c * 4L, rowBytes, n, mean, sumDy, sumDyXhat, c, r0 == 0);
        }
        for (; c < vectorBound; c += LANES) {
          reduceTile1(x, xOffset + blockBytes + c * 4L, dy, dyOffset + blockBytes + c * 4L, rowBytes, n, mean, sumDy, sumDyXhat, c, r0 == 0);
        }
        for (; c < channels; c++) { // scalar tail
          ScalarBatchNormSupport.reduceStrided(x, xOffset + blockBytes + c * 4L, dy, dyOffset + blockBytes + c * 4L,
              rowBytes, n, mean[c], sumDy, sumDyXhat, c, r0 == 0);
        }
      }
    } else {
      int upperBound = inner - inner % (2 * LANES);
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        float sDy = 0, sDyX = 0;
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          long xs = xOffset + off, gs = dyOffset + off;
          FloatVector g0 = ZERO, g1 = ZERO, h0 = ZERO, h1 = ZERO;
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector dy0 = load(dy, gs + i * 4L), dy1 = load(dy, gs + i * 4L + VBYTES);
            g0 = g0.add(dy0);
            g1 = g1.add(dy1);
            h0 = fma(dy0, load(x, xs + i * 4L).sub(m), h0);
            h1 = fma(dy1, load(x, xs + i * 4L + VBYTES).sub(m), h1);
          }
          for (; i < SPECIES.loopBound(inner); i += LANES) {
            FloatVector dy0 = load(dy, gs + i * 4L);
            g0 = g0.add(dy0);
            h0 = fma(dy0, load(x, xs + i * 4L).sub(m), h0);
          }
          sDy += sumLanes(g0.add(g1));
          sDyX += sumLanes(h0.add(h1));
          for (; i < inner; i++) { // scalar tail
            float g = dy.get(ScalarBatchNormSupport.FLOAT_LE, gs + i * 4L);
            sDy += g;
            sDyX = Math.fma(g, x.get(ScalarBatchNormSupport.FLOAT_LE, xs + i * 4L) - mean[c], sDyX);
          }
        }
        sumDy[c] = sDy;
        sumDyXhat[c] = sDyX;
      }
    }
    int c = 0;
    for (; c < SPECIES.loopBound(channels); c += LANES) {
      FloatVector.fromArray(SPECIES, sumDyXhat, c).mul(FloatVector.fromArray(SPECIES, invStd, c)).intoArray(sumDyXhat, c);
    }
    for (; c < channels; c++) sumDyXhat[c] *= invStd[c]; // scalar tail
  }

  private static void reduceTile4(MemorySegment x, long xBase, MemorySegment dy, long dyBase, long rowBytes, long n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m0 = FloatVector.fromArray(SPECIES, mean, c), m1 = FloatVector.fromArray(SPECIES, mean, c + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, mean, c + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, mean, c + 3 * LANES);
    FloatVector g0 = ZERO, g1 = ZERO, g2 = ZERO, g3 = ZERO, h0 = ZERO, h1 = ZERO, h2 = ZERO, h3 = ZERO;
    long xp = xBase, gp = dyBase;
    for (long r = 0; r < n; r++, xp += rowBytes, gp += rowBytes) {
      FloatVector dy0 = load(dy, gp), dy1 = load(dy, gp + VBYTES), dy2 = load(dy, gp + 2 * VBYTES), dy3 = load(dy, gp + 3 * VBYTES);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      g2 = g2.add(dy2);
      g3 = g3.add(dy3);
      h0 = fma(dy0, load(x, xp).sub(m0), h0);
      h1 = fma(dy1, load(x, xp + VBYTES).sub(m1), h1);
      h2 = fma(dy2, load(x, xp + 2 * VBYTES).sub(m2), h2);
      h3 = fma(dy3, load(x, xp + 3 * VBYTES).sub(m3), h3);
    }
    accumulate(g0, h0, sumDy, sumDyXmu, c, first);
    accumulate(g1, h1, sumDy, sumDyXmu, c + LANES, first);
    accumulate(g2, h2, sumDy, sumDyXmu, c + 2 * LANES, first);
    accumulate(g3, h3, sumDy, sumDyXmu, c + 3 * LANES, first);
  }

  private static void reduceTile1(MemorySegment x, long xBase, MemorySegment dy, long dyBase, long rowBytes, long n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
    FloatVector g0 = ZERO, g1 = ZERO, h0 = ZERO, h1 = ZERO;
    long xp = xBase, gp = dyBase;
    long r = 0;
    for (; r + 1 < n; r += 2, xp += 2 * rowBytes, gp += 2 * rowBytes) {
      FloatVector dy0 = load(dy, gp), dy1 = load(dy, gp + rowBytes);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = fma(dy0, load(x, xp).sub(m), h0);
      h1 = fma(dy1, load(x, xp + rowBytes).sub(m), h1);
    }
    if (r < n) {
      FloatVector dy0 = load(dy, gp);
      g0 = g0.add(dy0);
      h0 = fma(dy0, load(x, xp).sub(m), h0);
    }
    accumulate(g0.add(g1), h0.add(h1), sumDy, sumDyXmu, c, first);
  }

  private static void accumulate(FloatVector g, FloatVector h, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    if (!first) {
      g = g.add(FloatVector.fromArray(SPECIES, sumDy, c));
      h = h.add(FloatVector.fromArray(SPECIES, sumDyXmu, c));
    }
    g.intoArray(sumDy, c);
    h.intoArray(sumDyXmu, c);
  }

  @Override
  public void backwardApply(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                            long dxOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                            float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    float invCount = (float) (1.0 / count);
    if (inner == 1) {
      long rowBytes = channels * 4L;
      long blockRows = Blocking.rowsPerBlock(channels);
      int vectorBound = SPECIES.loopBound(channels);
      int pairBound = channels - channels % (2 * LANES);
      for (long r0 = 0; r0 < outer; r0 += blockRows) {
        long n = Math.min(blockRows, outer - r0);
        long blockBytes = r0 * rowBytes;
        int c = 0;
        // Two channel vectors per tile, not four: four coefficient registers per vector would spill on AVX2.
        for (; c < pairBound; c += 2 * LANES) {
          FloatVector a0 = gradScale(invStd, gamma, c), a1 = gradScale(invStd, gamma, c + LANES);
          FloatVector b0 = gradSlope(a0, invStd, sumDyXhat, invCount, c), b1 = gradSlope(a1, invStd, sumDyXhat, invCount, c + LANES);
          FloatVector k0 = gradShift(a0, sumDy, invCount, c), k1 = gradShift(a1, sumDy, invCount, c + LANES);
          FloatVector m0 = FloatVector.fromArray(SPECIES, mean, c), m1 = FloatVector.fromArray(SPECIES, mean, c + LANES);
          long p = blockBytes + c * 4L;
          for (long r = 0; r < n; r++, p += rowBytes) {
            FloatVector v0 = load(x, xOffset + p), v1 = load(x, xOffset + p + VBYTES);
            FloatVector g0 = load(dy, dyOffset + p), g1 = load(dy, dyOffset + p + VBYTES);
            store(fma(g0, a0, fma(v0.sub(m0), b0, k0)), dx, dxOffset + p);
            store(fma(g1, a1, fma(v1.sub(m1), b1, k1)), dx, dxOffset + p + VBYTES);
          }
        }
        for (; c < vectorBound; c += LANES) {
          FloatVector a = gradScale(invStd, gamma, c);
          FloatVector b = gradSlope(a, invStd, sumDyXhat, invCount, c);
          FloatVector k = gradShift(a, sumDy, invCount, c);
          FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
          long p = blockBytes + c * 4L;
          for (long r = 0; r < n; r++, p += rowBytes) {
            store(fma(load(dy, dyOffset + p), a, fma(load(x, xOffset + p).sub(m), b, k)), dx, dxOffset + p);
          }
        }
        for (; c < channels; c++) { // scalar tail
          long p = blockBytes + c * 4L;
          ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, rowBytes, n,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
    } else {
      int vectorBound = SPECIES.loopBound(inner);
      for (int c = 0; c < channels; c++) {
        float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        FloatVector vb = FloatVector.broadcast(SPECIES, (float) (-a * (double) invStd[c] * sumDyXhat[c] / count));
        FloatVector vk = FloatVector.broadcast(SPECIES, (float) (-a * (double) sumDy[c] / count));
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        for (int o = 0; o < outer; o++) {
          long off = ((long) o * channels + c) * inner * 4L;
          int i = 0;
          for (; i < vectorBound; i += LANES) {
            long p = off + i * 4L;
            store(fma(load(dy, dyOffset + p), va, fma(load(x, xOffset + p).sub(m), vb, vk)), dx, dxOffset + p);
          }
          long p = off + i * 4L; // scalar tail
          ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 4, inner - i,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
    }
  }

  private static FloatVector gradScale(float[] invStd, float[] gamma, int c) {
    FloatVector s = FloatVector.fromArray(SPECIES, invStd, c);
    return gamma == null ? s : s.mul(FloatVector.fromArray(SPECIES, gamma, c));
  }

  private static FloatVector gradSlope(FloatVector a, float[] invStd, float[] sumDyXhat, float invCount, int c) {
    return a.mul(FloatVector.fromArray(SPECIES, invStd, c)).mul(FloatVector.fromArray(SPECIES, sumDyXhat, c)).mul(-invCount);
  }

  private static FloatVector gradShift(FloatVector a, float[] sumDy, float invCount, int c) {
    return a.mul(FloatVector.fromArray(SPECIES, sumDy, c)).mul(-invCount);
  }
}
