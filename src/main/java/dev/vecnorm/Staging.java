package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Runs the array kernels over segments that are not plain {@code float[]} views (native memory,
 * read-only or byte-backed heap segments): whole {@code [.., channels, inner]} slabs are copied through
 * an L2-sized on-heap stage, computed there, and copied back. On JDK 25 this is faster than Vector API
 * loads straight from native segments (see the README), and it keeps one kernel implementation.
 * Statistics of the chunks merge with Chan's formula in double, as blocks do inside the kernels.
 */
final class Staging {
  private Staging() {}

  static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /** Target stage size in floats (64 KiB); a single slab larger than this is staged on its own. */
  static final int STAGE_FLOATS = 16 * 1024;

  /** The float[] behind a heap segment at a float-aligned offset, or null (then stage). */
  static float[] backingArray(MemorySegment s, long byteOffset) {
    if (s.isNative() || ((s.address() + byteOffset) & 3) != 0) return null;
    return s.heapBase().orElse(null) instanceof float[] a ? a : null;
  }

  static int elementOffset(MemorySegment s, long byteOffset) {
    return (int) ((s.address() + byteOffset) >>> 2);
  }

  private record Plan(int slabsPerChunk, int slab, int outer) {
    int chunkFloats() {
      return slabsPerChunk * slab;
    }
  }

  private static Plan plan(NormShape s) {
    long slab = (long) s.channels() * s.inner();
    if (slab > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("shape " + s + ": one [channels, inner] slab of " + slab + " floats is too large to stage; "
          + "pass a float[]-backed segment or split the tensor");
    }
    int perChunk = (int) Math.max(1, Math.min(s.outer(), STAGE_FLOATS / slab));
    return new Plan(perChunk, (int) slab, s.outer());
  }

  private static void copyIn(MemorySegment src, long byteOffset, float[] stage, int floats) {
    MemorySegment.copy(src, FLOAT_LE, byteOffset, stage, 0, floats);
  }

  private static void copyOut(float[] stage, MemorySegment dst, long byteOffset, int floats) {
    MemorySegment.copy(stage, 0, dst, FLOAT_LE, byteOffset, floats);
  }

  static void moments(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, float[] mean, float[] m2) {
    Plan p = plan(s);
    int C = s.channels();
    float[] stage = new float[p.chunkFloats()], chunkMean = new float[C], chunkM2 = new float[C];
    double[] runMean = new double[C], runM2 = new double[C], count = new double[C];
    for (int o0 = 0; o0 < p.outer(); o0 += p.slabsPerChunk()) {
      int oc = Math.min(p.slabsPerChunk(), p.outer() - o0), floats = oc * p.slab();
      copyIn(x, xOffset + (long) o0 * p.slab() * 4, stage, floats);
      impl.moments(stage, 0, oc, C, s.inner(), chunkMean, chunkM2);
      mergeChunk(count, runMean, runM2, 0, chunkMean, chunkM2, (double) oc * s.inner());
    }
    for (int c = 0; c < C; c++) {
      mean[c] = (float) runMean[c];
      m2[c] = (float) (runM2[c] / count[c]);
    }
  }

  /**
   * Chan's merge, in double, of a chunk's (n, mean, variance) for channels
   * {@code [from, from + chunkMean.length)} into the running per-channel (count, mean, M2).
   * A non-finite chunk mean follows the kernels' rule ({@link BatchNormSupport#moments}): the running
   * mean becomes the sum of the non-finite means (as the double {@code sum(x) / n} would: +Inf stays
   * +Inf, +Inf with -Inf or NaN gives NaN) and M2 becomes NaN, so merged chunks agree with one call.
   */
  static void mergeChunk(double[] count, double[] runMean, double[] runM2, int from, float[] chunkMean, float[] chunkVariance, double n) {
    for (int k = 0; k < chunkMean.length; k++) {
      int c = from + k;
      double total = count[c] + n, m = chunkMean[k];
      if (!Double.isFinite(m) || !Double.isFinite(runMean[c])) {
        // Chan's delta would turn Inf - Inf into NaN; a finite running mean (0 before the first chunk) adds nothing.
        double sum = Double.isFinite(runMean[c]) ? m : Double.isFinite(m) ? runMean[c] : runMean[c] + m;
        runMean[c] = Double.isNaN(sum) ? Double.NaN : sum;
        runM2[c] = Double.NaN;
      } else {
        double delta = m - runMean[c];
        runMean[c] += delta * (n / total);
        runM2[c] += (double) chunkVariance[k] * n + delta * delta * (count[c] * n / total);
      }
      count[c] = total;
    }
  }

  static void normalize(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    Plan p = plan(s);
    float[] stage = new float[p.chunkFloats()];
    for (int o0 = 0; o0 < p.outer(); o0 += p.slabsPerChunk()) {
      int oc = Math.min(p.slabsPerChunk(), p.outer() - o0), floats = oc * p.slab();
      long at = (long) o0 * p.slab() * 4;
      copyIn(x, xOffset + at, stage, floats);
      impl.normalize(stage, 0, stage, 0, oc, s.channels(), s.inner(), mean, scale, fromVariance, epsilon, gamma, beta);
      copyOut(stage, y, yOffset + at, floats);
    }
  }

  static void backwardReduce(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment dy,
                             long dyOffset, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    Plan p = plan(s);
    int C = s.channels();
    float[] stageX = new float[p.chunkFloats()], stageDy = new float[p.chunkFloats()];
    float[] chunkDy = new float[C], chunkDyXhat = new float[C];
    java.util.Arrays.fill(sumDy, 0);
    java.util.Arrays.fill(sumDyXhat, 0);
    for (int o0 = 0; o0 < p.outer(); o0 += p.slabsPerChunk()) {
      int oc = Math.min(p.slabsPerChunk(), p.outer() - o0), floats = oc * p.slab();
      long at = (long) o0 * p.slab() * 4;
      copyIn(x, xOffset + at, stageX, floats);
      copyIn(dy, dyOffset + at, stageDy, floats);
      impl.backwardReduce(stageX, 0, stageDy, 0, oc, C, s.inner(), mean, invStd, chunkDy, chunkDyXhat);
      for (int c = 0; c < C; c++) {
        sumDy[c] += chunkDy[c];
        sumDyXhat[c] += chunkDyXhat[c];
      }
    }
  }

  static void backwardApply(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment dy,
                            long dyOffset, MemorySegment dx, long dxOffset, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    Plan p = plan(s);
    float[] stageX = new float[p.chunkFloats()], stageDy = new float[p.chunkFloats()];
    for (int o0 = 0; o0 < p.outer(); o0 += p.slabsPerChunk()) {
      int oc = Math.min(p.slabsPerChunk(), p.outer() - o0), floats = oc * p.slab();
      long at = (long) o0 * p.slab() * 4;
      copyIn(x, xOffset + at, stageX, floats);
      copyIn(dy, dyOffset + at, stageDy, floats);
      impl.backwardApply(stageX, 0, stageDy, 0, stageDy, 0, oc, s.channels(), s.inner(), mean, invStd, gamma,
          sumDy, sumDyXhat, count);
      copyOut(stageDy, dx, dxOffset + at, floats);
    }
  }
}
