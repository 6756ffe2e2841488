package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;

/**
 * The preferred float vector's width, in a class of its own so that code which must also run without the
 * incubator module ({@link StreamingStores}) touches {@code FloatVector} only after checking that it is there.
 */
final class VectorWidth {
  private VectorWidth() {}

  static int preferredBits() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize();
  }
}
