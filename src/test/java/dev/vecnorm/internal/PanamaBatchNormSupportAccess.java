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

  public static int arrayBaseBytes() {
    return PanamaBatchNormSupport.ARRAY_BASE_BYTES;
  }
}
