package dev.vecnorm;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/** Argument checks for the public facade: every message names the argument and what was expected. */
final class Checks {
  private Checks() {}

  static void shape(NormShape shape) {
    Objects.requireNonNull(shape, "shape");
  }

  /** A float[] tensor of {@code shape.size()} elements starting at {@code offset}. */
  static void tensor(String name, float[] a, int offset, NormShape shape) {
    Objects.requireNonNull(a, name);
    long size = shape.size();
    if (size > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("shape " + shape + " has " + size + " elements, more than a float[] can hold; use the MemorySegment entry points");
    }
    if (offset < 0) throw new IllegalArgumentException(name + "Offset must be >= 0, got " + offset);
    if (offset + size > a.length) {
      throw new IllegalArgumentException(name + " must hold " + name + "Offset + shape.size() = " + offset + " + " + size
          + " = " + (offset + size) + " floats for shape " + shape + ", but has length " + a.length);
    }
  }

  /** A little-endian float32 tensor of {@code shape.size()} elements at byte {@code offset}. */
  static void tensor(String name, MemorySegment s, long offset, NormShape shape, boolean written) {
    Objects.requireNonNull(s, name);
    long bytes = shape.size() * Float.BYTES;
    if (offset < 0) throw new IllegalArgumentException(name + "Offset must be >= 0 bytes, got " + offset);
    if (offset > s.byteSize() || bytes > s.byteSize() - offset) {
      throw new IllegalArgumentException(name + " must hold " + name + "Offset + 4*shape.size() = " + offset + " + " + bytes
          + " bytes for shape " + shape + ", but has byteSize " + s.byteSize());
    }
    if (!s.scope().isAlive()) throw new IllegalArgumentException(name + " belongs to a closed arena");
    if (written && s.isReadOnly()) throw new IllegalArgumentException(name + " is read-only but is written to");
  }

  /**
   * Outputs may be the very same memory as an input (in place), but not shifted against it: kernels
   * read and write in blocks, so a partial overlap would read values already overwritten.
   */
  static void noPartialOverlap(String outName, MemorySegment out, long outOffset, String inName, MemorySegment in,
                               long inOffset, NormShape shape) {
    if (out.isNative() != in.isNative()) return;
    if (!out.isNative() && out.heapBase().orElse(null) != in.heapBase().orElse(null)) return;
    long a = out.address() + outOffset, b = in.address() + inOffset, bytes = shape.size() * Float.BYTES;
    if (a != b && a < b + bytes && b < a + bytes) {
      throw new IllegalArgumentException(outName + " overlaps " + inName + " at a different offset; pass the same memory and offset "
          + "for in-place use, or disjoint memory");
    }
  }

  static void noPartialOverlap(String outName, float[] out, int outOffset, String inName, float[] in, int inOffset,
                               NormShape shape) {
    long size = shape.size();
    if (out == in && outOffset != inOffset && outOffset < inOffset + size && inOffset < outOffset + size) {
      throw new IllegalArgumentException(outName + " overlaps " + inName + " at a different offset; pass the same array and offset "
          + "for in-place use, or disjoint memory");
    }
  }

  /** A per-channel array: exactly {@code channels} floats; null allowed only when optional. */
  static void perChannel(String name, float[] a, int channels, boolean optional) {
    if (a == null) {
      if (optional) return;
      throw new NullPointerException(name);
    }
    if (a.length != channels) {
      throw new IllegalArgumentException(name + " must have length channels = " + channels + ", got " + a.length);
    }
  }

  static void distinct(String nameA, float[] a, String nameB, float[] b) {
    if (a != null && a == b) throw new IllegalArgumentException(nameA + " and " + nameB + " must be different arrays");
  }

  static void epsilon(float epsilon) {
    if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
      throw new IllegalArgumentException("epsilon must be finite and > 0, got " + epsilon);
    }
  }

  static void momentum(float momentum) {
    if (!(momentum >= 0 && momentum <= 1)) {
      throw new IllegalArgumentException("momentum must be in [0, 1], got " + momentum);
    }
  }

  static void count(String name, long count, long atLeast) {
    if (count < atLeast) throw new IllegalArgumentException(name + " must be >= " + atLeast + ", got " + count);
  }
}
