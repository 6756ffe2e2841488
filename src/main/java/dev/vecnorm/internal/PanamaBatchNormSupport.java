package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API implementation. Loaded by name from {@link VectorizationProvider} so that nothing else
 * links against the incubator module.
 *
 * <p>Channels-last ({@code inner == 1}) kernels vectorize across channels: each cache block of rows is
 * walked in channel tiles of four vectors (one accumulator or coefficient register per vector), then
 * one-vector tiles, then the scalar implementation's per-channel loop for the remaining channels.
 * Channels-first kernels vectorize along the contiguous inner extent of each (outer, channel) slice.
 * Species and lane counts live only in static finals so C2 folds them.
 */
final class PanamaBatchNormSupport implements BatchNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;
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

  private static FloatVector load(float[] a, int i) {
    return FloatVector.fromArray(SPECIES, a, i);
  }

  private static FloatVector fma(FloatVector a, FloatVector b, FloatVector c) {
    return HAS_FMA ? a.fma(b, c) : a.mul(b).add(c);
  }

  private static FloatVector loadOr(float[] a, int c, FloatVector absent) {
    return a == null ? absent : FloatVector.fromArray(SPECIES, a, c);
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

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] m2) {
    if (inner == 1) {
      momentsChannelsLast(x, xOffset, outer, channels, mean, m2);
    } else {
      momentsChannelsFirst(x, xOffset, outer, channels, inner, mean, m2);
    }
  }

  private static void momentsChannelsLast(float[] x, int xOffset, int rows, int channels, float[] mean, float[] m2) {
    int blockRows = Blocking.rowsPerBlock(channels);
    int tileBound = channels - channels % TILE;
    int vectorBound = SPECIES.loopBound(channels);
    for (int r0 = 0; r0 < rows; r0 += blockRows) {
      int n = Math.min(blockRows, rows - r0);
      int blockStart = xOffset + r0 * channels;
      int c = 0;
      for (; c < tileBound; c += TILE) momentsTile4(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      for (; c < vectorBound; c += LANES) momentsTile1(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      for (; c < channels; c++) { // scalar tail
        ScalarBatchNormSupport.momentsLastBlock(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      }
    }
    int c = 0;
    for (; c < vectorBound; c += LANES) load(x, xOffset + c).add(load(mean, c)).intoArray(mean, c);
    ScalarBatchNormSupport.finishLast(x, xOffset, channels, c, mean);
  }

  /**
   * Four channel vectors of one block: pass 1 sums {@code x - pivot}, pass 2 sums the deviations from
   * the block's center and their squares while the block is still in cache. The pivot (row 0 of the
   * channels) keeps the running float mean small, so merges do not lose digits to a large offset.
   */
  private static void momentsTile4(float[] x, int xOffset, int start, int stride, int n, int done, int c,
                                   float[] mean, float[] m2) {
    int pivotAt = xOffset + c;
    FloatVector k0 = load(x, pivotAt), k1 = load(x, pivotAt + LANES);
    FloatVector k2 = load(x, pivotAt + 2 * LANES), k3 = load(x, pivotAt + 3 * LANES);
    FloatVector acc0 = ZERO, acc1 = ZERO, acc2 = ZERO, acc3 = ZERO;
    for (int r = 0, p = start; r < n; r++, p += stride) {
      acc0 = acc0.add(load(x, p).sub(k0));
      acc1 = acc1.add(load(x, p + LANES).sub(k1));
      acc2 = acc2.add(load(x, p + 2 * LANES).sub(k2));
      acc3 = acc3.add(load(x, p + 3 * LANES).sub(k3));
    }
    float invN = 1f / n;
    FloatVector c0 = k0.add(acc0.mul(invN)), c1 = k1.add(acc1.mul(invN));
    FloatVector c2 = k2.add(acc2.mul(invN)), c3 = k3.add(acc3.mul(invN));
    FloatVector d0 = ZERO, d1 = ZERO, d2 = ZERO, d3 = ZERO;
    FloatVector q0 = ZERO, q1 = ZERO, q2 = ZERO, q3 = ZERO;
    for (int r = 0, p = start; r < n; r++, p += stride) {
      FloatVector e0 = load(x, p).sub(c0);
      FloatVector e1 = load(x, p + LANES).sub(c1);
      FloatVector e2 = load(x, p + 2 * LANES).sub(c2);
      FloatVector e3 = load(x, p + 3 * LANES).sub(c3);
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
  private static void momentsTile1(float[] x, int xOffset, int start, int stride, int n, int done, int c,
                                   float[] mean, float[] m2) {
    FloatVector k = load(x, xOffset + c);
    FloatVector accEven = ZERO, accOdd = ZERO;
    int r = 0, p = start;
    for (; r + 1 < n; r += 2, p += 2 * stride) {
      accEven = accEven.add(load(x, p).sub(k));
      accOdd = accOdd.add(load(x, p + stride).sub(k));
    }
    if (r < n) accEven = accEven.add(load(x, p).sub(k));
    FloatVector center = k.add(accEven.add(accOdd).mul(1f / n));
    FloatVector dEven = ZERO, dOdd = ZERO, qEven = ZERO, qOdd = ZERO;
    for (r = 0, p = start; r + 1 < n; r += 2, p += 2 * stride) {
      FloatVector e0 = load(x, p).sub(center);
      FloatVector e1 = load(x, p + stride).sub(center);
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
  private static void mergeBlock(FloatVector centerRel, FloatVector sumD, FloatVector sumD2, int n, int done,
                                 float[] mean, float[] m2, int c) {
    float invN = 1f / n;
    FloatVector blockMean = centerRel.add(sumD.mul(invN));
    FloatVector blockM2 = sumD2.sub(sumD.mul(sumD).mul(invN)).max(ZERO);
    if (done == 0) {
      blockMean.intoArray(mean, c);
      blockM2.intoArray(m2, c);
      return;
    }
    float total = (float) done + n;
    FloatVector runMean = load(mean, c);
    FloatVector delta = blockMean.sub(runMean);
    runMean.add(delta.mul(n / total)).intoArray(mean, c);
    FloatVector runM2 = load(m2, c).add(blockM2);
    fma(delta.mul(delta), FloatVector.broadcast(SPECIES, (float) done * n / total), runM2).intoArray(m2, c);
  }

  private static void momentsChannelsFirst(float[] x, int xOffset, int outer, int channels, int inner,
                                           float[] mean, float[] m2) {
    for (int c = 0; c < channels; c++) {
      // Running (count, mean, M2) in double locals: merges across slices and blocks do not drift.
      double count = 0, runMean = 0, runM2 = 0;
      for (int o = 0; o < outer; o++) {
        int slice = xOffset + (o * channels + c) * inner;
        for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
          int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0), base = slice + i0;
          float center = sumContiguous(x, base, n) / n;
          FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
          FloatVector d0 = ZERO, d1 = ZERO, q0 = ZERO, q1 = ZERO;
          int upperBound = n - n % (2 * LANES);
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector e0 = load(x, base + i).sub(vCenter);
            FloatVector e1 = load(x, base + i + LANES).sub(vCenter);
            d0 = d0.add(e0);
            d1 = d1.add(e1);
            q0 = fma(e0, e0, q0);
            q1 = fma(e1, e1, q1);
          }
          for (; i < SPECIES.loopBound(n); i += LANES) {
            FloatVector e0 = load(x, base + i).sub(vCenter);
            d0 = d0.add(e0);
            q0 = fma(e0, e0, q0);
          }
          float sumD = sumLanes(d0.add(d1));
          float sumD2 = sumLanes(q0.add(q1));
          for (; i < n; i++) { // scalar tail
            float e = x[base + i] - center;
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
  private static float sumContiguous(float[] x, int base, int n) {
    FloatVector acc0 = ZERO, acc1 = ZERO, acc2 = ZERO, acc3 = ZERO;
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i < upperBound; i += TILE) {
      int p = base + i;
      acc0 = acc0.add(load(x, p));
      acc1 = acc1.add(load(x, p + LANES));
      acc2 = acc2.add(load(x, p + 2 * LANES));
      acc3 = acc3.add(load(x, p + 3 * LANES));
    }
    for (; i < SPECIES.loopBound(n); i += LANES) acc0 = acc0.add(load(x, base + i));
    float sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
    for (; i < n; i++) sum += x[base + i]; // scalar tail
    return sum;
  }

  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      int tileBound = channels - channels % TILE;
      int vectorBound = SPECIES.loopBound(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        int xBlock = xOffset + r0 * channels, yBlock = yOffset + r0 * channels;
        int c = 0;
        for (; c < tileBound; c += TILE) {
          normalizeTile4(x, xBlock + c, y, yBlock + c, channels, n, mean, scale, fromVariance, epsilon, gamma, beta, c);
        }
        for (; c < vectorBound; c += LANES) {
          FloatVector m = load(mean, c), a = alpha(scale, fromVariance, epsilon, gamma, c), b = loadOr(beta, c, ZERO);
          for (int r = 0, p = xBlock + c, q = yBlock + c; r < n; r++, p += channels, q += channels) {
            fma(load(x, p).sub(m), a, b).intoArray(y, q);
          }
        }
        for (; c < channels; c++) { // scalar tail
          ScalarBatchNormSupport.normalizeStrided(x, xBlock + c, y, yBlock + c, channels, n, mean[c],
              ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c), beta == null ? 0f : beta[c]);
        }
      }
      return;
    }
    int vectorBound = SPECIES.loopBound(inner);
    for (int c = 0; c < channels; c++) {
      float alpha = ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c);
      float shift = beta == null ? 0f : beta[c];
      FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
      FloatVector a = FloatVector.broadcast(SPECIES, alpha);
      FloatVector b = FloatVector.broadcast(SPECIES, shift);
      for (int o = 0; o < outer; o++) {
        int xs = xOffset + (o * channels + c) * inner, ys = yOffset + (o * channels + c) * inner;
        int i = 0;
        for (; i < vectorBound; i += LANES) fma(load(x, xs + i).sub(m), a, b).intoArray(y, ys + i);
        // scalar tail
        ScalarBatchNormSupport.normalizeStrided(x, xs + i, y, ys + i, 1, inner - i, mean[c], alpha, shift);
      }
    }
  }

  private static FloatVector alpha(float[] scale, boolean fromVariance, float epsilon, float[] gamma, int c) {
    FloatVector s = load(scale, c);
    FloatVector invStd = fromVariance ? ONE.div(s.add(epsilon).sqrt()) : s;
    return gamma == null ? invStd : invStd.mul(load(gamma, c));
  }

  private static void normalizeTile4(float[] x, int xStart, float[] y, int yStart, int stride, int n,
                                     float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                     float[] gamma, float[] beta, int c) {
    FloatVector m0 = load(mean, c), m1 = load(mean, c + LANES), m2 = load(mean, c + 2 * LANES), m3 = load(mean, c + 3 * LANES);
    FloatVector a0 = alpha(scale, fromVariance, epsilon, gamma, c), a1 = alpha(scale, fromVariance, epsilon, gamma, c + LANES);
    FloatVector a2 = alpha(scale, fromVariance, epsilon, gamma, c + 2 * LANES), a3 = alpha(scale, fromVariance, epsilon, gamma, c + 3 * LANES);
    FloatVector b0 = loadOr(beta, c, ZERO), b1 = loadOr(beta, c + LANES, ZERO);
    FloatVector b2 = loadOr(beta, c + 2 * LANES, ZERO), b3 = loadOr(beta, c + 3 * LANES, ZERO);
    for (int r = 0, p = xStart, q = yStart; r < n; r++, p += stride, q += stride) {
      FloatVector v0 = load(x, p), v1 = load(x, p + LANES), v2 = load(x, p + 2 * LANES), v3 = load(x, p + 3 * LANES);
      fma(v0.sub(m0), a0, b0).intoArray(y, q);
      fma(v1.sub(m1), a1, b1).intoArray(y, q + LANES);
      fma(v2.sub(m2), a2, b2).intoArray(y, q + 2 * LANES);
      fma(v3.sub(m3), a3, b3).intoArray(y, q + 3 * LANES);
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      int tileBound = channels - channels % TILE;
      int vectorBound = SPECIES.loopBound(channels);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        int block = r0 * channels;
        int c = 0;
        for (; c < tileBound; c += TILE) {
          reduceTile4(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean, sumDy, sumDyXhat, c, r0 == 0);
        }
        for (; c < vectorBound; c += LANES) {
          reduceTile1(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean, sumDy, sumDyXhat, c, r0 == 0);
        }
        for (; c < channels; c++) { // scalar tail
          ScalarBatchNormSupport.reduceStrided(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean[c],
              sumDy, sumDyXhat, c, r0 == 0);
        }
      }
    } else {
      int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        float sDy = 0, sDyX = 0;
        for (int o = 0; o < outer; o++) {
          int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
          FloatVector g0 = ZERO, g1 = ZERO, h0 = ZERO, h1 = ZERO;
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector dy0 = load(dy, gs + i), dy1 = load(dy, gs + i + LANES);
            g0 = g0.add(dy0);
            g1 = g1.add(dy1);
            h0 = fma(dy0, load(x, xs + i).sub(m), h0);
            h1 = fma(dy1, load(x, xs + i + LANES).sub(m), h1);
          }
          for (; i < vectorBound; i += LANES) {
            FloatVector dy0 = load(dy, gs + i);
            g0 = g0.add(dy0);
            h0 = fma(dy0, load(x, xs + i).sub(m), h0);
          }
          sDy += sumLanes(g0.add(g1));
          sDyX += sumLanes(h0.add(h1));
          for (; i < inner; i++) { // scalar tail
            float g = dy[gs + i];
            sDy += g;
            sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
          }
        }
        sumDy[c] = sDy;
        sumDyXhat[c] = sDyX;
      }
    }
    int c = 0;
    for (; c < SPECIES.loopBound(channels); c += LANES) load(sumDyXhat, c).mul(load(invStd, c)).intoArray(sumDyXhat, c);
    for (; c < channels; c++) sumDyXhat[c] *= invStd[c]; // scalar tail
  }

  private static void reduceTile4(float[] x, int xStart, float[] dy, int dyStart, int stride, int n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m0 = load(mean, c), m1 = load(mean, c + LANES), m2 = load(mean, c + 2 * LANES), m3 = load(mean, c + 3 * LANES);
    FloatVector g0 = ZERO, g1 = ZERO, g2 = ZERO, g3 = ZERO, h0 = ZERO, h1 = ZERO, h2 = ZERO, h3 = ZERO;
    for (int r = 0, p = xStart, q = dyStart; r < n; r++, p += stride, q += stride) {
      FloatVector dy0 = load(dy, q), dy1 = load(dy, q + LANES), dy2 = load(dy, q + 2 * LANES), dy3 = load(dy, q + 3 * LANES);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      g2 = g2.add(dy2);
      g3 = g3.add(dy3);
      h0 = fma(dy0, load(x, p).sub(m0), h0);
      h1 = fma(dy1, load(x, p + LANES).sub(m1), h1);
      h2 = fma(dy2, load(x, p + 2 * LANES).sub(m2), h2);
      h3 = fma(dy3, load(x, p + 3 * LANES).sub(m3), h3);
    }
    accumulate(g0, h0, sumDy, sumDyXmu, c, first);
    accumulate(g1, h1, sumDy, sumDyXmu, c + LANES, first);
    accumulate(g2, h2, sumDy, sumDyXmu, c + 2 * LANES, first);
    accumulate(g3, h3, sumDy, sumDyXmu, c + 3 * LANES, first);
  }

  private static void reduceTile1(float[] x, int xStart, float[] dy, int dyStart, int stride, int n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m = load(mean, c);
    FloatVector g0 = ZERO, g1 = ZERO, h0 = ZERO, h1 = ZERO;
    int r = 0, p = xStart, q = dyStart;
    for (; r + 1 < n; r += 2, p += 2 * stride, q += 2 * stride) {
      FloatVector dy0 = load(dy, q), dy1 = load(dy, q + stride);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = fma(dy0, load(x, p).sub(m), h0);
      h1 = fma(dy1, load(x, p + stride).sub(m), h1);
    }
    if (r < n) {
      FloatVector dy0 = load(dy, q);
      g0 = g0.add(dy0);
      h0 = fma(dy0, load(x, p).sub(m), h0);
    }
    accumulate(g0.add(g1), h0.add(h1), sumDy, sumDyXmu, c, first);
  }

  private static void accumulate(FloatVector g, FloatVector h, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    if (!first) {
      g = g.add(load(sumDy, c));
      h = h.add(load(sumDyXmu, c));
    }
    g.intoArray(sumDy, c);
    h.intoArray(sumDyXmu, c);
  }

  @Override
  public void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    float invCount = (float) (1.0 / count);
    if (inner == 1) {
      int blockRows = Blocking.rowsPerBlock(channels);
      int vectorBound = SPECIES.loopBound(channels);
      int pairBound = channels - channels % (2 * LANES);
      for (int r0 = 0; r0 < outer; r0 += blockRows) {
        int n = Math.min(blockRows, outer - r0);
        int block = r0 * channels;
        int c = 0;
        // Two channel vectors per tile, not four: four coefficient registers per vector would spill on AVX2.
        for (; c < pairBound; c += 2 * LANES) {
          FloatVector a0 = gradScale(invStd, gamma, c), a1 = gradScale(invStd, gamma, c + LANES);
          FloatVector b0 = gradSlope(a0, invStd, sumDyXhat, invCount, c), b1 = gradSlope(a1, invStd, sumDyXhat, invCount, c + LANES);
          FloatVector k0 = gradShift(a0, sumDy, invCount, c), k1 = gradShift(a1, sumDy, invCount, c + LANES);
          FloatVector m0 = load(mean, c), m1 = load(mean, c + LANES);
          for (int r = 0, p = block + c; r < n; r++, p += channels) {
            FloatVector v0 = load(x, xOffset + p), v1 = load(x, xOffset + p + LANES);
            FloatVector g0 = load(dy, dyOffset + p), g1 = load(dy, dyOffset + p + LANES);
            fma(g0, a0, fma(v0.sub(m0), b0, k0)).intoArray(dx, dxOffset + p);
            fma(g1, a1, fma(v1.sub(m1), b1, k1)).intoArray(dx, dxOffset + p + LANES);
          }
        }
        for (; c < vectorBound; c += LANES) {
          FloatVector a = gradScale(invStd, gamma, c);
          FloatVector b = gradSlope(a, invStd, sumDyXhat, invCount, c);
          FloatVector k = gradShift(a, sumDy, invCount, c);
          FloatVector m = load(mean, c);
          for (int r = 0, p = block + c; r < n; r++, p += channels) {
            fma(load(dy, dyOffset + p), a, fma(load(x, xOffset + p).sub(m), b, k)).intoArray(dx, dxOffset + p);
          }
        }
        for (; c < channels; c++) { // scalar tail
          int p = block + c;
          ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, channels, n,
              mean, invStd, gamma, sumDy, sumDyXhat, count, c);
        }
      }
      return;
    }
    int vectorBound = SPECIES.loopBound(inner);
    for (int c = 0; c < channels; c++) {
      float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
      FloatVector va = FloatVector.broadcast(SPECIES, a);
      FloatVector vb = FloatVector.broadcast(SPECIES, (float) (-a * (double) invStd[c] * sumDyXhat[c] / count));
      FloatVector vk = FloatVector.broadcast(SPECIES, (float) (-a * (double) sumDy[c] / count));
      FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
      for (int o = 0; o < outer; o++) {
        int off = (o * channels + c) * inner;
        int i = 0;
        for (; i < vectorBound; i += LANES) {
          int p = off + i;
          fma(load(dy, dyOffset + p), va, fma(load(x, xOffset + p).sub(m), vb, vk)).intoArray(dx, dxOffset + p);
        }
        int p = off + i; // scalar tail
        ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 1, inner - i,
            mean, invStd, gamma, sumDy, sumDyXhat, count, c);
      }
    }
  }

  private static FloatVector gradScale(float[] invStd, float[] gamma, int c) {
    FloatVector s = load(invStd, c);
    return gamma == null ? s : s.mul(load(gamma, c));
  }

  private static FloatVector gradSlope(FloatVector a, float[] invStd, float[] sumDyXhat, float invCount, int c) {
    return a.mul(load(invStd, c)).mul(load(sumDyXhat, c)).mul(-invCount);
  }

  private static FloatVector gradShift(FloatVector a, float[] sumDy, float invCount, int c) {
    return a.mul(load(sumDy, c)).mul(-invCount);
  }
}
