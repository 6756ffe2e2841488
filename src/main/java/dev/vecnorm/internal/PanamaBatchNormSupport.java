package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API implementation. Loaded by name from {@link VectorizationProvider} so that nothing else
 * links against the incubator module.
 *
 * <p>Channels-last ({@code inner == 1}) kernels vectorize across channels: each cache block of rows is
 * walked in channel tiles of four vectors (one accumulator or coefficient register per vector), then
 * one-vector tiles, then the scalar implementation's per-channel loop for the remaining channels.
 * Channels-first kernels vectorize along the contiguous inner extent of each (outer, channel) slice.
 * Species and lane counts live only in static finals so C2 folds them. Vectors are never held in
 * static finals: a constant vector object flowing into a loop phi makes C2 box the accumulator on every
 * iteration (megabytes per call in {@code -prof gc}); {@code FloatVector.zero(SPECIES)} stays intrinsic.
 */
final class PanamaBatchNormSupport implements BatchNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;

  PanamaBatchNormSupport() {
    // Without hardware FMA, Vector.fma is emulated exactly and far slower than the scalar kernels.
    if (!VectorizationProvider.hasFastFma()) throw new UnsupportedOperationException("no hardware FMA (-XX:-UseFMA or an old CPU)");
    if (SPECIES.vectorBitSize() < 128) {
      throw new UnsupportedOperationException("preferred float vector is " + SPECIES.vectorBitSize() + " bits; need >= 128");
    }
  }

  static String describe() {
    return SPECIES.vectorBitSize() + "-bit vectors, " + LANES + " float lanes, FMA";
  }

  @Override
  public String name() {
    return "panama";
  }



  // Rotations by a half, quarter, ... of the vector: a fixed reduction tree for sumLanes.
  private static final VectorShuffle<Float> ROTATE_HALF = VectorShuffle.iota(SPECIES, LANES / 2, 1, true);
  private static final VectorShuffle<Float> ROTATE_QUARTER = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 4), 1, true);
  private static final VectorShuffle<Float> ROTATE_EIGHTH = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 8), 1, true);
  private static final VectorShuffle<Float> ROTATE_SIXTEENTH = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 16), 1, true);

  /**
   * Lane sum by a fixed tree of rotations. {@code reduceLanes(ADD)} may associate differently in the
   * interpreter and in C2, so one call could give different bits before and after JIT; this cannot,
   * and unlike a loop over {@code lane(i)} it stays intrinsic (no boxing).
   */
  private static float sumLanes(FloatVector v) {
    v = v.add(v.rearrange(ROTATE_HALF));
    if (LANES >= 4) v = v.add(v.rearrange(ROTATE_QUARTER));
    if (LANES >= 8) v = v.add(v.rearrange(ROTATE_EIGHTH));
    if (LANES >= 16) v = v.add(v.rearrange(ROTATE_SIXTEENTH));
    return v.lane(0);
  }

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] variance) {
    if (inner == 1) {
      momentsChannelsLast(x, xOffset, outer, channels, mean, variance);
    } else {
      momentsChannelsFirst(x, xOffset, outer, channels, inner, mean, variance);
    }
    ScalarBatchNormSupport.toVariance(variance, channels, (double) outer * inner);
    ScalarBatchNormSupport.redoNonFinite(x, xOffset, outer, channels, inner, mean, variance);
  }

  private static void momentsChannelsLast(float[] x, int xOffset, int rows, int channels, float[] mean, float[] m2) {
    int blockRows = Blocking.rowsPerBlock(channels);
    int tileBound = channels - channels % (2 * LANES);
    int vectorBound = SPECIES.loopBound(channels);
    // Rows of four vectors or more: walking tiles down the block would read memory in strided
    // passes (3x slower than a plain read on NHWC 64x56x56x64), so sweep rows in order instead.
    float[] scratch = channels >= 4 * LANES ? Scratch.borrow(3 * vectorBound) : null;
    try {
      momentsBlocks(x, xOffset, rows, channels, mean, m2, scratch, blockRows, tileBound, vectorBound);
    } finally {
      if (scratch != null) Scratch.release(scratch);
    }
    int c = 0;
    for (; c < vectorBound; c += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + c).add(FloatVector.fromArray(SPECIES, mean, c)).intoArray(mean, c);
    }
    ScalarBatchNormSupport.finishLast(x, xOffset, channels, c, mean);
  }

  private static void momentsBlocks(float[] x, int xOffset, int rows, int channels, float[] mean, float[] m2, float[] scratch,
                                    int blockRows, int tileBound, int vectorBound) {
    for (int r0 = 0; r0 < rows; r0 += blockRows) {
      int n = Math.min(blockRows, rows - r0);
      int blockStart = xOffset + r0 * channels;
      int c = 0;
      if (scratch != null) {
        momentsRowMajor(x, xOffset, blockStart, channels, vectorBound, n, r0, mean, m2, scratch);
        c = vectorBound;
      }
      for (; c < tileBound; c += 2 * LANES) momentsTile2(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      for (; c < vectorBound; c += LANES) momentsTile1(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      for (; c < channels; c++) { // scalar tail
        ScalarBatchNormSupport.momentsLastBlock(x, xOffset, blockStart + c, channels, n, r0, c, mean, m2);
      }
    }
  }

  /**
   * The same corrected two-pass block moments as the tiles, for channels [0, width), with per-channel
   * accumulators in {@code scratch} ([center | sumD | sumD2], L1-resident) so rows are read in order.
   */
  private static void momentsRowMajor(float[] x, int xOffset, int blockStart, int stride, int width, int n, int done,
                                      float[] mean, float[] m2, float[] scratch) {
    java.util.Arrays.fill(scratch, 0, 3 * width, 0f);
    for (int r = 0, p = blockStart; r < n; r++, p += stride) {
      for (int c = 0; c < width; c += LANES) {
        FloatVector.fromArray(SPECIES, x, p + c).sub(FloatVector.fromArray(SPECIES, x, xOffset + c))
            .add(FloatVector.fromArray(SPECIES, scratch, c)).intoArray(scratch, c);
      }
    }
    float invN = 1f / n;
    for (int c = 0; c < width; c += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + c).add(FloatVector.fromArray(SPECIES, scratch, c).mul(invN)).intoArray(scratch, c);
    }
    for (int r = 0, p = blockStart; r < n; r++, p += stride) {
      for (int c = 0; c < width; c += LANES) {
        FloatVector e = FloatVector.fromArray(SPECIES, x, p + c).sub(FloatVector.fromArray(SPECIES, scratch, c));
        e.add(FloatVector.fromArray(SPECIES, scratch, width + c)).intoArray(scratch, width + c);
        e.fma(e, FloatVector.fromArray(SPECIES, scratch, 2 * width + c)).intoArray(scratch, 2 * width + c);
      }
    }
    for (int c = 0; c < width; c += LANES) {
      FloatVector centerRel = FloatVector.fromArray(SPECIES, scratch, c).sub(FloatVector.fromArray(SPECIES, x, xOffset + c));
      mergeBlock(centerRel, FloatVector.fromArray(SPECIES, scratch, width + c), FloatVector.fromArray(SPECIES, scratch, 2 * width + c),
          n, done, mean, m2, c);
    }
  }

  /**
   * Two channel vectors of one block: pass 1 sums {@code x - pivot}, pass 2 sums the deviations from
   * the block's center and their squares while the block is still in cache. The pivot (row 0 of the
   * channels) keeps the running float mean small, so merges do not lose digits to a large offset.
   * Two vectors, not four: four, with their merges, exceed C2's inlining node budget and box vectors.
   */
  private static void momentsTile2(float[] x, int xOffset, int start, int stride, int n, int done, int c,
                                   float[] mean, float[] m2) {
    int pivotAt = xOffset + c;
    FloatVector k0 = FloatVector.fromArray(SPECIES, x, pivotAt), k1 = FloatVector.fromArray(SPECIES, x, pivotAt + LANES);
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = FloatVector.zero(SPECIES);
    for (int r = 0, p = start; r < n; r++, p += stride) {
      acc0 = acc0.add(FloatVector.fromArray(SPECIES, x, p).sub(k0));
      acc1 = acc1.add(FloatVector.fromArray(SPECIES, x, p + LANES).sub(k1));
    }
    float invN = 1f / n;
    FloatVector c0 = k0.add(acc0.mul(invN)), c1 = k1.add(acc1.mul(invN));
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = FloatVector.zero(SPECIES);
    FloatVector q0 = FloatVector.zero(SPECIES), q1 = FloatVector.zero(SPECIES);
    for (int r = 0, p = start; r < n; r++, p += stride) {
      FloatVector e0 = FloatVector.fromArray(SPECIES, x, p).sub(c0);
      FloatVector e1 = FloatVector.fromArray(SPECIES, x, p + LANES).sub(c1);
      d0 = d0.add(e0);
      d1 = d1.add(e1);
      q0 = e0.fma(e0, q0);
      q1 = e1.fma(e1, q1);
    }
    mergeBlock(c0.sub(k0), d0, q0, n, done, mean, m2, c);
    mergeBlock(c1.sub(k1), d1, q1, n, done, mean, m2, c + LANES);
  }

  /** One channel vector of one block; even and odd rows go to separate accumulators for ILP. */
  private static void momentsTile1(float[] x, int xOffset, int start, int stride, int n, int done, int c,
                                   float[] mean, float[] m2) {
    FloatVector k = FloatVector.fromArray(SPECIES, x, xOffset + c);
    FloatVector accEven = FloatVector.zero(SPECIES), accOdd = FloatVector.zero(SPECIES);
    int r = 0, p = start;
    for (; r + 1 < n; r += 2, p += 2 * stride) {
      accEven = accEven.add(FloatVector.fromArray(SPECIES, x, p).sub(k));
      accOdd = accOdd.add(FloatVector.fromArray(SPECIES, x, p + stride).sub(k));
    }
    if (r < n) accEven = accEven.add(FloatVector.fromArray(SPECIES, x, p).sub(k));
    FloatVector center = k.add(accEven.add(accOdd).mul(1f / n));
    FloatVector dEven = FloatVector.zero(SPECIES), dOdd = FloatVector.zero(SPECIES), qEven = FloatVector.zero(SPECIES), qOdd = FloatVector.zero(SPECIES);
    for (r = 0, p = start; r + 1 < n; r += 2, p += 2 * stride) {
      FloatVector e0 = FloatVector.fromArray(SPECIES, x, p).sub(center);
      FloatVector e1 = FloatVector.fromArray(SPECIES, x, p + stride).sub(center);
      dEven = dEven.add(e0);
      dOdd = dOdd.add(e1);
      qEven = e0.fma(e0, qEven);
      qOdd = e1.fma(e1, qOdd);
    }
    if (r < n) {
      FloatVector e0 = FloatVector.fromArray(SPECIES, x, p).sub(center);
      dEven = dEven.add(e0);
      qEven = e0.fma(e0, qEven);
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
    FloatVector blockM2 = sumD2.sub(sumD.mul(sumD.mul(invN))).max(FloatVector.zero(SPECIES));
    if (done == 0) {
      blockMean.intoArray(mean, c);
      blockM2.intoArray(m2, c);
      return;
    }
    float total = (float) done + n;
    FloatVector runMean = FloatVector.fromArray(SPECIES, mean, c);
    FloatVector delta = blockMean.sub(runMean);
    runMean.add(delta.mul(n / total)).intoArray(mean, c);
    FloatVector runM2 = FloatVector.fromArray(SPECIES, m2, c).add(blockM2);
    delta.mul(delta).fma(FloatVector.broadcast(SPECIES, (float) done * n / total), runM2).intoArray(m2, c);
  }

  private static void momentsChannelsFirst(float[] x, int xOffset, int outer, int channels, int inner,
                                           float[] mean, float[] m2) {
    // Outer slices first, channels inside: memory is read in order, so the prefetcher keeps up even
    // when slices are short (channel-major order stalls on a cache miss per slice).
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int slice = xOffset + (o * channels + c) * inner;
        float pivot = x[xOffset + c * inner];
        for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
          int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0), base = slice + i0;
          float center = sumContiguous(x, base, n) / n;
          FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
          FloatVector d0 = FloatVector.zero(SPECIES), d1 = FloatVector.zero(SPECIES);
          FloatVector q0 = FloatVector.zero(SPECIES), q1 = FloatVector.zero(SPECIES);
          int upperBound = n - n % (2 * LANES);
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector e0 = FloatVector.fromArray(SPECIES, x, base + i).sub(vCenter);
            FloatVector e1 = FloatVector.fromArray(SPECIES, x, base + i + LANES).sub(vCenter);
            d0 = d0.add(e0);
            d1 = d1.add(e1);
            q0 = e0.fma(e0, q0);
            q1 = e1.fma(e1, q1);
          }
          for (; i < SPECIES.loopBound(n); i += LANES) {
            FloatVector e0 = FloatVector.fromArray(SPECIES, x, base + i).sub(vCenter);
            d0 = d0.add(e0);
            q0 = e0.fma(e0, q0);
          }
          float sumD = sumLanes(d0.add(d1));
          float sumD2 = sumLanes(q0.add(q1));
          for (; i < n; i++) { // scalar tail
            float e = x[base + i] - center;
            sumD += e;
            sumD2 += e * e;
          }
          ScalarBatchNormSupport.mergeBlock(mean, m2, c, (center - pivot) + sumD / n,
              Math.max(0f, sumD2 - sumD * (sumD / n)), n, o * inner + i0);
        }
      }
    }
    for (int c = 0; c < channels; c++) mean[c] += x[xOffset + c * inner];
  }

  /** Sum of {@code n} contiguous floats: four accumulators, one lane reduction, scalar tail. */
  private static float sumContiguous(float[] x, int base, int n) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = FloatVector.zero(SPECIES), acc2 = FloatVector.zero(SPECIES), acc3 = FloatVector.zero(SPECIES);
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i < upperBound; i += TILE) {
      int p = base + i;
      acc0 = acc0.add(FloatVector.fromArray(SPECIES, x, p));
      acc1 = acc1.add(FloatVector.fromArray(SPECIES, x, p + LANES));
      acc2 = acc2.add(FloatVector.fromArray(SPECIES, x, p + 2 * LANES));
      acc3 = acc3.add(FloatVector.fromArray(SPECIES, x, p + 3 * LANES));
    }
    for (; i < SPECIES.loopBound(n); i += LANES) acc0 = acc0.add(FloatVector.fromArray(SPECIES, x, base + i));
    float sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
    for (; i < n; i++) sum += x[base + i]; // scalar tail
    return sum;
  }

  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    // One compiled method per layout: together they exceed C2's inlining node budget and box vectors.
    if (inner == 1) {
      normalizeChannelsLast(x, xOffset, y, yOffset, outer, channels, mean, scale, fromVariance, epsilon, gamma, beta);
    } else {
      normalizeChannelsFirst(x, xOffset, y, yOffset, outer, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
    }
  }

  /**
   * Row by row, in memory order: the per-channel scale and shift are folded once into pooled scratch
   * ({@link Scratch}) so that each vector costs a subtract and an FMA with coefficients
   * read from L1. Walking channel tiles down a block of rows instead ran at ~60% of a plain copy's
   * bandwidth on NHWC 64x56x56x64; this order runs at copy speed.
   */
  private static void normalizeChannelsLast(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels,
                                            float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                            float[] gamma, float[] beta) {
    float[] coef = Coefficients.forward(Scratch.borrow(2 * channels), channels, scale, fromVariance, epsilon, gamma, beta);
    try {
      normalizeRows(x, xOffset, y, yOffset, outer, channels, mean, coef);
    } finally {
      Scratch.release(coef);
    }
  }

  private static void normalizeRows(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, float[] mean,
                                    float[] coef) {
    int vectorBound = SPECIES.loopBound(channels);
    for (int r = 0; r < outer; r++) {
      int xs = xOffset + r * channels, ys = yOffset + r * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector.fromArray(SPECIES, x, xs + c).sub(FloatVector.fromArray(SPECIES, mean, c))
            .fma(FloatVector.fromArray(SPECIES, coef, c), FloatVector.fromArray(SPECIES, coef, channels + c)).intoArray(y, ys + c);
      }
      for (; c < channels; c++) y[ys + c] = Math.fma(x[xs + c] - mean[c], coef[c], coef[channels + c]); // scalar tail
    }
  }

  private static void normalizeChannelsFirst(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels,
                                             int inner, float[] mean, float[] scale, boolean fromVariance,
                                             float epsilon, float[] gamma, float[] beta) {
    int vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = ScalarBatchNormSupport.alpha(scale, fromVariance, epsilon, gamma, c);
        float shift = beta == null ? 0f : beta[c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        int xs = xOffset + (o * channels + c) * inner, ys = yOffset + (o * channels + c) * inner;
        int i = 0;
        for (; i < vectorBound; i += LANES) FloatVector.fromArray(SPECIES, x, xs + i).sub(m).fma(a, b).intoArray(y, ys + i);
        // scalar tail
        ScalarBatchNormSupport.normalizeStrided(x, xs + i, y, ys + i, 1, inner - i, mean[c], alpha, shift);
      }
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    if (inner == 1) {
      reduceChannelsLast(x, xOffset, dy, dyOffset, outer, channels, mean, sumDy, sumDyXhat);
    } else {
      reduceChannelsFirst(x, xOffset, dy, dyOffset, outer, channels, inner, mean, sumDy, sumDyXhat);
    }
    int c = 0;
    for (; c < SPECIES.loopBound(channels); c += LANES) {
      FloatVector.fromArray(SPECIES, sumDyXhat, c).mul(FloatVector.fromArray(SPECIES, invStd, c)).intoArray(sumDyXhat, c);
    }
    for (; c < channels; c++) sumDyXhat[c] *= invStd[c]; // scalar tail
  }

  private static void reduceChannelsLast(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                                         float[] mean, float[] sumDy, float[] sumDyXhat) {
    int vectorBound = SPECIES.loopBound(channels);
    if (channels >= 4 * LANES) {
      // Rows of four vectors or more: accumulate into the (L1-resident) output arrays row by row, in
      // memory order. Narrower rows keep register tiles: a load-add-store chain per row would stall.
      java.util.Arrays.fill(sumDy, 0f);
      java.util.Arrays.fill(sumDyXhat, 0f);
      for (int r = 0; r < outer; r++) {
        int row = r * channels;
        for (int c = 0; c < vectorBound; c += LANES) {
          FloatVector g = FloatVector.fromArray(SPECIES, dy, dyOffset + row + c);
          g.add(FloatVector.fromArray(SPECIES, sumDy, c)).intoArray(sumDy, c);
          g.fma(FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c)),
              FloatVector.fromArray(SPECIES, sumDyXhat, c)).intoArray(sumDyXhat, c);
        }
        for (int c = vectorBound; c < channels; c++) { // scalar tail
          float g = dy[dyOffset + row + c];
          sumDy[c] += g;
          sumDyXhat[c] = Math.fma(g, x[xOffset + row + c] - mean[c], sumDyXhat[c]);
        }
      }
      return;
    }
    int blockRows = Blocking.rowsPerBlock(channels);
    for (int r0 = 0; r0 < outer; r0 += blockRows) {
      int n = Math.min(blockRows, outer - r0);
      int block = r0 * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        reduceTile1(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean, sumDy, sumDyXhat, c, r0 == 0);
      }
      for (; c < channels; c++) { // scalar tail
        ScalarBatchNormSupport.reduceStrided(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean[c],
            sumDy, sumDyXhat, c, r0 == 0);
      }
    }
  }

  private static void reduceChannelsFirst(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                                          int inner, float[] mean, float[] sumDy, float[] sumDyXhat) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
        FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i < upperBound; i += 2 * LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i), dy1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
          g0 = g0.add(dy0);
          g1 = g1.add(dy1);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
          h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, xs + i + LANES).sub(m), h1);
        }
        for (; i < vectorBound; i += LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i);
          g0 = g0.add(dy0);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
        }
        float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
        for (; i < inner; i++) { // scalar tail
          float g = dy[gs + i];
          sDy += g;
          sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
        }
        if (o == 0) {
          sumDy[c] = sDy;
          sumDyXhat[c] = sDyX;
        } else {
          sumDy[c] += sDy;
          sumDyXhat[c] += sDyX;
        }
      }
    }
  }

  private static void reduceTile1(float[] x, int xStart, float[] dy, int dyStart, int stride, int n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES), h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int r = 0, p = xStart, q = dyStart;
    for (; r + 1 < n; r += 2, p += 2 * stride, q += 2 * stride) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, q), dy1 = FloatVector.fromArray(SPECIES, dy, q + stride);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, p).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, p + stride).sub(m), h1);
    }
    if (r < n) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, q);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, p).sub(m), h0);
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
  public void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    if (inner == 1) {
      applyChannelsLast(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, mean, invStd, gamma, sumDy, sumDyXhat, count);
    } else {
      applyChannelsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy,
          sumDyXhat, count);
    }
  }

  /**
   * Row by row with per-channel {@code a, b, k} folded into pooled scratch first (as normalize):
   * {@code dx = a*dy + b*(x - mean) + k}, two FMAs per element, memory read in order.
   */
  private static void applyChannelsLast(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                        int outer, int channels, float[] mean, float[] invStd, float[] gamma,
                                        float[] sumDy, float[] sumDyXhat, double count) {
    float[] coef = Coefficients.backward(Scratch.borrow(3 * channels), channels, invStd, gamma, sumDy, sumDyXhat, count);
    try {
      applyRows(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, mean, coef);
    } finally {
      Scratch.release(coef);
    }
  }

  private static void applyRows(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                int channels, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(channels);
    for (int r = 0; r < outer; r++) {
      int row = r * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector xm = FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c));
        FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, channels + c), FloatVector.fromArray(SPECIES, coef, 2 * channels + c));
        FloatVector.fromArray(SPECIES, dy, dyOffset + row + c).fma(FloatVector.fromArray(SPECIES, coef, c), inner)
            .intoArray(dx, dxOffset + row + c);
      }
      for (; c < channels; c++) { // scalar tail
        dx[dxOffset + row + c] = Math.fma(dy[dyOffset + row + c], coef[c],
            Math.fma(x[xOffset + row + c] - mean[c], coef[channels + c], coef[2 * channels + c]));
      }
    }
  }

  private static void applyChannelsFirst(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                         int outer, int channels, int inner, float[] mean, float[] invStd,
                                         float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    int vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float a = gamma == null ? invStd[c] : gamma[c] * invStd[c];
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        FloatVector vb = FloatVector.broadcast(SPECIES, (float) (-a * (double) invStd[c] * sumDyXhat[c] / count));
        FloatVector vk = FloatVector.broadcast(SPECIES, (float) (-a * (double) sumDy[c] / count));
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        int off = (o * channels + c) * inner;
        int i = 0;
        for (; i < vectorBound; i += LANES) {
          int p = off + i;
          FloatVector.fromArray(SPECIES, dy, dyOffset + p)
              .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m).fma(vb, vk)).intoArray(dx, dxOffset + p);
        }
        int p = off + i; // scalar tail
        ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 1, inner - i,
            mean, invStd, gamma, sumDy, sumDyXhat, count, c);
      }
    }
  }
}
