package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;

/** Test access to {@link PanamaBatchNormSupport}'s alignment head (package-private there). */
public final class PanamaBatchNormSupportAccess {
  private PanamaBatchNormSupportAccess() {}

  public static int head(int offset, int total) {
    return PanamaBatchNormSupport.head(offset, total);
  }

  public static int head(MemorySegment x, long offset, long total) {
    return PanamaBatchNormSupport.head(x, offset, total);
  }

  public static int alignBytes() {
    return PanamaBatchNormSupport.ALIGN_BYTES;
  }

  public static int headMinFloats() {
    return PanamaBatchNormSupport.HEAD_MIN_FLOATS;
  }

  /**
   * The pipelined channel walk of the channels-first backward (channel c's reduce in one loop with channel c - 1's apply),
   * which {@code backward} takes only below 16 lanes ({@link PanamaBatchNormSupport#PIPELINE}): tests run it at any width.
   */
  public static void pipelined(float[] x, float[] dy, float[] dx, int outer, int channels, int inner, float[] mean, float[] invStd,
                               float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    PanamaBatchNormSupport.pipelined(x, 0, dy, 0, dx, 0, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
  }

  /** {@link #pipelined} on native segments (the native body's own loop). */
  public static void pipelined(MemorySegment x, MemorySegment dy, MemorySegment dx, int outer, int channels, int inner, float[] mean,
                               float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    float[] t = Scratch.borrow(4 * jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length());
    try {
      PanamaNativeBackward.pipelined(x, 0, dy, 0, dx, 0, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count, t);
    } finally {
      Scratch.release(t);
    }
  }

  public static int arrayBaseBytes() {
    return PanamaBatchNormSupport.ARRAY_BASE_BYTES;
  }
}
