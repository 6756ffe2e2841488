package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API fused BN + (add) + ReLU. Channels-last sweeps rows with per-channel coefficients folded
 * into C-float arrays; channels-first sweeps each (outer, channel) slice with broadcast coefficients.
 * The backward mask {@code y > 0} is a lane compare and a blend, no stored workspace.
 */
final class PanamaFusedRelu implements FusedReluSupport {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();

  PanamaFusedRelu() {
    if (SPECIES.vectorBitSize() < 128) throw new UnsupportedOperationException("vectors narrower than 128 bits");
  }

  @Override
  public void normalizeRelu(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    if (inner == 1) {
      int width = PanamaBatchNormSupport.superWidth(channels), superRows = width < 0 ? 0 : outer * channels / width;
      // [alpha | shift | mean] per channel, then (super rows) the same three tiled over a super row.
      float[] coef = Coefficients.folded(Scratch.borrow(3 * channels + 3 * Math.max(width, 0)), channels, 0, channels, mean,
          invStd, false, 1f, gamma, beta);
      try {
        int done = 0;
        if (superRows > 0) {
          PanamaBatchNormSupport.tilePattern(coef, 0, channels, 3, 3 * channels, width);
          int stride = PanamaBatchNormSupport.registerStride(channels);
          if (stride == 4 * LANES) {
            reluRegisters(x, xOffset, residual, residualOffset, y, yOffset, superRows * width, width, coef, 3 * channels);
          } else if (stride == 3 * LANES) {
            reluRegisters3(x, xOffset, residual, residualOffset, y, yOffset, superRows * width, width, coef, 3 * channels);
          } else {
            int two = streamedHalf(superRows, width);
            if (two > 0) reluStreams2(x, xOffset, residual, residualOffset, y, yOffset, two, width, coef, 3 * channels);
            int at = 2 * two * width;
            reluRows(x, xOffset + at, residual, residual == null ? 0 : residualOffset + at, y, yOffset + at, superRows - 2 * two, width,
                coef, 3 * channels);
          }
          done = superRows * (width / channels);
        }
        int at = done * channels; // the rows that do not fill a super row (all rows for ragged wide rows)
        reluRows(x, xOffset + at, residual, residual == null ? 0 : residualOffset + at, y, yOffset + at, outer - done, channels,
            coef, 0);
      } finally {
        Scratch.release(coef);
      }
      return;
    }
    reluSlices(x, xOffset, residual, residualOffset, y, yOffset, outer, channels, inner, mean, invStd, gamma, beta);
  }

