package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link PanamaGroupNormSupport}'s forward and backward straight on plain native segments (byte offsets):
 * the same per-sample steps on batch norm's native bodies ({@link PanamaBatchNormSupport#momentsNative},
 * {@link PanamaBatchNormSupport#normalizeNative}, {@link PanamaBatchNormSupport#backwardReduceNative}, each
 * bit-identical to its array kernel), the same group merge and coefficients (the array code's own static
 * helpers, fed per-channel floats), and the input-gradient apply loops below, which are the array loops with
 * segment loads and stores. So the bits equal the {@code float[]} path's ({@code NativeGroupNormTest}), and
 * a native tensor is read in place instead of being staged through arrays a block of samples at a time.
 *
 * <p>The channels-first backward on planes of a vector or more ({@code PanamaGroupNormSupport.backwardGroupsFirst})
 * has its segment body here too ({@link #backwardGroupsFirst}), the same operations in the same order.
 *
 * <p>The two cases batch norm's native bodies do not cover have their own segment bodies here: the
 * memory-order forward of channels-last groups of whole vectors ({@link PanamaGroupNormSupport#takesRows}:
 * {@link #forwardRows}); rows too wide for super rows with a ragged channel tail ({@code superWidth < 0}) run
 * on batch norm's native row loops ({@code PanamaBatchNormSupport.normalizeNative},
 * {@code PanamaNativeBackward.applyRows}), so no call is staged and none allocates. Left to staging (false, nothing written): only tensors of 2^31 floats or more (the array
 * kernels' int index range).
 */
final class PanamaNativeGroupNorm {
  private PanamaNativeGroupNorm() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /**
   * Whether these bodies take the tensor, decided before anything is written so that batch norm's native
   * bodies called below never decline: rows (channels-last, or channels-first with one position, which
   * batch norm's kernels see as one row) need super rows.
   */
  private static boolean supported(int batch, int channels, int spatial, boolean channelsLast) {
    if ((long) batch * channels * spatial > Integer.MAX_VALUE) return false;
    // Rows too wide for super rows: batch norm's native reduce takes them from four vectors a row on, which
    // superWidth < 0 implies up to 16 lanes; kept as a check so a wider species stages instead of failing.
    return !(channelsLast || spatial == 1) || PanamaBatchNormSupport.superWidth(channels) >= 0 || channels >= 4 * LANES;
  }

  /** A native body that declined after {@link #supported} accepted: a bug, not a fallback (something may be written). */
  private static void require(boolean done) {
    if (!done) throw new AssertionError("a native batch-norm body declined a group-norm tensor it was checked to take");
  }

  static boolean forward(PanamaBatchNormSupport bn, MemorySegment x, long xOffset, MemorySegment y, long yOffset, int batch, int channels,
                         int spatial, int groups, boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean,
                         float[] invStd, int statsOffset) {
    int cpg = channels / groups;
    if (!supported(batch, channels, spatial, channelsLast)) return false;
    if (PanamaGroupNormSupport.takesRows(channelsLast, cpg, spatial)) {
      forwardRows(x, xOffset, y, yOffset, batch, channels, spatial, groups, gamma, beta, epsilon, mean, invStd, statsOffset);
      return true;
    }
    int floats = PanamaGroupNormSupport.scratchFloats(channels);
    float[] chMean = Scratch.borrow(floats), chInvStd = Scratch.borrow(floats);
    float[] m = Scratch.borrow(floats), residual = Scratch.borrow(floats), v = Scratch.borrow(floats);
    PanamaGroupNormSupport.spareForKernel(floats);
    try {
      long sampleBytes = 4L * channels * spatial;
      for (int n = 0; n < batch; n++) {
        long xs = xOffset + n * sampleBytes, ys = yOffset + n * sampleBytes;
        int at = statsOffset + n * groups;
        if (channelsLast) { // as PanamaGroupNormSupport.forwardChannelsLast
          require(bn.momentsNative(x, xs, spatial, channels, 1, m, residual, v));
          for (int g = 0; g < groups; g++) PanamaGroupNormSupport.mergeChannels(m, residual, v, g * cpg, cpg, g);
          PanamaGroupNormSupport.spread(m, v, groups, cpg, epsilon, mean, invStd, at, chMean, chInvStd);
          require(bn.normalizeNative(x, xs, y, ys, spatial, channels, 1, chMean, chInvStd, false, epsilon, gamma, beta));
        } else { // as forwardChannelsFirst: a group is one contiguous block, a batch-norm "channel"
          require(bn.momentsNative(x, xs, 1, groups, cpg * spatial, m, null, v));
          PanamaGroupNormSupport.spread(m, v, groups, cpg, epsilon, mean, invStd, at, chMean, chInvStd);
          require(bn.normalizeNative(x, xs, y, ys, 1, channels, spatial, chMean, chInvStd, false, epsilon, gamma, beta));
        }
      }
    } finally {
      Scratch.release(v);
      Scratch.release(residual);
      Scratch.release(m);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
    }
    return true;
  }

  static boolean backward(PanamaBatchNormSupport bn, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                          long dxOffset, int batch, int channels, int spatial, int groups, boolean channelsLast, float[] gamma,
                          float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    if (!supported(batch, channels, spatial, channelsLast)) return false;
    if (PanamaGroupNormSupport.groupsFirst(channelsLast, spatial)) {
      backwardGroupsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, batch, channels, spatial, groups, gamma, mean, invStd, statsOffset,
          dGamma, dBeta);
      return true;
    }
    int cpg = channels / groups, width = channelsLast ? PanamaBatchNormSupport.superWidth(channels) : -1;
    int floats = PanamaGroupNormSupport.scratchFloats(channels);
    float[] coef = Scratch.borrow(floats); // [a | b | k | mean] per channel, then tiled over a super row
    float[] chMean = Scratch.borrow(floats), chInvStd = Scratch.borrow(floats);
    float[] sumDy = Scratch.borrow(floats), sumDyXhat = Scratch.borrow(floats);
    PanamaGroupNormSupport.spareForKernel(floats);
    try {
      double count = (double) cpg * spatial;
      long sampleBytes = 4L * channels * spatial;
      for (int n = 0; n < batch; n++) { // as PanamaGroupNormSupport.backward
        long xs = xOffset + n * sampleBytes, gs = dyOffset + n * sampleBytes, ds = dxOffset + n * sampleBytes;
        int at = statsOffset + n * groups;
        GroupNormRows.spread(mean, invStd, at, channels, groups, chMean, chInvStd);
        // A sample as [rows, channels, 1] or [1, channels, spatial]; the walk by the whole tensor's size, as the array
        // kernel's (PanamaGroupNormSupport.backward).
        require(bn.backwardReduceNativeChunk(x, xs, dy, gs, channelsLast ? spatial : 1, channels, channelsLast ? 1 : spatial,
            chMean, chInvStd, sumDy, sumDyXhat, (long) batch * channels * spatial));
        GroupNormRows.coefficients(sumDy, sumDyXhat, channels, groups, gamma, invStd, at, count, chMean, coef, dGamma, dBeta);
        if (!channelsLast) {
          applyChannelsFirst(x, xs, dy, gs, dx, ds, channels, spatial, coef);
        } else if (width < 0) {
          PanamaNativeBackward.applyRows(x, xs, dy, gs, dx, ds, spatial, channels, chMean, 0, coef);
        } else {
          PanamaNativeBackward.applyPattern(x, xs, dy, gs, dx, ds, (long) channels * spatial, channels, width, coef);
        }
      }
    } finally {
      Scratch.release(sumDyXhat);
      Scratch.release(sumDy);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
      Scratch.release(coef);
    }
    return true;
  }

  private static FloatVector load(MemorySegment s, long at) {
    return FloatVector.fromMemorySegment(SPECIES, s, at, LE);
  }

  /**
   * {@code PanamaGroupNormSupport.backwardGroupsFirst} on segments (byte offsets): the same vector operations
   * in the same order (per plane, per group, per channel at the end), so the same bits.
   */
  private static void backwardGroupsFirst(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                          long dxOffset, int batch, int channels, int spatial, int groups, float[] gamma, float[] mean,
                                          float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    int cpg = channels / groups;
    double count = (double) cpg * spatial;
    float[] acc = Scratch.borrow(2 * channels * LANES + LANES); // [Σdy | Σdy*xhat] per channel, one vector each, across the samples; then reduceShort's sink
    try {
      if (PanamaGroupNormSupport.shortPlane(spatial)) {
        Arrays.fill(acc, 0, channels * LANES, 0f);
        shortGroups(x, xOffset, dy, dyOffset, dx, dxOffset, batch, channels, spatial, groups, gamma, mean, invStd, statsOffset, acc);
        PanamaGroupNormSupport.foldedSums(acc, channels, dGamma, dBeta);
      } else {
        Arrays.fill(acc, 0, 2 * channels * LANES, 0f);
        for (int n = 0; n < batch; n++) {
          for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
            int at = statsOffset + n * groups + g;
            long p0 = ((long) n * channels + c0) * spatial * 4L;
            float m = mean[at], sf = invStd[at];
            long sums = reduceGroup(x, xOffset + p0, dy, dyOffset + p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
            double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
            applyGroup(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, gamma, sf, m,
                (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count));
          }
        }
        PanamaGroupNormSupport.channelSums(acc, channels, dGamma, dBeta);
      }
    } finally {
      Scratch.release(acc);
    }
  }

  /** {@code PanamaGroupNormSupport.shortGroups} on segments (byte offsets). */
  private static void shortGroups(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                  int batch, int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd,
                                  int statsOffset, float[] acc) {
    int cpg = channels / groups;
    double count = (double) cpg * spatial;
    for (int n = 0; n < batch; n++) {
      for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
        int at = statsOffset + n * groups + g;
        long p0 = ((long) n * channels + c0) * spatial * 4L;
        float m = mean[at], sf = invStd[at];
        long sums = reduceShort(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
        double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
        applyShort(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, gamma, sf, m,
            (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count));
      }
    }
  }

  /**
   * {@code PanamaGroupNormSupport.reduceGroup} on segments (byte offsets): the same operations in the same order. Each
   * plane is read through its own slices, made here and addressed from 0, as the rest of the native channels-first code
   * ({@link PanamaNativeLayerNorm} says why: a counted loop over a segment is set up afresh at every entry). This,
   * {@link #applyGroup} and {@link #applyChannelsFirst} sliced against the same loops on the whole segments, switched in
   * one JVM (AVX-512 EPYC, Zen 5 class; 21 alternating rounds; sliced / whole medians), group norm backward NCHW, G
   * groups: 32x256x14x14 G=32 0.85 and 0.92, 7x17x13x13 G=17 0.83, 16x100x10x10 G=20 0.69, 16x64x20x20 G=16 0.89,
   * 4x32x112x112 G=32 0.93, 64x128x3x3 G=32 0.79, 32x512x2x2 G=32 0.74, 64x64x56x56 G=32 0.97, 32x2048x7x7 G=32 1.00,
   * 8x32x60x60 G=8 1.02; the forward, which does not use them, 0.96-1.01. Planes of
   * {@code PanamaNativeBackward.WIDE_PLANE} floats and more (4097) are read at absolute offsets instead
   * ({@link #reduceGroupWide}, {@link #applyGroupWide}; twenty-seventh session): in programs that called only this backward
   * their slices were allocated (jmh's {@code PlainCallProbe gn bwd}, 6000 calls: NCHW 2x64x8192 15360 B a call in 1 of 3
   * fresh JVMs, 4x32x4100 1 of 3, 1x32x50176 3 of 3; 4096- and 3136-float planes 0 of 3), the inlining refusal that
   * {@code PanamaNativeBackward.WIDE_PLANE} describes, and at such planes the slices bought nothing (3136-3600 floats above;
   * native/{@code float[]} after 3000 calls on 3136-float planes, three JVMs each alternating, absolute against sliced:
   * 2x64x8192 0.53-0.70 against 0.60-0.75, 1x32x50176 0.63-0.71 against 0.62-0.74, 4x32x4100 0.99-1.05 against
   * 0.94-1.04, 4x16x20000 G=8 0.66-0.80 against 0.64-0.74).
   */
  private static long reduceGroup(MemorySegment x, long xs, MemorySegment dy, long gs, int c0, int cpg, int spatial, int channels,
                                  float[] gamma, float m, float sf, float[] acc) {
    return spatial >= PanamaNativeBackward.WIDE_PLANE ? reduceGroupWide(x, xs, dy, gs, c0, cpg, spatial, channels, gamma, m, sf, acc)
        : reduceGroupSliced(x, xs, dy, gs, c0, cpg, spatial, channels, gamma, m, sf, acc);
  }

  /** The body of {@link #reduceGroup} for planes shorter than {@code PanamaNativeBackward.WIDE_PLANE}, through slices. */
  private static long reduceGroupSliced(MemorySegment x, long xs, MemorySegment dy, long gs, int c0, int cpg, int spatial, int channels,
                                        float[] gamma, float m, float sf, float[] acc) {
    int upper = spatial - spatial % (2 * LANES), vb = SPECIES.loopBound(spatial), cl = channels * LANES;
    long last = 4L * (spatial - LANES), plane = 4L * spatial;
    VectorMask<Float> seen = PanamaGroupNormSupport.alreadySummed(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, sf);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES);
    long p = 0;
    for (int c = c0; c < c0 + cpg; c++, p += plane) {
      MemorySegment xq = x.asSlice(xs + p, plane), gq = dy.asSlice(gs + p, plane);
      int i = 0;
      FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
      FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
      for (; i < upper; i += 2 * LANES) {
        FloatVector d0 = load(gq, 4L * i), d1 = load(gq, 4L * (i + LANES));
        g0 = g0.add(d0);
        g1 = g1.add(d1);
        h0 = d0.fma(load(xq, 4L * i).sub(vm), h0);
        h1 = d1.fma(load(xq, 4L * (i + LANES)).sub(vm), h1);
      }
      for (; i < vb; i += LANES) {
        FloatVector d0 = load(gq, 4L * i);
        g0 = g0.add(d0);
        h0 = d0.fma(load(xq, 4L * i).sub(vm), h0);
      }
      if (vb < spatial) {
        FloatVector d1 = load(gq, last).blend(zero, seen);
        g1 = g1.add(d1);
        h1 = d1.fma(load(xq, last).sub(vm).blend(zero, seen), h1);
      }
      FloatVector pg = g0.add(g1), ph = h0.add(h1);
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]);
      sg = pg.fma(gc, sg);
      sh = ph.fma(gc, sh);
      int ca = c * LANES;
      FloatVector.fromArray(SPECIES, acc, ca).add(pg).intoArray(acc, ca);
      ph.fma(vs, FloatVector.fromArray(SPECIES, acc, cl + ca)).intoArray(acc, cl + ca);
    }
    return PanamaBatchNormSupport.sumLanes(sg, sh);
  }

  /**
   * {@link #reduceGroupSliced} at absolute offsets, for planes of {@code PanamaNativeBackward.WIDE_PLANE} floats and more
   * (see {@link #reduceGroup}): the same operations in the same order, so the same bits.
   */
  private static long reduceGroupWide(MemorySegment x, long xs, MemorySegment dy, long gs, int c0, int cpg, int spatial, int channels,
                                      float[] gamma, float m, float sf, float[] acc) {
    int upper = spatial - spatial % (2 * LANES), vb = SPECIES.loopBound(spatial), cl = channels * LANES;
    long last = 4L * (spatial - LANES), plane = 4L * spatial;
    VectorMask<Float> seen = PanamaGroupNormSupport.alreadySummed(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, sf);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES);
    long p = 0;
    for (int c = c0; c < c0 + cpg; c++, p += plane) {
      long xp = xs + p, gp = gs + p;
      int i = 0;
      FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
      FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
      for (; i < upper; i += 2 * LANES) {
        FloatVector d0 = load(dy, gp + 4L * i), d1 = load(dy, gp + 4L * (i + LANES));
        g0 = g0.add(d0);
        g1 = g1.add(d1);
        h0 = d0.fma(load(x, xp + 4L * i).sub(vm), h0);
        h1 = d1.fma(load(x, xp + 4L * (i + LANES)).sub(vm), h1);
      }
      for (; i < vb; i += LANES) {
        FloatVector d0 = load(dy, gp + 4L * i);
        g0 = g0.add(d0);
        h0 = d0.fma(load(x, xp + 4L * i).sub(vm), h0);
      }
      if (vb < spatial) {
        FloatVector d1 = load(dy, gp + last).blend(zero, seen);
        g1 = g1.add(d1);
        h1 = d1.fma(load(x, xp + last).sub(vm).blend(zero, seen), h1);
      }
      FloatVector pg = g0.add(g1), ph = h0.add(h1);
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]);
      sg = pg.fma(gc, sg);
      sh = ph.fma(gc, sh);
      int ca = c * LANES;
      FloatVector.fromArray(SPECIES, acc, ca).add(pg).intoArray(acc, ca);
      ph.fma(vs, FloatVector.fromArray(SPECIES, acc, cl + ca)).intoArray(acc, cl + ca);
    }
    return PanamaBatchNormSupport.sumLanes(sg, sh);
  }

  /** {@code PanamaGroupNormSupport.reduceShort} on segments (byte offsets): the same operations in the same order. */
  private static long reduceShort(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int c0, int cpg,
                                  int spatial, int channels, float[] gamma, float m, float sf, float[] acc) {
    int cl = channels * LANES;
    long last = 4L * (spatial - LANES), plane = 4L * spatial, v1 = 4L * LANES, v2 = 8L * LANES;
    VectorMask<Float> seen = PanamaGroupNormSupport.shortSeen(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m);
    FloatVector vsh = FloatVector.broadcast(SPECIES, 1f).blend(FloatVector.broadcast(SPECIES, sf), PanamaGroupNormSupport.UPPER_HALF);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES), touch = FloatVector.zero(SPECIES);
    long p = 0;
    for (int c = c0; c < c0 + cpg; c++, p += plane) {
      long xp = xs + p, gp = gs + p, dp = ds + p;
      FloatVector d0 = load(dy, gp), d1 = load(dy, gp + v1), d2 = load(dy, gp + v2), d3 = load(dy, gp + last).blend(zero, seen);
      FloatVector e0 = load(x, xp).sub(vm), e1 = load(x, xp + v1).sub(vm), e2 = load(x, xp + v2).sub(vm);
      FloatVector e3 = load(x, xp + last).sub(vm).blend(zero, seen);
      FloatVector t01 = load(dx, dp).blend(load(dx, dp + v1), seen), t23 = load(dx, dp + v2).blend(load(dx, dp + last), seen);
      touch = touch.blend(t01.blend(t23, seen), seen);
      FloatVector pg = d0.add(d1).add(d2.add(d3));
      FloatVector ph = d1.fma(e1, d0.mul(e0)).add(d3.fma(e3, d2.mul(e2)));
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]);
      sg = pg.fma(gc, sg);
      sh = ph.fma(gc, sh);
      FloatVector fold = pg.blend(ph, PanamaGroupNormSupport.UPPER_HALF).add(ph.blend(pg, PanamaGroupNormSupport.UPPER_HALF)
          .rearrange(PanamaGroupNormSupport.SWAP_HALVES));
      int ca = c * LANES;
      fold.fma(vsh, FloatVector.fromArray(SPECIES, acc, ca)).intoArray(acc, ca);
    }
    touch.intoArray(acc, cl);
    return PanamaBatchNormSupport.sumLanes(sg, sh);
  }

  /** {@code PanamaGroupNormSupport.applyShort} on segments (byte offsets): the same operations per element, in the same order. */
  private static void applyShort(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int c0, int cpg,
                                 int spatial, float[] gamma, float sf, float m, float b, float k) {
    long p = 0, last = 4L * (spatial - LANES), plane = 4L * spatial, v1 = 4L * LANES, v2 = 8L * LANES;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0; c < c0 + cpg; c++, p += plane) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      long xp = xs + p, gp = gs + p, dp = ds + p;
      FloatVector r0 = load(dy, gp).fma(va, load(x, xp).sub(vm).fma(vb, vk));
      FloatVector r1 = load(dy, gp + v1).fma(va, load(x, xp + v1).sub(vm).fma(vb, vk));
      FloatVector r2 = load(dy, gp + v2).fma(va, load(x, xp + v2).sub(vm).fma(vb, vk));
      FloatVector r3 = load(dy, gp + last).fma(va, load(x, xp + last).sub(vm).fma(vb, vk));
      r0.intoMemorySegment(dx, dp, LE);
      r1.intoMemorySegment(dx, dp + v1, LE);
      r2.intoMemorySegment(dx, dp + v2, LE);
      r3.intoMemorySegment(dx, dp + last, LE);
    }
  }

  /** {@code PanamaGroupNormSupport.applyGroup} on segments (byte offsets): the same operations per element, in the same order. */
  private static void applyGroup(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int c0, int cpg,
                                 int spatial, float[] gamma, float sf, float m, float b, float k) {
    if (spatial >= PanamaNativeBackward.WIDE_PLANE) applyGroupWide(x, xs, dy, gs, dx, ds, c0, cpg, spatial, gamma, sf, m, b, k);
    else applyGroupSliced(x, xs, dy, gs, dx, ds, c0, cpg, spatial, gamma, sf, m, b, k);
  }

  /** The body of {@link #applyGroup} for planes shorter than {@code PanamaNativeBackward.WIDE_PLANE}, through slices. */
  private static void applyGroupSliced(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int c0, int cpg,
                                       int spatial, float[] gamma, float sf, float m, float b, float k) {
    int bound = SPECIES.loopBound(spatial);
    long p = 0, last = 4L * (spatial - LANES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0; c < c0 + cpg; c++, p += 4L * spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      long plane = 4L * spatial;
      MemorySegment xq = x.asSlice(xs + p, plane), gq = dy.asSlice(gs + p, plane), dq = dx.asSlice(ds + p, plane);
      FloatVector end = load(gq, last).fma(va, load(xq, last).sub(vm).fma(vb, vk));
      for (int i = 0; i < bound; i += LANES) {
        long q = 4L * i;
        load(gq, q).fma(va, load(xq, q).sub(vm).fma(vb, vk)).intoMemorySegment(dq, q, LE);
      }
      if (bound < spatial) end.intoMemorySegment(dq, last, LE);
    }
  }

  /**
   * {@link #applyGroupSliced} at absolute offsets, for planes of {@code PanamaNativeBackward.WIDE_PLANE} floats and more
   * (see {@link #reduceGroup}): the same operations per element, in the same order.
   */
  private static void applyGroupWide(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int c0, int cpg,
                                     int spatial, float[] gamma, float sf, float m, float b, float k) {
    int bound = SPECIES.loopBound(spatial);
    long p = 0, last = 4L * (spatial - LANES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0; c < c0 + cpg; c++, p += 4L * spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      long xp = xs + p, gp = gs + p, dp = ds + p;
      FloatVector end = load(dy, gp + last).fma(va, load(x, xp + last).sub(vm).fma(vb, vk));
      for (int i = 0; i < bound; i += LANES) {
        long q = 4L * i;
        load(dy, gp + q).fma(va, load(x, xp + q).sub(vm).fma(vb, vk)).intoMemorySegment(dx, dp + q, LE);
      }
      if (bound < spatial) end.intoMemorySegment(dx, dp + last, LE);
    }
  }

  /** {@link PanamaGroupNormSupport}'s channels-first apply on segments: the same operations per element. */
  private static void applyChannelsFirst(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int channels,
                                         int spatial, float[] coef) {
    int vectorBound = SPECIES.loopBound(spatial);
    for (int c = 0; c < channels; c++) {
      float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c], m = coef[3 * channels + c];
      FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
      FloatVector vk = FloatVector.broadcast(SPECIES, k), vm = FloatVector.broadcast(SPECIES, m);
      long plane = 4L * spatial, off = 0;
      MemorySegment xq = x.asSlice(xs + 4L * c * spatial, plane), gq = dy.asSlice(gs + 4L * c * spatial, plane);
      MemorySegment dq = dx.asSlice(ds + 4L * c * spatial, plane);
      int i = 0;
      if (vectorBound != spatial && spatial > LANES) { // the array loop's overlapping last vector, same order
        long q = off + 4L * (spatial - LANES);
        FloatVector last = load(gq, q).fma(va, load(xq, q).sub(vm).fma(vb, vk));
        for (; i < vectorBound; i += LANES) {
          long p = off + 4L * i;
          load(gq, p).fma(va, load(xq, p).sub(vm).fma(vb, vk)).intoMemorySegment(dq, p, LE);
        }
        last.intoMemorySegment(dq, q, LE);
        continue;
      }
      for (; i < vectorBound; i += LANES) {
        long p = off + 4L * i;
        load(gq, p).fma(va, load(xq, p).sub(vm).fma(vb, vk)).intoMemorySegment(dq, p, LE);
      }
      for (; i < spatial; i++) { // scalar tail
        long p = off + 4L * i;
        float xv = xq.get(PanamaBatchNormSupport.FLOAT_LE, p), g = gq.get(PanamaBatchNormSupport.FLOAT_LE, p);
        dq.set(PanamaBatchNormSupport.FLOAT_LE, p, Math.fma(g, a, Math.fma(xv - m, b, k)));
      }
    }
  }

  // ---------------------------------------------------------------- rows too wide for super rows

  // ---------------------------------------------------------------- channels-last groups of whole vectors

  /**
   * {@link PanamaGroupNormSupport}'s memory-order forward ({@code forwardRows}) on segments, byte offsets:
   * the same shifted sums per group in the same order ({@link #sampleSums}), the same lane sums and
   * statistics ({@link #statistics}, with layer norm's steps), the same writes, so the same bits.
   */
  private static void forwardRows(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int batch, int channels, int spatial,
                                  int groups, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int cpg = channels / groups, Q = groups * LANES;
    long sampleBytes = 4L * channels * spatial, stride = 4L * channels;
    float[] acc = Scratch.borrow(2 * Q + 3 * groups); // [Σd vectors | Σd² vectors | x0 | mean | invStd] per group
    float[] g = PanamaLayerNormSupport.ones(gamma, channels), b = PanamaLayerNormSupport.zeros(beta, channels);
    double invN = 1.0 / ((double) spatial * cpg);
    int redos = 0, frequent = PanamaGroupNormSupport.frequentRedos(batch, groups);
    try {
      sampleSums(x, xOffset, xOffset, null, 0, spatial, channels, groups, cpg, g, b, acc);
      for (int n = 0; n < batch; n++) {
        long xs = xOffset + n * sampleBytes;
        for (int grp = 0; grp < groups; grp++) {
          long sums = PanamaGroupNormSupport.groupSums(acc, grp, Q);
          long stats = statistics(x, xs + 4L * grp * cpg, spatial, stride, cpg, epsilon, sums, redos >= frequent);
          if (PanamaLayerNormSupport.cancels(sums, invN)) redos++;
          PanamaGroupNormSupport.keepStatistics(stats, acc, Q, groups, grp, mean, invStd, statsOffset + n * groups);
        }
        // The last sample sums itself again, discarded: one loop for every sample.
        sampleSums(x, n + 1 < batch ? xs + sampleBytes : xs, xs, y, yOffset + n * sampleBytes, spatial, channels, groups, cpg, g, b, acc);
      }
    } finally {
      PanamaLayerNormSupport.release(beta, b);
      PanamaLayerNormSupport.release(gamma, g);
      Scratch.release(acc);
    }
  }

  /** {@code PanamaGroupNormSupport.sampleSums} on segments (byte offsets): the same operations in the same order. */
  private static void sampleSums(MemorySegment x, long next, long cur, MemorySegment y, long yo, int spatial, int channels, int groups,
                                 int cpg, float[] gamma, float[] beta, float[] acc) {
    int Q = groups * LANES, at = 2 * Q, vb = SPECIES.loopBound(cpg), bound2 = cpg - cpg % (2 * LANES);
    for (int grp = 0; grp < groups; grp++) acc[at + grp] = x.get(PanamaBatchNormSupport.FLOAT_LE, next + 4L * grp * cpg);
    java.util.Arrays.fill(acc, 0, 2 * Q, 0f);
    long rowBytes = 4L * channels;
    for (int r = 0; r < spatial; r++) {
      long off = r * rowBytes;
      for (int grp = 0, c0 = 0; grp < groups; grp++, c0 += cpg) {
        FloatVector shift = FloatVector.broadcast(SPECIES, acc[at + grp]);
        FloatVector d = FloatVector.fromArray(SPECIES, acc, grp * LANES), q = FloatVector.fromArray(SPECIES, acc, Q + grp * LANES);
        long go = next + off + 4L * c0;
        int c = 0;
        for (; c < bound2; c += 2 * LANES) {
          FloatVector e0 = load(x, go + 4L * c).sub(shift), e1 = load(x, go + 4L * (c + LANES)).sub(shift);
          d = d.add(e0.add(e1));
          q = q.add(e0.fma(e0, e1.mul(e1)));
        }
        for (; c < vb; c += LANES) {
          FloatVector e = load(x, go + 4L * c).sub(shift);
          d = d.add(e);
          q = e.fma(e, q);
        }
        d.intoArray(acc, grp * LANES);
        q.intoArray(acc, Q + grp * LANES);
        if (y != null) { // y = (x - mean) * invStd * gamma + beta
          FloatVector vm = FloatVector.broadcast(SPECIES, acc[at + groups + grp]), vs = FloatVector.broadcast(SPECIES, acc[at + 2 * groups + grp]);
          for (c = c0; c < c0 + cpg; c += LANES) {
            load(x, cur + off + 4L * c).sub(vm).mul(vs)
                .fma(FloatVector.fromArray(SPECIES, gamma, c), FloatVector.fromArray(SPECIES, beta, c)).intoMemorySegment(y, yo + off + 4L * c, LE);
          }
        }
      }
    }
  }

  /** {@link PanamaGroupNormSupport#statistics} of a block of {@code runs} runs {@code stride} bytes apart, on a segment. */
  private static long statistics(MemorySegment x, long at, int runs, long stride, int width, float epsilon, long sums, boolean vector) {
    double invN = 1.0 / ((double) runs * width);
    float m = PanamaLayerNormSupport.shiftedMean(x.get(PanamaBatchNormSupport.FLOAT_LE, at), sums, invN);
    if (PanamaLayerNormSupport.cancels(sums, invN)) {
      sums = vector ? blockSums(x, at, runs, stride, width, m) : redoSums(x, at, runs, stride, width, m);
    }
    return PanamaLayerNormSupport.meanInvStd(m, sums, invN, epsilon);
  }

  /**
   * {@link PanamaGroupNormSupport#redoSums} on a segment (the cold two-pass redo of a group whose first
   * element is far out, while a call has had few): each run copied to pooled scratch and summed by the
   * array code's {@link PanamaGroupNormSupport#redoRun}, so the same operations in the same order and no
   * vector code that runs a few times a call (see {@link PanamaGroupNormSupport#statistics}).
   */
  private static long redoSums(MemorySegment x, long at, int runs, long stride, int width, float shift) {
    float[] lanes = Scratch.borrow(PanamaGroupNormSupport.REDO_FLOATS), run = Scratch.borrow(width);
    try {
      java.util.Arrays.fill(lanes, 0, PanamaGroupNormSupport.REDO_FLOATS, 0f);
      for (int p = 0; p < runs; p++) {
        MemorySegment.copy(x, PanamaBatchNormSupport.FLOAT_LE, at + p * stride, run, 0, width);
        PanamaGroupNormSupport.redoRun(run, 0, width, shift, lanes);
      }
      return PanamaGroupNormSupport.redoFinish(lanes);
    } finally {
      Scratch.release(run);
      Scratch.release(lanes);
    }
  }

  /**
   * {@link PanamaLayerNormSupport#blockSums} on a segment: the redo of a call whose groups redo often
   * ({@link PanamaGroupNormSupport#frequentRedos}), Σ(x - shift) and Σ(x - shift)² over the runs, packed as
   * there. Written here, not in {@code PanamaNativeLayerNorm}, whose row version takes one run.
   */
  private static long blockSums(MemorySegment x, long at, int runs, long stride, int width, float shift) {
    FloatVector vs = FloatVector.broadcast(SPECIES, shift);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    for (int p = 0; p < runs; p++) {
      long run = at + p * stride;
      int i = 0;
      for (; i < bound2; i += 2 * LANES) {
        FloatVector e0 = load(x, run + 4L * i).sub(vs), e1 = load(x, run + 4L * (i + LANES)).sub(vs);
        d0 = d0.add(e0);
        d1 = d1.add(e1);
        q0 = e0.fma(e0, q0);
        q1 = e1.fma(e1, q1);
      }
      for (; i < vb; i += LANES) {
        FloatVector e = load(x, run + 4L * i).sub(vs);
        d0 = d0.add(e);
        q0 = e.fma(e, q0);
      }
      for (; i < width; i++) { // scalar tail
        float e = x.get(PanamaBatchNormSupport.FLOAT_LE, run + 4L * i) - shift;
        sd += e;
        sq = Math.fma(e, e, sq);
      }
    }
    sd += PanamaBatchNormSupport.sumLanes(d0.add(d1));
    sq += PanamaBatchNormSupport.sumLanes(q0.add(q1));
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

}
