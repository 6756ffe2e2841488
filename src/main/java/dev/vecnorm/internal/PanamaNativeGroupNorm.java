package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
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
 * <p>Left to staging (false, nothing written): tensors of 2^31 floats or more (the array kernels' int
 * index range), channels-last groups that take the memory-order forward ({@link PanamaGroupNormSupport#takesRows}),
 * and channels-last rows too wide for super rows with a ragged channel tail (batch norm's native normalize
 * stages those too).
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
    return !(channelsLast || spatial == 1) || PanamaBatchNormSupport.superWidth(channels) >= 0;
  }

  /** A native body that declined after {@link #supported} accepted: a bug, not a fallback (something may be written). */
  private static void require(boolean done) {
    if (!done) throw new AssertionError("a native batch-norm body declined a group-norm tensor it was checked to take");
  }

  static boolean forward(PanamaBatchNormSupport bn, MemorySegment x, long xOffset, MemorySegment y, long yOffset, int batch, int channels,
                         int spatial, int groups, boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean,
                         float[] invStd, int statsOffset) {
    int cpg = channels / groups;
    if (!supported(batch, channels, spatial, channelsLast) || PanamaGroupNormSupport.takesRows(channelsLast, cpg, spatial)) {
      return false;
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
        if (channelsLast) require(bn.backwardReduceNative(x, xs, dy, gs, spatial, channels, 1, chMean, chInvStd, sumDy, sumDyXhat));
        else require(bn.backwardReduceNative(x, xs, dy, gs, 1, channels, spatial, chMean, chInvStd, sumDy, sumDyXhat));
        GroupNormRows.coefficients(sumDy, sumDyXhat, channels, groups, gamma, invStd, at, count, chMean, coef, dGamma, dBeta);
        if (!channelsLast) {
          applyChannelsFirst(x, xs, dy, gs, dx, ds, channels, spatial, coef);
        } else {
          PanamaBatchNormSupport.tilePattern(coef, 0, channels, 4, 4 * channels, width);
          applySuperRows(x, xs, dy, gs, dx, ds, (long) channels * spatial, width, coef, 4 * channels);
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

  /** {@link PanamaGroupNormSupport}'s channels-first apply on segments: the same operations per element. */
  private static void applyChannelsFirst(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int channels,
                                         int spatial, float[] coef) {
    int vectorBound = SPECIES.loopBound(spatial);
    for (int c = 0; c < channels; c++) {
      float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c], m = coef[3 * channels + c];
      FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
      FloatVector vk = FloatVector.broadcast(SPECIES, k), vm = FloatVector.broadcast(SPECIES, m);
      long off = 4L * c * spatial;
      int i = 0;
      for (; i < vectorBound; i += LANES) {
        long p = off + 4L * i;
        load(dy, gs + p).fma(va, load(x, xs + p).sub(vm).fma(vb, vk)).intoMemorySegment(dx, ds + p, LE);
      }
      for (; i < spatial; i++) { // scalar tail
        long p = off + 4L * i;
        float xv = x.get(PanamaBatchNormSupport.FLOAT_LE, xs + p), g = dy.get(PanamaBatchNormSupport.FLOAT_LE, gs + p);
        dx.set(PanamaBatchNormSupport.FLOAT_LE, ds + p, Math.fma(g, a, Math.fma(xv - m, b, k)));
      }
    }
  }

  /** {@link PanamaBatchNormSupport#applySuperRows} on segments; {@code total} floats, offsets in bytes. */
  static void applySuperRows(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, long total,
                                     int width, float[] coef, int at) {
    long i = 0;
    for (; i + width <= total; i += width) {
      for (int j = 0; j < width; j += LANES) {
        long p = 4L * (i + j);
        FloatVector xm = load(x, xs + p).sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + j));
        FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, at + width + j), FloatVector.fromArray(SPECIES, coef, at + 2 * width + j));
        load(dy, gs + p).fma(FloatVector.fromArray(SPECIES, coef, at + j), inner).intoMemorySegment(dx, ds + p, LE);
      }
    }
    int rest = (int) (total - i), j = 0; // rows that do not fill a super row: the pattern continues
    for (; j < SPECIES.loopBound(rest); j += LANES) {
      long p = 4L * (i + j);
      FloatVector xm = load(x, xs + p).sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + j));
      FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, at + width + j), FloatVector.fromArray(SPECIES, coef, at + 2 * width + j));
      load(dy, gs + p).fma(FloatVector.fromArray(SPECIES, coef, at + j), inner).intoMemorySegment(dx, ds + p, LE);
    }
    for (; j < rest; j++) { // scalar tail
      int c = at + j;
      long p = 4L * (i + j);
      float xv = x.get(PanamaBatchNormSupport.FLOAT_LE, xs + p), g = dy.get(PanamaBatchNormSupport.FLOAT_LE, gs + p);
      dx.set(PanamaBatchNormSupport.FLOAT_LE, ds + p, Math.fma(g, coef[c], Math.fma(xv - coef[c + 3 * width], coef[c + width], coef[c + 2 * width])));
    }
  }
}