  /**
   * {@code rows} rows of {@code width} floats with the coefficients {@code [alpha | shift | mean]}, {@code width} each, at
   * {@code at} of {@code coef}: rows of {@code channels} floats with the per-channel values (ragged rows too wide for super
   * rows, and the last rows that do not fill one), or super rows ({@code width} a multiple of the lanes and the channels,
   * PanamaBatchNormSupport.superWidth) with the values tiled over a super row, which leaves no channel tail per row. With
   * 17 channels the row loop alone ran one vector and a scalar float per row, and the fused forward took 2x batch norm's
   * forward followed by a separate ReLU pass (NHWC 7x13x13x17, JMH ThroughputBenchmark). One expression per element
   * either way, so the same bits.
   */
  private static void reluRows(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int rows,
                               int width, float[] coef, int at) {
    int bound = SPECIES.loopBound(width), shift = at + width, mean = at + 2 * width;
    for (int r = 0, row = 0; r < rows; r++, row += width) {
      int j = 0;
      for (; j < bound; j += LANES) {
        FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + row + j).sub(FloatVector.fromArray(SPECIES, coef, mean + j))
            .fma(FloatVector.fromArray(SPECIES, coef, at + j), FloatVector.fromArray(SPECIES, coef, shift + j));
        if (residual != null) v = v.add(FloatVector.fromArray(SPECIES, residual, residualOffset + row + j));
        v.max(0f).intoArray(y, yOffset + row + j);
      }
      for (; j < width; j++) { // scalar tail
        float v = Math.fma(x[xOffset + row + j] - coef[mean + j], coef[at + j], coef[shift + j]);
        if (residual != null) v += residual[residualOffset + row + j];
        y[yOffset + row + j] = Math.max(v, 0f);
      }
    }
  }

  /**
   * {@link #reluRows} over {@code n} floats of super rows whose coefficient pattern repeats every four vectors, with
   * {@code alpha, shift, mean} of the four vectors in registers (see {@link #applyRegisters}): one load (two with a
   * residual) and a store per vector. The same expression per element, so the same bits. One-JVM toggle against reluRows
   * (session 21, fused training forward, medians of 21 rounds): NHWC 32x56x56x32 0.781, 64x56x56x64 0.699, 8x28x28x64
   * 0.725, 16x28x28x16 0.703, 32x112x112x8 0.803, NC 4096x32 0.652.
   */
  private static void reluRegisters(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int n,
                                    int width, float[] coef, int at) {
    int sh = at + width, m = at + 2 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector s0 = FloatVector.fromArray(SPECIES, coef, sh), s1 = FloatVector.fromArray(SPECIES, coef, sh + LANES);
    FloatVector s2 = FloatVector.fromArray(SPECIES, coef, sh + 2 * LANES), s3 = FloatVector.fromArray(SPECIES, coef, sh + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    for (int i = 0; i < n; i += 4 * LANES) {
      FloatVector v0 = FloatVector.fromArray(SPECIES, x, xOffset + i).sub(m0).fma(a0, s0);
      FloatVector v1 = FloatVector.fromArray(SPECIES, x, xOffset + i + LANES).sub(m1).fma(a1, s1);
      FloatVector v2 = FloatVector.fromArray(SPECIES, x, xOffset + i + 2 * LANES).sub(m2).fma(a2, s2);
      FloatVector v3 = FloatVector.fromArray(SPECIES, x, xOffset + i + 3 * LANES).sub(m3).fma(a3, s3);
      if (residual != null) {
        v0 = v0.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i));
        v1 = v1.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i + LANES));
        v2 = v2.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i + 2 * LANES));
        v3 = v3.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i + 3 * LANES));
      }
      v0.max(0f).intoArray(y, yOffset + i);
      v1.max(0f).intoArray(y, yOffset + i + LANES);
      v2.max(0f).intoArray(y, yOffset + i + 2 * LANES);
      v3.max(0f).intoArray(y, yOffset + i + 3 * LANES);
    }
  }

  /**
   * Super rows in each half of {@link #reluStreams2} and {@link #applyStreams2}: half of them for calls past L2 (more than
   * {@code STREAM_MIN_FLOATS}, batch norm's rule for its own two-stream walk), none otherwise.
   */
  private static int streamedHalf(int superRows, int width) {
    return (long) superRows * width > PanamaBatchNormSupport.STREAM_MIN_FLOATS ? superRows / 2 : 0;
  }

  /**
   * The first {@code 2 * half} super rows as two halves walked side by side, as batch norm's normalizeStreams2: each
   * coefficient vector is loaded once for a vector of each half, and both halves' inputs are loaded before either store.
   * The same expression per element, so the same bits. Taken past L2 ({@link #streamedHalf}).
   * One-JVM toggle against reluRows (AVX-512 EPYC, Zen 5 class, session 21, fused training forward, medians of 21 rounds):
   * NHWC 32x14x14x256 0.777, 16x28x28x128 0.799, 32x7x7x2048 0.835, NC 8192x256 0.806, 100000x100 0.883, 1000x1024
   * 0.901, 50000x17 0.804.
   */
  private static void reluStreams2(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int half,
                                   int width, float[] coef, int at) {
    int part = half * width, sh = at + width, mean = at + 2 * width;
    for (int i = 0; i < part; i += width) {
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector u0 = FloatVector.fromArray(SPECIES, x, xOffset + p), u1 = FloatVector.fromArray(SPECIES, x, xOffset + part + p);
        FloatVector a = FloatVector.fromArray(SPECIES, coef, at + j), b = FloatVector.fromArray(SPECIES, coef, sh + j);
        FloatVector m = FloatVector.fromArray(SPECIES, coef, mean + j);
        FloatVector v0 = u0.sub(m).fma(a, b), v1 = u1.sub(m).fma(a, b);
        if (residual != null) {
          v0 = v0.add(FloatVector.fromArray(SPECIES, residual, residualOffset + p));
          v1 = v1.add(FloatVector.fromArray(SPECIES, residual, residualOffset + part + p));
        }
        v0.max(0f).intoArray(y, yOffset + p);
        v1.max(0f).intoArray(y, yOffset + part + p);
      }
    }
  }

  /**
   * {@link #reluRegisters} for a pattern of three vectors (3, 6, 12, 24, 48 channels at 16 lanes): steps of three vectors.
   * Toggle against the scratch-reading loops (session 21, fused training forward): NHWC 32x28x28x48 0.851, 16x56x56x24
   * 0.842, 8x112x112x12 0.860, 4x28x28x48 0.719, NC 10000x48 0.909.
   */
  private static void reluRegisters3(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int n,
                                     int width, float[] coef, int at) {
    int sh = at + width, m = at + 2 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector s0 = FloatVector.fromArray(SPECIES, coef, sh), s1 = FloatVector.fromArray(SPECIES, coef, sh + LANES);
    FloatVector s2 = FloatVector.fromArray(SPECIES, coef, sh + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    for (int i = 0; i < n; i += 3 * LANES) {
      FloatVector v0 = FloatVector.fromArray(SPECIES, x, xOffset + i).sub(m0).fma(a0, s0);
      FloatVector v1 = FloatVector.fromArray(SPECIES, x, xOffset + i + LANES).sub(m1).fma(a1, s1);
      FloatVector v2 = FloatVector.fromArray(SPECIES, x, xOffset + i + 2 * LANES).sub(m2).fma(a2, s2);
      if (residual != null) {
        v0 = v0.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i));
        v1 = v1.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i + LANES));
        v2 = v2.add(FloatVector.fromArray(SPECIES, residual, residualOffset + i + 2 * LANES));
      }
      v0.max(0f).intoArray(y, yOffset + i);
      v1.max(0f).intoArray(y, yOffset + i + LANES);
      v2.max(0f).intoArray(y, yOffset + i + 2 * LANES);
    }
  }

  private static void reluSlices(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset, int outer,
                                 int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    int bound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = gamma == null ? invStd[c] : gamma[c] * invStd[c], shift = beta == null ? 0f : beta[c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]), a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        int base = (o * channels + c) * inner, i = 0;
        for (; i < bound; i += LANES) {
          FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m).fma(a, b);
          if (residual != null) v = v.add(FloatVector.fromArray(SPECIES, residual, residualOffset + base + i));
          v.max(0f).intoArray(y, yOffset + base + i);
        }
        for (; i < inner; i++) { // scalar tail
          float v = Math.fma(x[xOffset + base + i] - mean[c], alpha, shift);
          if (residual != null) v += residual[residualOffset + base + i];
          y[yOffset + base + i] = Math.max(v, 0f);
        }
      }
    }
  }

  /** Whole-vector rows of at most this many vectors keep {@link #reduceRows} in the backward reduce (see {@link #backwardReduceRelu}). */
  static final int ROW_LOOP_MAX_VECTORS = 16;

  private static FloatVector masked(float[] dy, int dyAt, float[] y, int yAt) {
    FloatVector g = FloatVector.fromArray(SPECIES, dy, dyAt);
    return FloatVector.zero(SPECIES).blend(g, FloatVector.fromArray(SPECIES, y, yAt).compare(VectorOperators.GT, 0f));
  }

  @Override
  public void backwardReduceRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer,
                                 int channels, int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    backwardReduceReluChunk(x, xOffset, y, yOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat,
        (long) outer * channels * inner);
  }

  /** A call or a {@code ParallelBatchNorm} chunk: super rows in row order when the whole tensor has 2 Mi floats or more. */
  @Override
  public void backwardReduceReluChunk(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer,
                                      int channels, int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat,
                                      long tensorFloats) {
    java.util.Arrays.fill(sumDy, 0f);
    java.util.Arrays.fill(sumDyXhat, 0f);
    if (inner == 1) {
      // Rows of whole vectors up to ROW_LOOP_MAX_VECTORS of them keep the row loop (NC 8192x256: four rows a step read
      // 1.04-1.07x its time on the Xeon, 0.94-1.05 on the EPYC); wider ones take super rows of one row, four rows a step:
      // the row loop loads and stores both accumulators for every vector of every row. One-JVM toggle on the AVX-512 EPYC
      // (Zen 5 class, session 21, fused backward, four rows over the row loop, medians of 21 rounds): NC 256x1024 0.59 and
      // 0.91, 64x2048 0.67, 128x4096 0.80, 512x512 0.83, 1000x512 0.93, 1024x384 0.88, 4096x1024 0.91.
      int width = PanamaBatchNormSupport.superWidth(channels);
      int superRows = width < 0 || width == channels && channels <= ROW_LOOP_MAX_VECTORS * LANES ? 0 : outer * channels / width;
      int done = 0;
      if (superRows > 0) {
        reduceSuperRows(x, xOffset, y, yOffset, dy, dyOffset, superRows, width, channels, mean, sumDy, sumDyXhat,
            tensorFloats >= PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS);
        done = superRows * (width / channels);
      }
      int at = done * channels;
      reduceRows(x, xOffset + at, y, yOffset + at, dy, dyOffset + at, outer - done, channels, mean, sumDy, sumDyXhat);
    } else {
      for (int o = 0; o < outer; o++) {
        for (int c = 0; c < channels; c++) {
          long sums = planeSums(x, xOffset, y, yOffset, dy, dyOffset, (o * channels + c) * inner, inner, mean[c]);
          sumDy[c] += Float.intBitsToFloat((int) (sums >>> 32));
          sumDyXhat[c] += Float.intBitsToFloat((int) sums);
        }
      }
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  /**
   * One plane's {@code Σg} (high float bits) and {@code Σg (x - mean)} (low) from element {@code base}: two independent
   * accumulator pairs (the add and FMA latencies), one lane sum per plane (sumLanes: a fixed tree, the same bits
   * interpreted or compiled; sixteen lane() reads a sum cost more than a 196-float plane's loop), then a scalar tail.
   */
  private static long planeSums(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int base, int inner,
                                float mean) {
    FloatVector m = FloatVector.broadcast(SPECIES, mean);
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, b0 = a0, b1 = a0;
    int bound = SPECIES.loopBound(inner), bound2 = inner - inner % (2 * LANES), i = 0;
    for (; i < bound2; i += 2 * LANES) {
      FloatVector g0 = masked(dy, dyOffset + base + i, y, yOffset + base + i);
      FloatVector g1 = masked(dy, dyOffset + base + i + LANES, y, yOffset + base + i + LANES);
      a0 = a0.add(g0);
      a1 = a1.add(g1);
      b0 = g0.fma(FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m), b0);
      b1 = g1.fma(FloatVector.fromArray(SPECIES, x, xOffset + base + i + LANES).sub(m), b1);
    }
    for (; i < bound; i += LANES) {
      FloatVector g = masked(dy, dyOffset + base + i, y, yOffset + base + i);
      a0 = a0.add(g);
      b0 = g.fma(FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m), b0);
    }
    long sums = PanamaBatchNormSupport.sumLanes(a0.add(a1), b0.add(b1));
    float sDy = Float.intBitsToFloat((int) (sums >>> 32)), sDyX = Float.intBitsToFloat((int) sums);
    for (; i < inner; i++) { // scalar tail
      float g = y[yOffset + base + i] > 0 ? dy[dyOffset + base + i] : 0f;
      sDy += g;
      sDyX = Math.fma(g, x[xOffset + base + i] - mean, sDyX);
    }
    return (long) Float.floatToRawIntBits(sDy) << 32 | Float.floatToRawIntBits(sDyX) & 0xFFFF_FFFFL;
  }

  /**
   * Channels-first planes that batch norm's own backward walks channel by channel ({@code PanamaBatchNormSupport.memoryOrder}
   * false: long planes, e.g. NCHW 64x56x56x64): each channel's planes reduced, its coefficients folded, then applied while
   * they are still in L2, last plane first (a channel larger than L2 then finds its last planes there). Reduce-then-apply
   * over the whole tensor read x, y and dy a second time from memory: the fused backward took 2.3x batch norm's on NCHW
   * 64x56x56x64 (JMH, Intel Xeon). The same sums in the same order per channel (plane by plane in sample order, from 0)
   * and the same per-element apply, so the same bits as reduce-then-apply.
   */
  @Override
  public boolean backwardRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                              float[] dResidual, int dResidualOffset, int outer, int channels, int inner, float[] mean,
                              float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    if (inner < BatchNormSupport.FUSED_MIN_INNER || PanamaBatchNormSupport.memoryOrder(outer, channels, inner)) return false;
    for (int c = 0; c < channels; c++) {
      float sDy = 0f, sDyX = 0f;
      for (int o = 0; o < outer; o++) {
        long sums = planeSums(x, xOffset, y, yOffset, dy, dyOffset, (o * channels + c) * inner, inner, mean[c]);
        sDy += Float.intBitsToFloat((int) (sums >>> 32));
        sDyX += Float.intBitsToFloat((int) sums);
      }
      sumDy[c] = sDy;
      sumDyXhat[c] = sDyX * invStd[c];
      float a = Coefficients.backwardA(invStd, gamma, c), b = Coefficients.backwardB(a, invStd, sumDyXhat, count, c);
      float k = Coefficients.backwardK(a, sumDy, count, c);
      for (int o = outer - 1; o >= 0; o--) {
        applyPlane(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, (o * channels + c) * inner, inner,
            mean[c], a, b, k);
      }
    }
    return true;
  }

  /** One channels-first plane of the apply from element {@code base}, with its channel's coefficients. */
  private static void applyPlane(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                 float[] dResidual, int dResidualOffset, int base, int inner, float mean, float a, float b, float k) {
    FloatVector m = FloatVector.broadcast(SPECIES, mean), va = FloatVector.broadcast(SPECIES, a);
    FloatVector vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    int bound = SPECIES.loopBound(inner), i = 0;
    for (; i < bound; i += LANES) {
      FloatVector g = masked(dy, dyOffset + base + i, y, yOffset + base + i);
      if (dResidual != null) g.intoArray(dResidual, dResidualOffset + base + i);
      g.fma(va, FloatVector.fromArray(SPECIES, x, xOffset + base + i).sub(m).fma(vb, vk)).intoArray(dx, dxOffset + base + i);
    }
    for (; i < inner; i++) applyScalar(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, base + i,
        mean, a, b, k); // scalar tail
  }

  /** Rows as they are, added into {@code sumDy} and {@code sumDyXhat} per channel (ragged wide rows, the rows after the super rows). */
  private static void reduceRows(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer, int channels,
                                 float[] mean, float[] sumDy, float[] sumDyXhat) {
    int bound = SPECIES.loopBound(channels);
    for (int r = 0; r < outer; r++) {
      int row = r * channels;
      int c = 0;
      for (; c < bound; c += LANES) {
        FloatVector g = masked(dy, dyOffset + row + c, y, yOffset + row + c);
        g.add(FloatVector.fromArray(SPECIES, sumDy, c)).intoArray(sumDy, c);
        g.fma(FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c)),
            FloatVector.fromArray(SPECIES, sumDyXhat, c)).intoArray(sumDyXhat, c);
      }
      for (; c < channels; c++) { // scalar tail
        float g = y[yOffset + row + c] > 0 ? dy[dyOffset + row + c] : 0f;
        sumDy[c] += g;
        sumDyXhat[c] = Math.fma(g, x[xOffset + row + c] - mean[c], sumDyXhat[c]);
      }
    }
  }

  /**
   * The super rows' sums (PanamaBatchNormSupport.superWidth: whole rows and whole vectors, no channel tail): per
   * position of a super row in pooled scratch, four super rows a step (their g and g * (x - mean) summed in registers,
   * then added once: a quarter of the accumulators' loads and stores), then folded into channels in position order.
   * The row loop instead loaded and stored both accumulators for every vector of every row, and with 17 channels ran a
   * vector and a scalar float per row: the fused backward took 4.3x batch norm's backward after a separate ReLU mask
   * pass on NHWC 7x13x13x17 (JMH ThroughputBenchmark, Intel Xeon). A fixed order for a given shape, so the same bits for
   * any thread count (ParallelBatchNorm's chunks are whole rows, each summed from its first row).
   */
  private static void reduceSuperRows(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int superRows,
                                      int width, int channels, float[] mean, float[] sumDy, float[] sumDyXhat, boolean rowOrder) {
    float[] s = Scratch.borrow((rowOrder ? 5 : 3) * width); // [mean tiled | S(g) | S(g (x - mean)) | t | u] per position
    try {
      System.arraycopy(mean, 0, s, 0, channels);
      PanamaBatchNormSupport.tilePattern(s, 0, channels, 1, 0, width);
      java.util.Arrays.fill(s, width, 3 * width, 0f);
      int r = rowOrder ? rowOrderSteps(x, xOffset, y, yOffset, dy, dyOffset, superRows - superRows % 4, width, s) : 0;
      for (int row = r * width; r + 4 <= superRows; r += 4, row += 4 * width) {
        int x0 = xOffset + row, y0 = yOffset + row, d0 = dyOffset + row;
        for (int j = 0; j < width; j += LANES) {
          FloatVector m = FloatVector.fromArray(SPECIES, s, j);
          FloatVector g0 = masked(dy, d0 + j, y, y0 + j), g1 = masked(dy, d0 + width + j, y, y0 + width + j);
          FloatVector g2 = masked(dy, d0 + 2 * width + j, y, y0 + 2 * width + j), g3 = masked(dy, d0 + 3 * width + j, y, y0 + 3 * width + j);
          FloatVector.fromArray(SPECIES, s, width + j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, width + j);
          FloatVector e0 = FloatVector.fromArray(SPECIES, x, x0 + j).sub(m), e1 = FloatVector.fromArray(SPECIES, x, x0 + width + j).sub(m);
          FloatVector e2 = FloatVector.fromArray(SPECIES, x, x0 + 2 * width + j).sub(m);
          FloatVector e3 = FloatVector.fromArray(SPECIES, x, x0 + 3 * width + j).sub(m);
          g3.fma(e3, g2.fma(e2, g1.fma(e1, g0.fma(e0, FloatVector.fromArray(SPECIES, s, 2 * width + j))))).intoArray(s, 2 * width + j);
        }
      }
      for (int row = r * width; r < superRows; r++, row += width) {
        for (int j = 0; j < width; j += LANES) {
          FloatVector g = masked(dy, dyOffset + row + j, y, yOffset + row + j);
          FloatVector.fromArray(SPECIES, s, width + j).add(g).intoArray(s, width + j);
          g.fma(FloatVector.fromArray(SPECIES, x, xOffset + row + j).sub(FloatVector.fromArray(SPECIES, s, j)),
              FloatVector.fromArray(SPECIES, s, 2 * width + j)).intoArray(s, 2 * width + j);
        }
      }
      for (int j = 0, c = 0; j < width; j++, c = c + 1 == channels ? 0 : c + 1) { // positions into channels, in order
        sumDy[c] += s[width + j];
        sumDyXhat[c] += s[2 * width + j];
      }
    } finally {
      Scratch.release(s);
    }
  }

  /**
   * {@link #reduceSuperRows}' whole four-super-row steps ({@code rows} super rows, a multiple of four) one row after
   * the other, for tensors of {@code PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS} floats and more (a call or its
   * chunks), as batch norm's backward reduce does ({@code PanamaBatchNormSupport.rowOrderSteps}, where the four-row
   * walk's cost is explained; here it reads twelve streams): {@code t = g0}, {@code t += g1}, {@code u = g2}, then
   * {@code S(g) += t + (u + g3)}, and the FMAs in row order: the four-row walk's operations per position in its order,
   * so the same bits. Scratch {@code [mean | S(g) | S(g (x - mean)) | t | u]}, {@code width} floats each; returns
   * {@code rows}. The fused backward's time over batch norm's backward in the same JVM (twenty-eighth session, AMD EPYC
   * Zen 4 class; a probe (docs/probes/ReluBw.java) alternating {@code BatchNormRelu.backward} and
   * {@code BatchNorm.backward}, medians of 9 rounds, two JVMs a build; with / without this walk): NHWC 32x56x56x32
   * 1.36, 1.47 / 1.82, 1.98; NHWC 64x56x56x64 1.15, 1.24 / 1.84, 1.87; NHWC 16x56x56x64 1.24, 1.25 / 1.94, 2.10; NC
   * 32768x64 1.19, 1.39 / 1.92, 2.00 (the fused backward reads y as well, so about 1.4 is its traffic's share).
   */
  private static int rowOrderSteps(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int rows, int width,
                                   float[] s) {
    int sum = width, h = 2 * width, t = 3 * width, u = 4 * width;
    for (int row = 0; row < rows * width; row += 4 * width) {
      int x0 = xOffset + row, y0 = yOffset + row, d0 = dyOffset + row;
      for (int j = 0; j < width; j += LANES) { // row 0: t = g0
        FloatVector g = masked(dy, d0 + j, y, y0 + j);
        g.intoArray(s, t + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x0 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x1 = x0 + width, y1 = y0 + width, d1 = d0 + width;
      for (int j = 0; j < width; j += LANES) { // row 1: t += g1
        FloatVector g = masked(dy, d1 + j, y, y1 + j);
        FloatVector.fromArray(SPECIES, s, t + j).add(g).intoArray(s, t + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x1 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x2 = x1 + width, y2 = y1 + width, d2 = d1 + width;
      for (int j = 0; j < width; j += LANES) { // row 2: u = g2
        FloatVector g = masked(dy, d2 + j, y, y2 + j);
        g.intoArray(s, u + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x2 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x3 = x2 + width, y3 = y2 + width, d3 = d2 + width;
      for (int j = 0; j < width; j += LANES) { // row 3: S(g) += t + (u + g3)
        FloatVector g = masked(dy, d3 + j, y, y3 + j);
        FloatVector pair = FloatVector.fromArray(SPECIES, s, u + j).add(g);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(pair)).intoArray(s, sum + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x3 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
    }
    return rows;
  }

  @Override
  public void backwardApplyRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx,
                                int dxOffset, float[] dResidual, int dResidualOffset, int outer, int channels, int inner,
                                float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    int width = inner == 1 ? PanamaBatchNormSupport.superWidth(channels) : -1;
    int superRows = width < 0 ? 0 : outer * channels / width;
    // [a | b | k | mean] per channel, then (super rows) the four tiled over a super row.
    float[] coef = Coefficients.backward(Scratch.borrow(4 * channels + (superRows > 0 ? 4 * width : 0)), channels, invStd, gamma,
        sumDy, sumDyXhat, count);
    try {
      if (inner > 1) {
        for (int o = 0; o < outer; o++) {
          for (int c = 0; c < channels; c++) {
            applyPlane(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, (o * channels + c) * inner,
                inner, mean[c], coef[c], coef[channels + c], coef[2 * channels + c]);
          }
        }
        return;
      }
      System.arraycopy(mean, 0, coef, 3 * channels, channels);
      int done = 0;
      if (superRows > 0) {
        PanamaBatchNormSupport.tilePattern(coef, 0, channels, 4, 4 * channels, width);
        int stride = PanamaBatchNormSupport.registerStride(channels);
        if (stride == 4 * LANES) {
          applyRegisters(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, superRows * width, width, coef,
              4 * channels);
        } else if (stride == 3 * LANES) {
          applyRegisters3(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, superRows * width, width, coef,
              4 * channels);
        } else {
          int two = streamedHalf(superRows, width);
          if (two > 0) {
            applyStreams2(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, two, width, coef, 4 * channels);
          }
          int at = 2 * two * width;
          applyRows(x, xOffset + at, y, yOffset + at, dy, dyOffset + at, dx, dxOffset + at, dResidual,
              dResidual == null ? 0 : dResidualOffset + at, superRows - 2 * two, width, coef, 4 * channels);
        }
        done = superRows * (width / channels);
      }
      int at = done * channels; // the rows that do not fill a super row (all rows for ragged wide rows)
      applyRows(x, xOffset + at, y, yOffset + at, dy, dyOffset + at, dx, dxOffset + at, dResidual,
          dResidual == null ? 0 : dResidualOffset + at, outer - done, channels, coef, 0);
    } finally {
      Scratch.release(coef);
    }
  }

  /**
   * The channels-last apply over {@code rows} rows of {@code width} floats with {@code [a | b | k | mean]}, {@code width}
   * each, at {@code at} of {@code coef}: rows of channels with the per-channel values, or super rows with the values tiled
   * over a super row (no channel tail per row, see {@link #reduceSuperRows}). Every input of an element is loaded before
   * its outputs are stored (dx may be x, y or dy; dResidual may be dy).
   */
  private static void applyRows(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                float[] dResidual, int dResidualOffset, int rows, int width, float[] coef, int at) {
    int bound = SPECIES.loopBound(width), b = at + width, k = at + 2 * width, mean = at + 3 * width;
    for (int r = 0, row = 0; r < rows; r++, row += width) {
      int j = 0;
      for (; j < bound; j += LANES) {
        FloatVector g = masked(dy, dyOffset + row + j, y, yOffset + row + j);
        FloatVector lin = FloatVector.fromArray(SPECIES, x, xOffset + row + j).sub(FloatVector.fromArray(SPECIES, coef, mean + j))
            .fma(FloatVector.fromArray(SPECIES, coef, b + j), FloatVector.fromArray(SPECIES, coef, k + j));
        if (dResidual != null) g.intoArray(dResidual, dResidualOffset + row + j);
        g.fma(FloatVector.fromArray(SPECIES, coef, at + j), lin).intoArray(dx, dxOffset + row + j);
      }
      for (; j < width; j++) applyScalar(x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset, row + j,
          coef[mean + j], coef[at + j], coef[b + j], coef[k + j]); // scalar tail
    }
  }

  /**
   * {@link #applyRows} over {@code n} floats of super rows whose coefficient pattern repeats every four vectors
   * ({@code PanamaBatchNormSupport.registerStride}: 1-64 channels at 16 lanes), with {@code a, b, k, mean} of the four vectors
   * held in registers, as batch norm's own apply does (applyRegisters4): three loads and a store per vector of dx (four
   * with dResidual), not seven. The same expression per element, so the same bits; each vector's inputs are loaded
   * before its outputs are stored. One-JVM toggle against applyRows (AVX-512 EPYC, Zen 5 class, session 21, fused backward,
   * medians of 21 rounds): NHWC 32x56x56x32 0.758, 64x56x56x64 0.809, 8x28x28x64 0.798, 16x28x28x16 0.858, 32x112x112x8
   * 0.785, NC 4096x32 0.833; the fused backward had taken 1.22x and 1.08x batch norm's backward after a separate mask pass
   * on NHWC 32x56x56x32 and 64x56x56x64 (ThroughputBenchmark).
   */
  private static void applyRegisters(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                     float[] dResidual, int dResidualOffset, int n, int width, float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES), b3 = FloatVector.fromArray(SPECIES, coef, b + 3 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES), k3 = FloatVector.fromArray(SPECIES, coef, k + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    for (int i = 0; i < n; i += 4 * LANES) {
      FloatVector g0 = masked(dy, dyOffset + i, y, yOffset + i), g1 = masked(dy, dyOffset + i + LANES, y, yOffset + i + LANES);
      FloatVector g2 = masked(dy, dyOffset + i + 2 * LANES, y, yOffset + i + 2 * LANES);
      FloatVector g3 = masked(dy, dyOffset + i + 3 * LANES, y, yOffset + i + 3 * LANES);
      FloatVector l0 = FloatVector.fromArray(SPECIES, x, xOffset + i).sub(m0).fma(b0, k0);
      FloatVector l1 = FloatVector.fromArray(SPECIES, x, xOffset + i + LANES).sub(m1).fma(b1, k1);
      FloatVector l2 = FloatVector.fromArray(SPECIES, x, xOffset + i + 2 * LANES).sub(m2).fma(b2, k2);
      FloatVector l3 = FloatVector.fromArray(SPECIES, x, xOffset + i + 3 * LANES).sub(m3).fma(b3, k3);
      if (dResidual != null) {
        g0.intoArray(dResidual, dResidualOffset + i);
        g1.intoArray(dResidual, dResidualOffset + i + LANES);
        g2.intoArray(dResidual, dResidualOffset + i + 2 * LANES);
        g3.intoArray(dResidual, dResidualOffset + i + 3 * LANES);
      }
      g0.fma(a0, l0).intoArray(dx, dxOffset + i);
      g1.fma(a1, l1).intoArray(dx, dxOffset + i + LANES);
      g2.fma(a2, l2).intoArray(dx, dxOffset + i + 2 * LANES);
      g3.fma(a3, l3).intoArray(dx, dxOffset + i + 3 * LANES);
    }
  }

  /**
   * The first {@code 2 * half} super rows of the apply as two halves walked side by side (see {@link #reluStreams2}): the
   * coefficients {@code a, b, k, mean} loaded once for a vector of each half. Both halves' inputs are loaded before any
   * output is stored (dx may be x, y or dy; dResidual may be dy). The same expression per element, so the same bits.
   * Toggle against applyRows (as {@link #reluStreams2}, fused backward): NHWC 32x14x14x256 0.974, 16x28x28x128 0.987,
   * 32x7x7x2048 0.911, NC 8192x256 0.958, 100000x100 0.994, 1000x1024 0.911, 50000x17 0.909.
   */
  private static void applyStreams2(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                    float[] dResidual, int dResidualOffset, int half, int width, float[] coef, int at) {
    int part = half * width, b = at + width, k = at + 2 * width, mean = at + 3 * width;
    for (int i = 0; i < part; i += width) {
      for (int j = 0; j < width; j += LANES) {
        int p = i + j, q = part + p;
        FloatVector g0 = masked(dy, dyOffset + p, y, yOffset + p), g1 = masked(dy, dyOffset + q, y, yOffset + q);
        FloatVector m = FloatVector.fromArray(SPECIES, coef, mean + j), vb = FloatVector.fromArray(SPECIES, coef, b + j);
        FloatVector vk = FloatVector.fromArray(SPECIES, coef, k + j), va = FloatVector.fromArray(SPECIES, coef, at + j);
        FloatVector l0 = FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m).fma(vb, vk);
        FloatVector l1 = FloatVector.fromArray(SPECIES, x, xOffset + q).sub(m).fma(vb, vk);
        if (dResidual != null) {
          g0.intoArray(dResidual, dResidualOffset + p);
          g1.intoArray(dResidual, dResidualOffset + q);
        }
        g0.fma(va, l0).intoArray(dx, dxOffset + p);
        g1.fma(va, l1).intoArray(dx, dxOffset + q);
      }
    }
  }

  /**
   * {@link #applyRegisters} for a pattern of three vectors: steps of three vectors. Toggle (fused backward, as
   * {@link #reluRegisters3}): 0.793, 0.764, 0.773, 0.859, 0.689 on the same shapes.
   */
  private static void applyRegisters3(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                      float[] dResidual, int dResidualOffset, int n, int width, float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    for (int i = 0; i < n; i += 3 * LANES) {
      FloatVector g0 = masked(dy, dyOffset + i, y, yOffset + i), g1 = masked(dy, dyOffset + i + LANES, y, yOffset + i + LANES);
      FloatVector g2 = masked(dy, dyOffset + i + 2 * LANES, y, yOffset + i + 2 * LANES);
      FloatVector l0 = FloatVector.fromArray(SPECIES, x, xOffset + i).sub(m0).fma(b0, k0);
      FloatVector l1 = FloatVector.fromArray(SPECIES, x, xOffset + i + LANES).sub(m1).fma(b1, k1);
      FloatVector l2 = FloatVector.fromArray(SPECIES, x, xOffset + i + 2 * LANES).sub(m2).fma(b2, k2);
      if (dResidual != null) {
        g0.intoArray(dResidual, dResidualOffset + i);
        g1.intoArray(dResidual, dResidualOffset + i + LANES);
        g2.intoArray(dResidual, dResidualOffset + i + 2 * LANES);
      }
      g0.fma(a0, l0).intoArray(dx, dxOffset + i);
      g1.fma(a1, l1).intoArray(dx, dxOffset + i + LANES);
      g2.fma(a2, l2).intoArray(dx, dxOffset + i + 2 * LANES);
    }
  }

  private static void applyScalar(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx,
                                  int dxOffset, float[] dResidual, int dResidualOffset, int at, float mean, float a, float b, float k) {
    float g = y[yOffset + at] > 0 ? dy[dyOffset + at] : 0f;
    if (dResidual != null) dResidual[dResidualOffset + at] = g;
    dx[dxOffset + at] = Math.fma(g, a, Math.fma(x[xOffset + at] - mean, b, k));
  }
}
